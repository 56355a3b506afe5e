//! Small reusable components.

use leptos::prelude::*;

/// The human message of a server-function error.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// A page frame with the product name and a main landmark.
#[component]
pub fn Frame(children: Children) -> impl IntoView {
    view! {
        <leptos_meta::Html {..} lang="en" />
        <header class="topbar">
            <a class="brand" href="/">"optbox"</a>
        </header>
        <main id="main" class="page">{children()}</main>
    }
}

/// The dashboard's frame: a skip link, the product name, the section navigation (the
/// current one marked with `aria-current`) and the main landmark.
#[component]
pub fn AdminFrame(
    /// The section this page belongs to (`overview`, `lists`, …).
    current: &'static str,
    children: Children,
) -> impl IntoView {
    let links = [
        ("overview", "/admin", "Overview"),
        ("lists", "/admin/lists", "Lists"),
        ("events", "/admin/events", "Event log"),
        ("suppressions", "/admin/suppressions", "Suppression list"),
        ("webhooks", "/admin/webhooks", "Webhooks"),
        ("keys", "/admin/keys", "API keys"),
        ("users", "/admin/users", "Users"),
        ("settings", "/admin/settings", "Settings"),
        ("outbox", "/admin/outbox", "Outbox"),
    ];
    view! {
        <leptos_meta::Html {..} lang="en" />
        <a class="skip" href="#main">"Skip to content"</a>
        <header class="topbar">
            <a class="brand" href="/admin">"optbox"</a>
            <nav aria-label="Dashboard">
                <ul class="nav">
                    {links
                        .into_iter()
                        .map(|(key, href, label)| {
                            view! {
                                <li>
                                    <a href=href aria-current=(key == current).then_some("page")>
                                        {label}
                                    </a>
                                </li>
                            }
                        })
                        .collect_view()}
                </ul>
            </nav>
        </header>
        <main id="main" class="page" tabindex="-1">{children()}</main>
    }
}

/// A failed load or submission, announced to screen readers.
pub fn error_alert(e: &ServerFnError) -> impl IntoView + use<> {
    view! { <p class="error" role="alert">{error_text(e)}</p> }
}

/// A wide table's scroll container: reachable and named for keyboard and screen-reader
/// users (axe requires both of a scrollable region).
#[component]
pub fn ScrollTable(#[prop(into)] label: String, children: Children) -> impl IntoView {
    view! {
        <div class="scroll" tabindex="0" role="region" aria-label=label>
            {children()}
        </div>
    }
}

/// The outcome of the last submission of a form: a success message or an error.
pub fn outcome(v: Option<Result<String, ServerFnError>>) -> impl IntoView {
    match v {
        Some(Ok(m)) => view! { <p class="ok" role="status">{m}</p> }.into_any(),
        Some(Err(e)) => error_alert(&e).into_any(),
        None => ().into_any(),
    }
}

/// A column heading of a [`DataTable`]: its text, and whether the column holds numbers
/// (right-aligned).
#[derive(Clone, Debug)]
pub struct Col {
    pub name: String,
    pub num: bool,
}

/// A column of text.
pub fn col(name: impl Into<String>) -> Col {
    Col {
        name: name.into(),
        num: false,
    }
}

/// A column of numbers.
pub fn num_col(name: impl Into<String>) -> Col {
    Col {
        name: name.into(),
        num: true,
    }
}

