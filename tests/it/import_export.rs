//! Bulk import and export on SQLite and PostgreSQL: formats, the never-resurrect rule,
//! idempotence, malformed files, round trips, and a crash mid-import that resumes.
#![cfg(feature = "ssr")]

use crate::common;

use common::TestDb;
use optbox::domain::*;
use optbox::server::service::import::{self, Format, ImportOutcome, ImportRequest, RowError};
use optbox::server::store::*;
use std::path::Path;

crate::common::on_each_backend!(
    db:
    put_creates_updates_and_a_rerun_changes_nothing,
    recorded_opt_outs_survive_unless_overridden,
    delete_removes_contacts_but_keeps_their_opt_outs,
    malformed_rows_are_reported_and_good_rows_imported,
    file_level_problems_are_refused_before_anything_is_written,
    json_lines_and_simple_csv,
    export_import_export_round_trips,
    a_killed_import_resumes_where_it_stopped,
    a_job_runs_in_one_process_at_a_time,
    an_existing_contact_the_sample_misses_keeps_its_opt_out,
    a_batch_commits_only_on_top_of_the_one_before,
    formula_cells_are_neutralised_in_the_csv_export_and_read_back,
);

/// PostgreSQL applies two batches at once (`import::import_lanes`); SQLite one.
#[tokio::test]
async fn postgres_batches_applied_side_by_side_keep_file_order() {
    let db = TestDb::new("postgres").await;
    assert_eq!(import::import_lanes(Backend::Postgres), 2);
    batches_applied_side_by_side_keep_file_order(&db).await;
    db.cleanup().await;
}

fn topic(name: &str, default: SubscriptionStatus) -> Topic {
    Topic {
        name: TopicName::parse(name).unwrap(),
        display_name: name.into(),
        description: String::new(),
        default_status: default,
        hidden: false,
    }
}

