//! The `optbox` binary: parses the command line, loads settings, runs a subcommand.
//! Every error ends the process with one line on stderr and a non-zero status.
#![forbid(unsafe_code)]

mod cli;

use clap::{Parser, Subcommand};
use optbox::server::config::Settings;
use optbox::server::telemetry;
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
    Admin(cli::admin::AdminCommand),
    /// Manage SES-API credentials (access key id + secret access key).
    #[command(subcommand)]
    Keys(cli::keys::KeysCommand),
    /// Import contacts into a list (resumes an interrupted import of the same file).
    Import(cli::import::ImportArgs),
    /// Export a list's contacts to standard output, with effective status per topic.
    Export {
        #[arg(long)]
        list: String,
        #[arg(long, default_value = "csv", value_parser = ["csv", "jsonl"])]
        format: String,
    },
    /// Manage webhook destinations (signed, retried deliveries of the event log).
    #[command(subcommand)]
    Webhooks(cli::webhooks::WebhooksCommand),
    /// Messages received by the SMTP listener: the relay queue, and in dev mode (no
    /// relay_url) the local outbox.
    #[command(subcommand)]
    Outbox(cli::outbox::OutboxCommand),
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
    Dkim(cli::dkim::DkimCommand),
    /// Data-subject requests: everything stored about an address, or its erasure.
    #[command(subcommand)]
    Contacts(cli::contacts::ContactsCommand),
    /// The event log's hash chain: signed checkpoints and their verification.
    #[command(subcommand)]
    Events(cli::events::EventsCommand),
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
        Command::Serve { demo } => cli::serve::run(settings, demo).await,
        Command::Migrate => cli::database::migrate(settings).await,
        Command::Doctor => cli::database::doctor(settings).await,
        Command::Backup { file } => cli::database::backup(settings, file).await,
        Command::Copy { to } => cli::database::copy(settings, to).await,
        Command::Import(args) => cli::import::import(settings, args).await,
        Command::Export { list, format } => cli::import::export(settings, list, format).await,
        Command::Link {
            list,
            topic,
            email,
            headers,
        } => cli::link::run(settings, list, topic, email, headers).await,
        Command::Admin(cmd) => cli::admin::run(cmd, settings).await,
        Command::Keys(cmd) => cli::keys::run(cmd, settings).await,
        Command::Dkim(cmd) => cli::dkim::run(cmd, settings).await,
        Command::Webhooks(cmd) => cli::webhooks::run(cmd, settings).await,
        Command::Outbox(cmd) => cli::outbox::run(cmd, settings).await,
        Command::Contacts(cmd) => cli::contacts::run(cmd, settings).await,
        Command::Events(cmd) => cli::events::run(cmd, settings).await,
    }
}
