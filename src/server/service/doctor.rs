//! `optbox doctor`: checks a configuration before it goes live and says what to fix.
//! Each check is `ok`, `warn` (works, but not as production wants) or `fail` (fix it).

use crate::server::config::{Mode, Settings};
use crate::server::store::Store;
use std::time::Duration;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "fail",
        }
    }
}

/// One check's outcome: what was checked, and what it found or what to do.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub what: &'static str,
    pub detail: String,
}

fn finding(level: Level, what: &'static str, detail: impl Into<String>) -> Finding {
    Finding {
        level,
        what,
        detail: detail.into(),
    }
}

/// Whether a file can be created in `dir` (creating `dir` if it is missing).
fn writable(dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let probe = dir.join(format!(".optbox-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Runs every check against `settings` and its (opened) database.
pub async fn check(settings: &Settings, store: &dyn Store) -> Vec<Finding> {
    let mut out = Vec::new();
    let production = settings.mode == Mode::Production;
    out.push(finding(
        Level::Ok,
        "configuration",
        format!(
            "loaded, {} mode",
            if production { "production" } else { "dev" }
        ),
    ));
    match &settings.public_url {
        Some(u) if u.starts_with("https://") => {
            out.push(finding(Level::Ok, "public_url", u.clone()))
        }
        Some(u) => out.push(finding(
            if production { Level::Fail } else { Level::Warn },
            "public_url",
            format!(
                "{u} is not https://: mail clients and providers expect the one-click URL over HTTPS (RFC 8058); put optbox behind TLS and set public_url = \"https://…\""
            ),
        )),
        None => out.push(finding(
            Level::Warn,
            "public_url",
            format!(
                "unset: links use http://{}; set public_url to the address recipients reach",
                settings.listen
            ),
        )),
    }
    if !production {
        out.push(finding(
            Level::Warn,
            "keys",
            "dev mode generates token_keys, session_key and api_key_master into the database: set them (mode = \"production\") before real mail goes out",
        ));
    }
    match tokio::time::timeout(Duration::from_secs(3), store.ping()).await {
        Ok(Ok(())) => out.push(finding(
            Level::Ok,
            "database",
            format!("{:?} answers", store.backend()),
        )),
        _ => out.push(finding(
            Level::Fail,
            "database",
            "does not answer within 3 s: check database_url",
        )),
    }
    if let Some(file) = store.database_file() {
        let dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        match writable(dir) {
            Ok(()) => out.push(finding(
                Level::Ok,
                "database directory",
                format!("{} is writable (WAL and one-click log)", dir.display()),
            )),
            Err(e) => out.push(finding(
                Level::Fail,
                "database directory",
                format!("{}: {e}", dir.display()),
            )),
        }
    }
    match writable(&settings.import_dir) {
        Ok(()) => out.push(finding(
            Level::Ok,
            "import_dir",
            format!("{} is writable", settings.import_dir.display()),
        )),
        Err(e) => out.push(finding(
            Level::Fail,
            "import_dir",
            format!("{}: {e}", settings.import_dir.display()),
        )),
    }
    match &settings.relay_url {
        None => out.push(finding(
            Level::Warn,
            "relay_url",
            "unset: accepted mail stays in the outbox (optbox outbox list); set relay_url to send it",
        )),
        Some(url) => {
            use crate::server::mail::upstream::{Probe, probe};
            out.push(match probe(url.expose(), Duration::from_secs(3)).await {
                Probe::Unparsable => finding(Level::Fail, "relay_url", "does not parse"),
                Probe::Reachable { host, port } => finding(
                    Level::Ok,
                    "relay_url",
                    format!("{host}:{port} accepts connections"),
                ),
                Probe::Refused { host, port, error } => finding(
                    Level::Warn,
                    "relay_url",
                    format!("{host}:{port}: {error} (mail waits in the queue until it answers)"),
                ),
                Probe::Silent { host, port } => finding(
                    Level::Warn,
                    "relay_url",
                    format!("{host}:{port}: no answer within 3 s"),
                ),
            });
        }
    }
    if let Some(addr) = settings.metrics.metrics_listen
        && !addr.ip().is_loopback()
        && settings.metrics.metrics_token.is_none()
    {
        out.push(finding(
            Level::Warn,
            "metrics",
            format!("{addr} is not loopback and metrics_token is unset: anyone who reaches it reads the figures"),
        ));
    }
    match super::dkim::list(store).await {
        Ok(keys) if keys.is_empty() => out.push(finding(
            Level::Warn,
            "dkim",
            "no keys: mail is relayed unsigned and providers show no one-click (optbox dkim generate)",
        )),
        Ok(keys) => {
            for k in keys {
                let want = k
                    .txt
                    .split("p=")
                    .nth(1)
                    .unwrap_or_default()
                    .trim_matches(|c| c == '"' || c == ' ')
                    .to_owned();
                let f = match crate::server::mail::dkim::published_txt(&k.record_name).await {
                    Ok(Some(txt)) if !want.is_empty() && txt.replace(' ', "").contains(&want) => {
                        finding(Level::Ok, "dkim", format!("{} is published", k.record_name))
                    }
                    Ok(_) => finding(
                        Level::Fail,
                        "dkim",
                        format!("{} does not hold the key: publish {} IN TXT {}", k.record_name, k.record_name, k.txt),
                    ),
                    Err(e) => finding(
                        Level::Warn,
                        "dkim",
                        format!("{}: DNS did not answer ({e}); cannot check it is published", k.record_name),
                    ),
                };
                out.push(f);
            }
        }
        Err(e) => out.push(finding(Level::Fail, "dkim", e.to_string())),
    }
    out
}