async fn make_list(store: &dyn Store, name: &str) -> ContactList {
    use SubscriptionStatus::*;
    store
        .create_list(
            name,
            &ListDefinition {
                description: String::new(),
                topics: vec![topic("news", OptIn), topic("offers", OptOut)],
                ..Default::default()
            },
            None,
        )
        .await
        .unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

async fn run_import(
    store: &dyn Store,
    list: &str,
    path: &Path,
    action: ImportAction,
    override_opt_outs: bool,
) -> (Result<ImportOutcome, String>, Vec<RowError>) {
    let req = ImportRequest {
        list: list.into(),
        path: path.into(),
        format: None,
        action,
        override_opt_outs,
    };
    let mut errors = Vec::new();
    let r = import::run(
        store,
        &req,
        &Audit::new(Source::Import),
        &mut |_| {},
        &mut |e| errors.push(e.clone()),
    )
    .await
    .map_err(|e| e.to_string());
    (r, errors)
}

async fn put(store: &dyn Store, list: &str, path: &Path) -> (ImportOutcome, Vec<RowError>) {
    let (r, e) = run_import(store, list, path, ImportAction::Put, false).await;
    (r.expect("import"), e)
}

async fn delete(store: &dyn Store, list: &ContactList, e: &str) {
    store
        .delete_contact(
            list,
            &EmailAddress::parse(e).unwrap(),
            &Audit::new(Source::Admin),
        )
        .await
        .unwrap();
}

async fn contact(store: &dyn Store, list: &ContactList, e: &str) -> Option<Contact> {
    store
        .get_contact(list, &EmailAddress::parse(e).unwrap())
        .await
        .ok()
}

async fn events(store: &dyn Store, list: &str) -> Vec<EventRecord> {
    store
        .list_events(Some(list), None, None, 1000)
        .await
        .unwrap()
}

async fn export(store: &dyn Store, list: &str, format: Format) -> String {
    let mut out = Vec::new();
    import::export(store, list, format, &mut out).await.unwrap();
    String::from_utf8(out).unwrap()
}

const HEADER: &str =
    "emailAddress,unsubscribeAll,attributesData,topicPreferences.news,topicPreferences.offers\n";

async fn put_creates_updates_and_a_rerun_changes_nothing(db: &TestDb) {
    use SubscriptionStatus::*;
    let store = db.store().await;
    let list = make_list(&*store, "imp").await;
    let dir = tempfile::tempdir().unwrap();
    store
        .create_contact(
            &list,
            &NewContact {
                email: EmailAddress::parse("old@example.com").unwrap(),
                unsubscribe_all: false,
                preferences: vec![],
                attributes: r#"{"keep":1}"#.into(),
            },
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
    let csv = format!(
        "{HEADER}ann@example.com,false,\"{{\"\"name\"\":\"\"Ann, A.\"\"}}\",OPT_IN,OPT_OUT\n\
         bob@example.com,,,,OPT_IN\n\
         old@example.com,,,OPT_OUT,\n"
    );
    let path = write(dir.path(), "a.csv", csv.as_bytes());
    let (out, errors) = put(&*store, "imp", &path).await;
    assert!(errors.is_empty(), "{errors:?}");
    let c = out.job.counts;
    assert_eq!((c.created, c.updated, c.unchanged), (2, 1, 0), "{c:?}");
    assert_eq!(out.job.status, JobStatus::Completed);
    let ann = contact(&*store, &list, "ann@example.com").await.unwrap();
    assert_eq!(ann.explicit("news"), Some(OptIn));
    assert_eq!(ann.explicit("offers"), Some(OptOut));
    assert_eq!(ann.attributes, r#"{"name":"Ann, A."}"#);
    let bob = contact(&*store, &list, "bob@example.com").await.unwrap();
    assert_eq!(bob.explicit("news"), None, "an empty cell sets nothing");
    assert_eq!(bob.explicit("offers"), Some(OptIn));
    let old = contact(&*store, &list, "old@example.com").await.unwrap();
    assert_eq!(old.explicit("news"), Some(OptOut));
    assert_eq!(
        old.attributes, r#"{"keep":1}"#,
        "absent attributes are kept"
    );

    // The existing contact's change is an Import subscription event; the job one event.
    let ev = events(&*store, "imp").await;
    let subs: Vec<_> = ev.iter().filter(|e| e.kind == "subscription").collect();
    assert_eq!(subs.len(), 1, "{ev:?}");
    assert_eq!(subs[0].source.as_deref(), Some("Import"));
    assert_eq!(subs[0].contact_email.as_deref(), Some("old@example.com"));
    assert_eq!(ev.iter().filter(|e| e.kind == "import").count(), 1);

    // The same file again: nothing changes and no contact event is written.
    let before = export(&*store, "imp", Format::Csv).await;
    let (again, _) = put(&*store, "imp", &path).await;
    let c = again.job.counts;
    assert_eq!((c.created, c.updated, c.unchanged), (0, 0, 3), "{c:?}");
    assert_eq!(export(&*store, "imp", Format::Csv).await, before);
    let ev2 = events(&*store, "imp").await;
    assert_eq!(
        ev2.iter().filter(|e| e.kind == "subscription").count(),
        1,
        "a re-run logs no changes"
    );
    assert_eq!(store.count_contacts(list.id).await.unwrap(), 3);
}

async fn recorded_opt_outs_survive_unless_overridden(db: &TestDb) {
    use SubscriptionStatus::*;
    let store = db.store().await;
    let list = make_list(&*store, "keep").await;
    let dir = tempfile::tempdir().unwrap();
    let seed = format!(
        "{HEADER}topic@example.com,,,OPT_OUT,\n\
         all@example.com,true,,,\n\
         gone@example.com,,,,OPT_OUT\n"
    );
    put(
        &*store,
        "keep",
        &write(dir.path(), "seed.csv", seed.as_bytes()),
    )
    .await;
    // A deleted contact leaves a tombstone.
    delete(&*store, &list, "gone@example.com").await;
    let resub = format!(
        "{HEADER}topic@example.com,false,,OPT_IN,OPT_IN\n\
         all@example.com,false,,OPT_IN,\n\
         gone@example.com,,,,OPT_IN\n"
    );
    let path = write(dir.path(), "resub.csv", resub.as_bytes());
    let (out, _) = put(&*store, "keep", &path).await;
    assert_eq!(out.job.counts.opt_outs_kept, 3, "{:?}", out.job.counts);
    assert_eq!(out.job.counts.opt_outs_overridden, 0);
    let t = contact(&*store, &list, "topic@example.com").await.unwrap();
    assert_eq!(t.explicit("news"), Some(OptOut), "explicit opt-out kept");
    assert_eq!(
        t.explicit("offers"),
        Some(OptIn),
        "a topic never opted out of can be subscribed"
    );
    let a = contact(&*store, &list, "all@example.com").await.unwrap();
    assert!(a.unsubscribe_all, "UnsubscribeAll kept");
    let g = contact(&*store, &list, "gone@example.com").await.unwrap();
    assert_eq!(g.explicit("offers"), Some(OptOut), "tombstone applied");

    // Delete `gone` again so its tombstone is back, then override.
    delete(&*store, &list, "gone@example.com").await;
    let (r, _) = run_import(&*store, "keep", &path, ImportAction::Put, true).await;
    let out = r.unwrap();
    assert_eq!(
        out.job.counts.opt_outs_overridden, 3,
        "{:?}",
        out.job.counts
    );
    assert!(out.job.override_opt_outs);
    let t = contact(&*store, &list, "topic@example.com").await.unwrap();
    assert_eq!(t.explicit("news"), Some(OptIn));
    let a = contact(&*store, &list, "all@example.com").await.unwrap();
    assert!(!a.unsubscribe_all);
    let g = contact(&*store, &list, "gone@example.com").await.unwrap();
    assert_eq!(g.explicit("offers"), Some(OptIn));
    let overrides = events(&*store, "keep")
        .await
        .into_iter()
        .filter(|e| e.kind == "subscription" && e.detail.contains("\"overrideOptOuts\":true"))
        .count();
    assert_eq!(overrides, 3, "every override is logged");
    let job_event = events(&*store, "keep")
        .await
        .into_iter()
        .find(|e| e.kind == "import")
        .unwrap();
    assert!(
        job_event.detail.contains("\"overrideOptOuts\":true"),
        "{}",
        job_event.detail
    );
}

async fn delete_removes_contacts_but_keeps_their_opt_outs(db: &TestDb) {
    use SubscriptionStatus::*;
    let store = db.store().await;
    let list = make_list(&*store, "del").await;
    let dir = tempfile::tempdir().unwrap();
    let seed = format!("{HEADER}a@example.com,,,OPT_OUT,\nb@example.com,,,OPT_IN,\n");
    put(&*store, "del", &write(dir.path(), "s.csv", seed.as_bytes())).await;
    let del = write(
        dir.path(),
        "d.csv",
        b"email\na@example.com\nb@example.com\nnobody@example.com\n",
    );
    let (r, errors) = run_import(&*store, "del", &del, ImportAction::Delete, false).await;
    let out = r.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!((out.job.counts.deleted, out.job.counts.absent), (2, 1));
    assert_eq!(store.count_contacts(list.id).await.unwrap(), 0);
    // Importing them again: a's opt-out comes back from its tombstone, b starts fresh.
    let again = format!("{HEADER}a@example.com,,,OPT_IN,\nb@example.com,,,,\n");
    let (out, _) = put(
        &*store,
        "del",
        &write(dir.path(), "s2.csv", again.as_bytes()),
    )
    .await;
    assert_eq!(out.job.counts.opt_outs_kept, 1);
    let a = contact(&*store, &list, "a@example.com").await.unwrap();
    assert_eq!(a.explicit("news"), Some(OptOut));
    let b = contact(&*store, &list, "b@example.com").await.unwrap();
    assert_eq!(b.explicit("news"), None);
}

async fn malformed_rows_are_reported_and_good_rows_imported(db: &TestDb) {
    let store = db.store().await;
    let list = make_list(&*store, "mal").await;
    let dir = tempfile::tempdir().unwrap();
    let mut f: Vec<u8> = Vec::new();
    f.extend_from_slice(b"\xEF\xBB\xBF"); // BOM
    f.extend_from_slice(HEADER.trim_end().as_bytes());
    f.extend_from_slice(b"\r\n"); // CRLF throughout
    f.extend_from_slice(b"good1@example.com,false,,OPT_IN,\r\n"); // line 2
    f.extend_from_slice(b"bad\xFF@example.com,,,,\r\n"); // 3: not UTF-8
    f.extend_from_slice(b"few@example.com,true\r\n"); // 4: wrong field count
    f.extend_from_slice(b"\"quoted, with comma\"@example.com,,,,\r\n"); // 5: invalid address
    f.extend_from_slice(b"enum@example.com,yes,,,\r\n"); // 6: bad boolean
    f.extend_from_slice(b"attr@example.com,,[1],,\r\n"); // 7: attributes not an object
    f.extend_from_slice(b"good2@example.com,,\"{\"\"multi\"\":\r\n\"\"line\"\"}\",,OPT_OUT\r\n"); // 8-9
    f.extend_from_slice(b"huge@example.com,,\""); // 10: a 10 MB row
    f.extend(std::iter::repeat_n(b'x', 10 << 20));
    f.extend_from_slice(b"\",,\r\n");
    f.extend_from_slice(b"\r\n"); // blank line
    f.extend_from_slice(b"good3@example.com,,,,\r\n");
    let path = write(dir.path(), "m.csv", &f);
    let (out, errors) = put(&*store, "mal", &path).await;
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 10], "{errors:?}");
    assert!(errors[0].reason.contains("UTF-8"), "{errors:?}");
    assert!(
        errors[1].reason.contains("expected 5 fields, found 2"),
        "{errors:?}"
    );
    assert!(errors[2].reason.contains("is invalid"), "{errors:?}");
    assert!(errors[3].reason.contains("true or false"), "{errors:?}");
    assert!(errors[4].reason.contains("JSON object"), "{errors:?}");
    assert!(errors[5].reason.contains("longer than"), "{errors:?}");
    assert_eq!(out.job.failed, 6);
    assert_eq!(out.job.counts.created, 3);
    for e in [
        "good1@example.com",
        "good2@example.com",
        "good3@example.com",
    ] {
        assert!(contact(&*store, &list, e).await.is_some(), "{e}");
    }
    let g2 = contact(&*store, &list, "good2@example.com").await.unwrap();
    // A quoted field spanning lines is one value, kept as written.
    assert_eq!(g2.attributes, "{\"multi\":\r\n\"line\"}");
}

async fn file_level_problems_are_refused_before_anything_is_written(db: &TestDb) {
    let store = db.store().await;
    let list = make_list(&*store, "lvl").await;
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[u8], &str); 5] = [
        ("empty.csv", b"", "empty"),
        ("empty.jsonl", b"", "empty"),
        (
            "cols.csv",
            b"emailAddress,colour\na@example.com,red\n",
            "unknown column \"colour\"",
        ),
        (
            "topic.csv",
            b"emailAddress,topicPreferences.sports\na@example.com,OPT_IN\n",
            "doesn't contain Topic: sports",
        ),
        ("noemail.csv", b"unsubscribeAll\ntrue\n", "emailAddress"),
    ];
    for (name, bytes, want) in cases {
        let (r, _) = run_import(
            &*store,
            "lvl",
            &write(dir.path(), name, bytes),
            ImportAction::Put,
            false,
        )
        .await;
        let err = r.expect_err(name);
        assert!(err.contains(want), "{name}: {err}");
    }
    assert_eq!(store.count_contacts(list.id).await.unwrap(), 0);
    let (r, _) = run_import(
        &*store,
        "nolist",
        &write(dir.path(), "x.csv", b"email\na@example.com\n"),
        ImportAction::Put,
        false,
    )
    .await;
    assert!(
        r.unwrap_err()
            .contains("List with name: nolist doesn't exist")
    );
    // Failed jobs are recorded as such.
    let jobs = store.list_import_jobs(None, None, 10).await.unwrap();
    assert!(
        jobs.iter()
            .all(|(_, j)| j.status == JobStatus::Failed && j.error.is_some())
    );
}

