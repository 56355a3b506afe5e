//! `optbox events`: the event log's hash chain.

use clap::Subcommand;
use optbox::server::config::Settings;
use optbox::server::startup;

#[derive(Subcommand)]
pub enum EventsCommand {
    /// Print a new audit_signing_key (keep it outside the database, e.g. in
    /// OPTBOX_AUDIT_SIGNING_KEY) and its public key.
    Keygen,
    /// Seal the events not yet sealed, then print the chain's head signed with
    /// audit_signing_key, as JSON: keep it somewhere the operator cannot rewrite.
    Checkpoint,
    /// Verify the chain (every link, and every commitment whose salt is kept) and each
    /// checkpoint given; print the first broken seal and exit non-zero if any.
    Verify {
        /// A checkpoint printed by `optbox events checkpoint` (repeatable).
        #[arg(long)]
        checkpoint: Vec<std::path::PathBuf>,
        /// The public key the checkpoints must be signed with (base64); by default the
        /// one of audit_signing_key.
        #[arg(long)]
        public_key: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(cmd: EventsCommand, settings: Settings) -> Result<(), String> {
    use optbox::server::config::parse_signing_key;
    use optbox::server::service::audit_trail::{self, Checkpoint};
    let seed = settings
        .audit_signing_key
        .as_ref()
        .map(|k| parse_signing_key(k.expose()))
        .transpose()
        .map_err(|e| e.to_string())?;
    if let EventsCommand::Keygen = cmd {
        let key = audit_trail::new_signing_key();
        let seed = parse_signing_key(&key).map_err(|e| e.to_string())?;
        println!("OPTBOX_AUDIT_SIGNING_KEY={key}");
        println!("public key: {}", audit_trail::public_key(&seed));
        return Ok(());
    }
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let result = match cmd {
        EventsCommand::Keygen => Ok(()),
        EventsCommand::Checkpoint => match seed {
            None => {
                Err("audit_signing_key is not set (make one with `optbox events keygen`)".into())
            }
            Some(seed) => audit_trail::checkpoint(store.as_ref(), &seed)
                .await
                .map_err(|e| e.to_string())
                .and_then(|cp| serde_json::to_string(&cp).map_err(|e| e.to_string()))
                .map(|out| println!("{out}")),
        },
        EventsCommand::Verify {
            checkpoint,
            public_key,
            json,
        } => {
            let mut checkpoints = Vec::new();
            for path in &checkpoint {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let cp: Checkpoint = serde_json::from_str(text.trim()).map_err(|e| {
                    format!(
                        "{}: not a checkpoint of `optbox events checkpoint`: {e}",
                        path.display()
                    )
                })?;
                checkpoints.push(cp);
            }
            let public_key = public_key.or_else(|| seed.map(|s| audit_trail::public_key(&s)));
            if !checkpoints.is_empty() && public_key.is_none() {
                return Err("give --public-key (or set audit_signing_key) to check the checkpoints' signatures".into());
            }
            let report = audit_trail::verify(store.as_ref(), &checkpoints, public_key.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            if json {
                let out = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                println!("{out}");
            }
            let c = &report.chain;
            match (&c.broken, report.checkpoint_failures.first()) {
                (Some(b), _) => Err(format!(
                    "the event log's chain is broken at seal {} (event {}): {}",
                    b.seq, b.event_id, b.reason
                )),
                (None, Some(f)) => Err(f.clone()),
                (None, None) => {
                    if !json {
                        println!(
                            "chain intact: {} seals ({} checked against their event, {} erased or pruned), {} checkpoints hold; head {}; {} events not sealed yet",
                            c.seals,
                            c.checked,
                            c.erased,
                            checkpoints.len(),
                            c.head
                                .as_ref()
                                .map(|h| format!("#{} {}", h.seq, h.link))
                                .unwrap_or_else(|| "none".into()),
                            c.unsealed
                        );
                    }
                    Ok(())
                }
            }
        }
    };
    store.stop().await.map_err(|e| e.to_string())?;
    result
}
