//! Webhook benchmark: a local receiver (axum), a release `optbox serve` child process,
//! and three measurements:
//!
//! 1. deliveries per second: N subscription events queued while optbox is down, then the
//!    time from the first to the last arrival at the receiver once it runs;
//! 2. lag at idle: one-click POST → the webhook request arriving, one probe at a time;
//! 3. lag under load: the same probes while 32 clients send one-click POSTs at
//!    BENCH_LOAD_RPS a second in all (default 1,500; each new opt-out is an event to
//!    deliver too). Not flat out: on SQLite, while opt-outs arrive faster than 5,000 a
//!    second the one-click log holds their events back until the burst ends
//!    (`docs/performance.md`, Webhooks), so a flat-out load measures the length of the
//!    burst, not the lag.
//!
//! Reference figures from the same client: `/healthz` latency (serial) and throughput.
//! Uses the same configuration as `optbox` (OPTBOX_DATABASE_URL, OPTBOX_TOKEN_KEYS).
//!
//! cargo run --release --features ssr --example webhook_bench -- target/release/optbox

use optbox::domain::{EmailAddress, ListDefinition, SubscriptionStatus, Topic, TopicName};
use optbox::server::config::Settings;
use optbox::server::service::{recipient, webhooks};
use optbox::server::startup;
use optbox::server::store::{Audit, ImportAction, ImportRow, OptOut, Source, email_hash, now_ms};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

#[derive(Default)]
struct Arrivals {
    /// Arrival time per destination address of the `lag` list.
    probes: HashMap<String, Instant>,
    first: Option<Instant>,
    last: Option<Instant>,
}

#[derive(Clone)]
struct Rx {
    arrivals: Arc<Mutex<Arrivals>>,
    count: Arc<AtomicU64>,
    notify: Arc<Notify>,
}

