//! `optbox link`: an address's unsubscribe URL or header lines.

use optbox::server::config::Settings;
use optbox::server::service;
use optbox::server::startup;
use optbox::server::store::{Audit, Source};

pub async fn run(
    settings: Settings,
    list: String,
    topic: Option<String>,
    email: String,
    headers: bool,
) -> Result<(), String> {
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
