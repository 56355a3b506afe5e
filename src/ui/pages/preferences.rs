//! `/u/{token}`: the recipient's preference page. Server-rendered and complete without
//! JavaScript (plain form POSTs); hydrated, the same forms submit in place. The list's
//! branding comes from same-origin URLs only (its stylesheet and uploaded logo, see
//! `domain::branding`), so the strict CSP below needs no exception.

use crate::serverfns::get_preferences::{PrefPage, get_preferences};
use crate::serverfns::save_preferences::SavePreferences;
use crate::ui::components::{error_alert, error_text};
use crate::ui::i18n::{Lang, text, words};
use leptos::prelude::*;
use leptos_meta::{Html, Stylesheet, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

/// Sets the page's Content-Security-Policy with this response's script nonce.
fn set_csp() {
    #[cfg(feature = "ssr")]
    if let (Some(resp), Some(nonce)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        leptos::nonce::use_nonce(),
    ) {
        let csp = format!(
            "default-src 'none'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&csp) {
            resp.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

#[component]
pub fn PreferencesPage() -> impl IntoView {
    set_csp();
    let params = use_params_map();
    let query = use_query_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let data = Resource::new(
        move || {
            let q = query.read();
            // `paused`/`resumed` only make the page read again after those changes.
            let changed = (q.get("paused"), q.get("resumed"));
            (
                token(),
                q.get("lang"),
                q.get("saved"),
                q.get("error"),
                changed,
            )
        },
        |(t, l, s, e, _)| get_preferences(t, l, s, e),
    );
    let save = ServerAction::<SavePreferences>::new();
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(Ok(p)) => view! { <Preferences page=p token=token() save /> }.into_any(),
                    Ok(Err(e)) => {
                        view! {
                            <Html {..} lang=e.lang.code() />
                            <Title text=text(e.lang).title />
                            <main class="prefs">
                                <h1>{text(e.lang).title}</h1>
                                <p class="error" role="alert">{e.message}</p>
                            </main>
                        }
                            .into_any()
                    }
                    Err(e) => {
                        view! {
                            <Html {..} lang="en" />
                            <main class="prefs">
                                {error_alert(&e)}
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

/// The fields every form of the page carries.
fn hidden_fields(token: &str, action: &'static str, lang: &'static str) -> impl IntoView + use<> {
    view! {
        <input type="hidden" name="token" value=token.to_owned() />
        <input type="hidden" name="action" value=action />
        <input type="hidden" name="lang" value=lang />
    }
}

/// "Paused until" with "resume now", or a button per pause length the list offers.
fn pause_controls(page: &PrefPage, token: &str, save: ServerAction<SavePreferences>) -> AnyView {
    let w = words(page.lang);
    let lang = page.lang.code();
    if let Some(until) = page.paused_until.clone() {
        let resume = hidden_fields(token, "resume", lang);
        return view! {
            <ActionForm action=save attr:id="resume-form" attr:class="pause">
                {resume}
                <p class="notice" id="paused">{w.paused_until.replace("{date}", &until)}</p>
                <button type="submit" class="secondary">{w.resume_now}</button>
            </ActionForm>
        }
        .into_any();
    }
    if page.pause_days.is_empty() {
        return ().into_any();
    }
    view! {
        <section class="pause" aria-labelledby="pause-title">
            <h2 id="pause-title">{w.pause_legend}</h2>
            <p class="muted">{w.pause_hint}</p>
            {page
                .pause_days
                .clone()
                .into_iter()
                .map(|d| {
                    let token = token.to_owned();
                    view! {
                        <ActionForm action=save attr:class="inline">
                            {hidden_fields(&token, "pause", lang)}
                            <input type="hidden" name="days" value=d.to_string() />
                            <button type="submit" class="secondary">{w.pause_for.replace("{n}", &d.to_string())}</button>
                        </ActionForm>
                    }
                })
                .collect_view()}
        </section>
    }
    .into_any()
}

#[component]
fn Preferences(
    page: PrefPage,
    token: String,
    save: ServerAction<SavePreferences>,
) -> impl IntoView {
    let t = text(page.lang);
    let lang = page.lang.code();
    let save_error = move || {
        save.value()
            .get()
            .and_then(|r| r.err())
            .map(|e| error_text(&e))
    };
    let pause = pause_controls(&page, &token, save);
    let (h_set, h_save, h_all) = (
        hidden_fields(&token, "set", lang),
        hidden_fields(&token, "save", lang),
        hidden_fields(&token, "unsubscribe_all", lang),
    );
    view! {
        <Html {..} lang=lang />
        <Title text=format!("{} · {}", t.title, page.list_title) />
        {page.theme_href.clone().map(|href| view! { <Stylesheet id="list-theme" href /> })}
        <main class="prefs" id="main" data-brand=page.list.clone()>
            // The heading names the list, so the logo beside it is decorative.
            {page.logo_src.clone().map(|src| view! { <img class="logo" id="list-logo" src=src alt="" /> })}
            <h1>{page.list_title.clone()}</h1>
            <p class="lead">{t.intro}</p>
            {page.email_hint.clone().map(|e| view! { <p class="muted">{t.for_address} " " <strong>{e}</strong></p> })}
            {page
                .saved
                .clone()
                .map(|s| {
                    view! {
                        <section class="notice" role="status" aria-labelledby="saved-title">
                            <h2 id="saved-title">{t.saved}</h2>
                            {(!s.subscribed.is_empty()).then(|| view! { <p>{t.now_subscribed} ": " {s.subscribed.join(", ")}</p> })}
                            {(!s.unsubscribed.is_empty()).then(|| view! { <p>{t.now_unsubscribed} ": " {s.unsubscribed.join(", ")}</p> })}
                            <ActionForm action=save attr:id="undo-form">
                                {h_set}
                                <input type="hidden" name="state" value=s.undo_state />
                                <button type="submit" class="secondary">{t.undo}</button>
                            </ActionForm>
                        </section>
                    }
                })}
            {page.unsubscribe_all.then(|| view! { <p class="notice" id="all-off">{t.all_off}</p> })}
            <p class="error" role="alert">{save_error}</p>
            <ActionForm action=save attr:id="prefs-form">
                {h_save}
                <fieldset>
                    <legend>{t.topics_legend}</legend>
                    {page
                        .topics
                        .iter()
                        .map(|topic| {
                            let id = format!("topic-{}", topic.name);
                            let desc_id = format!("{id}-desc");
                            view! {
                                <div class="topic">
                                    <input
                                        type="checkbox"
                                        role="switch"
                                        id=id.clone()
                                        name=format!("prefs[{}]", topic.name)
                                        value="on"
                                        checked=topic.opted_in
                                        prop:checked=topic.opted_in
                                        aria-describedby=desc_id.clone()
                                    />
                                    <label for=id>{topic.display_name.clone()}</label>
                                    <p class="muted topic-desc" id=desc_id>{topic.description.clone()}</p>
                                </div>
                            }
                        })
                        .collect_view()}
                </fieldset>
                <button type="submit">{t.save}</button>
            </ActionForm>
            {pause}
            <ActionForm action=save attr:id="unsub-all-form" attr:class="unsub-all">
                {h_all}
                <p class="muted">{t.unsubscribe_all_hint}</p>
                <button type="submit" class="danger">{t.unsubscribe_all}</button>
            </ActionForm>
            <nav class="langs" aria-label=t.language>
                {Lang::ALL
                    .into_iter()
                    .map(|l| {
                        let current = (l == page.lang).then_some("true");
                        view! {
                            <a href=format!("/u/{token}?lang={}", l.code()) hreflang=l.code() lang=l.code() aria-current=current>
                                {l.code()}
                            </a>
                        }
                    })
                    .collect_view()}
            </nav>
            <footer class="muted">
                {page.footer.clone().map(|f| view! { <p>{f}</p> })}
                {page.privacy_url.clone().map(|u| view! { <p><a href=u rel="noopener noreferrer">{t.privacy}</a></p> })}
            </footer>
        </main>
    }
}
