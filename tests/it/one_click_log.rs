//! The one-click log on SQLite (`store::one_click`, logged mode): an opt-out is
//! durable and answered before it reaches the tables, readers wait for the opt-outs they
//! must see, and a restart applies what was acknowledged but not applied, exactly once.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestDb, spawn_app};
use optbox::domain::*;
use optbox::server::store::one_click::log_path;
use optbox::server::store::{
    self, Audit, ContactChange, DynStore, NewContact, OptOut, Source, email_hash,
};
use sqlx::Connection;
use std::time::Duration;

fn ann() -> EmailAddress {
    EmailAddress::parse("ann@example.com").unwrap()
}

async fn seed(store: &DynStore) -> ContactList {
    let list = store
        .create_list("shop", &common::news_list(), None)
        .await
        .unwrap();
    let nc = NewContact {
        email: ann(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    store
        .create_contact(&list, &nc, &Audit::new(Source::Api))
        .await
        .unwrap();
    list
}

/// A connection of its own that holds SQLite's write lock until dropped or committed:
/// the applier cannot write meanwhile, readers still can.
async fn hold_write_lock(url: &str) -> sqlx::SqliteConnection {
    let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut c)
        .await
        .unwrap();
    c
}

async fn header_events(store: &DynStore) -> usize {
    store
        .list_events(Some("shop"), Some("subscription"), None, 100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.source.as_deref() == Some("UnsubscribeHeader"))
        .count()
}

#[tokio::test]
async fn the_post_is_answered_from_the_log_and_readers_wait_for_what_it_acknowledged() {
    let app = spawn_app().await;
    let list = seed(&app.store).await;
    let url =
        optbox::server::service::recipient::url_for(&app.keys, &app.base, &list.name, None, &ann());

    // The tables are locked: a 200 now can only come from the log.
    let mut lock = hold_write_lock(&app.db.url).await;
    let resp = tokio::time::timeout(
        Duration::from_secs(3),
        app.client
            .post(&url)
            .form(&[("List-Unsubscribe", "One-Click")])
            .send(),
    )
    .await
    .expect("answered while the tables are locked")
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.store.one_click_backlog(), 1);

    // Readers of this contact, and list-wide readers, wait for it.
    let one = {
        let (s, l) = (app.store.clone(), list.clone());
        tokio::spawn(async move { s.get_contact(&l, &ann()).await })
    };
    let all = {
        let s = app.store.clone();
        tokio::spawn(async move { header_events(&s).await })
    };
    // Another contact's reads do not.
    let other = EmailAddress::parse("bob@example.com").unwrap();
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(2), app.store.get_contact(&list, &other)).await,
        Ok(Err(store::StoreError::NotFound))
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !one.is_finished() && !all.is_finished(),
        "they must not read the tables yet"
    );

    sqlx::query("ROLLBACK").execute(&mut lock).await.unwrap();
    let c = one.await.unwrap().unwrap();
    assert!(c.unsubscribe_all, "the acknowledged opt-out is seen");
    assert_eq!(all.await.unwrap(), 1);
    assert_eq!(app.store.one_click_backlog(), 0);
    app.stop().await;
}

fn opt_out(list: &ContactList, who: &EmailAddress, topic: Option<&str>) -> OptOut {
    OptOut {
        list: std::sync::Arc::new(list.clone()),
        hash: email_hash(who),
        topic: topic.map(|t| TopicName::parse(t).unwrap()),
        audit: Audit::new(Source::UnsubscribeHeader),
    }
}

/// A server that acknowledges `items` while the tables are locked, then "dies": its
/// runtime is dropped with the applier still waiting for the lock.
fn crash_after_acknowledging(db: &TestDb, path: &std::path::Path, items: Vec<OptOut>) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let lock = rt.block_on(async {
        let s = db.store().await;
        let lock = hold_write_lock(&db.url).await;
        s.start().await.unwrap();
        assert_eq!(log_path(s.database_file().unwrap()), path);
        for item in items {
            s.opt_out_one_click(item).await.unwrap();
        }
        lock
    });
    rt.shutdown_background();
    // sqlx runs the dead run's writer on a thread of its own, outside the runtime; it may
    // still be waiting for the lock to apply what was acknowledged. Held past the store's
    // 5 s busy timeout, that write gives up, as it would have in a process that died.
    std::thread::sleep(std::time::Duration::from_millis(5_500));
    drop(lock);
}