async fn json_lines_and_simple_csv(db: &TestDb) {
    use SubscriptionStatus::*;
    let store = db.store().await;
    let list = make_list(&*store, "fmt").await;
    let dir = tempfile::tempdir().unwrap();
    let jsonl = concat!(
        "{\"emailAddress\":\"j1@example.com\",\"unsubscribeAll\":false,\"attributesData\":\"{\\\"a\\\":1}\",",
        "\"topicPreferences\":[{\"topicName\":\"news\",\"subscriptionStatus\":\"OPT_OUT\"}]}\n",
        "\n",
        "{\"emailAddress\":\"j2@example.com\",\"attributesData\":{\"b\":2}}\n",
        "{\"emailAddress\":\"j3@example.com\",\"colour\":\"red\"}\n",
        "{\"emailAddress\":\"j4@example.com\",\"topicPreferences\":[{\"topicName\":\"nope\",\"subscriptionStatus\":\"OPT_IN\"}]}\n",
        "not json\n",
    );
    let (out, errors) = put(
        &*store,
        "fmt",
        &write(dir.path(), "a.jsonl", jsonl.as_bytes()),
    )
    .await;
    assert_eq!(out.job.format, "JSON");
    assert_eq!(out.job.counts.created, 2);
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5, 6], "{errors:?}");
    assert!(errors[0].reason.contains("colour"), "{errors:?}");
    assert!(errors[1].reason.contains("doesn't contain Topic: nope"));
    let j1 = contact(&*store, &list, "j1@example.com").await.unwrap();
    assert_eq!(j1.explicit("news"), Some(OptOut));
    assert_eq!(j1.attributes, "{\"a\":1}");
    let j2 = contact(&*store, &list, "j2@example.com").await.unwrap();
    assert_eq!(j2.attributes, "{\"b\":2}");

    // One column, with and without a header.
    put(
        &*store,
        "fmt",
        &write(dir.path(), "h.csv", b"email\ns1@example.com\n"),
    )
    .await;
    let (out, errors) = put(
        &*store,
        "fmt",
        &write(dir.path(), "n.csv", b"s2@example.com\ns3@example.com\n"),
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(out.job.counts.created, 2);
    assert_eq!(store.count_contacts(list.id).await.unwrap(), 5);
}

