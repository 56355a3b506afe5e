//! `/`: what this service is and where to go.

use crate::ui::components::Frame;
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="optbox" />
        <Frame>
            <h1>"optbox"</h1>
            <p>
                "Subscription management for email: one-click unsubscribe (RFC 8058), preference pages and an SES-compatible API."
            </p>
            <p>
                <a href="/admin">"Open the dashboard"</a>
            </p>
        </Frame>
    }
}
