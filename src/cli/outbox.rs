//! `optbox outbox`: the relay queue and the outbox.

use clap::Subcommand;
use optbox::server::config::Settings;
use optbox::server::startup;

#[derive(Subcommand)]
pub enum OutboxCommand {
    /// List messages, newest first.
    List {
        #[arg(long, value_parser = ["queued", "sent", "failed", "outbox"])]
        state: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only messages with a smaller id (the last id of the previous page).
        #[arg(long)]
        before: Option<i64>,
    },
    /// Print one message's envelope and raw bytes.
    Show { id: i64 },
    /// Whether the relay is paused by its breaker, and why.
    Status,
    /// Resume a relay its breaker paused.
    Resume,
}

pub async fn run(cmd: OutboxCommand, settings: Settings) -> Result<(), String> {
    use optbox::server::mail::relay;
    use optbox::server::store::{MailState, StoreError};
    use std::io::Write;
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    match cmd {
        OutboxCommand::List {
            state,
            limit,
            before,
        } => {
            let state = state.as_deref().and_then(MailState::parse);
            let rows = relay::list(&store, state, before, limit)
                .await
                .map_err(|e| e.to_string())?;
            println!("id\tstate\tattempts\tsize\tfrom\tto\tmessage_id\tlast_error");
            for m in rows {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    m.id,
                    m.state.as_str(),
                    m.attempts,
                    m.size,
                    m.mail_from,
                    m.rcpt,
                    m.message_id,
                    m.last_error.as_deref().unwrap_or("")
                );
            }
        }
        OutboxCommand::Show { id } => {
            let m = match relay::get(&store, id).await {
                Err(StoreError::NotFound) => return Err(format!("no message {id}")),
                other => other.map_err(|e| e.to_string())?,
            };
            println!(
                "id: {}\nstate: {}\nmessage-id: {}\nmail-from: <{}>\nrcpt-to: <{}>\n",
                m.id,
                m.state.as_str(),
                m.message_id,
                m.mail_from,
                m.rcpt
            );
            let mut out = std::io::stdout().lock();
            out.write_all(&m.data).map_err(|e| e.to_string())?;
        }
        OutboxCommand::Status => match store.relay_paused().await.map_err(|e| e.to_string())? {
            Some((why, _)) => println!("paused: {why}"),
            None => println!("running"),
        },
        OutboxCommand::Resume => {
            let bounces =
                optbox::server::service::bounces::Bounces::new(store.clone(), &settings.inbound);
            let audit = optbox::domain::Audit::new(optbox::domain::Source::Cli);
            if bounces.resume(&audit).await.map_err(|e| e.to_string())? {
                println!("the relay is running again");
            } else {
                println!("the relay was not paused");
            }
        }
    }
    Ok(())
}
