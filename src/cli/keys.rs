//! `optbox keys`: SES API credentials.

use super::rfc3339;
use clap::Subcommand;
use optbox::server::config::Settings;
use optbox::server::service;
use optbox::server::startup;
use optbox::server::store::{Audit, Source};

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key; the secret is shown this once.
    Create {
        /// Print {"AccessKeyId": …, "SecretAccessKey": …} (the shape of `aws iam create-access-key`).
        #[arg(long)]
        json: bool,
        /// A note on what the key is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Limit the key to these operations (comma-separated): send, read-lists,
        /// write-lists, import, suppression. Default: everything.
        #[arg(long)]
        allow: Option<String>,
        /// Limit the key to these contact lists (comma-separated).
        #[arg(long)]
        lists: Option<String>,
        /// Limit the key to these sending identities: domains and addresses
        /// (comma-separated).
        #[arg(long)]
        identities: Option<String>,
    },
    /// List keys (ids, state and creation time; secrets are never shown again).
    List,
    /// Revoke a key at once, on every instance.
    Revoke {
        /// The access key id.
        id: String,
    },
}

pub async fn run(cmd: KeysCommand, settings: Settings) -> Result<(), String> {
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    match cmd {
        KeysCommand::Create {
            json,
            description,
            allow,
            lists,
            identities,
        } => {
            let scope = optbox::domain::KeyScope::parse(
                allow.as_deref(),
                lists.as_deref(),
                identities.as_deref(),
            )?;
            let master = startup::api_key_master(&settings, &store)
                .await
                .map_err(|e| e.to_string())?;
            let audit = Audit::new(Source::Cli);
            let key =
                service::api_keys::create_scoped(&*store, &master, &description, &scope, &audit)
                    .await
                    .map_err(|e| e.to_string())?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&key).map_err(|e| e.to_string())?
                );
            } else {
                println!("AccessKeyId:     {}", key.access_key_id);
                println!("SecretAccessKey: {}", key.secret_access_key);
                println!("(the secret is shown only now; optbox does not store it)");
            }
        }
        KeysCommand::List => {
            let keys = service::api_keys::list(&*store)
                .await
                .map_err(|e| e.to_string())?;
            for k in keys {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                let created = rfc3339(k.created_at);
                let scope = service::api_keys::scope_of(&k).map_err(|e| e.to_string())?;
                if scope.is_full() {
                    println!("{}\t{state}\t{created}\t{}", k.access_key_id, k.description);
                } else {
                    println!(
                        "{}\t{state}\t{created}\t{}\t{}",
                        k.access_key_id,
                        k.description,
                        scope.describe()
                    );
                }
            }
        }
        KeysCommand::Revoke { id } => {
            service::api_keys::revoke(&*store, &id, &Audit::new(Source::Cli))
                .await
                .map_err(|e| e.to_string())?;
            println!("revoked {id}");
        }
    }
    Ok(())
}
