//! The `optbox` binary as scripts use it: one clear line and a non-zero status for bad
//! configuration; `migrate`, `admin create-user` and `admin unlock` do their jobs.
#![cfg(feature = "ssr")]

use crate::common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn optbox(args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_optbox"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run optbox");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "expected failure, got success");
    let err = String::from_utf8_lossy(&out.stderr).trim_end().to_owned();
    assert_eq!(err.lines().count(), 1, "one line on stderr, got: {err}");
    assert!(err.starts_with("optbox: error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn an_unknown_database_scheme_is_refused_in_one_line() {
    let out = optbox(
        &["migrate"],
        &[("OPTBOX_DATABASE_URL", "mysql://root@localhost/x")],
        None,
    );
    let err = one_line_error(&out);
    assert!(err.contains("unsupported database URL scheme"), "{err}");
}

#[test]
fn an_unreachable_database_is_named_without_its_password() {
    let out = optbox(
        &["migrate"],
        &[("OPTBOX_DATABASE_URL", "postgres://u:hunter2@127.0.0.1:1/x")],
        None,
    );
    let err = one_line_error(&out);
    assert!(
        err.contains("cannot open the database at postgres://u:***@127.0.0.1:1/x"),
        "{err}"
    );
    assert!(!err.contains("hunter2"));
}

#[test]
fn a_malformed_setting_is_named() {
    let out = optbox(&["migrate"], &[("OPTBOX_LISTEN", "not-an-address")], None);
    let err = one_line_error(&out);
    assert!(
        err.contains("configuration") && err.to_lowercase().contains("listen"),
        "{err}"
    );
    let out = optbox(
        &["migrate", "--config", "/nonexistent/optbox.toml"],
        &[],
        None,
    );
    assert!(one_line_error(&out).contains("does not exist"));
}

#[test]
fn a_malformed_audit_signing_key_is_named_and_checkpoints_need_one() {
    let out = optbox(
        &["events", "checkpoint"],
        &[("OPTBOX_AUDIT_SIGNING_KEY", "not-a-key")],
        None,
    );
    let err = one_line_error(&out);
    assert!(
        err.contains("audit_signing_key must be base64 of 32 bytes"),
        "{err}"
    );
    let out = optbox(&["events", "keygen"], &[], None);
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stdout);
    let key = said.lines().next().unwrap();
    assert!(key.starts_with("OPTBOX_AUDIT_SIGNING_KEY="), "{said}");
    assert_eq!(key.len(), "OPTBOX_AUDIT_SIGNING_KEY=".len() + 44, "{said}");
}

#[test]
fn production_mode_refuses_to_start_without_keys() {
    let out = optbox(&["serve"], &[("OPTBOX_MODE", "production")], None);
    assert!(one_line_error(&out).contains("token_keys"));
}

#[test]
fn dev_mode_listens_on_loopback_only() {
    for (key, addr) in [
        ("OPTBOX_LISTEN", "0.0.0.0:3000"),
        ("OPTBOX_SMTP_LISTEN", "[::]:2525"),
    ] {
        let out = optbox(&["serve"], &[(key, addr)], None);
        let err = one_line_error(&out);
        assert!(err.contains("dev mode") && err.contains(addr), "{err}");
    }
}

#[test]
fn the_old_unsubscribe_mailto_setting_is_refused_at_start_up() {
    // The database URL is unusable, so that were the setting accepted, the command would
    // fail on that instead (and never start serving).
    let want = "optbox: error: configuration: unsubscribe_mailto is no longer a setting: optbox receives unsubscribe mail itself at addresses under inbound_domain (see README \"Inbound mail\"); remove it";
    let out = optbox(
        &["serve"],
        &[
            ("OPTBOX_UNSUBSCRIBE_MAILTO", "unsubscribe@example.com"),
            ("OPTBOX_DATABASE_URL", "mysql://root@localhost/x"),
        ],
        None,
    );
    assert_eq!(one_line_error(&out), want);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("optbox.toml");
    std::fs::write(
        &file,
        "database_url = \"mysql://root@localhost/x\"\nunsubscribe_mailto = \"unsubscribe@example.com\"\n",
    )
    .unwrap();
    let out = optbox(&["serve", "--config", file.to_str().unwrap()], &[], None);
    assert_eq!(one_line_error(&out), want);
}