async fn export_import_export_round_trips(db: &TestDb) {
    let store = db.store().await;
    make_list(&*store, "src").await;
    make_list(&*store, "dst").await;
    make_list(&*store, "dsj").await;
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from(HEADER);
    for i in 0..12_000 {
        let (u, n, o) = match i % 4 {
            0 => ("", "OPT_IN", ""),
            1 => ("false", "OPT_OUT", "OPT_IN"),
            2 => ("true", "", ""),
            _ => ("", "", "OPT_OUT"),
        };
        let attrs = if i % 5 == 0 {
            format!("\"{{\"\"n\"\":{i},\"\"s\"\":\"\"a,b\"\"}}\"")
        } else {
            String::new()
        };
        csv.push_str(&format!("user{i}@Example.COM,{u},{attrs},{n},{o}\n"));
    }
    let (out, errors) = put(
        &*store,
        "src",
        &write(dir.path(), "src.csv", csv.as_bytes()),
    )
    .await;
    assert!(errors.is_empty());
    assert_eq!(out.job.counts.created, 12_000);
    for format in [Format::Csv, Format::Jsonl] {
        let dst = if format == Format::Csv { "dst" } else { "dsj" };
        let first = export(&*store, "src", format).await;
        let name = if format == Format::Csv {
            "e.csv"
        } else {
            "e.jsonl"
        };
        let (out, errors) = put(&*store, dst, &write(dir.path(), name, first.as_bytes())).await;
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(out.job.counts.created, 12_000);
        let second = export(&*store, dst, format).await;
        assert_eq!(first.lines().count(), second.lines().count());
        assert!(
            first == second,
            "{format:?} export → import → export is identical"
        );
    }
    // Effective status is what is exported: user2 has UnsubscribeAll, so every topic is out.
    let e = export(&*store, "src", Format::Csv).await;
    let line = e.lines().find(|l| l.starts_with("user2@")).unwrap();
    assert_eq!(line, "user2@Example.COM,true,,,OPT_OUT,OPT_OUT");
    let line = e.lines().find(|l| l.starts_with("user3@")).unwrap();
    assert_eq!(line, "user3@Example.COM,false,,,OPT_IN,OPT_OUT");
}

