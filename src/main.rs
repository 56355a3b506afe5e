//! The `optbox` binary: parses the command line, loads settings, runs a subcommand.
//! Every error ends the process with one line on stderr and a non-zero status.
#![forbid(unsafe_code)]

use clap::{Parser, Subcommand};
use optbox::server::config::Settings;
use optbox::server::service::{self, auth::Role};
use optbox::server::startup::{self, Application};
use optbox::server::store::{Audit, Source};
use optbox::server::telemetry;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: the HTTP request path allocates and frees many small
/// buffers, and glibc's malloc and free were about a fifth of a request thread's time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "optbox",
    version,
    about = "Self-hosted subscription management for email"
)]
struct Cli {
    /// Configuration file (default: ./optbox.toml when present). OPTBOX_* variables win.
    #[arg(long, global = true, env = "OPTBOX_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server and background workers.
    Serve {
        /// Seed a demo list and print where to look.
        #[arg(long)]
        demo: bool,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Check the configuration before it goes live (keys, public URL, database, paths,
    /// relay, DKIM records in DNS) and print what to fix; exits non-zero on a failure.
    Doctor,
    /// Copy a SQLite database in use to FILE (with the one-click opt-outs not yet applied,
    /// in FILE-oneclick.log): `optbox serve` opens the copy directly. PostgreSQL: pg_dump.
    Backup {
        /// Where the copy goes; it must not exist.
        file: std::path::PathBuf,
    },
    /// Copy everything of a stopped SQLite instance (database_url) into an empty
    /// PostgreSQL database, then check the counts; `optbox serve` on it carries on.
    Copy {
        /// The PostgreSQL database to fill (postgres://…); it must be empty.
        #[arg(long)]
        to: String,
    },
    /// Manage dashboard users.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage SES-API credentials (access key id + secret access key).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Import contacts into a list (resumes an interrupted import of the same file).
    Import(ImportArgs),
    /// Export a list's contacts to standard output, with effective status per topic.
    Export {
        #[arg(long)]
        list: String,
        #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
        format: String,
    },
    /// Manage webhook destinations (signed, retried deliveries of the event log).
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Messages received by the SMTP listener: the relay queue, and in dev mode (no
    /// relay_url) the local outbox.
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Print the unsubscribe URL for an address (adding the contact if needed).
    Link {
        #[arg(long)]
        list: String,
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        email: String,
        /// Print the List-Unsubscribe and List-Unsubscribe-Post header lines instead.
        #[arg(long)]
        headers: bool,
    },
    /// Manage DKIM signing keys.
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// Data-subject requests: everything stored about an address, or its erasure.
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// The event log's hash chain: signed checkpoints and their verification.
    #[command(subcommand)]
    Events(EventsCommand),
}

#[derive(Subcommand)]
enum EventsCommand {
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

#[derive(Subcommand)]
enum ContactsCommand {
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

#[derive(Subcommand)]
enum DkimCommand {
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

/// `optbox import`: a file into a list.
#[derive(clap::Args)]
struct ImportArgs {
    #[arg(long)]
    list: String,
    /// The file: SES CSV, a one-column email CSV, or JSON lines.
    file: PathBuf,
    /// csv or jsonl (default: from the file name; .jsonl/.ndjson/.json are JSON lines).
    #[arg(long, value_parser = ["csv", "jsonl"])]
    format: Option<String>,
    /// put (add or update) or delete (remove the listed contacts, keeping their opt-outs).
    #[arg(long, default_value = "put", value_parser = ["put", "delete"])]
    action: String,
    /// Let the file turn recorded opt-outs back into subscriptions (each one is logged).
    #[arg(long)]
    override_opt_outs: bool,
    /// Where invalid rows are reported (default: FILE.errors.csv, only if there are any).
    #[arg(long)]
    errors: Option<PathBuf>,
}

#[derive(Subcommand)]
enum OutboxCommand {
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

#[derive(Subcommand)]
enum WebhooksCommand {
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

#[derive(Subcommand)]
enum KeysCommand {
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

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a dashboard user; the password is read from standard input.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = ["owner", "admin", "viewer"])]
        role: String,
        /// Read the password from standard input (required: passwords never go in argv).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Let a user sign in again from everywhere now, forgetting their failed sign-ins.
    Unlock {
        #[arg(long)]
        email: String,
    },
}

fn main() -> ExitCode {
    no_huge_pages();
    owner_only_files();
    let cli = Cli::parse();
    let loaded = Settings::load(cli.config.as_deref())
        .and_then(|s| optbox::server::startup::check_settings(&s).map(|()| s));
    let settings = match loaded {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    telemetry::init(settings.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(e),
    };
    match rt.block_on(run(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

/// Transparent huge pages off for this process, unless `MIMALLOC_ALLOW_THP` says
/// otherwise (mimalloc reads it too). mimalloc asks for huge pages on its arenas; during a
/// burst of one-click POSTs the memory the backlog grows into was then faulted in 2 MiB at
/// a time, each zeroed while a request thread or the one-click log writer waited, and
/// every connection stalled with it. Off (with the pending map split up), the one-click
/// POST's p99 stays under 10 ms (`docs/performance.md`). Redis and MongoDB advise the same
/// for the same reason.
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        // Without it (an old kernel, a seccomp filter) the process just runs as before.
        let _ = rustix::thread::disable_transparent_huge_pages(true);
    }
}

/// Every file optbox creates (the SQLite database and its WAL, the one-click log,
/// dashboard uploads, exports) is readable by its owner only: they hold addresses and,
/// in dev mode, keys.
fn owner_only_files() {
    #[cfg(unix)]
    let _ = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("optbox: error: {e}");
    ExitCode::FAILURE
}

async fn run(cmd: Command, settings: Settings) -> Result<(), String> {
    match cmd {
        Command::Serve { demo } => serve(settings, demo).await,
        Command::Migrate => {
            startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            println!("migrations applied");
            Ok(())
        }
        Command::Doctor => {
            use optbox::server::service::doctor::{self, Level};
            let store = match startup::open_store(&settings).await {
                Ok(s) => s,
                Err(e) => return Err(format!("fail\tdatabase: {e}")),
            };
            let found = doctor::check(&settings, store.as_ref()).await;
            for f in &found {
                println!("{}\t{}: {}", f.level.as_str(), f.what, f.detail);
            }
            let failed = found.iter().filter(|f| f.level == Level::Fail).count();
            if failed > 0 {
                return Err(format!(
                    "{failed} check(s) failed: fix them and run optbox doctor again"
                ));
            }
            Ok(())
        }
        Command::Backup { file } => {
            let store = startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let carried = store.backup(&file).await.map_err(|e| e.to_string())?;
            println!(
                "backed up to {} ({carried} one-click records carried in its -oneclick.log)",
                file.display()
            );
            Ok(())
        }
        Command::Import(args) => import(settings, args).await,
        Command::Export { list, format } => {
            let store = startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let format =
                service::import::Format::parse(&format).unwrap_or(service::import::Format::Csv);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            service::import::export(&*store, &list, format, &mut out)
                .await
                .map_err(|e| e.to_string())?;
            Ok(())
        }
        Command::Dkim(cmd) => dkim(cmd, settings).await,
        Command::Link {
            list,
            topic,
            email,
            headers,
        } => {
            let store = startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let keys = startup::token_keys(&settings, &store)
                .await
                .map_err(|e| e.to_string())?;
            let audit = Audit::new(Source::Cli);
            let url = service::recipient::link(
                &*store,
                &keys,
                &settings.public_base(),
                &list,
                topic.as_deref(),
                &email,
                &audit,
            )
            .await
            .map_err(|e| e.to_string())?;
            if headers {
                let (_, lines) = optbox::server::mail::headers::unsubscribe_header_lines(&url);
                print!("{lines}");
            } else {
                println!("{url}");
            }
            Ok(())
        }
        Command::Keys(cmd) => keys(cmd, settings).await,
        Command::Webhooks(cmd) => webhooks(cmd, settings).await,
        Command::Outbox(cmd) => outbox(cmd, settings).await,
        Command::Contacts(cmd) => contacts(cmd, settings).await,
        Command::Events(cmd) => events(cmd, settings).await,
        Command::Copy { to } => {
            use optbox::server::store::{copy, redact_url};
            let report = copy::sqlite_to_postgres(settings.database_url.expose(), &to)
                .await
                .map_err(|e| e.to_string())?;
            let mut rows = 0;
            for (table, n) in &report.tables {
                println!("{table}\t{n}");
                rows += n;
            }
            // The copy's event chain must verify as the original's did.
            let target = Settings {
                database_url: optbox::server::config::Secret::new(&to),
                ..settings
            };
            let store = startup::open_store(&target)
                .await
                .map_err(|e| e.to_string())?;
            let chain = store.verify_chain(&[]).await.map_err(|e| e.to_string())?;
            if let Some(b) = chain.broken {
                return Err(format!(
                    "the copy's event chain is broken at seal {} (event {}): {}",
                    b.seq, b.event_id, b.reason
                ));
            }
            println!(
                "copied {rows} rows of {} tables and {} sessions into {}; the counts agree and the event chain verifies ({} seals)",
                report.tables.len(),
                report.sessions,
                redact_url(&to),
                chain.seals
            );
            Ok(())
        }
        Command::Admin(AdminCommand::CreateUser { email, role, .. }) => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| format!("cannot read the password: {e}"))?;
            let password = password.trim_end_matches(['\r', '\n']);
            let store = startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let role = Role::parse(&role).map_err(|e| e.to_string())?;
            let audit = Audit::new(Source::Cli);
            let user = service::auth::create_user(&*store, &email, role, password, &audit)
                .await
                .map_err(|e| e.to_string())?;
            println!("created {} user {}", user.role, user.email);
            Ok(())
        }
        Command::Admin(AdminCommand::Unlock { email }) => {
            let store = startup::open_store(&settings)
                .await
                .map_err(|e| e.to_string())?;
            let n = service::auth::unlock(&*store, &email)
                .await
                .map_err(|e| e.to_string())?;
            println!("unlocked {}: {n} failed sign-ins forgotten", email.trim());
            Ok(())
        }
    }
}

async fn dkim(cmd: DkimCommand, settings: Settings) -> Result<(), String> {
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
                let created = time::OffsetDateTime::from_unix_timestamp(k.created_at / 1000)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
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

async fn keys(cmd: KeysCommand, settings: Settings) -> Result<(), String> {
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
                let created = time::OffsetDateTime::from_unix_timestamp(k.created_at / 1000)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
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

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn contacts(cmd: ContactsCommand, settings: Settings) -> Result<(), String> {
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
                        time_of(ev.created_at),
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

/// An epoch-ms time as RFC 3339 (UTC).
fn time_of(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

async fn events(cmd: EventsCommand, settings: Settings) -> Result<(), String> {
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

async fn outbox(cmd: OutboxCommand, settings: Settings) -> Result<(), String> {
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

async fn webhooks(cmd: WebhooksCommand, settings: Settings) -> Result<(), String> {
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

async fn serve(settings: Settings, demo: bool) -> Result<(), String> {
    let base = settings.public_base();
    // Before anything starts (the webhook worker starts in build).
    let shutdown = startup::shutdown_signal();
    let app = Application::build(settings, None)
        .await
        .map_err(|e| e.to_string())?;
    let addr = app.local_addr();
    let smtp_addr = app.smtp_addr();
    if demo {
        let list = service::demo::seed(&*app.state.store)
            .await
            .map_err(|e| format!("cannot seed the demo list: {e}"))?;
        let email =
            optbox::domain::EmailAddress::parse(service::demo::DEMO_EMAIL).expect("literal");
        let url =
            service::recipient::url_for(&app.state.token_keys, &base, &list.name, None, &email);
        println!(
            "demo list {:?} with {} topics is ready; the preference page of {email}:\n  {url}",
            list.name.as_str(),
            list.topics.len()
        );
    }
    tracing::info!(%addr, %smtp_addr, backend = ?app.state.store.backend(), "optbox is listening");
    println!("optbox is running at {base}");
    // The hints name the binary as it was started, so they can be pasted as is.
    let bin = std::env::args().next().unwrap_or_else(|| "optbox".into());
    println!(
        "SMTP submission on {smtp_addr}; {}",
        match &app.state.settings.relay_url {
            Some(_) => "relaying to relay_url".to_owned(),
            None => format!("no relay_url: messages stay in the outbox ({bin} outbox list)"),
        }
    );
    if app.state.store.count_users().await.unwrap_or(0) == 0 {
        println!(
            "next: create a dashboard user with\n  echo 'a-long-password' | {bin} admin create-user --email you@example.com --role owner --password-stdin\nthen sign in at {base}/admin/login"
        );
    } else {
        println!("dashboard: {base}/admin");
    }
    app.run_until(shutdown).await.map_err(|e| e.to_string())
}

async fn import(settings: Settings, args: ImportArgs) -> Result<(), String> {
    use optbox::server::service::import::{self as imp, Format, ImportRequest, RowError};
    use optbox::server::store::ImportAction;
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let req = ImportRequest {
        list: args.list.clone(),
        path: args.file.clone(),
        format: args.format.as_deref().and_then(Format::parse),
        action: ImportAction::parse(&args.action).unwrap_or(ImportAction::Put),
        override_opt_outs: args.override_opt_outs,
    };
    let errors_path = args.errors.clone().unwrap_or_else(|| {
        let mut p = args.file.clone().into_os_string();
        p.push(".errors.csv");
        PathBuf::from(p)
    });
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0)),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
    {
        bar.set_style(style);
    }
    let mut report = imp::FailureReport::new(errors_path, false);
    let mut on_error = |e: &RowError| report.write(e);
    let mut on_progress = |p: &imp::Progress| {
        bar.set_position(p.bytes);
        bar.set_message(format!(
            "{} rows, {} invalid",
            p.counts.processed(),
            p.failed
        ));
    };
    let audit = Audit::new(Source::Import);
    let outcome = imp::run(&*store, &req, &audit, &mut on_progress, &mut on_error).await;
    bar.finish_and_clear();
    // The operator sees the cause (the job record and the SES API keep the short text).
    let outcome = outcome.map_err(|e| match e {
        optbox::server::service::ServiceError::Internal(m) => format!("internal error: {m}"),
        optbox::server::service::ServiceError::Unavailable(m) => {
            format!("the database is unavailable: {m}")
        }
        e => e.to_string(),
    })?;
    let job = &outcome.job;
    let c = &job.counts;
    if let Some(after) = outcome.resumed_after {
        println!("resumed job {} after line {after}", job.job_id);
    }
    println!(
        "imported {} into {}: {} created, {} updated, {} unchanged, {} deleted, {} not on the list, {} opt-outs kept, {} overridden, {} invalid rows",
        args.file.display(),
        job.list_name,
        c.created,
        c.updated,
        c.unchanged,
        c.deleted,
        c.absent,
        c.opt_outs_kept,
        c.opt_outs_overridden,
        job.failed,
    );
    match report.outcome() {
        (0, _) => {}
        (n, Some(e)) => eprintln!(
            "optbox: warning: {n} invalid rows; cannot write {}: {e}",
            report.path().display()
        ),
        (_, None) => println!("invalid rows (line, reason): {}", report.path().display()),
    }
    Ok(())
}
