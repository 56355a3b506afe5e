//! `/admin/outbox` and `/admin/outbox/:id`: the development outbox — mail kept instead
//! of sent because no relay is configured — listed newest first and shown one by one.

use crate::serverfns::get_outbox::get_outbox;
use crate::serverfns::get_outbox_message::get_outbox_message;
use crate::ui::components::{
    AdminFrame, DataTable, Loaded, Pager, col, error_alert, num_col, number,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn OutboxPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || number(&query.read(), "before");
    let data = Resource::new(before, get_outbox);
    view! {
        <Title text="Outbox · optbox" />
        <AdminFrame current="outbox">
            <h1>"Development outbox"</h1>
            <p class="hint">"No relay_url is configured, so mail is kept here instead of being sent."</p>
            <Loaded data then=move |p| {
                let older = p.next_before.map(|b| format!("/admin/outbox?before={b}"));
                let table = view! {
                    <DataTable
                        id="outbox"
                        label="Outbox table"
                        caption="Messages, newest first"
                        heads=vec![col("Created"), col("From"), col("To"), num_col("Bytes"), col("Message")]
                        is_empty=p.rows.is_empty()
                        empty=("no-mail", "The outbox is empty.")
                    >
                        {p
                            .rows
                            .into_iter()
                            .map(|m| {
                                let href = format!("/admin/outbox/{}", m.id);
                                let label = format!("Show message {} to {}", m.id, m.rcpt);
                                view! {
                                    <tr>
                                        <td>{m.created}</td>
                                        <td class="wrap">{m.from}</td>
                                        <td class="wrap">{m.rcpt}</td>
                                        <td class="num">{m.size}</td>
                                        <td><a href=href aria-label=label>"Show"</a></td>
                                    </tr>
                                }
                            })
                            .collect_view()}

                    </DataTable>
                };
                view! {
                    {table}
                    <Pager first="/admin/outbox" first_text="Newest" next=older next_id="older" next_text="Older messages" />
                }
                    .into_any()
            } />
        </AdminFrame>
    }
}

#[component]
pub fn OutboxMessagePage() -> impl IntoView {
    let params = use_params_map();
    let id = move || number(&params.read(), "id").unwrap_or(-1);
    let data = Resource::new(id, get_outbox_message);
    view! {
        <Title text="Message · optbox" />
        <AdminFrame current="outbox">
            <p class="crumbs"><a href="/admin/outbox">"Outbox"</a> " / " {move || id().to_string()}</p>
            <Loaded
                data
                then=move |m| {
                    view! {
                        <h1 class="wrap">{format!("Message {} to {}", m.id, m.rcpt)}</h1>
                        <dl class="facts">
                            <dt>"Envelope from"</dt><dd class="wrap">{m.from}</dd>
                            <dt>"Envelope to"</dt><dd class="wrap">{m.rcpt}</dd>
                            <dt>"Created"</dt><dd>{m.created}</dd>
                        </dl>
                        <h2 id="header-title">"Header"</h2>
                        <pre class="mail" id="mail-header">{m.header}</pre>
                        <h2 id="body-title">"Body"</h2>
                        <pre class="mail" id="mail-body">{m.body}</pre>
                    }
                        .into_any()
                }
                failed=Callback::new(|e| view! { <h1>"Message"</h1> {error_alert(&e)} }.into_any())
            />
        </AdminFrame>
    }
}
