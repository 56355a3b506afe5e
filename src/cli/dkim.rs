//! `optbox dkim`: DKIM signing keys.

use super::rfc3339;
use clap::Subcommand;
use optbox::server::config::Settings;
use optbox::server::service;
use optbox::server::startup;
use optbox::server::store::{Audit, Source};

#[derive(Subcommand)]
pub enum DkimCommand {
    /// Generate and store a signing key; prints the DNS TXT record to publish.
    Generate {
        #[arg(long)]
        domain: String,
        #[arg(long)]
        selector: String,
        #[arg(long, default_value = "rsa", value_parser = ["rsa", "ed25519"])]
        algorithm: String,
    },
    /// List keys: domain, selector, algorithm, created, and the TXT record.
    List,
}

pub async fn run(cmd: DkimCommand, settings: Settings) -> Result<(), String> {
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    match cmd {
        DkimCommand::Generate {
            domain,
            selector,
            algorithm,
        } => {
            let audit = Audit::new(Source::Cli);
            let k = service::dkim::generate(&*store, &domain, &selector, &algorithm, &audit)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!(
                "stored a {} key for {} (selector {}); publish this TXT record:",
                k.algorithm, k.domain, k.selector
            );
            println!("{} IN TXT {}", k.record_name, zone_strings(&k.txt));
            Ok(())
        }
        DkimCommand::List => {
            let keys = service::dkim::list(&*store)
                .await
                .map_err(|e| e.to_string())?;
            for k in keys {
                let created = rfc3339(k.created_at);
                println!(
                    "{}\t{}\t{}\t{}\t{} IN TXT {}",
                    k.domain,
                    k.selector,
                    k.algorithm,
                    created,
                    k.record_name,
                    zone_strings(&k.txt)
                );
            }
            Ok(())
        }
    }
}

/// A TXT value as zone-file strings: quoted, split every 255 characters (an RSA-2048
/// record is longer than one DNS character-string).
fn zone_strings(txt: &str) -> String {
    txt.as_bytes()
        .chunks(255)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}
