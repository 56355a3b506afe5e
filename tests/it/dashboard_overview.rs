//! The dashboard overview: opt-outs per day over 30 days by topic and by source from the
//! event log (real events written by the store, some copied to earlier days), kept
//! incrementally, and rendered as accessible SVG charts with data tables — on SQLite and
//! PostgreSQL.
#![cfg(feature = "ssr")]

use crate::common;

use common::dashboard::sign_in;
use common::spawn_app_on;
use optbox::domain::{EmailAddress, SubscriptionStatus, Tombstone, TopicName};
use optbox::server::service::auth::Role;
use optbox::server::service::overview::Series;
use optbox::server::store::{
    Audit, ContactChange, NewContact, PrefMode, Source, email_hash, now_ms,
};

const DAY: i64 = 86_400_000;

async fn exec(url: &str, sql: &str) {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

/// Copies event `id` to noon of the day `days_ago` days before today (UTC).
fn copy_event(id: i64, days_ago: i64) -> String {
    let at = (now_ms().div_euclid(DAY) - days_ago) * DAY + DAY / 2;
    format!(
        "INSERT INTO events (created_at, kind, source, list_name, topic_name, contact_email, old_prefs, new_prefs, detail) \
         SELECT {at}, kind, source, list_name, topic_name, contact_email, old_prefs, new_prefs, detail FROM events WHERE id = {id};"
    )
}

fn find<'a>(v: &'a [Series], name: &str) -> &'a Series {
    v.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no series {name} in {v:?}"))
}

async fn last_event_id(app: &common::TestApp) -> i64 {
    app.store
        .list_events(None, Some("subscription"), None, 1)
        .await
        .unwrap()[0]
        .id
}

