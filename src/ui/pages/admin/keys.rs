//! `/admin/keys`: every SES-API key, revoke, and the form that creates one. The form is
//! a plain POST to `/admin/keys/new` (`server::http::admin_keys`), whose response is the
//! page showing the new secret, once: the secret is never kept anywhere to show later.

use crate::serverfns::get_api_keys::get_api_keys;
use crate::serverfns::revoke_api_key::RevokeApiKey;
use crate::ui::components::{AdminFrame, DataTable, Loaded, Section, col, outcome};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn ApiKeysPage() -> impl IntoView {
    let revoke = ServerAction::<RevokeApiKey>::new();
    let data = Resource::new(move || revoke.version().get(), |_| get_api_keys());
    view! {
        <Title text="API keys · optbox" />
        <AdminFrame current="keys">
            <h1>"API keys"</h1>
            <p class="hint">
                "Credentials for the SES-compatible API (AWS Signature Version 4). The secret is shown once, when the key is created; revoking a key refuses its next request on every instance."
            </p>
            {move || outcome(revoke.value().get())}
            <Loaded data then=move |page| {
                let can_edit = page.can_edit;
                let table = view! {
                    <DataTable
                        id="keys"
                        label="API keys table"
                        caption="Every API key, newest first"
                        heads={ let mut h = vec![col("Access key id"), col("Description"), col("May do"), col("Created"), col("Revoked")]; if can_edit { h.push(col("Revoke")); } h }
                        is_empty=page.keys.is_empty()
                        empty=("no-keys", "No API keys yet.")
                    >
                        {page
                            .keys
                            .into_iter()
                            .map(|k| {
                                let active = k.revoked.is_empty();
                                let id = k.access_key_id.clone();
                                let label = format!("Revoke key {id}");
                                view! {
                                    <tr>
                                        <td><code>{k.access_key_id}</code></td>
                                        <td class="wrap">{k.description}</td>
                                        <td class="wrap">{k.scope}</td>
                                        <td>{k.created}</td>
                                        <td>{if active { "active".to_owned() } else { k.revoked }}</td>
                                        {can_edit
                                            .then(|| {
                                                view! {
                                                    <td>
                                                        {active
                                                            .then(|| {
                                                                view! {
                                                                    <ActionForm action=revoke attr:class="inline">
                                                                        <input type="hidden" name="access_key_id" value=id />
                                                                        <button type="submit" class="danger" aria-label=label>
                                                                            "Revoke"
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
                let form = can_edit
                    .then(|| {
                        view! {
                            <Section id="new-key" title="New API key" class="card">
                                <form method="post" action="/admin/keys/new" class="stack" id="new-key">
                                    <label for="key-description">"Description"</label>
                                    <input id="key-description" type="text" name="description" maxlength="200"
                                        aria-describedby="key-description-hint" />
                                    <p id="key-description-hint" class="hint">"Who or what uses it, e.g. “newsletter sender”."</p>
                                    <fieldset id="key-allow">
                                        <legend>"May do (none ticked: everything)"</legend>
                                        <label><input type="checkbox" name="allow_send" value="1" />" send mail"</label>
                                        <label><input type="checkbox" name="allow_read_lists" value="1" />" read lists"</label>
                                        <label><input type="checkbox" name="allow_write_lists" value="1" />" change lists"</label>
                                        <label><input type="checkbox" name="allow_import" value="1" />" import"</label>
                                        <label><input type="checkbox" name="allow_suppression" value="1" />" suppression list"</label>
                                    </fieldset>
                                    <label for="key-lists">"Only these lists (comma-separated; empty: any)"</label>
                                    <input id="key-lists" type="text" name="lists" />
                                    <label for="key-identities">"Only as these domains or addresses (comma-separated; empty: any)"</label>
                                    <input id="key-identities" type="text" name="identities" />
                                    <button type="submit">"Create key"</button>
                                </form>
                            </Section>
                        }
                    });
                view! { {table} {form} }.into_any()
            } />
        </AdminFrame>
    }
}
