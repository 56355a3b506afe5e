//! `/admin/suppressions`: the account suppression list, newest first — search by
//! address and a reason filter (a GET form), keyset paging, and removal with a reason
//! (a form POST without JavaScript, in place with it).

use crate::domain::query::query_escape;
use crate::serverfns::get_suppressions::{SuppressionsPage, get_suppressions};
use crate::serverfns::remove_suppression::RemoveSuppression;
use crate::ui::components::{
    AdminFrame, DataTable, FilterInput, FilterSelect, Loaded, Pager, col, error_alert, outcome,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SuppressionsPageView() -> impl IntoView {
    let query = use_query_map();
    let remove = ServerAction::<RemoveSuppression>::new();
    let data = Resource::new(
        move || {
            let q = query.read();
            (
                q.get("q"),
                q.get("reason"),
                q.get("after"),
                remove.version().get(),
            )
        },
        |(q, reason, after, _)| get_suppressions(q, reason, after),
    );
    let searched = move || {
        let q = query.read_untracked();
        (
            q.get("q").unwrap_or_default(),
            q.get("reason").unwrap_or_default(),
        )
    };
    view! {
        <Title text="Suppression list · optbox" />
        <AdminFrame current="suppressions">
            <h1>"Suppression list"</h1>
            <p class="hint">
                "No message is delivered to these addresses: a message to one is accepted, its copy for that address is dropped and a bounce event is logged. Addresses get here by a bounce saying the mailbox does not exist, by a complaint, through the SES API (PutSuppressedDestination) or by an import job."
            </p>
            {move || outcome(remove.value().get())}
            <Loaded
                data
                then=move |p| {
                    let (qv, rv) = searched();
                    view! { <SuppressionsBody p qv rv remove /> }.into_any()
                }
                failed=Callback::new(move |e| {
                    let (qv, rv) = searched();
                    view! {
                        <SearchForm qv rv />
                        {error_alert(&e)}
                        <p><a href="/admin/suppressions">"Clear the search"</a></p>
                    }
                        .into_any()
                })
            />
        </AdminFrame>
    }
}

#[component]
fn SearchForm(qv: String, rv: String) -> impl IntoView {
    view! {
        <Form method="GET" action="/admin/suppressions" attr:class="filters" attr:id="search">
            <FilterInput id="q" name="q" label="Address contains" kind="search" value=qv />
            <FilterSelect
                id="reason"
                name="reason"
                label="Reason"
                current=rv
                options=vec![
                    ("BOUNCE".into(), "Bounce".into()),
                    ("COMPLAINT".into(), "Complaint".into()),
                ]
            />
            <button type="submit">"Search"</button>
        </Form>
    }
}

#[component]
fn SuppressionsBody(
    p: SuppressionsPage,
    qv: String,
    rv: String,
    remove: ServerAction<RemoveSuppression>,
) -> impl IntoView {
    let SuppressionsPage {
        rows,
        next_after,
        can_edit,
    } = p;
    let base = "/admin/suppressions";
    let next = next_after.map(|a| {
        format!(
            "{base}?q={}&reason={}&after={}",
            query_escape(&qv),
            query_escape(&rv),
            query_escape(&a)
        )
    });
    let table = view! {
        <DataTable
            id="suppressions"
            label="Suppression list table"
            caption="Suppressed addresses, newest first"
            heads={ let mut h = vec![col("Address"), col("Reason"), col("Since"), col("Message")]; if can_edit { h.push(col("Remove")); } h }
            is_empty=rows.is_empty()
            empty=("no-suppressions", "No suppressed addresses match.")
        >
            {rows
                .into_iter()
                .enumerate()
                .map(|(i, r)| {
                    let field = format!("why-{i}");
                    let label = format!("Remove {}", r.email);
                    let email = r.email.clone();
                    view! {
                        <tr>
                            <td class="wrap">{r.email}</td>
                            <td>{r.reason}</td>
                            <td>{r.since}</td>
                            <td class="wrap"><code>{r.message_id}</code></td>
                            {can_edit
                                .then(|| {
                                    view! {
                                        <td>
                                            <details>
                                                <summary aria-label=label.clone()>"Remove…"</summary>
                                                <ActionForm action=remove attr:class="stack remove-suppression">
                                                    <input type="hidden" name="email" value=email />
                                                    <label for=field.clone()>"Why may it receive mail again?"</label>
                                                    <input id=field type="text" name="why" required maxlength="500" />
                                                    <button type="submit" class="danger" aria-label=label>
                                                        "Remove"
                                                    </button>
                                                </ActionForm>
                                            </details>
                                        </td>
                                    }
                                })}
                        </tr>
                    }
                })
                .collect_view()}

        </DataTable>
    };
    view! {
        <SearchForm qv rv />
        {table}
        <Pager first={base} first_text="Newest" next next_id="next-page" next_text="Next page" />
    }
}
