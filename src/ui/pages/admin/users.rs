//! `/admin/users`: who has access with which role; owners add users, change roles and
//! remove users (never themselves, never the last owner).

use crate::serverfns::add_user::AddUser;
use crate::serverfns::delete_user::DeleteUser;
use crate::serverfns::get_users::get_users;
use crate::serverfns::set_user_role::SetUserRole;
use crate::ui::components::{AdminFrame, DataTable, Loaded, Section, col, outcome};
use leptos::prelude::*;
use leptos_meta::Title;

const ROLES: [&str; 3] = ["viewer", "admin", "owner"];

#[component]
pub fn UsersPage() -> impl IntoView {
    let add = ServerAction::<AddUser>::new();
    let set_role = ServerAction::<SetUserRole>::new();
    let remove = ServerAction::<DeleteUser>::new();
    let data = Resource::new(
        move || {
            (
                add.version().get(),
                set_role.version().get(),
                remove.version().get(),
            )
        },
        |_| get_users(),
    );
    view! {
        <Title text="Users · optbox" />
        <AdminFrame current="users">
            <h1>"Users"</h1>
            <p class="hint">
                "Viewers read everything; admins also change lists, contacts, webhooks, API keys and DKIM keys; owners also manage users."
            </p>
            {move || outcome(set_role.value().get())}
            {move || outcome(remove.value().get())}
            <Loaded data then=move |page| {
                let can_edit = page.can_edit;
                let me = page.me;
                let rows = page
                    .users
                    .into_iter()
                    .map(|u| {
                        let uid = u.id.to_string();
                        let sel = format!("role-{}", u.id);
                        let role = u.role.clone();
                        let change = can_edit
                            .then(|| {
                                let uid = uid.clone();
                                let email = u.email.clone();
                                view! {
                                    <ActionForm action=set_role attr:class="inline">
                                        <input type="hidden" name="id" value=uid />
                                        <label for=sel.clone() class="sr-only">{format!("Role of {email}")}</label>
                                        <select id=sel name="role">
                                            {ROLES
                                                .into_iter()
                                                .map(|r| view! { <option value=r selected=r == role>{r}</option> })
                                                .collect_view()}
                                        </select>
                                        <button type="submit" class="secondary">"Change role"</button>
                                    </ActionForm>
                                }
                            });
                        let delete = (can_edit && u.id != me)
                            .then(|| {
                                let label = format!("Remove {}", u.email);
                                view! {
                                    <ActionForm action=remove attr:class="inline">
                                        <input type="hidden" name="id" value=uid />
                                        <button type="submit" class="danger" aria-label=label>"Remove"</button>
                                    </ActionForm>
                                }
                            });
                        let role_cell = if can_edit { None } else { Some(u.role.clone()) };
                        view! {
                            <tr>
                                <td class="wrap">
                                    {u.email.clone()}
                                    {(u.id == me).then(|| view! { " " <span class="muted">"(you)"</span> })}
                                </td>
                                <td>{role_cell}{change}</td>
                                <td>{u.created}</td>
                                {can_edit.then(|| view! { <td>{delete}</td> })}
                            </tr>
                        }
                    })
                    .collect_view();
                let form = can_edit
                    .then(|| {
                        view! {
                            <Section id="new-user" title="Add a user" class="card">
                                <ActionForm action=add attr:class="stack" attr:id="new-user">
                                    <label for="user-email">"Email"</label>
                                    <input id="user-email" type="email" name="email" required autocomplete="off" />
                                    <label for="user-role">"Role"</label>
                                    <select id="user-role" name="role">
                                        {ROLES
                                            .into_iter()
                                            .map(|r| view! { <option value=r>{r}</option> })
                                            .collect_view()}
                                    </select>
                                    <label for="user-password">"Initial password"</label>
                                    <input id="user-password" type="password" name="password" required minlength="12"
                                        autocomplete="new-password" aria-describedby="user-password-hint" />
                                    <p id="user-password-hint" class="hint">"At least 12 characters; give it to the user in person."</p>
                                    {move || outcome(add.value().get())}
                                    <button type="submit">"Add user"</button>
                                </ActionForm>
                            </Section>
                        }
                    });
                view! {
                    <DataTable
                        id="users"
                        label="Users table"
                        caption="Dashboard users"
                        heads={
                            let mut h = vec![col("Email"), col("Role"), col("Added")];
                            if can_edit {
                                h.push(col("Remove"));
                            }
                            h
                        }
                        // The signed-in owner is always there.
                        is_empty=false
                        empty=("no-users", "")
                    >
                        {rows}
                    </DataTable>
                    {(!can_edit).then(|| view! { <p class="hint">"Only owners manage users."</p> })}
                    {form}
                }
                    .into_any()
            } />
        </AdminFrame>
    }
}
