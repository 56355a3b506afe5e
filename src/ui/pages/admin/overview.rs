//! `/admin`: the overview of lists for a signed-in operator.

use crate::serverfns::get_overview::get_overview;
use crate::serverfns::logout::Logout;
use crate::ui::components::{AdminFrame, error_text};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn OverviewPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_overview());
    let logout = ServerAction::<Logout>::new();
    view! {
        <Title text="Overview · optbox" />
        <AdminFrame current="overview">
            <Suspense fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(o) => {
                            view! {
                                <div class="row spread">
                                    <h1>"Overview"</h1>
                                    <ActionForm action=logout>
                                        <span class="muted">{o.user_email.clone()} " (" {o.role.clone()} ") "</span>
                                        <button type="submit" class="secondary">"Sign out"</button>
                                    </ActionForm>
                                </div>
                                <section aria-labelledby="lists-title">
                                    <h2 id="lists-title">"Contact lists"</h2>
                                    {if o.lists.is_empty() {
                                        view! { <p id="no-lists">"No contact lists yet."</p> }.into_any()
                                    } else {
                                        view! {
                                            <table id="lists">
                                                <caption>"Lists with their topic and contact counts"</caption>
                                                <thead>
                                                    <tr>
                                                        <th scope="col">"List"</th>
                                                        <th scope="col">"Topics"</th>
                                                        <th scope="col">"Contacts"</th>
                                                    </tr>
                                                </thead>
                                                <tbody>
                                                    {o
                                                        .lists
                                                        .into_iter()
                                                        .map(|l| {
                                                            view! {
                                                                <tr>
                                                                    <td>
                                                                        <a href=format!("/admin/lists/{}", l.name)>{l.name.clone()}</a>
                                                                    </td>
                                                                    <td>{l.topics}</td>
                                                                    <td>{l.contacts}</td>
                                                                </tr>
                                                            }
                                                        })
                                                        .collect_view()}
                                                </tbody>
                                            </table>
                                        }
                                            .into_any()
                                    }}
                                </section>
                            }
                                .into_any()
                        }
                        Err(e) => {
                            view! {
                                <h1>"Overview"</h1>
                                <p class="error" role="alert">{error_text(&e)}</p>
                                <p><a href="/admin/login">"Sign in"</a></p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </AdminFrame>
    }
}
