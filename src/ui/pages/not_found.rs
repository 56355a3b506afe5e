//! The 404 page.

use crate::ui::components::Frame;
use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Frame>
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Go to the start page"</a>
            </p>
        </Frame>
    }
}