#[test]
fn relay_credentials_without_required_tls_are_refused_at_start_up() {
    // The database URL is unusable: were the relay_url accepted, the command would fail
    // on that instead.
    let want = "optbox: error: configuration: relay_url has credentials but does not require TLS, so they could be read on the way (a STARTTLS offer can be stripped): use smtps://user:pass@host or smtp://user:pass@host:587?tls=required";
    for url in [
        "smtp://mailer:hunter2@relay.example:25",
        "smtp://mailer:hunter2@relay.example:587?tls=opportunistic",
    ] {
        let out = optbox(
            &["serve"],
            &[
                ("OPTBOX_RELAY_URL", url),
                ("OPTBOX_DATABASE_URL", "mysql://root@localhost/x"),
            ],
            None,
        );
        let err = one_line_error(&out);
        assert_eq!(err, want, "{url}");
        assert!(!err.contains("hunter2"));
    }
    // With TLS required the same credentials pass the check (and the database is next).
    let out = optbox(
        &["serve"],
        &[
            (
                "OPTBOX_RELAY_URL",
                "smtp://mailer:hunter2@relay.example:587?tls=required",
            ),
            ("OPTBOX_DATABASE_URL", "mysql://root@localhost/x"),
        ],
        None,
    );
    assert!(one_line_error(&out).contains("unsupported database URL scheme"));
}

/// Restoring a damaged backup: `serve` and `migrate` name the file and the damage in one
/// line and leave the file as it was.
#[test]
fn a_corrupt_backup_is_refused_in_one_line_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("restored.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(std::iter::repeat_n(0xA5u8, 8192));
    std::fs::write(&file, &bytes).unwrap();
    let url = format!("sqlite://{}", file.display());
    for cmd in [&["migrate"][..], &["serve"][..]] {
        let out = optbox(cmd, &[("OPTBOX_DATABASE_URL", url.as_str())], None);
        let err = one_line_error(&out);
        assert!(err.contains("restored.db"), "{err}");
        assert!(
            err.contains("malformed") || err.contains("not a database"),
            "{err}"
        );
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bytes,
            "the file is unchanged"
        );
    }
}

#[test]
fn migrate_creates_the_database_and_users_can_be_created() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sub/optbox.db").display());
    let env = [("OPTBOX_DATABASE_URL", url.as_str())];
    let out = optbox(&["migrate"], &env, None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("sub/optbox.db").exists());
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["sub/optbox.db", "sub"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f} is {mode:o}: others may read it");
        }
    }
    let args = [
        "admin",
        "create-user",
        "--email",
        "Op@Example.com",
        "--role",
        "owner",
        "--password-stdin",
    ];
    let out = optbox(&args, &env, Some("a sufficiently long password\n"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created owner user Op@example.com"));
    let out = optbox(&args, &env, Some("another long password\n"));
    assert!(one_line_error(&out).contains("already exists"));
    let args = [
        "admin",
        "create-user",
        "--email",
        "b@example.com",
        "--role",
        "viewer",
        "--password-stdin",
    ];
    assert!(one_line_error(&optbox(&args, &env, Some("short\n"))).contains("at least 12"));
}

#[test]
fn link_prints_the_url_alone_and_names_unknown_lists() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("optbox.db").display());
    let env = [
        ("OPTBOX_DATABASE_URL", url.as_str()),
        ("OPTBOX_PUBLIC_URL", "https://mail.example.org"),
        ("OPTBOX_TOKEN_KEYS", "k1:0123456789abcdef0123456789abcdef"),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = optbox::server::store::open(&url, true).await.unwrap();
        optbox::server::service::demo::seed(&*store).await.unwrap();
    });
    let out = optbox(
        &[
            "link",
            "--list",
            "demo",
            "--topic",
            "offers",
            "--email",
            "New@Example.org",
        ],
        &env,
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let link = stdout.trim();
    assert!(link.starts_with("https://mail.example.org/u/"), "{link}");
    assert!(
        !link.to_lowercase().contains("new@"),
        "no address in the link"
    );
    let token = link.rsplit('/').next().unwrap();
    let keys =
        optbox::server::config::parse_token_keys("k1:0123456789abcdef0123456789abcdef").unwrap();
    let u = optbox::server::token::verify(&keys, token).unwrap();
    assert_eq!(u.list.as_str(), "demo");
    assert_eq!(u.topic.unwrap().as_str(), "offers");
    let err = one_line_error(&optbox(
        &["link", "--list", "nope", "--email", "a@example.org"],
        &env,
        None,
    ));
    assert!(err.contains("List with name: nope doesn't exist."), "{err}");
    let err = one_line_error(&optbox(
        &[
            "link",
            "--list",
            "demo",
            "--topic",
            "x",
            "--email",
            "a@example.org",
        ],
        &env,
        None,
    ));
    assert!(err.contains("doesn't contain Topic: x"), "{err}");
}

