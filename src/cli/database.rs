//! `optbox migrate`, `doctor`, `backup` and `copy`: the database as a whole.

use optbox::server::config::Settings;
use optbox::server::startup;

pub async fn migrate(settings: Settings) -> Result<(), String> {
    startup::open_store(&settings)
        .await
        .map_err(|e| e.to_string())?;
    println!("migrations applied");
    Ok(())
}

pub async fn doctor(settings: Settings) -> Result<(), String> {
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

pub async fn backup(settings: Settings, file: std::path::PathBuf) -> Result<(), String> {
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

pub async fn copy(settings: Settings, to: String) -> Result<(), String> {
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