/// Addresses a spreadsheet would run as formulas (valid addresses all) are exported with
/// a leading `'`, and importing the export gives back the same contacts.
async fn formula_cells_are_neutralised_in_the_csv_export_and_read_back(db: &TestDb) {
    let store = db.store().await;
    let src = make_list(&*store, "src").await;
    let dst = make_list(&*store, "dst").await;
    let risky = ["=1+2@example.com", "+cmd@example.com", "-2+3@example.com"];
    for e in risky.iter().chain(&["plain@example.com"]) {
        let nc = NewContact {
            email: EmailAddress::parse(e).unwrap(),
            unsubscribe_all: false,
            preferences: vec![],
            attributes: String::new(),
        };
        store
            .create_contact(&src, &nc, &Audit::new(Source::Api))
            .await
            .unwrap();
    }
    let csv = export(&*store, "src", Format::Csv).await;
    for line in csv.lines() {
        assert!(
            !line.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "a cell a spreadsheet would run: {csv}"
        );
    }
    for e in risky {
        assert!(
            csv.lines().any(|l| l.starts_with(&format!("'{e},"))),
            "{e}: {csv}"
        );
    }
    assert!(csv.lines().any(|l| l.starts_with("plain@example.com,")));
    let dir = tempfile::tempdir().unwrap();
    let (out, errors) = put(&*store, "dst", &write(dir.path(), "e.csv", csv.as_bytes())).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(out.job.counts.created, 4);
    for e in risky {
        assert!(contact(&*store, &dst, e).await.is_some(), "{e} read back");
    }
    assert_eq!(export(&*store, "dst", Format::Csv).await, csv);
}