/// `optbox serve` on a new SQLite database in `dir`, listening when this returns.
fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> std::process::Child {
    let url = format!("sqlite://{}", dir.join("optbox.db").display());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_optbox"));
    cmd.arg("serve")
        .env_clear()
        .env("OPTBOX_SMTP_LISTEN", "127.0.0.1:0")
        .env("OPTBOX_DATABASE_URL", &url)
        .env("OPTBOX_LISTEN", &listen)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            started.elapsed().as_secs() < 20,
            "optbox did not start listening"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child
}

/// The kernel's `THP_enabled` line for a process: whether transparent huge pages may
/// back its memory.
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .expect("the kernel reports THP_enabled")
        .trim()
        .to_owned()
}

#[cfg(target_os = "linux")]
#[test]
fn serve_runs_without_transparent_huge_pages_unless_mimalloc_is_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(dir.path(), &[]);
    assert_eq!(thp_enabled(child.id()), "0");
    child.kill().unwrap();
    child.wait().unwrap();
    let mut child = serve(dir.path(), &[("MIMALLOC_ALLOW_THP", "1")]);
    assert_eq!(
        thp_enabled(child.id()),
        "1",
        "MIMALLOC_ALLOW_THP=1 keeps them"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn serve_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(dir.path(), &[]);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            assert!(s.success(), "exit status {s:?}");
            break;
        }
        assert!(
            t.elapsed().as_secs() < 10,
            "optbox did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn keys_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("optbox.db").display());
    let master = "m".repeat(40);
    let env = [
        ("OPTBOX_DATABASE_URL", url.as_str()),
        ("OPTBOX_API_KEY_MASTER", master.as_str()),
    ];
    let out = optbox(
        &["keys", "create", "--json", "--description", "crm sync"],
        &env,
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(
        obj.len(),
        2,
        "exactly the aws iam create-access-key fields: {v}"
    );
    let id = obj["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = obj["SecretAccessKey"].as_str().unwrap().to_owned();
    assert!(id.starts_with("OBX") && id.len() == 20, "{id}");
    assert_eq!(secret.len(), 40);

    // The secret is derived, never stored: it does not appear in the database file.
    let db = std::fs::read(dir.path().join("optbox.db")).unwrap();
    let wal = std::fs::read(dir.path().join("optbox.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is not stored"
        );
    }

    // Human output names the secret once; list shows ids and state, never secrets.
    let human = optbox(&["keys", "create"], &env, None);
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("SecretAccessKey:"), "{text}");
    let listed = optbox(&["keys", "list"], &env, None);
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let line = listed.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(
        line.contains("active") && line.contains("crm sync"),
        "{line}"
    );
    assert!(!listed.contains(&secret));

    let out = optbox(&["keys", "revoke", &id], &env, None);
    assert!(out.status.success());
    let listed = String::from_utf8(optbox(&["keys", "list"], &env, None).stdout).unwrap();
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("revoked")),
        "{listed}"
    );
    let err = one_line_error(&optbox(&["keys", "revoke", "OBXNOSUCHKEY"], &env, None));
    assert!(err.contains("OBXNOSUCHKEY"), "{err}");
}

