//! SMTP benchmark: N messages submitted to a running optbox over SMTP by C concurrent
//! clients (lettre's protocol on optbox's own pooled TCP_NODELAY connections, the relay
//! worker's client: src/server/mail/upstream.rs), relayed by optbox to a real SMTP server (the
//! aiosmtpd sink of tests/compat/smtp_sink.py, which writes one file pair per message).
//! Prints submission throughput (250 replies per second) and end-to-end throughput (from
//! the first submission to the last message stored by the sink).
//!
//! smtp_bench SMTP_ADDR SINK_DIR N C

use lettre::address::Envelope;
use optbox::server::config::RelaySettings;
use optbox::server::mail::upstream::Upstream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: smtp_bench SMTP_ADDR SINK_DIR N C");
        std::process::exit(2);
    }
    let (addr, dir) = (args[1].clone(), args[2].clone());
    let n: usize = args[3].parse().expect("N");
    let c: usize = args[4].parse().expect("C");
    let settings = RelaySettings {
        relay_concurrency: c,
        ..RelaySettings::default()
    };
    let t = Arc::new(Upstream::from_url(&format!("smtp://{addr}"), &settings).expect("address"));
    let body = format!(
        "From: bench@example.com\r\nTo: r@example.net\r\nSubject: bench\r\n\r\n{}\r\n",
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n".repeat(30)
    );
    // Without the final CRLF: the client adds it before the terminating dot.
    let body = Arc::new(body.trim_end_matches("\r\n").as_bytes().to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..c {
        let (t, body, next, failed) = (t.clone(), body.clone(), next.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let env = Envelope::new(
                    Some("bench@example.com".parse().unwrap()),
                    vec![format!("r{i}@example.net").parse().unwrap()],
                )
                .unwrap();
                if t.send_raw(&env, &body).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let submitted = start.elapsed();
    let failed = failed.load(Ordering::Relaxed);
    let want = n - failed;
    let deadline = Instant::now() + Duration::from_secs(300);
    while count(&dir) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let relayed = start.elapsed();
    let got = count(&dir);
    let sub_rate = n as f64 / submitted.as_secs_f64();
    let e2e_rate = got as f64 / relayed.as_secs_f64();
    println!(
        "{{\"messages\": {n}, \"clients\": {c}, \"refused\": {failed}, \"received_upstream\": {got}, \"submit_secs\": {:.2}, \"submit_per_sec\": {sub_rate:.0}, \"end_to_end_secs\": {:.2}, \"end_to_end_per_sec\": {e2e_rate:.0}, \"body_bytes\": {}}}",
        submitted.as_secs_f64(),
        relayed.as_secs_f64(),
        body.len()
    );
}