/// Ann's opt-outs of the crash tests: topic `news`, then everything.
fn anns_two_opt_outs(list: &ContactList) -> Vec<OptOut> {
    vec![
        opt_out(list, &ann(), Some("news")),
        opt_out(list, &ann(), None),
    ]
}

/// The end of the last record in the log file (it is grown with zeros ahead).
fn records_end(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i as u64 + 1)
}

#[test]
fn a_restart_applies_acknowledged_opt_outs_once_and_overwrites_a_torn_record() {
    use std::os::unix::fs::FileExt;
    let main = tokio::runtime::Runtime::new().unwrap();
    let db = main.block_on(TestDb::sqlite());
    let bob = EmailAddress::parse("bob@example.com").unwrap();
    let (list, path) = main.block_on(async {
        let s = db.store().await;
        let path = log_path(s.database_file().unwrap());
        let list = seed(&s).await;
        let nc = NewContact {
            email: bob.clone(),
            unsubscribe_all: false,
            preferences: vec![],
            attributes: String::new(),
        };
        s.create_contact(&list, &nc, &Audit::new(Source::Api))
            .await
            .unwrap();
        (list, path)
    });

    // Run 1 acknowledges two opt-outs and dies; then a crash in the middle of the next
    // append leaves a torn record behind them.
    crash_after_acknowledging(&db, &path, anns_two_opt_outs(&list));
    let end = records_end(&path);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .write_all_at(b"0123456789abcdef {\"seq\":3,\"list\"", end)
        .unwrap();
    main.block_on(async {
        // Nothing of run 1 reached the tables.
        let plain = db.store().await;
        let c = plain.get_contact(&list, &ann()).await.unwrap();
        assert!(!c.unsubscribe_all && c.preferences.is_empty());
        assert_eq!(header_events(&plain).await, 0);
    });

    // Run 2 applies both at start, in order; it acknowledges one more (written over the
    // torn record) and dies too.
    main.block_on(async {
        let s = db.store().await;
        s.start().await.unwrap();
        let c = s.get_contact(&list, &ann()).await.unwrap();
        assert!(c.unsubscribe_all);
        assert_eq!(c.explicit("news"), Some(SubscriptionStatus::OptOut));
        assert_eq!(header_events(&s).await, 2);
        assert_eq!(s.one_click_log_applied().await.unwrap(), 2);
        drop(s);
    });
    crash_after_acknowledging(&db, &path, vec![opt_out(&list, &bob, None)]);
    assert!(
        records_end(&path) > end,
        "the new record follows the first two"
    );

    // Run 3 applies Bob's (the torn record did not hide it); then Ann changes her mind.
    main.block_on(async {
        let s = db.store().await;
        s.start().await.unwrap();
        assert!(s.get_contact(&list, &bob).await.unwrap().unsubscribe_all);
        assert_eq!(header_events(&s).await, 3);
        assert_eq!(s.one_click_log_applied().await.unwrap(), 3);
        let change = ContactChange {
            unsubscribe_all: Some(false),
            preferences: None,
            attributes: None,
        };
        s.update_contact(&list, &ann(), &change, &Audit::new(Source::LandingPage))
            .await
            .unwrap();
        drop(s);
    });

    // Run 4: the log still holds all three, but they are applied: nothing is redone.
    main.block_on(async {
        let s = db.store().await;
        s.start().await.unwrap();
        let c = s.get_contact(&list, &ann()).await.unwrap();
        assert!(
            !c.unsubscribe_all,
            "an applied opt-out is not replayed over a later change"
        );
        assert_eq!(header_events(&s).await, 3);
        db.cleanup().await;
    });
}

#[tokio::test]
async fn a_log_locked_by_another_process_is_refused() {
    let db = TestDb::sqlite().await;
    let store = db.store().await;
    let path = log_path(store.database_file().unwrap());
    // An open file description of its own holds the lock, as another process would.
    let other = std::fs::File::create(&path).unwrap();
    other.lock().unwrap();
    let err = store.start().await.err().unwrap().to_string();
    assert!(err.contains("another optbox server"), "{err}");
}

#[tokio::test]
async fn servers_built_in_one_process_on_one_database_share_its_log() {
    let app = spawn_app().await;
    // A second server's store on the same database.
    let other = app.db.store().await;
    let again = other.start().await;
    assert!(again.is_ok(), "{:?}", again.err());
    app.stop().await;
}

