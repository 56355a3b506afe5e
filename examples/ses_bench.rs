//! SES-API benchmark helper (used by bench/ses.sh). Same configuration as `optbox`
//! (OPTBOX_DATABASE_URL etc.).
//!
//!   ses_bench seed N KEY_FILE      bulk-load list `bench` with N contacts (SQL batches,
//!                                  not the API: this measures reads, not the loader) and
//!                                  write a new API key to KEY_FILE
//!   ses_bench presign BASE KEY_FILE N OUT_GET OUT_PUT [OUT_SEND]
//!                                  write N pre-signed GetContact and UpdateContact requests
//!                                  (one per line, for bench/ses.lua; valid for 5 minutes),
//!                                  and N SendEmail requests (the stored template
//!                                  `bench-news` with ListManagementOptions, topic news)
//!                                  to list contacts
//!   ses_bench links N OUT         write N unsubscribe paths (`/u/{token}`, every other one
//!                                  for topic `news`) of contacts spread over the list, none
//!                                  of them opted out yet, for the page and one-click runs
//!   ses_bench events N            bulk-load N opt-out events of list `bench` spread evenly
//!                                  over the last 30 days (for the dashboard overview):
//!                                  sources UnsubscribeHeader 50%, LandingPage 25%, Api 15%,
//!                                  Import 5%, Admin 5%; topics news 60%, offers 20%,
//!                                  UnsubscribeAll 20%
//!   ses_bench pages BASE KEY_FILE PAGES
//!                                  walk PAGES pages of 1,000 with a topic filter, one at a
//!                                  time, and print per-page latency as JSON
//!
//! Contact i: news OPT_OUT when i % 3 == 0, OPT_IN when i % 3 == 1, no preference
//! otherwise; UnsubscribeAll when i % 50 == 0.

#[path = "../tests/it/common/ses.rs"]
mod ses;

use optbox::domain::{EmailAddress, ListDefinition, SubscriptionStatus, Topic, TopicName};
use optbox::server::config::Settings;
use optbox::server::service::api_keys;
use optbox::server::startup;
use optbox::server::store::{Backend, email_hash, now_ms};
use std::io::Write;
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn usage() -> Box<dyn std::error::Error> {
    "usage: ses_bench seed N KEY_FILE | events N | presign BASE KEY_FILE N OUT_GET OUT_PUT [OUT_SEND] | links N OUT | manage-links N OUT | pages BASE KEY_FILE PAGES | drain BASE KEY_FILE".into()
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("seed") if args.len() == 3 => seed(args[1].parse()?, &args[2]).await,
        Some("presign") if args.len() == 6 || args.len() == 7 => {
            let send = args.get(6).map(String::as_str);
            presign(
                &args[1],
                &args[2],
                args[3].parse()?,
                &args[4],
                &args[5],
                send,
            )
            .await
        }
        Some("pages") if args.len() == 4 => pages(&args[1], &args[2], args[3].parse()?).await,
        Some("drain") if args.len() == 3 => drain(&args[1], &args[2]).await,
        Some("links") if args.len() == 3 => links(args[1].parse()?, &args[2]).await,
        Some("manage-links") if args.len() == 3 => manage_links(args[1].parse()?, &args[2]).await,
        Some("events") if args.len() == 2 => events(args[1].parse()?).await,
        _ => Err(usage()),
    }
}

