//! `/admin/events`: the event log with filters (GET form), keyset paging to older
//! events, and the same selection as a CSV download.

use crate::domain::query::query_escape;
use crate::serverfns::get_events::{EventFilters, EventsPage, get_events};
use crate::ui::components::{
    AdminFrame, DataTable, FilterInput, FilterSelect, Loaded, Pager, col, error_alert, number,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

fn filters_query(f: &EventFilters) -> String {
    [
        ("list", &f.list),
        ("topic", &f.topic),
        ("kind", &f.kind),
        ("contact", &f.contact),
        ("since", &f.since),
        ("until", &f.until),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}={}", query_escape(v)))
    .collect::<Vec<_>>()
    .join("&")
}

#[component]
pub fn EventsPageView() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        let g = |k: &str| q.get(k).unwrap_or_default();
        EventFilters {
            list: g("list"),
            topic: g("topic"),
            kind: g("kind"),
            contact: g("contact"),
            since: g("since"),
            until: g("until"),
        }
    };
    let data = Resource::new(
        move || (filters(), number(&query.read(), "before")),
        |(f, before)| get_events(f, before),
    );
    view! {
        <Title text="Event log · optbox" />
        <AdminFrame current="events">
            <h1>"Event log"</h1>
            <Loaded
                data
                then=move |p| view! { <EventsBody p f=untrack(filters) /> }.into_any()
                failed=Callback::new(move |e| {
                    view! {
                        <EventFilterForm f=untrack(filters) kinds=vec![] />
                        {error_alert(&e)}
                    }
                        .into_any()
                })
            />
        </AdminFrame>
    }
}

#[component]
fn EventFilterForm(f: EventFilters, kinds: Vec<String>) -> impl IntoView {
    view! {
        <Form method="GET" action="/admin/events" attr:class="filters wide" attr:id="event-filters">
            <FilterInput id="f-list" name="list" label="List" kind="text" value=f.list />
            <FilterInput id="f-topic" name="topic" label="Topic" kind="text" value=f.topic />
            <FilterSelect
                id="f-kind"
                name="kind"
                label="Kind"
                current=f.kind
                options=kinds.into_iter().map(|k| (k.clone(), k)).collect()
            />
            <FilterInput id="f-contact" name="contact" label="Contact address" kind="text" value=f.contact />
            <FilterInput id="f-since" name="since" label="From (UTC)" kind="date" value=f.since />
            <FilterInput id="f-until" name="until" label="To (UTC)" kind="date" value=f.until />
            <button type="submit">"Filter"</button>
        </Form>
    }
}

#[component]
fn EventsBody(p: EventsPage, f: EventFilters) -> impl IntoView {
    let qs = filters_query(&f);
    let csv = format!("/admin/events.csv?{qs}");
    let older = p.next_before.map(|b| {
        format!(
            "/admin/events?{qs}{}before={b}",
            if qs.is_empty() { "" } else { "&" }
        )
    });
    let table = view! {
        <DataTable
            id="events"
            label="Events table"
            caption="Events, newest first"
            heads=vec![col("When"), col("Event"), col("Source"), col("List"), col("Topic"), col("Contact"), col("Change")]
            is_empty=p.rows.is_empty()
            empty=("no-events", "No events match.")
        >
            {p
                .rows
                .into_iter()
                .map(|r| {
                    let e = r.event;
                    view! {
                        <tr>
                            <td>{e.at}</td>
                            <td>{e.kind}</td>
                            <td>{e.source}</td>
                            <td>{r.list}</td>
                            <td>{e.topic}</td>
                            <td class="wrap">{r.contact}</td>
                            <td><code class="wrap">{e.detail}</code></td>
                        </tr>
                    }
                })
                .collect_view()}

        </DataTable>
    };
    view! {
        <EventFilterForm f kinds=p.kinds />
        <p><a href=csv id="csv" download="optbox-events.csv">"Download these events as CSV"</a></p>
        {table}
        <Pager first="/admin/events" first_text="Newest" next=older next_id="older" next_text="Older events" />
    }
}