#[test]
fn a_damaged_record_before_acknowledged_ones_stops_the_start_with_a_clear_error() {
    use std::os::unix::fs::FileExt;
    let main = tokio::runtime::Runtime::new().unwrap();
    let db = main.block_on(TestDb::sqlite());
    let (list, path) = main.block_on(async {
        let s = db.store().await;
        (seed(&s).await, log_path(s.database_file().unwrap()))
    });
    // Two batches (each submit waits for its fsync), both acknowledged, neither applied.
    crash_after_acknowledging(&db, &path, anns_two_opt_outs(&list));
    // Bit rot in the first record.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 30).unwrap();
    f.write_all_at(&[b[0] ^ 1], 30).unwrap();
    main.block_on(async {
        let s = db.store().await;
        let err = s.start().await.expect_err("refused").to_string();
        assert!(
            err.contains("damaged") && err.contains("opt-out 2 follows"),
            "{err}"
        );
        db.cleanup().await;
    });
}

/// `optbox backup FILE` with the database path of `url` (a subprocess, as an operator
/// runs it beside the server).
fn backup_cli(url: &str, file: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_optbox"))
        .arg("backup")
        .arg(file)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("OPTBOX_DATABASE_URL", url)
        .env("OPTBOX_LOG", "error")
        .output()
        .unwrap()
}

/// A backup carries the one-click opt-outs acknowledged but not yet applied (the log is
/// copied beside it), and the copy's first start applies them; a backup taken during a
/// burst of one-click POSTs has every opt-out acknowledged before it started.
#[test]
fn a_backup_taken_in_use_has_every_acknowledged_opt_out() {
    let main = tokio::runtime::Runtime::new().unwrap();
    let db = main.block_on(TestDb::sqlite());
    let (list, path) = main.block_on(async {
        let s = db.store().await;
        (seed(&s).await, log_path(s.database_file().unwrap()))
    });
    // Two opt-outs acknowledged in the log and not in the tables (the server died).
    crash_after_acknowledging(&db, &path, anns_two_opt_outs(&list));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    let out = backup_cli(&db.url, &copy);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2 one-click records carried"), "{said}");
    // Refused, changing nothing: a file that exists.
    let again = backup_cli(&db.url, &copy);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("exists"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let copy_url = format!("sqlite://{}", copy.display());
    main.block_on(async {
        let s = optbox::server::store::open(&copy_url, true).await.unwrap();
        s.start().await.unwrap();
        let c = s.get_contact(&list, &ann()).await.unwrap();
        assert!(c.unsubscribe_all, "the carried opt-out is applied");
        s.stop().await.unwrap();
    });

    // A running server and a burst of one-click POSTs.
    main.block_on(async {
        let app = common::spawn_with("sqlite", |_| {}).await;
        let list = app
            .store
            .create_list("news", &common::news_list(), None)
            .await
            .unwrap();
        let emails: Vec<EmailAddress> = (0..400)
            .map(|i| EmailAddress::parse(&format!("r{i}@example.com")).unwrap())
            .collect();
        let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<usize>::new()));
        let mut burst = Vec::new();
        for w in 0..4 {
            let (client, acked) = (app.client.clone(), acked.clone());
            let urls: Vec<(usize, String)> = (w..emails.len())
                .step_by(4)
                .map(|i| {
                    let u = optbox::server::service::recipient::url_for(
                        &app.keys, &app.base, &list.name, None, &emails[i],
                    );
                    (i, u)
                })
                .collect();
            burst.push(tokio::spawn(async move {
                for (i, u) in urls {
                    let r = client
                        .post(&u)
                        .form(&[("List-Unsubscribe", "One-Click")])
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                    acked.lock().unwrap().push(i);
                }
            }));
        }
        while acked.lock().unwrap().len() < 100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let before: Vec<usize> = acked.lock().unwrap().clone();
        let copy = dir.path().join("burst.db");
        let url = app.db.url.clone();
        let c2 = copy.clone();
        let out = tokio::task::spawn_blocking(move || backup_cli(&url, &c2))
            .await
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        for b in burst {
            b.await.unwrap();
        }
        app.stop().await;
        let s = optbox::server::store::open(&format!("sqlite://{}", copy.display()), true)
            .await
            .unwrap();
        s.start().await.unwrap();
        for i in before {
            let hash = email_hash(&emails[i]);
            let t = s.get_tombstone(&list, &hash).await.unwrap();
            assert!(
                t.is_some_and(|t| t.unsubscribe_all),
                "{} was acknowledged before the backup began",
                emails[i]
            );
        }
        s.stop().await.unwrap();
    });
}
