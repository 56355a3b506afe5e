//! `/admin/lists/:name/contacts` (search by address prefix, filter by a topic's status,
//! keyset paging) and `/admin/lists/:name/contact?email=` (preferences, attributes,
//! history, deletion). The search is a GET form; edits are form POSTs without
//! JavaScript and in place with it.

use crate::domain::query::query_escape;
use crate::serverfns::add_contact::AddContact;
use crate::serverfns::delete_contact::DeleteContact;
use crate::serverfns::erase_contact::EraseContact;
use crate::serverfns::get_contact::{ContactDetail, get_contact};
use crate::serverfns::get_contacts::{ContactsPage, get_contacts};
use crate::serverfns::save_contact::SaveContact;
use crate::ui::components::{
    AdminFrame, Col, DataTable, FilterInput, FilterSelect, Loaded, Pager, Section, col, done,
    error_alert, number, outcome,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn ContactsPageView() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let add = ServerAction::<AddContact>::new();
    let data = Resource::new(
        move || {
            let q = query.read();
            (
                params.read().get("name").unwrap_or_default(),
                q.get("q"),
                q.get("topic"),
                q.get("status"),
                number(&q, "after"),
                q.get("after_key"),
            )
        },
        |(list, q, topic, status, after, after_key)| {
            get_contacts(list, q, topic, status, after, after_key)
        },
    );
    view! {
        <Title text="Contacts · optbox" />
        <AdminFrame current="lists">
            <Loaded
                data
                then=move |p| {
                    let (qv, tv, sv) = {
                        let q = query.read_untracked();
                        (
                            q.get("q").unwrap_or_default(),
                            q.get("topic").unwrap_or_default(),
                            q.get("status").unwrap_or_default(),
                        )
                    };
                    view! { <ContactsBody p qv tv sv add /> }.into_any()
                }
                failed=Callback::new(|e| {
                    view! {
                        <h1>"Contacts"</h1>
                        {error_alert(&e)}
                        <p><a href=".">"Clear the search"</a></p>
                    }
                        .into_any()
                })
            />
        </AdminFrame>
    }
}

#[component]
fn ContactsBody(
    p: ContactsPage,
    qv: String,
    tv: String,
    sv: String,
    add: ServerAction<AddContact>,
) -> impl IntoView {
    let ContactsPage {
        list,
        topics,
        rows,
        next_after,
        next_after_key,
        can_edit,
    } = p;
    let base = format!("/admin/lists/{list}/contacts");
    let cursor = match (next_after, next_after_key) {
        (Some(a), _) => Some(format!("after={a}")),
        (None, Some(k)) => Some(format!("after_key={}", query_escape(&k))),
        (None, None) => None,
    };
    let next = cursor.map(|c| {
        format!(
            "{base}?q={}&topic={}&status={}&{c}",
            query_escape(&qv),
            query_escape(&tv),
            query_escape(&sv)
        )
    });
    let heads: Vec<Col> = [col("Address"), col("Unsubscribed from all")]
        .into_iter()
        .chain(topics.iter().map(col))
        .collect();
    let empty = rows.is_empty();
    let body = rows
        .into_iter()
        .map(|r| {
            let href = format!(
                "/admin/lists/{list}/contact?email={}",
                query_escape(&r.email)
            );
            view! {
                <tr>
                    <td><a href=href>{r.email.clone()}</a></td>
                    <td>{if r.unsubscribe_all { "yes" } else { "" }}</td>
                    {r
                        .opted_in
                        .into_iter()
                        .map(|o| view! { <td>{if o { "in" } else { "out" }}</td> })
                        .collect_view()}
                </tr>
            }
        })
        .collect_view();
    let add_form = can_edit.then(|| {
        let l = list.clone();
        view! {
            <details class="card">
                <summary>"Add a contact"</summary>
                <ActionForm action=add attr:class="stack" attr:id="add-contact">
                    <input type="hidden" name="list" value=l />
                    <label for="add-email">"Email address"</label>
                    <input id="add-email" type="email" name="email" required />
                    {move || done(add.value().get())}
                    <button type="submit">"Add"</button>
                </ActionForm>
            </details>
        }
    });
    view! {
        <p class="crumbs">
            <a href="/admin/lists">"Lists"</a> " / " <a href=format!("/admin/lists/{list}")>{list.clone()}</a>
            " / contacts"
        </p>
        <h1>"Contacts of " {list.clone()}</h1>
        <Form method="GET" action=base.clone() attr:class="filters" attr:id="search">
            <FilterInput id="q" name="q" label="Address starts with" kind="search" value=qv.clone() />
            <FilterSelect
                id="topic"
                name="topic"
                label="Topic"
                current=tv.clone()
                options=topics.iter().map(|t| (t.clone(), t.clone())).collect()
            />
            <FilterSelect
                id="status"
                name="status"
                label="Status"
                current=sv.clone()
                options=vec![
                    ("OPT_IN".into(), "Opted in".into()),
                    ("OPT_OUT".into(), "Opted out".into()),
                ]
            />
            <button type="submit">"Search"</button>
        </Form>
        {add_form}
        <DataTable
            id="contacts"
            label="Contacts table"
            caption="Contacts, in the order they were added; effective status per topic"
            heads
            is_empty=empty
            empty=("no-contacts", "No contacts match.")
        >
            {body}
        </DataTable>
        <Pager first=base.clone() first_text="First page" next next_id="next-page" next_text="Next page" />
    }
}

