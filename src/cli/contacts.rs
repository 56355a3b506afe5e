//! `optbox contacts`: data-subject requests (access, erasure, history).

use super::rfc3339;
use clap::Subcommand;
use optbox::server::config::Settings;
use optbox::server::startup;
use optbox::server::store::{Audit, Source};

#[derive(Subcommand)]
pub enum ContactsCommand {
    /// Print everything stored about an address as JSON (the right of access): each
    /// list's contact, opt-outs, suppression, events, messages and send records.
    Show {
        #[arg(long)]
        email: String,
    },
    /// Erase an address everywhere (the right to erasure); only keyed hashes remain, so
    /// it is never mailed again. Logged as a `contact.erased` event.
    Erase {
        #[arg(long)]
        email: String,
    },
    /// Print every event about an address, oldest first, with what proves each one is in
    /// the event log's hash chain (consent records: who, when, through which surface).
    History {
        #[arg(long)]
        email: String,
        /// JSON with each event's content, salt, commitment and links (the default prints
        /// one line per event).
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: ContactsCommand, settings: Settings) -> Result<(), String> {
    use optbox::server::service::privacy;
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    match cmd {
        ContactsCommand::Show { email } => {
            let report = privacy::show(store.as_ref(), &email)
                .await
                .map_err(|e| e.to_string())?;
            let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            println!("{json}");
        }
        ContactsCommand::Erase { email } => {
            let audit = Audit::new(Source::Cli);
            let done = privacy::erase(&store, &settings.import_dir, &email, &audit)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "erased {email}: {} contacts, {} events, {} messages, {} send records{}",
                done.contacts,
                done.events,
                done.messages,
                done.sends,
                if done.suppression {
                    ", its suppression"
                } else {
                    ""
                }
            );
        }
        ContactsCommand::History { email, json } => {
            use optbox::server::service::audit_trail;
            let h = audit_trail::history(store.as_ref(), &email)
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let out = serde_json::to_string_pretty(&h).map_err(|e| e.to_string())?;
                println!("{out}");
            } else if h.events.is_empty() {
                println!("no event names {email}");
            } else {
                for e in &h.events {
                    let ev = &e.event;
                    println!(
                        "{}\t{}\t{}\t{}\t{}{}\t{}",
                        rfc3339(ev.created_at),
                        ev.kind,
                        ev.list_name.as_deref().unwrap_or("-"),
                        ev.source.as_deref().unwrap_or("-"),
                        ev.actor.as_deref().unwrap_or("optbox"),
                        ev.actor_id
                            .as_deref()
                            .map(|i| format!(":{i}"))
                            .unwrap_or_default(),
                        e.seal
                            .as_ref()
                            .map(|s| format!("sealed #{}", s.seq))
                            .unwrap_or_else(|| "not sealed yet".into()),
                    );
                }
            }
        }
    }
    store.stop().await.map_err(|e| e.to_string())?;
    Ok(())
}