/// Changes made at the command line (a dashboard user, API keys, a DKIM key, a webhook)
/// are events of actor `cli`, and none holds a secret.
fn cli_changes_are_logged(backend: &str) {
    use optbox::server::store::EventQuery;
    const PASSWORD: &str = "a sufficiently long password";
    const HOOK_SECRET: &str = "a webhook secret of some length";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(common::TestDb::new(backend));
    // The database, migrated.
    rt.block_on(db.store());
    let master = "m".repeat(40);
    let env = [
        ("OPTBOX_DATABASE_URL", db.url.as_str()),
        ("OPTBOX_API_KEY_MASTER", master.as_str()),
    ];
    let run = |args: &[&str], stdin: Option<&str>| {
        let out = optbox(args, &env, stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let args = [
        "admin",
        "create-user",
        "--email",
        "op@example.com",
        "--role",
        "owner",
        "--password-stdin",
    ];
    run(&args, Some(PASSWORD));
    let key: serde_json::Value = serde_json::from_str(&run(
        &["keys", "create", "--json", "--description", "crm sync"],
        None,
    ))
    .unwrap();
    let id = key["AccessKeyId"].as_str().unwrap().to_owned();
    let secret = key["SecretAccessKey"].as_str().unwrap().to_owned();
    run(&["keys", "revoke", &id], None);
    run(
        &[
            "dkim",
            "generate",
            "--domain",
            "example.com",
            "--selector",
            "s1",
            "--algorithm",
            "ed25519",
        ],
        None,
    );
    let hook = run(
        &[
            "webhooks",
            "add",
            "--url",
            "https://hooks.example.com/optbox",
            "--secret",
            HOOK_SECRET,
        ],
        None,
    );
    run(&["webhooks", "remove", hook.trim()], None);

    rt.block_on(async {
        let store = db.store().await;
        let mut log = store
            .query_events(&EventQuery {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        log.reverse();
        let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "user.created",
                "api_key.created",
                "api_key.revoked",
                "dkim.generated",
                "webhook.created",
                "webhook.deleted",
            ]
        );
        for e in &log {
            assert_eq!(e.actor.as_deref(), Some("cli"), "{e:?}");
            assert_eq!(e.source.as_deref(), Some("Cli"), "{e:?}");
            assert_eq!(e.actor_id, None, "{e:?}");
        }
        let detail =
            |i: usize| -> serde_json::Value { serde_json::from_str(&log[i].detail).unwrap() };
        assert_eq!(detail(0)["email"], "op@example.com");
        assert_eq!(detail(0)["role"], "owner");
        assert_eq!(detail(1)["access_key_id"], id.as_str());
        assert_eq!(detail(1)["description"], "crm sync");
        assert_eq!(detail(1)["scope"], "all");
        assert_eq!(detail(2)["access_key_id"], id.as_str());
        assert_eq!(detail(3)["domain"], "example.com");
        assert_eq!(detail(4)["id"].to_string(), hook.trim());
        let user = store.get_user_by_email("op@example.com").await.unwrap();
        let text = serde_json::to_string(&log).unwrap();
        for s in [secret.as_str(), HOOK_SECRET, PASSWORD, &user.password_hash] {
            assert!(!text.contains(s), "{s} in {text}");
        }
    });
    rt.block_on(db.cleanup());
}

#[test]
fn cli_changes_are_logged_on_sqlite() {
    cli_changes_are_logged("sqlite");
}

#[test]
fn cli_changes_are_logged_on_postgres() {
    cli_changes_are_logged("postgres");
}

/// `optbox admin unlock` lets a client locked out by failed sign-ins in again at once.
fn admin_unlock_forgets_failed_sign_ins(backend: &str) {
    use optbox::server::service::ServiceError;
    use optbox::server::service::auth::{self, Role};
    const PASSWORD: &str = "a sufficiently long password";
    let rt = tokio::runtime::Runtime::new().unwrap();
    let db = rt.block_on(common::TestDb::new(backend));
    rt.block_on(async {
        let store = db.store().await;
        auth::create_user(
            &*store,
            "ann@example.com",
            Role::Owner,
            PASSWORD,
            &common::setup(),
        )
        .await
        .unwrap();
        for _ in 0..5 {
            auth::authenticate(&*store, "ann@example.com", "a wrong guess", "ip-x")
                .await
                .unwrap_err();
        }
        let locked = auth::authenticate(&*store, "ann@example.com", PASSWORD, "ip-x").await;
        assert!(
            matches!(locked, Err(ServiceError::LimitExceeded(_))),
            "{locked:?}"
        );
    });
    let env = [("OPTBOX_DATABASE_URL", db.url.as_str())];
    let out = optbox(
        &["admin", "unlock", "--email", "ann@Example.COM"],
        &env,
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "unlocked ann@Example.COM: 5 failed sign-ins forgotten"
    );
    rt.block_on(async {
        let store = db.store().await;
        auth::authenticate(&*store, "ann@example.com", PASSWORD, "ip-x")
            .await
            .expect("signs in again");
    });
    let out = optbox(
        &["admin", "unlock", "--email", "nobody@example.com"],
        &env,
        None,
    );
    assert!(one_line_error(&out).contains("there is no user nobody@example.com"));
    rt.block_on(db.cleanup());
}

#[test]
fn admin_unlock_forgets_failed_sign_ins_on_sqlite() {
    admin_unlock_forgets_failed_sign_ins("sqlite");
}

#[test]
fn admin_unlock_forgets_failed_sign_ins_on_postgres() {
    admin_unlock_forgets_failed_sign_ins("postgres");
}

/// `optbox doctor` on a dev setup: what works is `ok`, what production wants is `warn`,
/// and the exit status is 0; a production setup with an http:// public URL and a DKIM key
/// whose record is not published fails, naming the record to publish.
#[test]
fn doctor_says_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("optbox.db").display());
    let imports = dir.path().join("imports");
    let imports = imports.to_str().unwrap();
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let relay = format!("smtp://127.0.0.1:{port}");
    let dev = [
        ("OPTBOX_DATABASE_URL", db.as_str()),
        ("OPTBOX_IMPORT_DIR", imports),
        ("OPTBOX_RELAY_URL", relay.as_str()),
    ];
    let out = optbox(&["doctor"], &dev, None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "ok\tdatabase: Sqlite answers",
        "ok\timport_dir: ",
        "warn\tpublic_url: unset",
        "warn\tkeys: dev mode",
        &format!("warn\trelay_url: 127.0.0.1:{port}: "),
        "warn\tdkim: no keys",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "{line} missing:\n{text}"
        );
    }
    assert!(
        std::path::Path::new(imports).is_dir(),
        "import_dir is created"
    );

    let out = optbox(
        &[
            "dkim",
            "generate",
            "--domain",
            "doctor.invalid",
            "--selector",
            "s1",
            "--algorithm",
            "ed25519",
        ],
        &dev,
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let token_keys = format!("k1:{}", "a".repeat(40));
    let session_key = "s".repeat(64);
    let master = "m".repeat(40);
    let prod = [
        ("OPTBOX_DATABASE_URL", db.as_str()),
        ("OPTBOX_IMPORT_DIR", imports),
        ("OPTBOX_MODE", "production"),
        ("OPTBOX_PUBLIC_URL", "http://unsubscribe.example.com"),
        ("OPTBOX_TOKEN_KEYS", token_keys.as_str()),
        ("OPTBOX_SESSION_KEY", session_key.as_str()),
        ("OPTBOX_API_KEY_MASTER", master.as_str()),
        ("OPTBOX_METRICS_LISTEN", "0.0.0.0:0"),
    ];
    let out = optbox(&["doctor"], &prod, None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = one_line_error(&out);
    assert!(err.contains("check(s) failed"), "{err}");
    assert!(
        text.lines()
            .any(|l| l
                .starts_with("fail\tpublic_url: http://unsubscribe.example.com is not https://")),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("warn\tmetrics: ")),
        "{text}"
    );
    // The record is not in DNS (the name does not exist), or DNS cannot be asked here:
    // either way the line names the record.
    assert!(
        text.lines().any(
            |l| (l.starts_with("fail\tdkim: ") || l.starts_with("warn\tdkim: "))
                && l.contains("s1._domainkey.doctor.invalid")
        ),
        "{text}"
    );
    assert!(!text.lines().any(|l| l.starts_with("warn\tkeys")), "{text}");
}