async fn receive(axum::extract::State(rx): axum::extract::State<Rx>, body: axum::body::Bytes) {
    let now = Instant::now();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    {
        let mut a = rx.arrivals.lock().unwrap();
        a.first.get_or_insert(now);
        a.last = Some(now);
        if v["subscription"]["contactList"] == "lag"
            && let Some(d) = v["mail"]["destination"][0].as_str()
        {
            a.probes.entry(d.to_owned()).or_insert(now);
        }
    }
    rx.count.fetch_add(1, Ordering::SeqCst);
    rx.notify.notify_waiters();
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn topic(name: &str) -> Topic {
    Topic {
        name: TopicName::parse(name).unwrap(),
        display_name: name.into(),
        description: String::new(),
        default_status: SubscriptionStatus::OptIn,
        hidden: false,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bin = std::env::args()
        .nth(1)
        .ok_or("usage: webhook_bench OPTBOX_BINARY")?;
    let n: usize = std::env::var("BENCH_EVENTS").map_or(Ok(20_000), |v| v.parse())?;
    let probes: usize = std::env::var("BENCH_PROBES").map_or(Ok(200), |v| v.parse())?;
    let load_rps: f64 = std::env::var("BENCH_LOAD_RPS").map_or(Ok(1500.0), |v| v.parse())?;
    let port: u16 = std::env::var("BENCH_PORT").map_or(Ok(3300), |v| v.parse())?;
    let settings = Settings::load(None)?;
    let store = startup::open_store(&settings).await?;
    let keys = startup::token_keys(&settings, &store).await?;

    // The receiver.
    let rx = Rx {
        arrivals: Default::default(),
        count: Default::default(),
        notify: Default::default(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook_url = format!("http://{}/hook", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(rx.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // Contacts (imported: no events), then the webhook, then N queued events.
    let def = ListDefinition {
        topics: vec![topic("news"), topic("offers")],
        ..Default::default()
    };
    let tp = store.create_list("tp", &def, None).await?;
    let lag = store.create_list("lag", &def, None).await?;
    let audit = Audit::new(Source::Import);
    let email =
        |list: &str, i: usize| EmailAddress::parse(&format!("{list}{i}@bench.example")).unwrap();
    for (list, count) in [(&tp, n), (&lag, 2 * probes)] {
        let rows: Vec<ImportRow> = (0..count)
            .map(|i| ImportRow {
                line: i as u64 + 1,
                email: email(list.name.as_str(), i),
                unsubscribe_all: None,
                attributes: None,
                preferences: vec![],
            })
            .collect();
        for chunk in rows.chunks(1000) {
            store
                .import_batch(list, ImportAction::Put, chunk, false, &audit, None)
                .await?;
        }
    }
    // The receiver is on 127.0.0.1: private addresses are allowed here and in the child.
    let rules = optbox::server::events::UrlRules {
        require_https: false,
        allow_private: true,
    };
    webhooks::add(
        &*store,
        rules,
        &hook_url,
        "bench-secret-0123456789",
        &["subscription".into()],
        None,
        &Audit::new(Source::Cli),
    )
    .await?;
    let t = Instant::now();
    let tp = std::sync::Arc::new(tp);
    let opt_outs: Vec<OptOut> = (0..n)
        .map(|i| OptOut {
            list: tp.clone(),
            hash: email_hash(&email("tp", i)),
            topic: Some(TopicName::parse("news").unwrap()),
            audit: Audit::new(Source::UnsubscribeHeader),
        })
        .collect();
    for chunk in opt_outs.chunks(500) {
        store.apply_opt_outs(chunk, None).await?;
    }
    eprintln!("queued {n} events in {:.1}s", t.elapsed().as_secs_f64());

    // optbox, which starts delivering at once.
    let mut child = KillOnDrop(
        std::process::Command::new(&bin)
            .arg("serve")
            .env("OPTBOX_LISTEN", format!("127.0.0.1:{port}"))
            .env("OPTBOX_WEBHOOK_ALLOW_PRIVATE", "true")
            .stdout(std::process::Stdio::null())
            .spawn()?,
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let started = Instant::now();
    while rx.count.load(Ordering::SeqCst) < n as u64 {
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.0.kill();
            return Err("deliveries did not finish within 300 s".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (first, last) = {
        let a = rx.arrivals.lock().unwrap();
        (a.first.unwrap(), a.last.unwrap())
    };
    let per_sec = (n as f64 - 1.0) / (last - first).as_secs_f64();
    eprintln!(
        "delivered {n} in {:.2}s: {per_sec:.0}/s",
        (last - first).as_secs_f64()
    );

    // /healthz from the same client: serial latency and throughput at 64 in flight.
    let mut hz = Vec::new();
    for _ in 0..500 {
        let t = Instant::now();
        client
            .get(format!("{base}/healthz"))
            .send()
            .await?
            .bytes()
            .await?;
        hz.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let hz_count = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (c, u, k, s) = (
            client.clone(),
            format!("{base}/healthz"),
            hz_count.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if c.get(&u).send().await.is_ok() {
                    k.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    for t in tasks {
        let _ = t.await;
    }
    let hz_rps = hz_count.load(Ordering::SeqCst) as f64 / 3.0;

    // Lag probes: one-click POST (unsubscribe from everything) → webhook arrival.
    let probe = |i: usize| {
        let (client, rx) = (client.clone(), rx.clone());
        let e = email("lag", i);
        let url = format!(
            "{base}{}",
            recipient::url_for(&keys, "", &lag.name, None, &e)
        );
        async move {
            let t0 = Instant::now();
            let r = client
                .post(&url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body("List-Unsubscribe=One-Click")
                .send()
                .await
                .expect("one-click POST");
            assert!(r.status().is_success(), "one-click answered {}", r.status());
            loop {
                let notified = rx.notify.notified();
                if let Some(at) = rx.arrivals.lock().unwrap().probes.get(e.as_str()) {
                    return (*at - t0).as_secs_f64() * 1000.0;
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), notified).await;
                assert!(t0.elapsed() < Duration::from_secs(30), "probe lost");
            }
        }
    };
    let mut idle = Vec::new();
    for i in 0..probes {
        idle.push(probe(i).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Load: 32 clients sending one-click POSTs (topic `offers` of list `tp`), paced to
    // `load_rps` in all.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    let every = Duration::from_secs_f64(32.0 / load_rps);
    for w in 0..32 {
        let (c, s, k) = (client.clone(), stop.clone(), sent.clone());
        let urls: Vec<String> = (0..n)
            .filter(|i| i % 32 == w)
            .map(|i| {
                format!(
                    "{base}{}",
                    recipient::url_for(
                        &keys,
                        "",
                        &tp.name,
                        Some(TopicName::parse("offers").unwrap()),
                        &email("tp", i)
                    )
                )
            })
            .collect();
        load.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for u in urls.iter().cycle() {
                tick.tick().await;
                if s.load(Ordering::Relaxed) {
                    break;
                }
                let r = c
                    .post(u)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("List-Unsubscribe=One-Click")
                    .send()
                    .await;
                if r.is_ok() {
                    k.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let load_t = Instant::now();
    let sent0 = sent.load(Ordering::SeqCst);
    let mut loaded = Vec::new();
    for i in probes..2 * probes {
        loaded.push(probe(i).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let load_rps = (sent.load(Ordering::SeqCst) - sent0) as f64 / load_t.elapsed().as_secs_f64();
    stop.store(true, Ordering::SeqCst);
    for t in load {
        let _ = t.await;
    }
    let _ = child.0.kill();
    let _ = child.0.wait();

    let (hz50, hz99) = (pct(&mut hz, 0.5), pct(&mut hz, 0.99));
    let (i50, i99) = (pct(&mut idle, 0.5), pct(&mut idle, 0.99));
    let (l50, l99) = (pct(&mut loaded, 0.5), pct(&mut loaded, 0.99));
    println!("| measurement | figure | vs /healthz |");
    println!("|---|---|---|");
    println!(
        "| deliveries/s to a local receiver ({n} queued events) | {per_sec:.0}/s | {:.2}× /healthz req/s ({hz_rps:.0}/s) |",
        per_sec / hz_rps
    );
    println!(
        "| lag one-click POST → webhook, idle, p50 / p99 ({probes} probes) | {i50:.1} / {i99:.1} ms | {:.0}× / {:.0}× /healthz latency ({hz50:.2} / {hz99:.2} ms) |",
        i50 / hz50,
        i99 / hz99
    );
    println!(
        "| lag under load ({load_rps:.0} one-click POST/s), p50 / p99 | {l50:.1} / {l99:.1} ms | {:.0}× / {:.0}× |",
        l50 / hz50,
        l99 / hz99
    );
    let json = serde_json::json!({
        "at": now_ms(),
        "deliveries_per_sec": per_sec,
        "healthz_rps": hz_rps,
        "healthz_ms": {"p50": hz50, "p99": hz99},
        "lag_idle_ms": {"p50": i50, "p99": i99},
        "lag_load_ms": {"p50": l50, "p99": l99},
        "load_one_click_rps": load_rps,
        "events": n,
        "probes": probes,
    });
    if let Ok(path) = std::env::var("BENCH_JSON") {
        std::fs::write(path, serde_json::to_string_pretty(&json)?)?;
    }
    Ok(())
}

/// The optbox child process, killed if the benchmark stops early (a failed assertion
/// would otherwise leave it holding the port for the next run).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
