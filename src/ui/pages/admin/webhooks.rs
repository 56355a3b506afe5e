//! `/admin/webhooks` (every destination, add one) and `/admin/webhooks/:id` (edit,
//! send a test, delivery log with replay, delete). Plain form POSTs without JavaScript;
//! in place with it.

use crate::serverfns::delete_webhook::DeleteWebhook;
use crate::serverfns::get_webhook::{WebhookDetail, get_webhook};
use crate::serverfns::get_webhooks::{WebhookRow, get_webhooks};
use crate::serverfns::replay_delivery::ReplayDelivery;
use crate::serverfns::save_webhook::SaveWebhook;
use crate::serverfns::test_webhook::TestWebhook;
use crate::ui::components::{
    AdminFrame, DataTable, Loaded, Pager, Section, col, done, error_alert, num_col, number,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

/// The fields of the webhook form, filled from `hook` when editing.
#[component]
fn WebhookFields(hook: Option<WebhookRow>) -> impl IntoView {
    let editing = hook.is_some();
    let h = hook.unwrap_or(WebhookRow {
        id: 0,
        url: String::new(),
        events: String::new(),
        list: String::new(),
        created: String::new(),
        routed: String::new(),
    });
    let id = if editing {
        h.id.to_string()
    } else {
        String::new()
    };
    let p = if editing { "edit" } else { "new" };
    view! {
        <input type="hidden" name="id" value=id />
        <label for=format!("{p}-url")>"URL"</label>
        <input id=format!("{p}-url") type="url" name="url" required value=h.url
            placeholder="https://example.com/optbox-events" />
        <label for=format!("{p}-secret")>"Signing secret"</label>
        <input id=format!("{p}-secret") type="password" name="secret" autocomplete="new-password"
            minlength="16" required=!editing aria-describedby=format!("{p}-secret-hint") />
        <p id=format!("{p}-secret-hint") class="hint">
            {if editing {
                "Leave empty to keep the current secret. "
            } else {
                "At least 16 characters. "
            }}
            "The receiver checks the Optbox-Signature header with it."
        </p>
        <label for=format!("{p}-events")>"Events"</label>
        <input id=format!("{p}-events") type="text" name="events" value=h.events
            aria-describedby=format!("{p}-events-hint") />
        <p id=format!("{p}-events-hint") class="hint">
            "Comma-separated; empty for every kind except webhook.failed and configuration "
            "changes. Kinds: subscription, contact.created, contact.deleted, import, "
            "webhook.failed; configuration changes such as list.updated or api_key.created "
            "only when named."
        </p>
        <label for=format!("{p}-list")>"Only this list"</label>
        <input id=format!("{p}-list") type="text" name="list" value=h.list
            aria-describedby=format!("{p}-list-hint") />
        <p id=format!("{p}-list-hint") class="hint">"Empty for events of every list."</p>
    }
}

#[component]
pub fn WebhooksPage() -> impl IntoView {
    let create = ServerAction::<SaveWebhook>::new();
    let data = Resource::new(move || create.version().get(), |_| get_webhooks());
    view! {
        <Title text="Webhooks · optbox" />
        <AdminFrame current="webhooks">
            <h1>"Webhooks"</h1>
            <p class="hint">
                "optbox POSTs each event (opt-outs, preference changes, contacts, imports) as signed JSON to these URLs, retrying until they answer 2xx."
            </p>
            <Loaded data then=move |page| {
                let table = view! {
                    <DataTable
                        id="webhooks"
                        label="Webhooks table"
                        caption="Every webhook destination"
                        heads=vec![col("URL"), col("Events"), col("List"), col("Created")]
                        is_empty=page.hooks.is_empty()
                        empty=("no-webhooks", "No webhooks yet.")
                    >
                        {page
                            .hooks
                            .into_iter()
                            .map(|h| {
                                let href = format!("/admin/webhooks/{}", h.id);
                                let events = if !h.routed.is_empty() { format!("only what configuration sets route: {}", h.routed) } else if h.events.is_empty() { "(all)".to_owned() } else { h.events };
                                let list = if h.list.is_empty() { "(all)".to_owned() } else { h.list };
                                view! {
                                    <tr>
                                        <td class="wrap"><a href=href>{h.url}</a></td>
                                        <td>{events}</td>
                                        <td>{list}</td>
                                        <td>{h.created}</td>
                                    </tr>
                                }
                            })
                            .collect_view()}

                    </DataTable>
                };
                let form = page
                    .can_edit
                    .then(|| {
                        view! {
                            <Section id="new-webhook" title="New webhook" class="card">
                                <ActionForm action=create attr:class="stack" attr:id="new-webhook">
                                    <WebhookFields hook=None />
                                    {move || done(create.value().get())}
                                    <button type="submit">"Add webhook"</button>
                                </ActionForm>
                            </Section>
                        }
                    });
                view! { {table} {form} }.into_any()
            } />
        </AdminFrame>
    }
}

#[component]
pub fn WebhookPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || number(&params.read(), "id").unwrap_or(-1);
    let before = move || number(&query.read(), "before");
    let save = ServerAction::<SaveWebhook>::new();
    let test = ServerAction::<TestWebhook>::new();
    let replay = ServerAction::<ReplayDelivery>::new();
    let delete = ServerAction::<DeleteWebhook>::new();
    let data = Resource::new(
        move || {
            (
                id(),
                before(),
                save.version().get(),
                test.version().get(),
                replay.version().get(),
            )
        },
        |(id, before, ..)| get_webhook(id, before),
    );
    view! {
        <Title text="Webhook · optbox" />
        <AdminFrame current="webhooks">
            <p class="crumbs"><a href="/admin/webhooks">"Webhooks"</a> " / " {move || id().to_string()}</p>
            <Loaded
                data
                then=move |d| view! { <WebhookBody d save test replay delete /> }.into_any()
                failed=Callback::new(|e| view! { <h1>"Webhook"</h1> {error_alert(&e)} }.into_any())
            />
        </AdminFrame>
    }
}

