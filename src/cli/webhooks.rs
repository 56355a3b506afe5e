//! `optbox webhooks`: webhook destinations and their deliveries.

use super::rfc3339;
use clap::Subcommand;
use optbox::server::config::Settings;
use optbox::server::service;
use optbox::server::startup;
use optbox::server::store::{Audit, Source};

#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Add a destination; prints its id.
    Add {
        #[arg(long)]
        url: String,
        /// The HMAC key of the Optbox-Signature header (at least 16 characters).
        #[arg(long, env = "OPTBOX_WEBHOOK_SECRET", hide_env_values = true)]
        secret: String,
        /// Event types, comma-separated (default: all but webhook.failed and the
        /// configuration kinds): subscription, contact.created, contact.deleted, import,
        /// webhook.failed, delivery.failed, send, reject, send.warning; configuration
        /// changes: list.created, list.updated, list.deleted, api_key.created, …
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
        /// Only events of this contact list.
        #[arg(long)]
        list: Option<String>,
    },
    /// List destinations (secrets are not shown).
    List,
    /// Remove a destination and its queued deliveries.
    Remove { id: i64 },
    /// Send a signed sample event now and report the answer.
    Test { id: i64 },
    /// Show a destination's recent deliveries.
    Deliveries {
        id: i64,
        #[arg(long, value_parser = ["pending", "delivered", "dead"])]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue dead-lettered deliveries again (all of the destination's, or one).
    Replay {
        id: i64,
        #[arg(long)]
        delivery: Option<i64>,
    },
}

pub async fn run(cmd: WebhooksCommand, settings: Settings) -> Result<(), String> {
    use optbox::server::service::webhooks as wh;
    use optbox::server::store::DeliveryStatus;
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let store = &*store;
    let err = |e: service::ServiceError| e.to_string();
    match cmd {
        WebhooksCommand::Add {
            url,
            secret,
            events,
            list,
        } => {
            let h = wh::add(
                store,
                optbox::server::events::UrlRules::new(&settings),
                &url,
                &secret,
                &events,
                list.as_deref(),
                &Audit::new(Source::Cli),
            )
            .await
            .map_err(err)?;
            println!("{}", h.id);
        }
        WebhooksCommand::List => {
            let routes = wh::routes(store).await.map_err(err)?;
            for h in wh::list(store).await.map_err(err)? {
                let events = match routes.get(&h.id) {
                    // An event destination: only what its configuration sets route.
                    Some(r) => format!("configuration-sets:{}", r.join(",")),
                    None if h.event_types.is_empty() => "all".to_owned(),
                    None => h.event_types.join(","),
                };
                println!(
                    "{}\t{}\tevents={events}\tlist={}\t{}",
                    h.id,
                    h.url,
                    h.list_name.as_deref().unwrap_or("*"),
                    rfc3339(h.created_at)
                );
            }
        }
        WebhooksCommand::Remove { id } => {
            wh::remove(store, id, &Audit::new(Source::Cli))
                .await
                .map_err(err)?;
            println!("removed webhook {id}");
        }
        WebhooksCommand::Test { id } => {
            let status = wh::test(
                store,
                &settings.webhooks,
                optbox::server::events::UrlRules::new(&settings),
                id,
            )
            .await
            .map_err(err)?;
            println!("delivered: HTTP {status}");
        }
        WebhooksCommand::Deliveries { id, status, limit } => {
            let status = status.as_deref().and_then(DeliveryStatus::parse);
            for d in wh::deliveries(store, id, status, None, limit)
                .await
                .map_err(err)?
            {
                println!(
                    "{}\tevent={}\t{}\tattempts={}\tlast={}\t{}",
                    d.id,
                    d.event_id,
                    d.status.as_str(),
                    d.attempts,
                    d.last_status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    d.last_error.as_deref().unwrap_or("")
                );
            }
        }
        WebhooksCommand::Replay { id, delivery } => {
            let n = wh::replay(store, id, delivery).await.map_err(err)?;
            println!("queued {n} deliveries again");
        }
    }
    Ok(())
}
