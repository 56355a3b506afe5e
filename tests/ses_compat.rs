//! The real AWS CLI and boto3 (pinned in tests/compat/requirements.txt, installed into
//! target/compat-venv by `make setup`) against a running optbox, on SQLite and
//! PostgreSQL, in relaxed and in aws_strict mode; and the account suppression list
//! (`suppression_compat.py`) on both. A missing venv fails the test: it is
//! never skipped.
#![cfg(feature = "ssr")]

mod common;

use common::{TestApp, spawn_with};
use optbox::server::service::api_keys;
use std::path::PathBuf;
use std::process::Command;

fn venv_bin(name: &str) -> PathBuf {
    let dir = std::env::var("OPTBOX_COMPAT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/compat-venv"));
    let p = dir.join("bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `make setup` (or `make compat`) to install the AWS CLI and boto3",
        p.display()
    );
    p
}

async fn run_suite(app: &TestApp, strict: bool) {
    let args: &[&str] = if strict { &["--strict"] } else { &[] };
    run_script(app, "sesv2_compat.py", args).await;
}

/// Runs one script of `tests/compat` against the app, with a fresh key.
async fn run_script(app: &TestApp, name: &str, args: &[&str]) {
    let key = api_keys::create(&*app.store, &app.api_master, "compat")
        .await
        .unwrap();
    let python = venv_bin("python");
    let aws = venv_bin("aws");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat")
        .join(name);
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let base = app.base.clone();
    let import_dir = app.import_dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(python);
        cmd.arg(script)
            .env("OPTBOX_ENDPOINT", base)
            .env("OPTBOX_IMPORT_DIR", import_dir)
            .env("AWS_ACCESS_KEY_ID", &key.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &key.secret_access_key)
            .env("AWS_DEFAULT_REGION", "eu-central-1")
            .env("AWS_CLI", aws)
            // Keep the user's own AWS configuration out of the run.
            .env("AWS_CONFIG_FILE", "/nonexistent/optbox-compat-config")
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/optbox-compat-credentials",
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN");
        cmd.args(&args);
        cmd.output().expect("run the compatibility suite")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "compatibility suite failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_and_boto3_work_against_sqlite() {
    let app = spawn_with("sqlite", |_| {}).await;
    run_suite(&app, false).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_and_boto3_work_against_postgres() {
    let app = spawn_with("postgres", |_| {}).await;
    run_suite(&app, false).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_sees_ses_limits_in_strict_mode() {
    let app = spawn_with("sqlite", |s| s.aws_strict = true).await;
    run_suite(&app, true).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suppression_list_works_with_the_aws_cli_and_boto3_on_sqlite() {
    let app = spawn_with("sqlite", |_| {}).await;
    run_script(&app, "suppression_compat.py", &[]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suppression_list_works_with_the_aws_cli_and_boto3_on_postgres() {
    let app = spawn_with("postgres", |_| {}).await;
    run_script(&app, "suppression_compat.py", &[]).await;
    app.stop().await;
}
