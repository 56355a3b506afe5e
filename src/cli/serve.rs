//! `optbox serve`: the server and its workers.

use optbox::server::config::Settings;
use optbox::server::service;
use optbox::server::startup::{self, Application};

pub async fn run(settings: Settings, demo: bool) -> Result<(), String> {
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
