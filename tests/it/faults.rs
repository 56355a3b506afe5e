//! Fault tests: optbox killed with SIGKILL during a burst of one-click POSTs, and
//! PostgreSQL stopped and restarted under load. What must hold: every POST answered 200
//! is recorded, none twice, and nothing unwritten is ever answered 200.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestDb, spawn_with};
use optbox::domain::*;
use optbox::server::config::parse_token_keys;
use optbox::server::service::recipient;
use optbox::server::store::{Audit, DynStore, Source};
use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KEYS: &str = "f1:faults-faults-faults-faults-faults-faults";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn make_list(store: &DynStore) -> ContactList {
    store
        .create_list("shop", &common::news_list(), None)
        .await
        .unwrap()
}

/// One link per contact, alternating topic and list-wide links.
async fn links(store: &DynStore, base: &str, n: usize) -> Vec<String> {
    let keys = parse_token_keys(KEYS).unwrap();
    let audit = Audit::new(Source::Api);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let topic = i.is_multiple_of(2).then_some("news");
        let email = format!("f{i}@example.com");
        out.push(
            recipient::link(&**store, &keys, base, "shop", topic, &email, &audit)
                .await
                .unwrap(),
        );
    }
    out
}

/// Subscription events per contact address.
async fn events_per_contact(store: &DynStore) -> HashMap<String, usize> {
    // Pages of at most 1000 (the store's cap), newest first.
    let mut m = HashMap::new();
    let mut before = None;
    loop {
        let evs = store
            .list_events(Some("shop"), Some("subscription"), before, 1000)
            .await
            .unwrap();
        let Some(last) = evs.last() else { break };
        before = Some(last.id);
        for e in evs {
            *m.entry(e.contact_email.unwrap_or_default()).or_insert(0) += 1;
        }
    }
    m
}

async fn opted_out(store: &DynStore, list: &ContactList, i: usize) -> bool {
    let c = store
        .get_contact(
            list,
            &EmailAddress::parse(&format!("f{i}@example.com")).unwrap(),
        )
        .await
        .unwrap();
    if i.is_multiple_of(2) {
        c.preferences
            .iter()
            .any(|p| p.topic.as_str() == "news" && p.status == SubscriptionStatus::OptOut)
    } else {
        c.unsubscribe_all
    }
}

