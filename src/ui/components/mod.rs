//! Small reusable components.

use leptos::prelude::*;

/// The human message of a server-function error.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A page frame with the product name and a main landmark.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    view! {
        <leptos_meta::Html {..} lang="en" />
        <header class="topbar">
            <a class="brand" href="/">"optbox"</a>
        </header>
        <main id="main" class="page">{children()}</main>
    }
}
