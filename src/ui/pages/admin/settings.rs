//! `/admin/settings` (the public URL as configured, DKIM keys with the TXT record to
//! publish, generate a key) and `/admin/settings/check` ("will Gmail show one-click?":
//! each check pass or fail with its reason; a GET form, so it works without JavaScript).

use crate::serverfns::generate_dkim::GenerateDkim;
use crate::serverfns::get_settings::{SettingsPage as SettingsData, get_settings};
use crate::serverfns::self_check::self_check;
use crate::ui::components::{AdminFrame, Loaded, Section, error_alert, outcome};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SettingsPage() -> impl IntoView {
    let generate = ServerAction::<GenerateDkim>::new();
    let data = Resource::new(move || generate.version().get(), |_| get_settings());
    view! {
        <Title text="Settings · optbox" />
        <AdminFrame current="settings">
            <h1>"Settings"</h1>
            <Loaded data then=move |s| view! { <SettingsBody s generate /> }.into_any() />
        </AdminFrame>
    }
}

#[component]
fn SettingsBody(s: SettingsData, generate: ServerAction<GenerateDkim>) -> impl IntoView {
    let SettingsData {
        public_url,
        public_base,
        relay,
        can_edit,
        dkim,
    } = s;
    let url_text = if public_url.is_empty() {
        format!("not set — links use {public_base}")
    } else {
        public_url.clone()
    };
    let keys = if dkim.is_empty() {
        view! { <p id="no-dkim">"No DKIM keys yet: mail is sent unsigned, and Gmail will not show one-click unsubscribe."</p> }
            .into_any()
    } else {
        view! {
            <ul class="topics" id="dkim-keys">
                {dkim
                    .into_iter()
                    .enumerate()
                    .map(|(i, k)| {
                        view! {
                            <li class="card">
                                <h3 class="wrap">{format!("{} · {}", k.domain, k.selector)}</h3>
                                <p class="muted">{k.algorithm} " · created " {k.created}</p>
                                <p>"Publish this TXT record in DNS:"</p>
                                <dl class="facts">
                                    <dt>"Name"</dt>
                                    <dd><code class="wrap dkim-name">{k.record_name}</code></dd>
                                    <dt>"Value"</dt>
                                    <dd><code class="wrap dkim-txt" id=format!("dkim-txt-{i}")>{k.txt}</code></dd>
                                </dl>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        .into_any()
    };
    let form = can_edit.then(|| {
        view! {
            <section aria-labelledby="dkim-new-title" class="card">
                <h3 id="dkim-new-title">"Generate a DKIM key"</h3>
                <ActionForm action=generate attr:class="stack" attr:id="new-dkim">
                    <label for="dkim-domain">"Domain"</label>
                    <input id="dkim-domain" type="text" name="domain" required placeholder="example.com"
                        aria-describedby="dkim-domain-hint" />
                    <p id="dkim-domain-hint" class="hint">"The domain of your From addresses; the newest key of a domain signs."</p>
                    <label for="dkim-selector">"Selector"</label>
                    <input id="dkim-selector" type="text" name="selector" required value="optbox" />
                    <label for="dkim-algorithm">"Algorithm"</label>
                    <select id="dkim-algorithm" name="algorithm">
                        <option value="rsa">"RSA-2048 (understood everywhere)"</option>
                        <option value="ed25519">"Ed25519 (short; add an RSA key too)"</option>
                    </select>
                    {move || outcome(generate.value().get())}
                    <button type="submit">"Generate key"</button>
                </ActionForm>
            </section>
        }
    });
    view! {
        <Section id="url" title="Public URL">
            <dl class="facts">
                <dt>"public_url"</dt>
                <dd><code class="wrap" id="public-url">{url_text}</code></dd>
                <dt>"Outgoing mail"</dt>
                <dd>
                    {if relay {
                        view! { "sent through the configured relay" }.into_any()
                    } else {
                        view! { "kept in the " <a href="/admin/outbox">"development outbox"</a> " (no relay_url)" }.into_any()
                    }}
                </dd>
            </dl>
            <p class="hint">
                "Set in the configuration file or OPTBOX_PUBLIC_URL, not here: every instance must build the same unsubscribe links, and changing it breaks the links in mail already sent. Gmail and Yahoo show one-click unsubscribe only for https:// links."
            </p>
        </Section>
        <Section id="check" title="Will Gmail show one-click?" class="card">
            <p>"Checks HTTPS, POSTs to a sample one-click link through the public URL, and checks that DKIM signs the List-Unsubscribe headers."</p>
            <p><a href="/admin/settings/check" id="run-check">"Run the self-check"</a></p>
        </Section>
        <Section id="dkim" title="DKIM keys">
            {keys}
            {form}
        </Section>
    }
}

#[component]
pub fn SelfCheckPage() -> impl IntoView {
    let query = use_query_map();
    let domain = move || query.read().get("domain").unwrap_or_default();
    let data = Resource::new(domain, self_check);
    view! {
        <Title text="Self-check · optbox" />
        <AdminFrame current="settings">
            <p class="crumbs"><a href="/admin/settings">"Settings"</a> " / self-check"</p>
            <h1>"Will Gmail show one-click?"</h1>
            <Form method="GET" action="/admin/settings/check" attr:class="filters" attr:id="check-form">
                <div>
                    <label for="check-domain">"Sending domain"</label>
                    <input id="check-domain" type="text" name="domain" value=domain
                        aria-describedby="check-domain-hint" />
                </div>
                <button type="submit">"Check again"</button>
            </Form>
            <p id="check-domain-hint" class="hint">"Empty: the domain of the newest DKIM key."</p>
            <Suspense fallback=|| view! { <p>"Checking…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Err(e) => view! { {error_alert(&e)} }.into_any(),
                        Ok(checks) => {
                            let all = checks.iter().all(|c| c.pass);
                            view! {
                                <p class="verdict" id="verdict" role="status">
                                    {if all {
                                        "Yes: every check passes."
                                    } else {
                                        "Not yet: fix the failing checks below."
                                    }}
                                </p>
                                <ul class="checks" id="checks">
                                    {checks
                                        .into_iter()
                                        .map(|c| {
                                            let class = if c.pass { "pass" } else { "fail" };
                                            view! {
                                                <li class=class>
                                                    <p>
                                                        <strong>{if c.pass { "Pass" } else { "Fail" }}</strong>
                                                        ": " {c.name}
                                                    </p>
                                                    <p class="wrap">{c.reason}</p>
                                                </li>
                                            }
                                        })
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </AdminFrame>
    }
}