async fn a_killed_import_resumes_where_it_stopped(db: &TestDb) {
    let store = db.store().await;
    let list = make_list(&*store, "crash").await;
    let dir = tempfile::tempdir().unwrap();
    let n = 100_000u64;
    let mut csv = String::with_capacity(n as usize * 40);
    csv.push_str(HEADER);
    for i in 0..n {
        csv.push_str(&format!("c{i}@example.com,,,OPT_IN,OPT_OUT\n"));
    }
    let path = write(dir.path(), "big.csv", csv.as_bytes());
    let cmd = |path: &Path| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_optbox"));
        c.args(["import", "--list", "crash"])
            .arg(path)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("OPTBOX_DATABASE_URL", &db.url)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c
    };
    let mut child = cmd(&path).spawn().unwrap();
    // Kill it once some batches have committed but well before the end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let jobs = store.list_import_jobs(None, None, 1).await.unwrap();
        if let Some((_, j)) = jobs.first()
            && j.lines_done > 0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the import never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (_, job) = store
        .list_import_jobs(None, None, 1)
        .await
        .unwrap()
        .remove(0);
    assert_ne!(job.status, JobStatus::Completed, "killed before the end");
    // Consistent: exactly the committed batches are there, and counted.
    let present = store.count_contacts(list.id).await.unwrap() as u64;
    assert_eq!(
        present, job.counts.created,
        "progress commits with its batch"
    );
    assert_eq!(
        present,
        job.lines_done as u64 - 1,
        "every line up to lines_done"
    );
    assert!(present < n);

    let out = cmd(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!(
            "resumed job {} after line {}",
            job.job_id, job.lines_done
        )),
        "{stdout}"
    );
    let done = store.get_import_job(&job.job_id).await.unwrap();
    assert_eq!(done.status, JobStatus::Completed);
    assert_eq!(done.counts.created, n);
    assert_eq!(done.counts.unchanged, 0, "no line applied twice");
    assert_eq!(store.count_contacts(list.id).await.unwrap() as u64, n);
}

async fn a_job_runs_in_one_process_at_a_time(db: &TestDb) {
    let store = db.store().await;
    make_list(&*store, "claim").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "c.csv",
        format!("{HEADER}a@example.com,,,,\n").as_bytes(),
    );
    let req = ImportRequest {
        list: "claim".into(),
        path: path.clone(),
        format: None,
        action: ImportAction::Put,
        override_opt_outs: false,
    };
    let job = optbox::server::service::import::prepare(&*store, &req)
        .await
        .unwrap()
        .job;
    let now = optbox::server::store::now_ms();
    let stale = now - 60_000;
    assert!(
        store
            .claim_import_job(&job.job_id, "h:1", stale, None)
            .await
            .unwrap()
    );
    // Another process, while the first is alive and recent: refused.
    assert!(
        !store
            .claim_import_job(&job.job_id, "h:2", stale, None)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_import_job(&job.job_id, "h:2", stale, Some("h:9"))
            .await
            .unwrap()
    );
    // The claimant is known dead, or silent for longer than the window: taken over.
    assert!(
        store
            .claim_import_job(&job.job_id, "h:2", stale, Some("h:1"))
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_import_job(&job.job_id, "h:3", now + 60_000, None)
            .await
            .unwrap()
    );
    // A running job of this very process is not run twice through the service either.
    let p = optbox::server::service::import::prepare(&*store, &req)
        .await
        .unwrap();
    assert_eq!(
        p.job.job_id, job.job_id,
        "the unfinished job is found again"
    );
    store
        .claim_import_job(
            &job.job_id,
            &format!("h:{}", std::process::id()),
            now + 60_000,
            None,
        )
        .await
        .unwrap();
    let mut on_p = |_: &optbox::server::service::import::Progress| {};
    let mut on_e = |_: &RowError| {};
    let r = optbox::server::service::import::execute(
        &*store,
        p,
        &Audit::new(Source::Import),
        &mut on_p,
        &mut on_e,
    )
    .await;
    assert!(
        r.unwrap_err()
            .to_string()
            .contains("being run by another process")
    );
    // Finished jobs are never claimed again.
    store
        .finish_import_job(
            &job.job_id,
            JobStatus::Completed,
            None,
            &Audit::new(Source::Import),
        )
        .await
        .unwrap();
    assert!(
        !store
            .claim_import_job(&job.job_id, "h:4", now + 60_000, None)
            .await
            .unwrap()
    );
}