/// A dashboard table: its caption and column headings around the rows, in a named scroll
/// region; with no rows, the page's empty state instead (a paragraph tests find by id).
#[component]
pub fn DataTable(
    /// The table's id.
    id: &'static str,
    /// The scroll region's name for screen readers.
    label: &'static str,
    #[prop(into)] caption: String,
    heads: Vec<Col>,
    /// Whether there are no rows.
    is_empty: bool,
    /// The paragraph shown instead of an empty table: its id and text.
    empty: (&'static str, &'static str),
    /// The rows (`<tr>`s).
    children: Children,
) -> impl IntoView {
    if is_empty {
        let (empty_id, text) = empty;
        return view! { <p id=empty_id>{text}</p> }.into_any();
    }
    view! {
        <ScrollTable label=label>
            <table id=id>
                <caption>{caption}</caption>
                <thead>
                    <tr>
                        {heads
                            .into_iter()
                            .map(|h| view! { <th scope="col" class=h.num.then_some("num")>{h.name}</th> })
                            .collect_view()}
                    </tr>
                </thead>
                <tbody>{children()}</tbody>
            </table>
        </ScrollTable>
    }
    .into_any()
}

/// The links between a table's pages: back to the first (or newest) page, and on to the
/// next (or older) one when there is one.
#[component]
pub fn Pager(
    #[prop(into)] first: String,
    first_text: &'static str,
    next: Option<String>,
    next_id: &'static str,
    next_text: &'static str,
) -> impl IntoView {
    view! {
        <nav aria-label="Pages" class="pager">
            <a href=first>{first_text}</a>
            {next.map(|n| view! { <a href=n rel="next" id=next_id>{next_text}</a> })}
        </nav>
    }
}

/// A titled part of a page: `<section>` named by its `<h2>` (whose id is `{id}-title`).
#[component]
pub fn Section(
    id: &'static str,
    title: &'static str,
    #[prop(optional)] class: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let title_id = format!("{id}-title");
    let labelled_by = title_id.clone();
    view! {
        <section aria-labelledby=labelled_by class=class>
            <h2 id=title_id>{title}</h2>
            {children()}
        </section>
    }
}

/// A search form's text field, labelled.
#[component]
pub fn FilterInput(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    /// The input's type (`text`, `search`, `date`).
    kind: &'static str,
    value: String,
) -> impl IntoView {
    view! {
        <div>
            <label for=id>{label}</label>
            <input id=id type=kind name=name value=value />
        </div>
    }
}

/// A search form's drop-down, labelled: "(any)" first, then each `(value, text)`; the
/// one equal to `current` is selected.
#[component]
pub fn FilterSelect(
    id: &'static str,
    name: &'static str,
    label: &'static str,
    current: String,
    options: Vec<(String, String)>,
) -> impl IntoView {
    view! {
        <div>
            <label for=id>{label}</label>
            <select id=id name=name>
                <option value="" selected=current.is_empty()>"(any)"</option>
                {options
                    .into_iter()
                    .map(|(value, text)| {
                        let selected = value == current;
                        view! { <option value=value selected=selected>{text}</option> }
                    })
                    .collect_view()}
            </select>
        </div>
    }
}

/// A whole number from a route's parameters or query, if it has one.
pub fn number(map: &leptos_router::params::ParamsMap, key: &str) -> Option<i64> {
    map.get(key).and_then(|v| v.parse().ok())
}

/// What an action whose value carries no message answered: an empty status on success,
/// else the error.
pub fn done<T>(v: Option<Result<T, ServerFnError>>) -> impl IntoView {
    outcome(v.map(|r| r.map(|_| String::new())))
}

/// A page's data: "Loading…" while it comes, else what `then` makes of it; if it fails,
/// what `failed` makes of the error (by default the error alone).
#[component]
pub fn Loaded<T, F>(
    data: Resource<Result<T, ServerFnError>>,
    then: F,
    #[prop(optional)] failed: Option<Callback<ServerFnError, AnyView>>,
) -> impl IntoView
where
    T: Clone + Send + Sync + serde::Serialize + serde::de::DeserializeOwned + 'static,
    F: Fn(T) -> AnyView + Clone + Send + Sync + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || {
                let then = then.clone();
                Suspend::new(async move {
                    match data.await {
                        Err(e) => match failed {
                            Some(f) => f.run(e),
                            None => error_alert(&e).into_any(),
                        },
                        Ok(d) => then(d),
                    }
                })
            }}
        </Suspense>
    }
}