#[component]
fn WebhookBody(
    d: WebhookDetail,
    save: ServerAction<SaveWebhook>,
    test: ServerAction<TestWebhook>,
    replay: ServerAction<ReplayDelivery>,
    delete: ServerAction<DeleteWebhook>,
) -> impl IntoView {
    let query = use_query_map();
    let notice = move || {
        let q = query.read();
        if let Some(s) = q.get("tested") {
            Some(format!(
                "Test event delivered: the receiver answered HTTP {s}."
            ))
        } else if let Some(n) = q.get("replayed") {
            Some(format!("{n} dead-lettered deliveries queued again."))
        } else if q.get("saved").is_some() {
            Some("Webhook saved.".to_owned())
        } else {
            None
        }
    };
    let WebhookDetail {
        hook,
        deliveries,
        next_before,
        can_edit,
    } = d;
    let hid = hook.id;
    let older = next_before.map(|b| format!("/admin/webhooks/{hid}?before={b}"));
    let any_dead = deliveries.iter().any(|r| r.status == "dead");
    let log = view! {
        <DataTable
            id="deliveries"
            label="Delivery log"
            caption="Deliveries, newest first"
            heads={ let mut h = vec![col("Created"), num_col("Event"), col("Status"), num_col("Attempts"), col("Last answer"), col("Last error"), col("Delivered")]; if can_edit { h.push(col("Replay")); } h }
            is_empty=deliveries.is_empty()
            empty=("no-deliveries", "No deliveries yet.")
        >
            {deliveries
                .into_iter()
                .map(|r| {
                    let dead = r.status == "dead";
                    let did = r.id.to_string();
                    let label = format!("Replay delivery {}", r.id);
                    let row_class = format!("delivery-{}", r.status);
                    view! {
                        <tr class=row_class>
                            <td>{r.created}</td>
                            <td class="num">{r.event_id}</td>
                            <td>{r.status}</td>
                            <td class="num">{r.attempts}</td>
                            <td>{r.last_status}</td>
                            <td class="wrap">{r.last_error}</td>
                            <td>{r.delivered}</td>
                            {can_edit
                                .then(|| {
                                    view! {
                                        <td>
                                            {dead
                                                .then(|| {
                                                    view! {
                                                        <ActionForm action=replay attr:class="inline">
                                                            <input type="hidden" name="id" value=hid.to_string() />
                                                            <input type="hidden" name="delivery" value=did />
                                                            <button type="submit" class="secondary" aria-label=label>
                                                                "Replay"
                                                            </button>
                                                        </ActionForm>
                                                    }
                                                })}
                                        </td>
                                    }
                                })}
                        </tr>
                    }
                })
                .collect_view()}

        </DataTable>
    };
    let manage = can_edit.then(|| {
        let h = hook.clone();
        view! {
            <Section id="test" title="Send a test" class="card">
                <p>"Sends a signed sample Subscription event (eventId test-…) to the URL now and shows the answer."</p>
                <ActionForm action=test attr:class="inline" attr:id="test-webhook">
                    <input type="hidden" name="id" value=hid.to_string() />
                    {move || done(test.value().get())}
                    <button type="submit">"Send a test event"</button>
                </ActionForm>
            </Section>
            <Section id="edit" title="Edit" class="card">
                <ActionForm action=save attr:class="stack" attr:id="edit-webhook">
                    <WebhookFields hook=Some(h) />
                    {move || done(save.value().get())}
                    <button type="submit">"Save webhook"</button>
                </ActionForm>
            </Section>
        }
    });
    let danger = can_edit.then(|| {
        view! {
            <Section id="delete" title="Delete this webhook" class="card danger-zone">
                <p>"Stops deliveries to this URL and drops the pending ones."</p>
                <ActionForm action=delete attr:class="inline" attr:id="delete-webhook">
                    <input type="hidden" name="id" value=hid.to_string() />
                    {move || done(delete.value().get())}
                    <button type="submit" class="danger">"Delete webhook"</button>
                </ActionForm>
            </Section>
        }
    });
    let replay_all = (can_edit && any_dead).then(|| {
        view! {
            <ActionForm action=replay attr:class="inline" attr:id="replay-all">
                <input type="hidden" name="id" value=hid.to_string() />
                <input type="hidden" name="delivery" value="" />
                <button type="submit" class="secondary">"Replay every dead letter"</button>
            </ActionForm>
        }
    });
    let events = if hook.events.is_empty() {
        "every kind except webhook.failed and configuration changes".to_owned()
    } else {
        hook.events.clone()
    };
    let list = if hook.list.is_empty() {
        "every list".to_owned()
    } else {
        hook.list.clone()
    };
    view! {
        <h1 id="webhook-title" class="wrap">{hook.url.clone()}</h1>
        {move || notice().map(|m| view! { <p class="ok" role="status" id="notice">{m}</p> })}
        <dl class="facts">
            <dt>"Events"</dt><dd>{events}</dd>
            <dt>"List"</dt><dd>{list}</dd>
            <dt>"Created"</dt><dd>{hook.created.clone()}</dd>
        </dl>
        {manage}
        <Section id="log" title="Delivery log">
            {move || done(replay.value().get())}
            {replay_all}
            {log}
            <Pager first={format!("/admin/webhooks/{hid}")} first_text="Newest" next=older next_id="older" next_text="Older deliveries" />
        </Section>
        {danger}
    }
}