#[component]
pub fn ContactPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let save = ServerAction::<SaveContact>::new();
    let delete = ServerAction::<DeleteContact>::new();
    let erase = ServerAction::<EraseContact>::new();
    let data = Resource::new(
        move || {
            (
                params.read().get("name").unwrap_or_default(),
                query.read().get("email").unwrap_or_default(),
                save.version().get(),
            )
        },
        |(l, e, _)| get_contact(l, e),
    );
    view! {
        <Title text="Contact · optbox" />
        <AdminFrame current="lists">
            <Loaded
                data
                then=move |c| view! { <ContactBody c save delete erase /> }.into_any()
                failed=Callback::new(|e| view! { <h1>"Contact"</h1> {error_alert(&e)} }.into_any())
            />
        </AdminFrame>
    }
}

#[component]
fn ContactBody(
    c: ContactDetail,
    save: ServerAction<SaveContact>,
    delete: ServerAction<DeleteContact>,
    erase: ServerAction<EraseContact>,
) -> impl IntoView {
    let ContactDetail {
        list,
        email,
        unsubscribe_all,
        topics,
        attributes,
        created,
        events,
        can_edit,
        can_erase,
        suppression,
        paused_until,
    } = c;
    let dis = !can_edit;
    let topic_fields = topics
        .into_iter()
        .map(|t| {
            let id = format!("pref-{}", t.name);
            let name = format!("prefs[{}]", t.name);
            let def = if t.default_opt_in { "opted in" } else { "opted out" };
            view! {
                <div class="pref-row">
                    <label for=id.clone()>{t.display_name.clone()} " (" {t.name.clone()} ")"</label>
                    <select id=id name=name disabled=dis>
                        <option value="" selected=t.explicit.is_empty()>{format!("Topic default ({def})")}</option>
                        <option value="OPT_IN" selected=t.explicit == "OPT_IN">"Opted in"</option>
                        <option value="OPT_OUT" selected=t.explicit == "OPT_OUT">"Opted out"</option>
                    </select>
                    <span class="muted">
                        "now: " {if t.effective_opt_in { "receives" } else { "does not receive" }}
                    </span>
                </div>
            }
        })
        .collect_view();
    let history = view! {
        <DataTable
            id="history"
            label="Contact history table"
            caption="Latest 50 events of this contact, newest first"
            heads=vec![col("When"), col("Event"), col("Source"), col("Topic"), col("Change")]
            is_empty=events.is_empty()
            empty=("no-history", "No events.")
        >
            {events
                .into_iter()
                .map(|e| {
                    view! {
                        <tr>
                            <td>{e.at}</td>
                            <td>{e.kind}</td>
                            <td>{e.source}</td>
                            <td>{e.topic}</td>
                            <td><code class="wrap">{e.detail}</code></td>
                        </tr>
                    }
                })
                .collect_view()}

        </DataTable>
    };
    let danger = can_edit.then(|| {
        let (l, e) = (list.clone(), email.clone());
        view! {
            <Section id="delete-contact" title="Delete this contact" class="card danger-zone">
                <p>"Its opt-outs are kept as a tombstone and come back if the address is added again."</p>
                <ActionForm action=delete attr:id="delete-contact">
                    <input type="hidden" name="list" value=l />
                    <input type="hidden" name="email" value=e />
                    {move || done(delete.value().get())}
                    <button type="submit" class="danger">"Delete contact"</button>
                </ActionForm>
            </Section>
        }
    });
    let privacy = can_erase.then(|| {
        let (l, e) = (list.clone(), email.clone());
        let export = format!("/admin/privacy.json?email={}", query_escape(&email));
        let history = format!(
            "/admin/contacts/history.json?email={}",
            query_escape(&email)
        );
        view! {
            <Section id="privacy" title="Privacy requests" class="card danger-zone">
                <p>
                    <a href=export id="privacy-export" download="optbox-subject.json">
                        "Download everything stored about this address (JSON)"
                    </a>
                    " — every list, opt-out, suppression, event, message and send record."
                </p>
                <p>
                    <a href=history id="history-export" download="optbox-history.json">
                        "Download the consent history with its proofs (JSON)"
                    </a>
                    " — who changed what and when, each event with what proves it is in the "
                    "tamper-evident event log."
                </p>
                <ActionForm action=erase attr:id="erase-contact">
                    <input type="hidden" name="list" value=l />
                    <input type="hidden" name="email" value=e />
                    <p>
                        "Erasing removes the address from every list, event, message and the "
                        "suppression list. Only keyed hashes stay, so its opt-outs hold and it is never "
                        "mailed again. It cannot be undone."
                    </p>
                    <label class="check">
                        <input type="checkbox" name="confirm" value="on" required />
                        " I understand that this cannot be undone"
                    </label>
                    {move || done(erase.value().get())}
                    <button type="submit" class="danger">"Erase everywhere"</button>
                </ActionForm>
            </Section>
        }
    });
    view! {
        <p class="crumbs">
            <a href="/admin/lists">"Lists"</a> " / "
            <a href=format!("/admin/lists/{list}/contacts")>{list.clone()}</a> " / contact"
        </p>
        <h1 class="wrap">{email.clone()}</h1>
        <p class="muted">"Added " {created}</p>
        {suppression
            .map(|s| {
                let href = format!("/admin/suppressions?q={}", query_escape(&email));
                view! {
                    <p class="error" id="suppressed">
                        "On the account suppression list since " {s.since} " (" {s.reason}
                        "): no message is delivered to this address. "
                        <a href=href>"See the suppression list"</a>
                    </p>
                }
            })}
        {paused_until.map(|until| {
            view! {
                <p class="notice" id="paused">
                    "The recipient paused this list until " {until}
                    ": no list mail is sent until then (the API shows every topic OPT_OUT)."
                </p>
            }
        })}
        <Section id="prefs" title="Preferences and attributes">
            <ActionForm action=save attr:class="stack" attr:id="contact-form">
                <input type="hidden" name="list" value=list.clone() />
                <input type="hidden" name="email" value=email.clone() />
                <label class="check">
                    <input type="checkbox" name="unsubscribe_all" value="on" checked=unsubscribe_all disabled=dis />
                    " Unsubscribed from everything on this list"
                </label>
                {topic_fields}
                <label for="attributes">"Attributes (a JSON object)"</label>
                <p class="hint" id="attributes-hint">"Leave empty (or {}) to remove the attributes."</p>
                <textarea id="attributes" name="attributes" rows="4" aria-describedby="attributes-hint" disabled=dis>{attributes}</textarea>
                {move || outcome(save.value().get())}
                {can_edit.then(|| view! { <button type="submit">"Save contact"</button> })}
            </ActionForm>
            {dis.then(|| view! { <p class="hint">"Your role can read this contact but not change it."</p> })}
        </Section>
        <Section id="history" title="History">
            {history}
        </Section>
        {danger}
        {privacy}
    }
}
