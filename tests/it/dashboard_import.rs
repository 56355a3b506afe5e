//! The dashboard's import upload (multipart, as the page's form sends it) and export
//! download: a no-JavaScript upload waits and lands on the finished job; with `wait=0`
//! the job page shows progress as it runs; invalid rows are counted; opt-outs are never
//! undone; viewers cannot upload; the export has every contact — SQLite and PostgreSQL.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestApp, spawn_app_on};
use optbox::domain::{EmailAddress, SubscriptionStatus};
use optbox::server::service::auth::{self, Role};
use optbox::server::store::{Audit, NewContact, Source};
use reqwest::multipart::{Form, Part};

const PASSWORD: &str = "correct horse battery";

async fn client_as(app: &TestApp, role: Role) -> reqwest::Client {
    let email = format!("{}@example.com", role.as_str());
    auth::create_user(&*app.store, &email, role, PASSWORD, &common::setup())
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let r = c
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/admin/login"))
        .form(&[("email", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/admin");
    c
}

fn upload_form(body: String, name: &str, wait: &str) -> Form {
    Form::new()
        .text("wait", wait.to_owned())
        .text("format", "auto")
        .text("action", "put")
        .part("file", Part::text(body).file_name(name.to_owned()))
}

async fn import_flow(backend: &str) {
    let app = spawn_app_on(backend).await;
    let list = optbox::server::service::demo::seed(&*app.store)
        .await
        .unwrap();
    // An opted-out contact the file tries to re-subscribe.
    app.store
        .create_contact(
            &list,
            &NewContact {
                email: EmailAddress::parse("out@example.com").unwrap(),
                unsubscribe_all: false,
                preferences: vec![(
                    optbox::domain::TopicName::parse("newsletter").unwrap(),
                    SubscriptionStatus::OptOut,
                )],
                attributes: String::new(),
            },
            &Audit::new(Source::Api),
        )
        .await
        .unwrap();
    let admin = client_as(&app, Role::Admin).await;
    let mut csv = String::from("emailAddress,topicPreferences.newsletter\n");
    for i in 0..3000 {
        csv.push_str(&format!("u{i}@example.com,OPT_IN\n"));
    }
    csv.push_str("not-an-address,OPT_IN\nout@example.com,OPT_IN\n");

    // No JavaScript: the answer waits for the job and shows it finished.
    let r = admin
        .post(app.url("/admin/upload/demo"))
        .header("origin", &app.base)
        .multipart(upload_form(csv.clone(), "people.csv", "1"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with("/admin/lists/demo/import?job="), "{loc}");
    let html = admin
        .get(app.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("COMPLETED"), "{html}");
    assert!(html.contains(r#"id="job-created">3000<"#), "{html}");
    assert!(html.contains(r#"id="job-failed">1<"#), "{html}");
    assert!(html.contains("of 3003<!> lines"), "{html}");
    assert!(
        html.contains(r#"<progress id="job-progress" max="100" value="100""#),
        "{html}"
    );
    let out = app
        .store
        .get_contact(&list, &EmailAddress::parse("out@example.com").unwrap())
        .await
        .unwrap();
    assert_eq!(
        out.explicit("newsletter"),
        Some(SubscriptionStatus::OptOut),
        "the opt-out is kept"
    );

    // With JavaScript (wait=0): an immediate redirect; the job page reports it until done.
    let r = admin
        .post(app.url("/admin/upload/demo"))
        .header("origin", &app.base)
        .multipart(upload_form(
            "{\"emailAddress\":\"j@example.com\"}\n".into(),
            "more.jsonl",
            "0",
        ))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let job = loc.split("job=").nth(1).unwrap().to_owned();
    let mut done = false;
    for _ in 0..100 {
        let r = admin
            .post(app.url("/api/import_job"))
            .header("origin", &app.base)
            .form(&[("job", job.as_str())])
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        if v["status"] == "COMPLETED" {
            assert_eq!(v["created"], 1);
            done = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(done, "the job finishes");

    // Refusals: a cross-site upload, a viewer, an unknown column.
    let r = admin
        .post(app.url("/admin/upload/demo"))
        .header("origin", "http://evil.example")
        .multipart(upload_form(csv.clone(), "x.csv", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let viewer = client_as(&app, Role::Viewer).await;
    let r = viewer
        .post(app.url("/admin/upload/demo"))
        .header("origin", &app.base)
        .multipart(upload_form(csv.clone(), "x.csv", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = admin
        .post(app.url("/admin/upload/demo"))
        .header("origin", &app.base)
        .multipart(upload_form(
            "emailAddress,shoeSize\na@example.com,9\n".into(),
            "x.csv",
            "1",
        ))
        .send()
        .await
        .unwrap();
    // A problem with the file itself fails the job before anything is written; the
    // page shows why.
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let html = admin
        .get(app.url(&loc))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("FAILED"), "{html}");
    assert!(
        html.contains("shoeSize"),
        "the reason names the column: {html}"
    );
    let none = app
        .store
        .get_contact(&list, &EmailAddress::parse("a@example.com").unwrap())
        .await;
    assert!(none.is_err(), "nothing was imported");
    // An empty file is refused with a message on the form.
    let r = admin
        .post(app.url("/admin/upload/demo"))
        .header("origin", &app.base)
        .multipart(upload_form(String::new(), "x.csv", "1"))
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.contains("error=the%20file%20is%20empty"), "{loc}");

    // Export: every contact, with a header row.
    let r = viewer
        .get(app.url("/admin/export/demo/csv"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.starts_with("emailAddress,unsubscribeAll,attributesData"));
    // demo contact + out@ + 3000 + j@ + the header.
    assert_eq!(body.lines().count(), 3004, "{}", &body[..200]);
    let r = viewer
        .get(app.url("/admin/export/demo/jsonl"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().lines().count(), 3003);
    let anon = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = anon
        .get(app.url("/admin/export/demo/csv"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let r = anon
        .post(app.url("/admin/upload/demo"))
        .multipart(upload_form(csv, "x.csv", "1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn imports_upload_with_progress_and_lists_export_on_sqlite() {
    import_flow("sqlite").await;
}

#[tokio::test]
async fn imports_upload_with_progress_and_lists_export_on_postgres() {
    import_flow("postgres").await;
}
