//! The HTML shell, the root component and the route table — nothing else.

use crate::ui::pages::admin::{
    keys::ApiKeysPage,
    outbox::{OutboxMessagePage, OutboxPage},
    settings::{SelfCheckPage, SettingsPage},
    suppressions::SuppressionsPageView,
    users::UsersPage,
    webhooks::{WebhookPage, WebhooksPage},
};
use crate::ui::pages::{
    admin::contacts::{ContactPage, ContactsPageView},
    admin::events::EventsPageView,
    admin::import::ImportPage,
    admin::lists::{ListPage, ListsPage},
    admin::login::LoginPage,
    admin::overview::OverviewPage,
    home::HomePage,
    not_found::NotFound,
};
use leptos::prelude::*;
use leptos_meta::{Link, MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode,
    components::{Route, Router, Routes},
    path,
};

/// The document around every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html>
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The application: every page, rendered on the server and hydrated in the browser.
/// Pages that must work without JavaScript use `SsrMode::Async`.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Marks the page once the wasm bundle has hydrated it (browser tests wait for this).
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/optbox.css" />
        <Link rel="icon" href="/favicon.svg" />
        <Title text="optbox" />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=HomePage ssr=SsrMode::Async />
                <Route path=path!("/admin/login") view=LoginPage ssr=SsrMode::Async />
                <Route path=path!("/admin") view=OverviewPage ssr=SsrMode::Async />
                <Route path=path!("/admin/lists") view=ListsPage ssr=SsrMode::Async />
                <Route path=path!("/admin/lists/:name") view=ListPage ssr=SsrMode::Async />
                <Route
                    path=path!("/admin/lists/:name/contacts")
                    view=ContactsPageView
                    ssr=SsrMode::Async
                />
                <Route path=path!("/admin/lists/:name/contact") view=ContactPage ssr=SsrMode::Async />
                <Route path=path!("/admin/lists/:name/import") view=ImportPage ssr=SsrMode::Async />
                <Route path=path!("/admin/events") view=EventsPageView ssr=SsrMode::Async />
                <Route
                    path=path!("/admin/suppressions")
                    view=SuppressionsPageView
                    ssr=SsrMode::Async
                />
                <Route path=path!("/admin/webhooks") view=WebhooksPage ssr=SsrMode::Async />
                <Route path=path!("/admin/webhooks/:id") view=WebhookPage ssr=SsrMode::Async />
                <Route path=path!("/admin/keys") view=ApiKeysPage ssr=SsrMode::Async />
                <Route path=path!("/admin/users") view=UsersPage ssr=SsrMode::Async />
                <Route path=path!("/admin/settings") view=SettingsPage ssr=SsrMode::Async />
                <Route path=path!("/admin/settings/check") view=SelfCheckPage ssr=SsrMode::Async />
                <Route path=path!("/admin/outbox") view=OutboxPage ssr=SsrMode::Async />
                <Route path=path!("/admin/outbox/:id") view=OutboxMessagePage ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}