async fn overview_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    let topic = |t: &str| TopicName::parse(t).unwrap();
    let email = EmailAddress::parse("ann@example.com").unwrap();
    let new = NewContact {
        email: email.clone(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    app.store
        .create_contact(&list, &new, &Audit::new(Source::Api))
        .await
        .unwrap();
    let change = |unsub: Option<bool>, prefs: Vec<(&str, SubscriptionStatus)>| ContactChange {
        unsubscribe_all: unsub,
        preferences: Some((
            PrefMode::Merge,
            prefs.into_iter().map(|(t, s)| (topic(t), s)).collect(),
        )),
        attributes: None,
    };
    // Today: a topic opt-out from the landing page.
    app.store
        .update_contact(
            &list,
            &email,
            &change(None, vec![("newsletter", SubscriptionStatus::OptOut)]),
            &Audit::new(Source::LandingPage),
        )
        .await
        .unwrap();
    let topic_out = last_event_id(&app).await;
    // An opt-in: not an opt-out.
    app.store
        .update_contact(
            &list,
            &email,
            &change(None, vec![("offers", SubscriptionStatus::OptIn)]),
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
    let opt_in = last_event_id(&app).await;
    // UnsubscribeAll from a one-click header.
    app.store
        .update_contact(
            &list,
            &email,
            &change(Some(true), vec![]),
            &Audit::new(Source::UnsubscribeHeader),
        )
        .await
        .unwrap();
    let all_out = last_event_id(&app).await;
    // An opt-out of an address without a contact (a tombstone) from an import.
    let unknown = EmailAddress::parse("gone@example.com").unwrap();
    app.store
        .record_tombstone(
            &list,
            &email_hash(&unknown),
            &Tombstone {
                unsubscribe_all: false,
                opted_out_topics: vec![topic("offers")],
            },
            &Audit::new(Source::Import),
        )
        .await
        .unwrap();
    // Earlier days: two more topic opt-outs 2 days ago, one UnsubscribeAll 9 days ago,
    // an opt-in 2 days ago (ignored) and an opt-out 40 days ago (outside the window).
    let sql = [
        copy_event(topic_out, 2),
        copy_event(topic_out, 2),
        copy_event(all_out, 9),
        copy_event(opt_in, 2),
        copy_event(topic_out, 40),
    ]
    .concat();
    exec(&app.db.url, &sql).await;

    let snap = app.state.overview.refresh(&app.store).await.unwrap();
    let newsletter = find(&snap.by_topic, "demo/newsletter");
    assert_eq!(newsletter.counts.len(), 30);
    assert_eq!((newsletter.counts[29], newsletter.counts[27]), (1, 2));
    assert_eq!(newsletter.total, 3, "{newsletter:?}");
    let all = find(&snap.by_topic, "demo/(all topics)");
    assert_eq!((all.counts[29], all.counts[20], all.total), (1, 1, 2));
    let offers = find(&snap.by_topic, "demo/offers");
    assert_eq!((offers.counts[29], offers.total), (1, 1));
    assert_eq!(snap.by_topic.len(), 3, "{:?}", snap.by_topic);
    assert_eq!(find(&snap.by_source, "LandingPage").counts[27], 2);
    assert_eq!(find(&snap.by_source, "LandingPage").total, 3);
    assert_eq!(find(&snap.by_source, "UnsubscribeHeader").total, 2);
    assert_eq!(find(&snap.by_source, "Import").total, 1);
    assert!(
        snap.by_source.iter().all(|s| s.name != "Api"),
        "an opt-in is not an opt-out: {:?}",
        snap.by_source
    );
    assert_eq!(snap.total, 6);
    let demo = snap.lists.iter().find(|l| l.name == "demo").unwrap();
    assert_eq!((demo.topics, demo.contacts), (3, 2), "{demo:?}");

    // Incremental: only events above the watermark are read, nothing is counted twice.
    app.store
        .update_contact(
            &list,
            &email,
            &change(None, vec![("product-updates", SubscriptionStatus::OptOut)]),
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
    let snap = app.state.overview.refresh(&app.store).await.unwrap();
    assert_eq!(find(&snap.by_topic, "demo/product-updates").total, 1);
    assert_eq!(find(&snap.by_topic, "demo/newsletter").total, 3);
    assert_eq!(find(&snap.by_source, "Api").total, 1);
    assert_eq!(snap.total, 7);

    // The page: two charts (SVG with role img, title and description), legends with the
    // totals, the figures as tables, the list sizes.
    sign_in(&app, Role::Viewer).await;
    let html = app.get_text(&app.url("/admin")).await;
    for needle in [
        r#"id="chart-topic""#,
        r#"id="chart-source""#,
        r#"role="img""#,
        r#"aria-labelledby="chart-topic-title chart-topic-desc""#,
        "Opt-outs per day by topic, last 30 days</title>",
        "7 opt-outs: ",
        r#"id="chart-topic-table""#,
        r#"id="chart-source-table""#,
        "demo/newsletter",
        "LandingPage",
        r#"id="lists""#,
    ] {
        assert!(html.contains(needle), "{needle} missing: {html}");
    }
    assert!(
        html.contains("7<!> opt-outs in the last 30 days")
            || html.contains("7 opt-outs in the last 30 days"),
        "{html}"
    );
    // The per-day table: 2 days ago LandingPage had 2.
    let day = |ago: i64| {
        let t = time::OffsetDateTime::from_unix_timestamp((now_ms() / DAY - ago) * 86_400).unwrap();
        format!("{}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let table = &html[html.find(r#"id="chart-source-table""#).unwrap()..];
    let row = &table[table
        .find(&format!("<th scope=\"row\">{}</th>", day(2)))
        .unwrap()..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(row.contains("<td>2</td>"), "{row}");

    // A change shows on the next view: a list made now, and a contact added to it.
    let fresh = app
        .store
        .create_list("fresh-list", &Default::default(), None)
        .await
        .unwrap();
    tokio::time::sleep(optbox::server::service::overview::MIN_AGE).await;
    let html = app.get_text(&app.url("/admin")).await;
    assert!(html.contains("fresh-list"), "{html}");
    let new = NewContact {
        email: EmailAddress::parse("bea@example.com").unwrap(),
        unsubscribe_all: false,
        preferences: vec![],
        attributes: String::new(),
    };
    app.store
        .create_contact(&fresh, &new, &Audit::new(Source::Api))
        .await
        .unwrap();
    tokio::time::sleep(optbox::server::service::overview::MIN_AGE).await;
    let snap = app.state.overview.get(&app.store).await.unwrap();
    let l = snap.lists.iter().find(|l| l.name == "fresh-list").unwrap();
    assert_eq!(l.contacts, 1);
    app.stop().await;
}

/// Right after start the demo list is seeded after the overview's warm-up: the first
/// view must show it, not the empty snapshot.
#[tokio::test]
async fn the_first_view_after_seeding_shows_the_demo_list() {
    let app = spawn_app_on("sqlite").await;
    // The warm-up's (empty) snapshot exists before the seed.
    app.state.overview.refresh(&app.store).await.unwrap();
    optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    tokio::time::sleep(optbox::server::service::overview::MIN_AGE).await;
    sign_in(&app, Role::Viewer).await;
    let html = app.get_text(&app.url("/admin")).await;
    assert!(!html.contains(r#"id="no-lists""#), "{html}");
    assert!(html.contains(r#"href="/admin/lists/demo""#), "{html}");
    app.stop().await;
}

#[tokio::test]
async fn overview_counts_opt_outs_per_day_by_topic_and_source_on_sqlite() {
    overview_flow("sqlite").await;
}

#[tokio::test]
async fn overview_counts_opt_outs_per_day_by_topic_and_source_on_postgres() {
    overview_flow("postgres").await;
}