fn email(i: usize) -> String {
    format!("user{i}@bench.example")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn seed(n: usize, key_file: &str) -> Res<()> {
    let settings = Settings::load(None)?;
    let store = startup::open_store(&settings).await?;
    let topic = |name: &str, d| Topic {
        name: TopicName::parse(name).unwrap(),
        display_name: name.to_uppercase(),
        description: String::new(),
        default_status: d,
        hidden: false,
    };
    let def = ListDefinition {
        topics: vec![
            topic("news", SubscriptionStatus::OptIn),
            topic("offers", SubscriptionStatus::OptOut),
        ],
        // The hosted subscription form is measured too.
        branding: optbox::domain::Branding {
            subscribe_form: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let list = store.create_list("bench", &def, None).await?;
    let master = startup::api_key_master(&settings, &store).await?;
    let cli = optbox::server::store::Audit::new(optbox::server::store::Source::Cli);
    let key = api_keys::create(&*store, &master, "bench", &cli).await?;
    std::fs::write(key_file, serde_json::to_string(&key)?)?;
    // The stored template the SendEmail workload sends with.
    let text = format!(
        "Hello {{{{name}}}},\n\n{}\nTo stop these mails: {{{{amazonSESUnsubscribeUrl}}}}\n",
        "This is the weekly news from the benchmark list. ".repeat(16)
    );
    optbox::server::service::templates::create(
        &*store,
        "bench-news",
        &optbox::server::store::TemplateContent {
            subject: "News #{{issue}}".into(),
            text: Some(text),
            html: None,
        },
        &cli,
    )
    .await?;

    let url = settings.database_url.expose().to_owned();
    let pg = store.backend() == Backend::Postgres;
    let news: i64;
    let started = Instant::now();
    macro_rules! load {
        ($pool:expr) => {{
            let pool = $pool;
            news = sqlx::query_scalar("SELECT id FROM topics WHERE list_id = $1 AND name = 'news'")
                .bind(list.id)
                .fetch_one(&pool)
                .await?;
            let first: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM contacts")
                .fetch_one(&pool)
                .await?;
            let now = now_ms();
            let batch = 1000;
            let mut i = 0;
            while i < n {
                let end = (i + batch * 20).min(n);
                let mut sql = String::from("BEGIN;");
                let mut j = i;
                while j < end {
                    let stop = (j + batch).min(end);
                    let mut contacts = Vec::with_capacity(stop - j);
                    let mut prefs = Vec::new();
                    for k in j..stop {
                        let e = EmailAddress::parse(&email(k)).unwrap();
                        let h = hex(&email_hash(&e));
                        let hash = if pg { format!("'\\x{h}'::bytea") } else { format!("X'{h}'") };
                        let id = first + k as i64;
                        contacts.push(format!(
                            "({id}, {}, '{}', '{}', {hash}, {}, '', {now}, {now})",
                            list.id,
                            e.as_str(),
                            e.key(),
                            if k % 50 == 0 { "TRUE" } else { "FALSE" }
                        ));
                        match k % 3 {
                            0 => prefs.push(format!("({id}, {news}, FALSE)")),
                            1 => prefs.push(format!("({id}, {news}, TRUE)")),
                            _ => {}
                        }
                    }
                    sql.push_str("INSERT INTO contacts (id, list_id, email, email_key, email_hash, unsubscribe_all, attributes, created_at, updated_at) VALUES ");
                    sql.push_str(&contacts.join(","));
                    sql.push(';');
                    if !prefs.is_empty() {
                        sql.push_str("INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES ");
                        sql.push_str(&prefs.join(","));
                        sql.push(';');
                    }
                    j = stop;
                }
                sql.push_str("COMMIT;");
                sqlx::raw_sql(&sql).execute(&pool).await?;
                i = end;
            }
            if pg {
                sqlx::raw_sql("SELECT setval('contacts_id_seq', (SELECT MAX(id) FROM contacts)); ANALYZE;")
                    .execute(&pool)
                    .await?;
            } else {
                sqlx::raw_sql("ANALYZE;").execute(&pool).await?;
            }
        }};
    }
    if pg {
        load!(sqlx::PgPool::connect(&url).await?);
    } else {
        load!(sqlx::SqlitePool::connect(&url).await?);
    }
    eprintln!(
        "seeded {n} contacts in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn events(n: usize) -> Res<()> {
    let settings = Settings::load(None)?;
    let url = settings.database_url.expose().to_owned();
    let pg = url.starts_with("postgres");
    let started = Instant::now();
    let now = now_ms();
    let span = 30 * 86_400_000i64 - 60_000;
    let sources = [
        (50, "UnsubscribeHeader"),
        (25, "LandingPage"),
        (15, "Api"),
        (5, "Import"),
        (5, "Admin"),
    ];
    let row = |k: usize| {
        let created = now - span + span * k as i64 / n.max(1) as i64;
        let mut r = k % 100;
        let source = sources
            .iter()
            .find(|(p, _)| {
                let hit = r < *p;
                r = r.saturating_sub(*p);
                hit
            })
            .map_or("Api", |(_, s)| *s);
        let (topic, new) = match k % 5 {
            0 => ("NULL", r#"{"unsubscribe_all":true,"topics":[]}"#),
            1 => (
                "'offers'",
                r#"{"unsubscribe_all":false,"topics":[{"topic":"offers","status":"OPT_OUT"}]}"#,
            ),
            _ => (
                "'news'",
                r#"{"unsubscribe_all":false,"topics":[{"topic":"news","status":"OPT_OUT"}]}"#,
            ),
        };
        format!(
            "({created}, 'subscription', '{source}', 'bench', {topic}, '{}', '{{\"unsubscribe_all\":false,\"topics\":[]}}', '{new}', '{{}}')",
            email(k)
        )
    };
    macro_rules! load {
        ($pool:expr) => {{
            let pool = $pool;
            let mut i = 0;
            while i < n {
                let end = (i + 20_000).min(n);
                let mut sql = String::from("BEGIN;");
                let mut j = i;
                while j < end {
                    let stop = (j + 1000).min(end);
                    sql.push_str("INSERT INTO events (created_at, kind, source, list_name, topic_name, contact_email, old_prefs, new_prefs, detail) VALUES ");
                    sql.push_str(&(j..stop).map(row).collect::<Vec<_>>().join(","));
                    sql.push(';');
                    j = stop;
                }
                sql.push_str("COMMIT;");
                sqlx::raw_sql(&sql).execute(&pool).await?;
                i = end;
            }
            sqlx::raw_sql("ANALYZE;").execute(&pool).await?;
        }};
    }
    if pg {
        load!(sqlx::PgPool::connect(&url).await?);
    } else {
        load!(sqlx::SqlitePool::connect(&url).await?);
    }
    eprintln!(
        "seeded {n} events in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn read_key(path: &str) -> Res<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    Ok((
        v["AccessKeyId"]
            .as_str()
            .ok_or("no AccessKeyId")?
            .to_owned(),
        v["SecretAccessKey"]
            .as_str()
            .ok_or("no SecretAccessKey")?
            .to_owned(),
    ))
}

async fn presign(
    base: &str,
    key_file: &str,
    n: usize,
    out_get: &str,
    out_put: &str,
    out_send: Option<&str>,
) -> Res<()> {
    let (id, secret) = read_key(key_file)?;
    let client = ses::SesClient::new(base, &id, &secret);
    let mut get = std::io::BufWriter::new(std::fs::File::create(out_get)?);
    let mut put = std::io::BufWriter::new(std::fs::File::create(out_put)?);
    let mut send = match out_send {
        Some(p) => Some(std::io::BufWriter::new(std::fs::File::create(p)?)),
        None => None,
    };
    // Spread over the list; two opposite updates per contact so replays keep changing it.
    let total: usize = std::env::var("BENCH_SES_CONTACTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n);
    let mut send_k = total.max(1) - 1;
    for k in 0..n {
        let i = (k * 7919) % total.max(1);
        let path = format!(
            "/v2/email/contact-lists/bench/contacts/{}",
            ses::label(&email(i))
        );
        let (auth, date) = client.presign("GET", &path, None);
        writeln!(get, "GET\t{path}\t{date}\t{auth}\t")?;
        let status = if k % 2 == 0 { "OPT_OUT" } else { "OPT_IN" };
        let body = serde_json::json!({"TopicPreferences": [{"TopicName": "offers", "SubscriptionStatus": status}]}).to_string();
        let (auth, date) = client.presign("PUT", &path, Some(body.as_bytes()));
        writeln!(put, "PUT\t{path}\t{date}\t{auth}\t{body}")?;
        if let Some(send) = send.as_mut() {
            // A 1 KB message with the placeholder in its text part, to a list contact
            // subscribed to news (the suppression check runs and lets it through).
            // Walked from the far end of the stride sequence that `links` walks from the
            // start, so no recipient is one the one-click run (before this) opted out.
            let r = loop {
                let j = (send_k * 7919) % total.max(1);
                send_k = send_k.checked_sub(1).unwrap_or(total.max(1) - 1);
                if j % 3 == 1 && !j.is_multiple_of(50) {
                    break j;
                }
            };
            let path = "/v2/email/outbound-emails";
            let data = serde_json::json!({"name": format!("reader {r}"), "issue": k}).to_string();
            let body = serde_json::json!({
                "FromEmailAddress": "news@bench.example",
                "Destination": {"ToAddresses": [email(r)]},
                "Content": {"Template": {"TemplateName": "bench-news", "TemplateData": data}},
                "ListManagementOptions": {"ContactListName": "bench", "TopicName": "news"},
            })
            .to_string();
            let (auth, date) = client.presign("POST", path, Some(body.as_bytes()));
            writeln!(send, "POST\t{path}\t{date}\t{auth}\t{body}")?;
        }
    }
    get.flush()?;
    put.flush()?;
    if let Some(mut send) = send {
        send.flush()?;
    }
    Ok(())
}

async fn links(n: usize, out: &str) -> Res<()> {
    let settings = Settings::load(None)?;
    let store = startup::open_store(&settings).await?;
    let keys = startup::token_keys(&settings, &store).await?;
    let list = optbox::domain::ListName::parse("bench").map_err(|e| e.to_string())?;
    let news = TopicName::parse("news").map_err(|e| e.to_string())?;
    let total: usize = std::env::var("BENCH_SES_CONTACTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    let mut written = 0;
    let mut k = 0usize;
    while written < n && k < total * 2 {
        // Contacts with i % 3 == 0 have news OPT_OUT and i % 50 == 0 UnsubscribeAll
        // already: skip them, so each first POST is a real change.
        let i = (k * 7919) % total.max(1);
        k += 1;
        if i.is_multiple_of(3) || i.is_multiple_of(50) {
            continue;
        }
        let topic = (written % 2 == 0).then(|| news.clone());
        let url = optbox::server::service::recipient::url_for(
            &keys,
            "",
            &list,
            topic,
            &EmailAddress::parse(&email(i)).map_err(|e| e.to_string())?,
        );
        writeln!(file, "{url}")?;
        written += 1;
    }
    file.flush()?;
    Ok(())
}

/// N manage links (`/m/{token}`) of distinct contacts, stored as `/manage` stores them
/// (without the mail), one path per line.
async fn manage_links(n: usize, out: &str) -> Res<()> {
    use base64::Engine;
    use rand::RngCore;
    let settings = Settings::load(None)?;
    let store = startup::open_store(&settings).await?;
    let total: usize = std::env::var("BENCH_SES_CONTACTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(n);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    for k in 0..n {
        let e =
            EmailAddress::parse(&email((k * 7919) % total.max(1))).map_err(|e| e.to_string())?;
        let mut b = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut b);
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        store
            .put_request(&optbox::server::store::NewRequest {
                kind: "manage",
                token: &token,
                email: &e,
                list_name: None,
                payload: serde_json::json!({ "hash": hex(&email_hash(&e)), "lang": "en" }),
                expires_at: now_ms() + 86_400_000,
            })
            .await?;
        writeln!(file, "/m/{token}")?;
    }
    file.flush()?;
    Ok(())
}

/// Seconds until a list-wide read answers: it waits until every one-click opt-out
/// acknowledged from the log (SQLite) is applied to the tables (503 past 30 s: asked again).
async fn drain(base: &str, key_file: &str) -> Res<()> {
    let (id, secret) = read_key(key_file)?;
    let client = ses::SesClient::new(base, &id, &secret);
    let t0 = Instant::now();
    loop {
        let r = client
            .post(
                "/v2/email/contact-lists/bench/contacts/list",
                serde_json::json!({"PageSize": 1}),
            )
            .await;
        if r.status.is_success() {
            break;
        }
        if t0.elapsed().as_secs() > 600 {
            return Err(format!("not drained after 600 s: {}", r.status).into());
        }
    }
    println!("{:.2}", t0.elapsed().as_secs_f64());
    Ok(())
}

async fn pages(base: &str, key_file: &str, pages: usize) -> Res<()> {
    let (id, secret) = read_key(key_file)?;
    let client = ses::SesClient::new(base, &id, &secret);
    let path = "/v2/email/contact-lists/bench/contacts/list";
    let mut out = serde_json::Map::new();
    for (name, filter) in [
        (
            "opt_in_with_defaults",
            serde_json::json!({"FilteredStatus": "OPT_IN", "TopicFilter": {"TopicName": "news", "UseDefaultIfPreferenceUnavailable": true}}),
        ),
        (
            "opt_out_explicit",
            serde_json::json!({"FilteredStatus": "OPT_OUT", "TopicFilter": {"TopicName": "news", "UseDefaultIfPreferenceUnavailable": false}}),
        ),
    ] {
        let mut lat = Vec::new();
        let mut token: Option<String> = None;
        let mut rows = 0;
        for _ in 0..pages {
            let mut body = serde_json::json!({"PageSize": 1000, "Filter": filter});
            if let Some(t) = &token {
                body["NextToken"] = serde_json::json!(t);
            }
            let t0 = Instant::now();
            let r = client.post(path, body).await;
            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            let v = r.ok();
            rows += v["Contacts"].as_array().map(Vec::len).unwrap_or(0);
            match v["NextToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p).round() as usize];
        out.insert(
            name.into(),
            serde_json::json!({"pages": lat.len(), "rows": rows, "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0)}),
        );
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}
