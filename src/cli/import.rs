//! `optbox import` and `optbox export`: contacts in and out of a list.

use optbox::server::config::Settings;
use optbox::server::service;
use optbox::server::startup;
use optbox::server::store::{Audit, Source};
use std::path::PathBuf;

/// `optbox import`: a file into a list.
#[derive(clap::Args)]
pub struct ImportArgs {
    #[arg(long)]
    pub list: String,
    /// The file: SES CSV, a one-column email CSV, or JSON lines.
    pub file: PathBuf,
    /// csv or jsonl (default: from the file name; .jsonl/.ndjson/.json are JSON lines).
    #[arg(long, value_parser = ["csv", "jsonl"])]
    pub format: Option<String>,
    /// put (add or update) or delete (remove the listed contacts, keeping their opt-outs).
    #[arg(long, default_value = "put", value_parser = ["put", "delete"])]
    pub action: String,
    /// Let the file turn recorded opt-outs back into subscriptions (each one is logged).
    #[arg(long)]
    pub override_opt_outs: bool,
    /// Where invalid rows are reported (default: FILE.errors.csv, only if there are any).
    #[arg(long)]
    pub errors: Option<PathBuf>,
}

pub async fn import(settings: Settings, args: ImportArgs) -> Result<(), String> {
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
    let outcome = outcome.map_err(|e| e.detail())?;
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

pub async fn export(settings: Settings, list: String, format: String) -> Result<(), String> {
    let store = startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let format = service::import::Format::parse(&format).unwrap_or(service::import::Format::Csv);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    service::import::export(&*store, &list, format, &mut out)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}
