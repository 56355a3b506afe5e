//! Inbound benchmark: N unsubscribe mails delivered to optbox's inbound listener by C
//! concurrent SMTP clients (lettre's protocol on pooled TCP_NODELAY connections, as the
//! relay worker sends), each to the `unsub-…` address of its own send record. Every 250
//! means the opt-out is durable (the one-click path). After the run it checks that every
//! recipient is opted out, and prints mails per second.
//!
//! inbound_bench DATABASE_URL N C

use lettre::address::Envelope;
use optbox::domain::{EmailAddress, SubscriptionStatus};
use optbox::server::config::{RelaySettings, Secret, Settings};
use optbox::server::mail::issued::{self, Purpose};
use optbox::server::mail::upstream::Upstream;
use optbox::server::service::sending::{Submission, Via};
use optbox::server::startup::Application;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

const DOMAIN: &str = "in.bench.example";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: inbound_bench DATABASE_URL N C");
        std::process::exit(2);
    }
    let n: usize = args[2].parse().expect("N");
    let c: usize = args[3].parse().expect("C");
    let mut settings = Settings {
        database_url: Secret::new(args[1].clone()),
        listen: "127.0.0.1:0".parse().unwrap(),
        smtp_listen: "127.0.0.1:0".parse().unwrap(),
        ..Default::default()
    };
    settings.inbound.inbound_listen = Some("127.0.0.1:0".parse().unwrap());
    settings.inbound.inbound_domain = Some(DOMAIN.into());
    settings.smtp.smtp_max_connections_per_ip = c.max(32);
    let app = Application::build(settings, None).await.expect("build");
    let state = app.state.clone();
    let inbound = app.inbound_addr().expect("inbound listener");
    let list = optbox::domain::ListDefinition {
        topics: vec![optbox::domain::Topic {
            name: optbox::domain::TopicName::parse("news").unwrap(),
            display_name: "News".into(),
            description: String::new(),
            default_status: SubscriptionStatus::OptIn,
            hidden: false,
        }],
        ..Default::default()
    };
    state
        .store
        .create_list("news", &list, None)
        .await
        .expect("list");
    // One list-managed message per recipient, kept in the outbox (no relay_url).
    let mut targets = Vec::with_capacity(n);
    let t0 = Instant::now();
    for i in 0..n {
        let rcpt = format!("r{i}@example.org");
        let data = format!(
            "From: news@example.com\r\nTo: {rcpt}\r\nSubject: News\r\n\
             X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=news\r\n\r\nHello.\r\n"
        );
        let p = state
            .process_mail(Submission {
                mail_from: "news@example.com".into(),
                rcpts: vec![rcpt.clone()],
                data: data.into_bytes(),
                options: None,
                via: Via::Api,
                key_id: None,
                configuration_set: None,
                tags: Vec::new(),
                scope: Default::default(),
            })
            .await
            .expect("send");
        state.enqueue_mail(&p.outgoing).await.expect("queue");
        let to = issued::address(
            &state.token_keys,
            DOMAIN,
            Purpose::Unsubscribe,
            p.outgoing[0].send_id,
        );
        targets.push((rcpt, to));
    }
    eprintln!("{n} messages sent in {:.1} s", t0.elapsed().as_secs_f64());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = rx.await;
    }));
    let s = RelaySettings {
        relay_concurrency: c,
        ..RelaySettings::default()
    };
    let client = Arc::new(Upstream::from_url(&format!("smtp://{inbound}"), &s).expect("client"));
    let targets = Arc::new(targets);
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (client, targets, next, failed) = (
            client.clone(),
            targets.clone(),
            next.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((from, to)) = targets.get(i) else {
                    return;
                };
                let env =
                    Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
                let body = format!(
                    "From: {from}\r\nTo: {to}\r\nSubject: unsubscribe\r\n\r\nPlease remove me."
                );
                if let Err(e) = client.send_raw(&env, body.as_bytes()).await
                    && failed.fetch_add(1, Ordering::Relaxed) < 3
                {
                    eprintln!("refused: {}", e.message);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    // Every 250 was durable: all are opted out (reads wait for acknowledged opt-outs).
    let list = state.store.get_list("news").await.unwrap();
    let topic = list.topic("news").unwrap().clone();
    let mut out = 0;
    for (rcpt, _) in targets.iter() {
        let c = state
            .store
            .get_contact(&list, &EmailAddress::parse(rcpt).unwrap())
            .await
            .unwrap();
        if c.status_for(&topic) == SubscriptionStatus::OptOut {
            out += 1;
        }
    }
    let _ = tx.send(());
    let _ = server.await;
    println!(
        "{{\"mails\": {n}, \"clients\": {c}, \"refused\": {failed}, \"opted_out\": {out}, \"secs\": {secs:.2}, \"per_sec\": {:.0}}}",
        n as f64 / secs
    );
    assert_eq!(out + failed, n, "an accepted unsubscribe mail was lost");
}
