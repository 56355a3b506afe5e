//! `/admin/lists` (every list, create one) and `/admin/lists/:name` (description,
//! landing-page branding with a live preview, the logo upload, topics, deletion). Plain
//! form POSTs without JavaScript; in place with it (the logo upload is always a plain
//! multipart POST to `/admin/logo/{name}`).
//!
//! The preview is coloured and shows the logo exactly as the preference page does: the
//! list's stylesheet (`/l/{name}/theme.css`) and logo (`/l/{name}/logo`), on an element
//! marked `data-brand`, with no inline style. While a colour is typed the hydrated page
//! tints the preview through the CSSOM (which a CSP allows), until it is saved.

use crate::domain::branding;
use crate::serverfns::create_list::CreateList;
use crate::serverfns::delete_list::DeleteList;
use crate::serverfns::delete_topic::DeleteTopic;
use crate::serverfns::get_list::{ListDetail, get_list};
use crate::serverfns::get_lists::get_lists;
use crate::serverfns::save_list::SaveList;
use crate::serverfns::save_topic::SaveTopic;
use crate::ui::components::{
    AdminFrame, DataTable, Loaded, Section, col, done, error_alert, num_col, outcome,
};
use leptos::prelude::*;
use leptos_meta::{Stylesheet, Title};
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn ListsPage() -> impl IntoView {
    let create = ServerAction::<CreateList>::new();
    let data = Resource::new(move || create.version().get(), |_| get_lists());
    view! {
        <Title text="Lists · optbox" />
        <AdminFrame current="lists">
            <h1>"Contact lists"</h1>
            <Loaded data then=move |page| {
                let table = view! {
                    <DataTable
                        id="lists"
                        label="Contact lists table"
                        caption="Every contact list"
                        heads=vec![col("List"), num_col("Topics"), num_col("Contacts")]
                        is_empty=page.lists.is_empty()
                        empty=("no-lists", "No contact lists yet.")
                    >
                        {page
                            .lists
                            .into_iter()
                            .map(|l| {
                                let href = format!("/admin/lists/{}", l.name);
                                view! {
                                    <tr>
                                        <td><a href=href>{l.name}</a></td>
                                        <td class="num">{l.topics}</td>
                                        <td class="num">{l.contacts}</td>
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
                            <Section id="new-list" title="New list" class="card">
                                <ActionForm action=create attr:class="stack" attr:id="new-list">
                                    <label for="new-name">"Name"</label>
                                    <input id="new-name" type="text" name="name" required
                                        aria-describedby="new-name-hint" />
                                    <p id="new-name-hint" class="hint">
                                        "Letters, digits, _ and -; as used in the API and in links."
                                    </p>
                                    <label for="new-description">"Description"</label>
                                    <input id="new-description" type="text" name="description" />
                                    {move || done(create.value().get())}
                                    <button type="submit">"Create list"</button>
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
pub fn ListPage() -> impl IntoView {
    let params = use_params_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let save = ServerAction::<SaveList>::new();
    let save_topic = ServerAction::<SaveTopic>::new();
    let delete_topic = ServerAction::<DeleteTopic>::new();
    let delete = ServerAction::<DeleteList>::new();
    let data = Resource::new(
        move || {
            (
                name(),
                save.version().get(),
                save_topic.version().get(),
                delete_topic.version().get(),
            )
        },
        |(n, ..)| get_list(n),
    );
    view! {
        <Title text="List · optbox" />
        <AdminFrame current="lists">
            <Loaded
                data
                then=move |l| view! { <ListBody l save save_topic delete_topic delete /> }.into_any()
                failed=Callback::new(|e| {
                    view! {
                        <h1>"Contact list"</h1>
                        {error_alert(&e)}
                        <p><a href="/admin/lists">"All lists"</a></p>
                    }
                        .into_any()
                })
            />
        </AdminFrame>
    }
}

#[component]
fn ListBody(
    l: ListDetail,
    save: ServerAction<SaveList>,
    save_topic: ServerAction<SaveTopic>,
    delete_topic: ServerAction<DeleteTopic>,
    delete: ServerAction<DeleteList>,
) -> impl IntoView {
    let ListDetail {
        name,
        description,
        branding,
        theme_href,
        logo,
        topics,
        can_edit,
    } = l;
    // Signals behind the branding fields drive the live preview; the inputs start from the
    // saved values as plain attributes, so they are filled without JavaScript too.
    let display = RwSignal::new(branding.display_name.clone());
    let accent = RwSignal::new(branding.accent_color.clone());
    let footer = RwSignal::new(branding.footer_text.clone());
    let privacy = RwSignal::new(branding.privacy_url.clone());
    let list_name = name.clone();
    let title = move || {
        let d = display.get();
        if d.trim().is_empty() {
            list_name.clone()
        } else {
            d
        }
    };
    // An unsaved colour tints the preview through the CSSOM (no style attribute: a CSP
    // without 'unsafe-inline' allows this); something not yet a colour shows the saved one.
    let preview_ref = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        let typed = accent.get();
        let typed = match typed.trim() {
            "" => "#1f5fbf".to_owned(),
            t => t.to_owned(),
        };
        let Some(el) = preview_ref.get() else { return };
        // `HtmlElement::style` (the CSSOM), not tachys' `ElementExt::style`.
        let style = std::ops::Deref::deref(&el).style();
        match branding::accent(&typed) {
            Some(a) => {
                let _ = style.set_property("--accent", &a.accent);
                let _ = style.set_property("--accent-fg", a.on_accent);
                let _ = style.set_property("--accent-text", &a.text);
            }
            None => {
                for p in ["--accent", "--accent-fg", "--accent-text"] {
                    let _ = style.remove_property(p);
                }
            }
        }
    });
    let query = use_query_map();
    let logo_error = move || query.read().get("logo_error");
    let logo_done = move || {
        query.read().get("logo").and_then(|v| match v.as_str() {
            "saved" => Some("Logo saved."),
            "removed" => Some("Logo removed."),
            _ => None,
        })
    };
    let has_logo = logo.is_some();
    let logo_form = can_edit.then(|| {
        let action = format!("/admin/logo/{name}");
        let remove = has_logo.then(|| {
            view! {
                <form method="post" enctype="multipart/form-data" action=action.clone() id="logo-remove">
                    <input type="hidden" name="action" value="remove" />
                    <button type="submit" class="secondary">"Remove logo"</button>
                </form>
            }
        });
        view! {
            <section aria-labelledby="logo-title" class="card" id="logo">
                <h3 id="logo-title">"Logo"</h3>
                <p class="hint" id="logo-hint">
                    "PNG, JPEG, GIF or WebP, at most 256 KiB (SVG is not accepted). optbox serves it itself, above the list's name on the preference page: recipients' browsers never contact anyone else."
                </p>
                {move || logo_done().map(|m| view! { <p class="ok" role="status" id="logo-status">{m}</p> })}
                {move || logo_error().map(|e| view! { <p class="error" role="alert" id="logo-error">{e}</p> })}
                <form method="post" enctype="multipart/form-data" action=action class="stack" id="logo-form">
                    <label for="logo-file">"Logo image"</label>
                    <input id="logo-file" type="file" name="file" required aria-describedby="logo-hint"
                        accept="image/png,image/jpeg,image/gif,image/webp" />
                    <button type="submit">"Upload logo"</button>
                </form>
                {remove}
            </section>
        }
    });
    let visible: Vec<_> = topics.iter().filter(|t| !t.hidden).cloned().collect();
    let contacts_href = format!("/admin/lists/{name}/contacts");
    let import_href = format!("/admin/lists/{name}/import");
    let n = name.clone();
    let details = if can_edit {
        view! {
            <ActionForm action=save attr:class="stack" attr:id="details">
                <input type="hidden" name="name" value=n.clone() />
                <label for="description">"Description"</label>
                <input id="description" type="text" name="description" value=description.clone() />
                <label for="display_name">"Display name on the preference page"</label>
                <input id="display_name" type="text" name="display_name" value=branding.display_name.clone()
                    on:input=move |ev| display.set(event_target_value(&ev)) />
                <label for="accent_color">"Accent colour"</label>
                <input id="accent_color" type="text" name="accent_color" placeholder="#1f5fbf"
                    aria-describedby="accent-hint"
                    value=branding.accent_color.clone() on:input=move |ev| accent.set(event_target_value(&ev)) />
                <p class="hint" id="accent-hint">
                    "#rrggbb, for buttons, links and the focus ring; the text on buttons is white or black, whichever reads better, and links are darkened if needed to stay readable."
                </p>
                <label for="privacy_url">"Privacy policy URL"</label>
                <input id="privacy_url" type="text" name="privacy_url" value=branding.privacy_url.clone()
                    on:input=move |ev| privacy.set(event_target_value(&ev)) />
                <label for="footer_text">"Footer text"</label>
                <input id="footer_text" type="text" name="footer_text" value=branding.footer_text.clone()
                    on:input=move |ev| footer.set(event_target_value(&ev)) />
                <label for="default_language">"Default language"</label>
                <select id="default_language" name="default_language">
                    {["", "en", "ru", "de", "fr", "es"]
                        .into_iter()
                        .map(|code| {
                            let label = if code.is_empty() { "(from the browser)" } else { code };
                            view! {
                                <option value=code selected=branding.default_language == code>{label}</option>
                            }
                        })
                        .collect_view()}
                </select>
                <label class="check">
                    <input type="checkbox" name="subscribe_form" value="on" checked=branding.subscribe_form />
                    " Take subscriptions on the hosted form "
                    <a href=format!("/s/{n}")>{format!("/s/{n}")}</a>
                    " (each confirmed from a mailed link)"
                </label>
                <label for="pause_days">"Pause lengths offered to recipients (days)"</label>
                <input id="pause_days" type="text" name="pause_days" value=branding.pause_days.clone()
                    aria-describedby="pause-hint" />
                <p class="hint" id="pause-hint">"Comma-separated, for example 30, 90; empty offers no pause."</p>
                <label for="topic_texts">"Topic names in other languages"</label>
                <textarea id="topic_texts" name="topic_texts" rows="4" aria-describedby="texts-hint">{branding.topic_texts.clone()}</textarea>
                <p class="hint" id="texts-hint">"One per line: topic language: name | description, for example newsletter de: Newsletter | Einmal im Monat."</p>
                <label for="unsubscribe_reasons">"Why people leave: the survey's answers"</label>
                <textarea id="unsubscribe_reasons" name="unsubscribe_reasons" rows="4" aria-describedby="reasons-hint">{branding.unsubscribe_reasons.clone()}</textarea>
                <p class="hint" id="reasons-hint">"One answer per line, shown after an unsubscribe; empty offers the built-in answers in the visitor's language, none asks nothing."</p>
                {move || outcome(save.value().get())}
                <button type="submit">"Save details"</button>
            </ActionForm>
        }
            .into_any()
    } else {
        view! {
            <dl class="facts">
                <dt>"Description"</dt><dd>{description.clone()}</dd>
                <dt>"Display name"</dt><dd>{branding.display_name.clone()}</dd>
                <dt>"Privacy policy"</dt><dd>{branding.privacy_url.clone()}</dd>
                <dt>"Footer"</dt><dd>{branding.footer_text.clone()}</dd>
            </dl>
            <p class="hint">"Your role can read this list but not change it."</p>
        }
        .into_any()
    };
    let topic_rows = topics
        .clone()
        .into_iter()
        .map(|t| {
            let id = format!("topic-{}", t.name);
            let tname = t.name.clone();
            let lname = name.clone();
            let (id2, t2) = (id.clone(), t.clone());
            let form = can_edit.then(move || {
                let (id, t) = (id2, t2);
                let (l1, t1, label) = (lname.clone(), tname.clone(), format!("Remove topic {tname}"));
                view! {
                    <ActionForm action=save_topic attr:class="topic-form">
                        <input type="hidden" name="list" value=l1 />
                        <input type="hidden" name="topic" value=t1 />
                        <label for=format!("{id}-dn")>"Display name"</label>
                        <input id=format!("{id}-dn") type="text" name="display_name" value=t.display_name.clone() required />
                        <label for=format!("{id}-desc")>"Description"</label>
                        <input id=format!("{id}-desc") type="text" name="description" value=t.description.clone() />
                        <label for=format!("{id}-def")>"Default"</label>
                        <select id=format!("{id}-def") name="default_status">
                            <option value="OPT_IN" selected=t.default_opt_in>"Opted in"</option>
                            <option value="OPT_OUT" selected=!t.default_opt_in>"Opted out"</option>
                        </select>
                        <label class="check">
                            <input type="checkbox" name="hidden" value="on" checked=t.hidden />
                            " Hidden from the preference page"
                        </label>
                        <button type="submit" class="secondary">"Save topic"</button>
                    </ActionForm>
                    <ActionForm action=delete_topic attr:class="inline">
                        <input type="hidden" name="list" value=lname />
                        <input type="hidden" name="topic" value=tname />
                        <button type="submit" class="danger" aria-label=label>"Remove"</button>
                    </ActionForm>
                }
            });
            view! {
                <li class="card topic-card" id=id>
                    <h3>{t.name.clone()}</h3>
                    <p class="muted">
                        {t.display_name.clone()} " · default "
                        {if t.default_opt_in { "opted in" } else { "opted out" }}
                        {if t.hidden { " · hidden" } else { "" }}
                    </p>
                    {form}
                </li>
            }
        })
        .collect_view();
    let add_topic = can_edit.then(|| {
        let lname = name.clone();
        view! {
            <section aria-labelledby="add-topic-title" class="card">
                <h3 id="add-topic-title">"Add a topic"</h3>
                <ActionForm action=save_topic attr:class="stack" attr:id="add-topic">
                    <input type="hidden" name="list" value=lname />
                    <label for="new-topic">"Name"</label>
                    <input id="new-topic" type="text" name="topic" required />
                    <label for="new-topic-dn">"Display name"</label>
                    <input id="new-topic-dn" type="text" name="display_name" required />
                    <label for="new-topic-desc">"Description"</label>
                    <input id="new-topic-desc" type="text" name="description" />
                    <label for="new-topic-def">"Default"</label>
                    <select id="new-topic-def" name="default_status">
                        <option value="OPT_IN">"Opted in"</option>
                        <option value="OPT_OUT">"Opted out"</option>
                    </select>
                    <label class="check">
                        <input type="checkbox" name="hidden" value="on" />
                        " Hidden from the preference page"
                    </label>
                    <button type="submit">"Add topic"</button>
                </ActionForm>
            </section>
        }
    });
    let danger = can_edit.then(|| {
        let lname = name.clone();
        view! {
            <Section id="delete" title="Delete this list" class="card danger-zone">
                <p>"Deletes the list and every contact in it. Type the list's name to confirm."</p>
                <ActionForm action=delete attr:class="stack" attr:id="delete-list">
                    <input type="hidden" name="name" value=lname />
                    <label for="confirm">"List name"</label>
                    <input id="confirm" type="text" name="confirm" required autocomplete="off" />
                    {move || done(delete.value().get())}
                    <button type="submit" class="danger">"Delete list"</button>
                </ActionForm>
            </Section>
        }
    });
    view! {
        <p class="crumbs"><a href="/admin/lists">"Lists"</a> " / " {name.clone()}</p>
        <h1 id="list-title">{name.clone()}</h1>
        <p class="row">
            <a href=contacts_href>"Contacts of this list"</a>
            <a href=import_href>"Import and export"</a>
        </p>
        <div class="two-col">
            <Section id="details" title="Details and branding">
                {details}
                {logo_form}
            </Section>
            <Section id="preview" title="Preference page preview">
                {theme_href.map(|href| view! { <Stylesheet id="list-theme" href /> })}
                <div class="preview" id="preview" data-brand=name.clone() node_ref=preview_ref>
                    {logo.map(|g| view! { <img class="logo" id="preview-logo" src=g.src alt="" /> })}
                    <p class="pv-title">{title}</p>
                    <p class="pv-lead">"Choose which emails you receive."</p>
                    <ul class="pv-topics">
                        {visible
                            .into_iter()
                            .map(|t| {
                                view! {
                                    <li>
                                        <span class="pv-box" aria-hidden="true">{if t.default_opt_in { "☑" } else { "☐" }}</span>
                                        " " {t.display_name}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                    <p><span class="pv-button">"Save"</span></p>
                    <p class="pv-footer">
                        {move || footer.get()}
                        {move || {
                            let p = privacy.get();
                            (!p.trim().is_empty()).then(|| view! { " · " <span class="pv-link">"Privacy policy"</span> })
                        }}
                    </p>
                </div>
            </Section>
        </div>
        <Section id="topics" title="Topics">
            {move || outcome(save_topic.value().get())}
            {move || outcome(delete_topic.value().get())}
            {if topics.is_empty() {
                view! { <p id="no-topics">"No topics yet."</p> }.into_any()
            } else {
                view! { <ul class="topics" id="topics">{topic_rows}</ul> }.into_any()
            }}
            {add_topic}
        </Section>
        {danger}
    }
}