/// `optbox serve` as its own process.
fn serve(db_url: &str, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_optbox"))
        .arg("serve")
        .env("OPTBOX_DATABASE_URL", db_url)
        .env("OPTBOX_LISTEN", format!("127.0.0.1:{port}"))
        .env("OPTBOX_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("OPTBOX_SMTP_LISTEN", "127.0.0.1:0")
        .env("OPTBOX_TOKEN_KEYS", KEYS)
        .env("OPTBOX_RECIPIENT_RATE_PER_IP", "0")
        .env("OPTBOX_WEBHOOK_WORKER", "false")
        .env("OPTBOX_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start optbox serve")
}

/// SIGTERM, then waits for the graceful stop (which applies the one-click log).
fn terminate(server: &mut Child) {
    let ok = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -TERM");
    let status = server.wait().unwrap();
    assert!(status.success(), "optbox serve stopped with {status}");
}

async fn wait_healthy(client: &reqwest::Client, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            && r.status() == 200
        {
            return;
        }
        assert!(Instant::now() < deadline, "optbox did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn post(client: &reqwest::Client, url: &str) -> Option<u16> {
    client
        .post(url)
        .form(&[("List-Unsubscribe", "One-Click")])
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

async fn sigkill_during_a_burst_of_one_click_posts(backend: &str) {
    const N: usize = 600;
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let list = make_list(&store).await;
    let port = free_port();
    let urls = Arc::new(links(&store, &format!("http://127.0.0.1:{port}"), N).await);
    let client = reqwest::Client::new();
    let mut server = serve(&db.url, port);
    wait_healthy(&client, port).await;

    // 24 clients; each link is posted twice (a replayed POST must not count twice).
    let next = Arc::new(AtomicUsize::new(0));
    let oks = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..24 {
        let (urls, next, oks, client) = (urls.clone(), next.clone(), oks.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= 2 * N {
                    return got;
                }
                let i = k % N;
                match post(&client, &urls[i]).await {
                    Some(200) => {
                        oks.fetch_add(1, Ordering::Relaxed);
                        got.push(i);
                    }
                    Some(s) => panic!("unexpected status {s} before the kill"),
                    None => return got, // the server is gone
                }
            }
        }));
    }
    while oks.load(Ordering::Relaxed) < N / 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    server.kill().expect("SIGKILL");
    server.wait().unwrap();
    let mut answered = Vec::new();
    for w in workers {
        answered.extend(w.await.unwrap());
    }
    answered.sort();
    answered.dedup();
    assert!(
        answered.len() >= N / 4,
        "the burst was cut short too early: {}",
        answered.len()
    );
    assert!(
        answered.len() < N,
        "the kill came after the burst; nothing was tested"
    );

    // On SQLite a 200 means durable in the one-click log, applied to the tables behind
    // it: a restart applies what the kill left there, and a graceful stop waits for it.
    if backend == "sqlite" {
        let mut s = serve(&db.url, port);
        wait_healthy(&client, port).await;
        terminate(&mut s);
    }

    // Every 200 survived the kill, and none is recorded twice.
    let store = db.store().await;
    let evs = events_per_contact(&store).await;
    for &i in &answered {
        assert!(
            opted_out(&store, &list, i).await,
            "f{i} got 200 but its opt-out was lost"
        );
        assert_eq!(evs.get(&format!("f{i}@example.com")), Some(&1), "f{i}");
    }
    assert!(
        evs.values().all(|&n| n == 1),
        "an opt-out was recorded twice"
    );

    // After a restart every link works, and the ones already done stay at one event.
    let mut server = serve(&db.url, port);
    wait_healthy(&client, port).await;
    for u in urls.iter() {
        assert_eq!(post(&client, u).await, Some(200));
    }
    terminate(&mut server);
    let evs = events_per_contact(&store).await;
    assert_eq!(evs.len(), N);
    assert!(evs.values().all(|&n| n == 1));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_of_one_click_posts_loses_and_doubles_nothing_on_sqlite() {
    sigkill_during_a_burst_of_one_click_posts("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_burst_of_one_click_posts_loses_and_doubles_nothing_on_postgres() {
    sigkill_during_a_burst_of_one_click_posts("postgres").await;
}

/// A PostgreSQL server of our own (initdb in a temp dir), so stopping it disturbs no
/// other test. Runs as the `postgres` user when the tests run as root.
struct OwnPostgres {
    dir: tempfile::TempDir,
    port: u16,
    bin: std::path::PathBuf,
}

impl OwnPostgres {
    fn bin_dir() -> std::path::PathBuf {
        let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .expect(
                "PostgreSQL server binaries in /usr/lib/postgresql (Debian's postgresql package)",
            )
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .collect();
        dirs.sort();
        dirs.pop().expect("pg_ctl in /usr/lib/postgresql/*/bin")
    }

    /// A PostgreSQL tool as the `postgres` user (initdb refuses to run as root).
    fn tool(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        }
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let out = self
            .tool(tool)
            .args(args)
            .output()
            .expect("run a PostgreSQL tool");
        assert!(
            out.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn init() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if running_as_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(ok.success());
        }
        let pg = Self {
            dir,
            port: free_port(),
            bin: Self::bin_dir(),
        };
        pg.run(
            "initdb",
            &["-D", &pg.data(), "-U", "postgres", "--auth=trust", "-N"],
        );
        pg
    }

    fn start(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-o", &opts, "-l", &log, "-w", "start"],
        );
    }

    /// Stops at once, as a crash would: no shutdown checkpoint, clients cut off.
    fn stop_immediately(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data(), "-m", "immediate", "-w", "stop"],
        );
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_gets_503s_never_false_200s_and_recovers() {
    const N: usize = 3000;
    if std::env::var_os("OPTBOX_LOG").is_some() {
        optbox::server::telemetry::init(optbox::server::config::LogFormat::Text);
    }
    let pg = OwnPostgres::init();
    pg.start();
    let url = pg.url();
    let app = spawn_with("sqlite", |s| {
        s.database_url = optbox::server::config::Secret::new(url.clone());
        s.token_keys = Some(optbox::server::config::Secret::new(KEYS));
        s.webhooks.webhook_worker = false;
        s.limits.recipient_rate_per_ip = 0;
    })
    .await;
    let list = make_list(&app.store).await;
    let urls = Arc::new(links(&app.store, &app.base, N).await);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();

    // 8 clients post one link after another, recording status and time.
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..8 {
        let (urls, next, stop, client) = (urls.clone(), next.clone(), stop.clone(), client.clone());
        workers.push(tokio::spawn(async move {
            let mut got: Vec<(usize, u16, Duration, Duration)> = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= N {
                    break;
                }
                let sent = t0.elapsed();
                let s = post(&client, &urls[i]).await.unwrap_or(0);
                got.push((i, s, sent, t0.elapsed()));
                if s != 200 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            got
        }));
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pg_stop = tokio::task::block_in_place(|| {
        pg.stop_immediately();
        t0.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ready = client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(ready, 503, "/readyz while PostgreSQL is down");
    // Down for longer than the pool's 5 s acquire timeout: a shorter blip is absorbed by
    // requests waiting for a connection, and then succeeds.
    tokio::time::sleep(Duration::from_millis(7000)).await;
    let pg_start = t0.elapsed();
    tokio::task::block_in_place(|| pg.start());
    // Recovery: a fresh link succeeds within seconds, without restarting optbox.
    let extra = recipient::url_for(
        &app.keys,
        &app.base,
        &list.name,
        None,
        &EmailAddress::parse("f1@example.com").unwrap(),
    );
    let recovered = loop {
        if post(&client, &extra).await == Some(200) {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() - pg_start < Duration::from_secs(15),
            "optbox did not recover"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for w in workers {
        results.extend(w.await.unwrap());
    }

    let during: Vec<_> = results
        .iter()
        // Answered while the server was down (a 200 then could only be a commit that
        // happened before the stop; none is that close).
        .filter(|(_, _, _, done)| *done > pg_stop + Duration::from_millis(200) && *done < pg_start)
        .collect();
    assert!(
        !during.is_empty(),
        "no request was made while PostgreSQL was down (stopped at {pg_stop:?}, started at {pg_start:?}): {:?}",
        results
            .iter()
            .filter(|r| r.2 + Duration::from_secs(1) > pg_stop)
            .take(20)
            .collect::<Vec<_>>()
    );
    for (i, s, _, _) in &during {
        assert_eq!(
            *s, 503,
            "link {i} was answered {s} while PostgreSQL was down"
        );
    }
    let ok: Vec<usize> = results.iter().filter(|r| r.1 == 200).map(|r| r.0).collect();
    assert!(
        ok.iter()
            .any(|&i| results.iter().any(|r| r.0 == i && r.2 > pg_start)),
        "no 200 after the restart"
    );
    for (i, s, _, _) in &results {
        assert!([200, 503].contains(s), "link {i}: unexpected status {s}");
    }
    // Every 200 is in the database once; a 503 may or may not have been written (the
    // client must retry), but never twice.
    let evs = events_per_contact(&app.store).await;
    for &i in &ok {
        assert!(
            opted_out(&app.store, &list, i).await,
            "f{i} got 200 but is not opted out"
        );
        assert_eq!(evs.get(&format!("f{i}@example.com")), Some(&1), "f{i}");
    }
    assert!(evs.values().all(|&n| n == 1));
    eprintln!(
        "PostgreSQL down {:?}; optbox recovered {:?} after it came back; {} requests, {} during the outage",
        pg_start - pg_stop,
        recovered - pg_start,
        results.len(),
        during.len()
    );
    app.stop().await;
}