/// A batch whose sample of addresses finds none on the list is written as all new; an
/// existing contact outside the sample makes the address index refuse it, and the batch
/// is written again with every address looked up: nothing is lost or resurrected.
async fn an_existing_contact_the_sample_misses_keeps_its_opt_out(db: &TestDb) {
    use SubscriptionStatus::*;
    let store = db.store().await;
    let list = make_list(&*store, "mixed").await;
    let dir = tempfile::tempdir().unwrap();
    let seed = format!("{HEADER}old@example.com,,,OPT_OUT,\n");
    put(
        &*store,
        "mixed",
        &write(dir.path(), "seed.csv", seed.as_bytes()),
    )
    .await;
    // 1,001 rows: the sample takes every second one from the first, so row 1 (the
    // existing contact, asking to be subscribed again) is not in it.
    let mut file =
        format!("{HEADER}new0@example.com,,,OPT_IN,\nold@example.com,false,,OPT_IN,OPT_IN\n");
    for i in 1..1000 {
        file.push_str(&format!("new{i}@example.com,,,OPT_IN,\n"));
    }
    let (out, errors) = put(
        &*store,
        "mixed",
        &write(dir.path(), "mixed.csv", file.as_bytes()),
    )
    .await;
    assert!(errors.is_empty(), "{errors:?}");
    let c = out.job.counts;
    assert_eq!(
        (c.created, c.updated, c.opt_outs_kept),
        (1000, 1, 1),
        "{c:?}"
    );
    let old = contact(&*store, &list, "old@example.com").await.unwrap();
    assert_eq!(old.explicit("news"), Some(OptOut), "the opt-out stands");
    assert_eq!(old.explicit("offers"), Some(OptIn));
    let new = contact(&*store, &list, "new999@example.com").await.unwrap();
    assert_eq!(new.explicit("news"), Some(OptIn));
    assert_eq!(
        store.count_contacts(list.id).await.unwrap(),
        1001,
        "every address once"
    );
}

/// A batch's progress names the line it follows: applied on top of anything else (its
/// predecessor failed, or another process moved the job on), it is rolled back whole.
/// This is what keeps `lines_done` an exact resume point when PostgreSQL applies two
/// batches at once.
async fn a_batch_commits_only_on_top_of_the_one_before(db: &TestDb) {
    let store = db.store().await;
    let list = make_list(&*store, "order").await;
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "o.csv",
        format!("{HEADER}a@example.com,,,,\n").as_bytes(),
    );
    let req = ImportRequest {
        list: "order".into(),
        path,
        format: None,
        action: ImportAction::Put,
        override_opt_outs: false,
    };
    let job = import::prepare(&*store, &req).await.unwrap().job;
    let rows = |names: &[&str]| -> Vec<ImportRow> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| ImportRow {
                line: i as u64 + 2,
                email: EmailAddress::parse(n).unwrap(),
                unsubscribe_all: None,
                attributes: None,
                preferences: Vec::new(),
            })
            .collect()
    };
    let audit = Audit::new(Source::Import);
    let batch = |after_line: u64, lines_done: u64| BatchProgress {
        job_id: &job.job_id,
        after_line,
        lines_done,
        failed: 0,
        after_batch: None,
    };
    let apply = async |names: &[&str], after_line: u64, lines_done: u64| {
        store
            .import_batch(
                &list,
                ImportAction::Put,
                &rows(names),
                false,
                &audit,
                Some(batch(after_line, lines_done)),
            )
            .await
    };
    // The job is at line 0: a batch that follows line 5 is refused.
    let early = apply(&["early@example.com"], 5, 9).await;
    assert!(early.is_err(), "{early:?}");
    assert!(contact(&*store, &list, "early@example.com").await.is_none());
    let j = store.get_import_job(&job.job_id).await.unwrap();
    assert_eq!((j.lines_done, j.counts.created), (0, 0));
    // On top of line 0 it commits, and moves the job to its last line.
    let c = apply(&["a@example.com", "b@example.com"], 0, 3)
        .await
        .unwrap();
    assert_eq!(c.created, 2);
    let j = store.get_import_job(&job.job_id).await.unwrap();
    assert_eq!((j.lines_done, j.counts.created), (3, 2));
    // The same batch again (the job has moved on): refused, nothing counted twice.
    let again = apply(&["c@example.com"], 0, 3).await;
    assert!(again.is_err(), "{again:?}");
    assert!(contact(&*store, &list, "c@example.com").await.is_none());
    let j = store.get_import_job(&job.job_id).await.unwrap();
    assert_eq!((j.lines_done, j.counts.created), (3, 2));
}

