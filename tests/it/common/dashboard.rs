//! Dashboard helpers: a signed-in operator and form POSTs as a browser without JavaScript.

use super::TestApp;
use optbox::server::service::auth::{self, Role};

pub const PASSWORD: &str = "correct horse battery";

/// Creates a user with `role` (`{role}@example.com`) and signs the app's client in.
pub async fn sign_in(app: &TestApp, role: Role) {
    let email = format!("{}@example.com", role.as_str());
    auth::create_user(&*app.store, &email, role, PASSWORD, &super::setup())
        .await
        .unwrap();
    let r = app
        .client
        .post(app.url("/api/login"))
        .header("accept", "text/html")
        .header("referer", app.url("/admin/login"))
        .form(&[("email", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/admin");
}

/// A form POST as a browser without JavaScript sends it; returns the Location.
pub async fn form(app: &TestApp, path: &str, back: &str, fields: &[(&str, &str)]) -> String {
    let r = app
        .client
        .post(app.url(path))
        .header("accept", "text/html")
        .header("origin", &app.base)
        .header("referer", app.url(back))
        .form(fields)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{path}: {}", r.status());
    r.headers()["location"].to_str().unwrap().to_owned()
}
