//! `/admin/login`: sign in. A plain form POST without JavaScript; in place with it.

use crate::serverfns::login::Login;
use crate::ui::components::{Frame, error_text};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = move || {
        login
            .value()
            .get()
            .and_then(|r| r.err())
            .map(|e| error_text(&e))
    };
    view! {
        <Title text="Sign in · optbox" />
        <Frame>
            <section class="card narrow" aria-labelledby="login-title">
                <h1 id="login-title">"Sign in"</h1>
                <ActionForm action=login attr:class="stack">
                    <label for="email">"Email"</label>
                    <input id="email" type="email" name="email" autocomplete="username" required />
                    <label for="password">"Password"</label>
                    <input
                        id="password"
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                    />
                    <p id="login-error" class="error" role="alert">
                        {error}
                    </p>
                    <button type="submit" disabled=move || login.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
                <p class="hint">"No account yet? Run " <code>"optbox admin create-user"</code> "."</p>
            </section>
        </Frame>
    }
}