/// Four batches: the first alone, the second and third side by side, and the fourth,
/// which shares an address with the third, after it. Two addresses change in two
/// batches each; each ends as its last row says, with one event per change, in order.
async fn batches_applied_side_by_side_keep_file_order(db: &TestDb) {
    use SubscriptionStatus::*;
    let store = db.store().await;
    let list = make_list(&*store, "lanes").await;
    let dir = tempfile::tempdir().unwrap();
    let limit = import::batch_rows(store.backend());
    let n = 3 * limit + 100;
    let mut csv = String::with_capacity(n * 40);
    csv.push_str(HEADER);
    for i in 0..n {
        match i {
            // `dup` in the first and third batches, `dup2` in the third and fourth.
            0 => csv.push_str("dup@example.com,,\"{\"\"v\"\":1}\",OPT_IN,\n"),
            i if i == 2 * limit + 9 => {
                csv.push_str("dup@example.com,,\"{\"\"v\"\":2}\",OPT_OUT,OPT_IN\n")
            }
            i if i == 2 * limit + 10 => csv.push_str("dup2@example.com,,,OPT_IN,\n"),
            i if i == 3 * limit + 50 => csv.push_str("dup2@example.com,,,OPT_OUT,\n"),
            i => csv.push_str(&format!("l{i}@example.com,,,OPT_IN,\n")),
        }
    }
    let path = write(dir.path(), "lanes.csv", csv.as_bytes());
    let (out, errors) = put(&*store, "lanes", &path).await;
    assert!(errors.is_empty(), "{errors:?}");
    let c = out.job.counts;
    assert_eq!(
        (c.created, c.updated, c.unchanged),
        (n as u64 - 2, 2, 0),
        "{c:?}"
    );
    assert_eq!(out.job.lines_done, n as i64 + 1);
    assert_eq!(store.count_contacts(list.id).await.unwrap() as usize, n - 2);
    let dup = contact(&*store, &list, "dup@example.com").await.unwrap();
    assert_eq!(dup.attributes, r#"{"v":2}"#);
    assert_eq!(dup.explicit("news"), Some(OptOut));
    assert_eq!(dup.explicit("offers"), Some(OptIn));
    let dup2 = contact(&*store, &list, "dup2@example.com").await.unwrap();
    assert_eq!(dup2.explicit("news"), Some(OptOut));
    let prefs = |json: &Option<String>| -> Preferences {
        serde_json::from_str(json.as_deref().expect("preferences")).unwrap()
    };
    let topic = |name: &str, status| TopicPreference {
        topic: TopicName::parse(name).unwrap(),
        status,
    };
    let all = events(&*store, "lanes").await;
    let only = |email: &str| -> EventRecord {
        let mut e: Vec<EventRecord> = all
            .iter()
            .filter(|e| e.kind == "subscription" && e.contact_email.as_deref() == Some(email))
            .cloned()
            .collect();
        assert_eq!(e.len(), 1, "{email}: {e:?}");
        e.remove(0)
    };
    let d = only("dup@example.com");
    assert_eq!(
        (prefs(&d.old_prefs), prefs(&d.new_prefs)),
        (
            Preferences {
                unsubscribe_all: false,
                topics: vec![topic("news", OptIn)]
            },
            Preferences {
                unsubscribe_all: false,
                topics: vec![topic("news", OptOut), topic("offers", OptIn)]
            }
        )
    );
    let d2 = only("dup2@example.com");
    assert_eq!(
        (prefs(&d2.old_prefs), prefs(&d2.new_prefs)),
        (
            Preferences {
                unsubscribe_all: false,
                topics: vec![topic("news", OptIn)]
            },
            Preferences {
                unsubscribe_all: false,
                topics: vec![topic("news", OptOut)]
            }
        )
    );
    assert!(d.id < d2.id, "the third batch's event before the fourth's");
}
