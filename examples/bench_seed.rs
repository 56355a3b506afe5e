//! Benchmark seeding: creates list `bench` (topics `news` and `offers`) with N contacts and
//! writes one unsubscribe path per contact (every other one topic-scoped) to a file.
//! Uses the same configuration as `optbox` (OPTBOX_DATABASE_URL, OPTBOX_TOKEN_KEYS).
//!
//! cargo run --release --features ssr --example bench_seed -- CONTACTS OUT_FILE

use futures_util::StreamExt;
use optbox::domain::{EmailAddress, ListDefinition, SubscriptionStatus, Topic, TopicName};
use optbox::server::config::Settings;
use optbox::server::service::recipient;
use optbox::server::startup;
use optbox::server::store::{Audit, NewContact, Source};
use std::io::Write;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .ok_or("usage: bench_seed CONTACTS OUT_FILE")?
        .parse()?;
    let out = args.next().ok_or("usage: bench_seed CONTACTS OUT_FILE")?;
    let settings = Settings::load(None)?;
    let store = startup::open_store(&settings).await?;
    let keys = startup::token_keys(&settings, &store).await?;
    let topic = |name: &str| Topic {
        name: TopicName::parse(name).unwrap(),
        display_name: name.to_uppercase(),
        description: "A benchmark topic".into(),
        default_status: SubscriptionStatus::OptIn,
        hidden: false,
    };
    let def = ListDefinition {
        topics: vec![topic("news"), topic("offers")],
        ..Default::default()
    };
    let list = store.create_list("bench", &def, None).await?;
    let started = std::time::Instant::now();
    let audit = Audit::new(Source::Import);
    let mut file = std::io::BufWriter::new(std::fs::File::create(&out)?);
    let mut created = futures_util::stream::iter(0..n)
        .map(|i| {
            let (store, list, audit) = (store.clone(), list.clone(), audit.clone());
            async move {
                let email = EmailAddress::parse(&format!("user{i}@bench.example")).unwrap();
                let nc = NewContact {
                    email: email.clone(),
                    unsubscribe_all: false,
                    preferences: vec![],
                    attributes: String::new(),
                };
                store
                    .create_contact(&list, &nc, &audit)
                    .await
                    .map(|_| (i, email))
            }
        })
        .buffer_unordered(32);
    while let Some(r) = created.next().await {
        let (i, email) = r?;
        let topic = (i % 2 == 0).then(|| TopicName::parse("news").unwrap());
        let url = recipient::url_for(&keys, "", &list.name, topic, &email);
        writeln!(file, "{url}")?;
    }
    file.flush()?;
    eprintln!(
        "seeded {n} contacts in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
