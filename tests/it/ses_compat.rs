//! The real AWS CLI and boto3 (pinned in tests/compat/requirements.txt, installed into
//! target/compat-venv by `make setup`) against a running optbox, on SQLite and
//! PostgreSQL, in relaxed and in aws_strict mode; and the account suppression list
//! (`suppression_compat.py`), stored templates (`templates_compat.py`), sending identities
//! (`identities_compat.py`), configuration sets (`configsets_compat.py`) and scoped keys
//! (`scopes_compat.py`) on both; and moto's own SES v2 tests against the `optbox` binary
//! (`tests/compat/moto/`) on both. A missing venv or moto source distribution fails the
//! test: it is never skipped.
#![cfg(feature = "ssr")]

use crate::common;

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
    run_script_with(app, name, args, Vec::new()).await
}

/// As [`run_script`], with more environment variables.
async fn run_script_with(app: &TestApp, name: &str, args: &[&str], env: Vec<(String, String)>) {
    let key = api_keys::create(&*app.store, &app.api_master, "compat", &common::setup())
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
        cmd.envs(env);
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

/// Stored templates through boto3 and the AWS CLI; the messages SendEmail queued from
/// them carry the rendered data and the recipient's own link.
async fn templates_work_with_the_aws_cli_and_boto3(backend: &str) {
    let app = spawn_with(backend, |s| {
        s.public_url = Some("https://optbox.example".into())
    })
    .await;
    run_script(&app, "templates_compat.py", &[]).await;
    let mail = app.store.list_mail(None, None, 10).await.unwrap();
    let mut by_rcpt = std::collections::HashMap::new();
    for m in &mail {
        let full = app.store.get_mail(m.id).await.unwrap();
        let msg = mail_parser::MessageParser::new().parse(&full.data).unwrap();
        let text = format!(
            "Subject: {}\n{}",
            msg.subject().unwrap_or_default(),
            msg.body_text(0).unwrap_or_default()
        );
        by_rcpt.insert(m.rcpt.clone(), text);
    }
    let ann = &by_rcpt["ann@example.org"];
    assert!(ann.contains("Subject: Hello, Ann"), "{ann}");
    assert!(
        ann.contains("Hi Ann. Leave: https://optbox.example/u/"),
        "{ann}"
    );
    assert!(!ann.contains("amazonSESUnsubscribeUrl"), "{ann}");
    assert!(by_rcpt["bea@example.org"].contains("Hi Bea."));
    assert!(
        !by_rcpt.contains_key("cem@example.org"),
        "a template that did not render sends nothing"
    );
    let failures = app
        .store
        .query_events(&optbox::server::store::EventQuery {
            kind: Some("rendering.failure".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(failures.len(), 1);
    let p = optbox::server::events::payload(&failures[0]);
    assert_eq!(p["eventType"], "Rendering Failure");
    assert_eq!(p["failure"]["templateName"], "Welcome");
    // The message it was: SES's `mail` object with sender, recipients and tags.
    assert_eq!(p["mail"]["source"], "news@example.com", "{p}");
    assert_eq!(p["mail"]["destination"][0], "cem@example.org", "{p}");
    assert_eq!(p["mail"]["tags"]["campaign"][0], "welcome", "{p}");
    assert_eq!(p["mail"]["messageId"], p["optbox"]["messageId"], "{p}");
    assert!(
        p["failure"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("name"),
        "{p}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_work_with_the_aws_cli_and_boto3_on_sqlite() {
    templates_work_with_the_aws_cli_and_boto3("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_work_with_the_aws_cli_and_boto3_on_postgres() {
    templates_work_with_the_aws_cli_and_boto3("postgres").await;
}

/// Sending identities through boto3 and the AWS CLI, with `require_verified_identity`.
async fn identities_work_with_the_aws_cli_and_boto3(backend: &str) {
    let app = spawn_with(backend, |s| {
        s.pipeline.require_verified_identity = Some(true)
    })
    .await;
    optbox::server::service::dkim::generate(
        &*app.store,
        "example.com",
        "s1",
        "ed25519",
        &common::setup(),
    )
    .await
    .unwrap();
    run_script(&app, "identities_compat.py", &[]).await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_work_with_the_aws_cli_and_boto3_on_sqlite() {
    identities_work_with_the_aws_cli_and_boto3("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_work_with_the_aws_cli_and_boto3_on_postgres() {
    identities_work_with_the_aws_cli_and_boto3("postgres").await;
}

/// Configuration sets and their event destinations (an optbox webhook named as an SNS
/// topic) through boto3 and the AWS CLI, with SendEmail using them.
async fn configuration_sets_work_with_the_aws_cli_and_boto3(backend: &str) {
    let app = spawn_with(backend, |s| s.webhooks.webhook_allow_private = true).await;
    let hook = optbox::server::service::webhooks::add(
        &*app.store,
        optbox::server::events::UrlRules {
            allow_private: true,
            require_https: false,
        },
        "http://127.0.0.1:9/hook",
        "whsec-0123456789abcdef",
        &[],
        None,
        &common::setup(),
    )
    .await
    .unwrap();
    run_script_with(
        &app,
        "configsets_compat.py",
        &[],
        vec![("OPTBOX_WEBHOOK_ID".into(), hook.id.to_string())],
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_sets_work_with_the_aws_cli_and_boto3_on_sqlite() {
    configuration_sets_work_with_the_aws_cli_and_boto3("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_sets_work_with_the_aws_cli_and_boto3_on_postgres() {
    configuration_sets_work_with_the_aws_cli_and_boto3("postgres").await;
}

/// A scoped key (send and read-lists, list `news`, identity `example.com`) through boto3
/// and the AWS CLI: allowed where its scope reaches, `AccessDeniedException` elsewhere.
async fn scoped_keys_work_with_the_aws_cli_and_boto3(backend: &str) {
    let app = spawn_with(backend, |_| {}).await;
    let scope =
        optbox::domain::KeyScope::parse(Some("send,read-lists"), Some("news"), Some("example.com"))
            .unwrap();
    let k = api_keys::create_scoped(
        &*app.store,
        &app.api_master,
        "scoped",
        &scope,
        &common::setup(),
    )
    .await
    .unwrap();
    run_script_with(
        &app,
        "scopes_compat.py",
        &[],
        vec![
            ("SCOPED_ACCESS_KEY_ID".into(), k.access_key_id),
            ("SCOPED_SECRET_ACCESS_KEY".into(), k.secret_access_key),
        ],
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_keys_work_with_the_aws_cli_and_boto3_on_sqlite() {
    scoped_keys_work_with_the_aws_cli_and_boto3("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_keys_work_with_the_aws_cli_and_boto3_on_postgres() {
    scoped_keys_work_with_the_aws_cli_and_boto3("postgres").await;
}

/// moto's own SES v2 tests (`tests/test_sesv2/test_sesv2.py` of the source distribution
/// of the moto that tests/compat/requirements.txt pins, which `make compat` extracts under
/// target/moto-src) in moto's server mode, each against its own `optbox serve` of this
/// build, database and key (`tests/compat/moto/run_sesv2.py`). The tests named in
/// `tests/compat/moto/out_of_scope.txt` are deselected; every other one must pass.
fn moto_sesv2_suite_passes(backend: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = venv_bin("python");
    let requirements = std::fs::read_to_string(root.join("tests/compat/requirements.txt"))
        .expect("read tests/compat/requirements.txt");
    let version = requirements
        .lines()
        .find_map(|l| l.trim().strip_prefix("moto=="))
        .expect("tests/compat/requirements.txt pins moto")
        .trim();
    let src = root.join("target/moto-src").join(format!("moto-{version}"));
    assert!(
        src.join("tests/test_sesv2/test_sesv2.py").exists(),
        "{} is missing: run `make compat` to fetch moto's source distribution",
        src.display()
    );
    let out = Command::new(python)
        .arg(root.join("tests/compat/moto/run_sesv2.py"))
        .args(["--backend", backend, "--moto-src"])
        .arg(&src)
        .env("OPTBOX_BIN", env!("CARGO_BIN_EXE_optbox"))
        .output()
        .expect("run tests/compat/moto/run_sesv2.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "moto's SES v2 suite failed on {backend}:\n{stdout}\n{stderr}"
    );
}

#[test]
fn moto_sesv2_suite_passes_on_sqlite() {
    moto_sesv2_suite_passes("sqlite");
}

#[test]
fn moto_sesv2_suite_passes_on_postgres() {
    moto_sesv2_suite_passes("postgres");
}
