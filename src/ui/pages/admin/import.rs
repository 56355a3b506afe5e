//! `/admin/lists/:name/import`: upload a CSV or JSON-lines file into a list, with a live
//! progress bar while the job runs (the page polls the job twice a second); without
//! JavaScript the form waits for the job and the page shows the finished job. Export
//! links download the list.

use crate::serverfns::get_import::{ImportView, get_import};
use crate::ui::components::{AdminFrame, Section, error_alert};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
pub fn ImportPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let name = move || params.read().get("name").unwrap_or_default();
    let job = move || query.read().get("job").unwrap_or_default();
    let error = move || query.read().get("error");
    // Set once hydrated: the upload then returns at once and this page polls.
    let wait = RwSignal::new("1".to_string());
    let tick = RwSignal::new(0u32);
    let data = Resource::new(
        move || (job(), tick.get()),
        |(j, _)| async move {
            if j.is_empty() {
                Ok(None)
            } else {
                get_import(j).await.map(Some)
            }
        },
    );
    Effect::new(move |_| {
        wait.set("0".into());
    });
    // Poll while the job runs.
    Effect::new(move |_| {
        let running = matches!(data.get(), Some(Ok(Some(ref v))) if !v.finished());
        if running {
            set_timeout(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_millis(500),
            );
        }
    });
    view! {
        <Title text="Import · optbox" />
        <AdminFrame current="lists">
            <p class="crumbs">
                <a href="/admin/lists">"Lists"</a> " / "
                <a href=move || format!("/admin/lists/{}", name())>{name}</a> " / import"
            </p>
            <h1>"Import and export"</h1>
            <Section id="upload" title="Import a file" class="card">
                <p class="hint">
                    "SES CSV (emailAddress, unsubscribeAll, attributesData, topicPreferences.TOPIC…), a CSV with an email column, or JSON lines. An import never turns an opt-out back into a subscription."
                </p>
                <form
                    method="post"
                    enctype="multipart/form-data"
                    action=move || format!("/admin/upload/{}", name())
                    class="stack"
                    id="upload"
                >
                    <input type="hidden" name="wait" prop:value=wait />
                    <label for="file">"File"</label>
                    <input id="file" type="file" name="file" accept=".csv,.jsonl,.ndjson,.json,text/csv" required />
                    <label for="format">"Format"</label>
                    <select id="format" name="format">
                        <option value="auto">"From the file name"</option>
                        <option value="csv">"CSV"</option>
                        <option value="jsonl">"JSON lines"</option>
                    </select>
                    <label for="action">"Action"</label>
                    <select id="action" name="action">
                        <option value="put">"Add or update contacts"</option>
                        <option value="delete">"Delete the listed contacts"</option>
                    </select>
                    {move || error().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                    <button type="submit">"Upload and import"</button>
                </form>
            </Section>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match data.await {
                        Ok(Some(v)) => view! { <JobView v /> }.into_any(),
                        Ok(None) => ().into_any(),
                        Err(e) => error_alert(&e).into_any(),
                    }
                })}
            </Suspense>
            <Section id="export" title="Export">
                <p>
                    "Every contact with the effective status of each topic: "
                    <a id="export-csv" href=move || format!("/admin/export/{}/csv", name())>"CSV"</a>
                    " · "
                    <a id="export-jsonl" href=move || format!("/admin/export/{}/jsonl", name())>"JSON lines"</a>
                </p>
            </Section>
        </AdminFrame>
    }
}

#[component]
fn JobView(v: ImportView) -> impl IntoView {
    let pct = v.percent();
    let total = v
        .total_lines
        .map(|t| format!(" of {t}"))
        .unwrap_or_default();
    view! {
        <section aria-labelledby="job-title" class="card" id="job">
            <h2 id="job-title">"Import job " <code>{v.job_id.clone()}</code></h2>
            <label for="job-progress">"Progress"</label>
            <progress id="job-progress" max="100" value=pct.to_string()>{format!("{pct}%")}</progress>
            <p role="status" id="job-status">
                {v.status.clone()} " · " {v.lines_done} {total} " lines · " {pct} "%"
            </p>
            <dl class="facts">
                <dt>"Created"</dt><dd id="job-created">{v.created}</dd>
                <dt>"Updated"</dt><dd>{v.updated}</dd>
                <dt>"Unchanged"</dt><dd>{v.unchanged}</dd>
                <dt>"Deleted"</dt><dd>{v.deleted}</dd>
                <dt>"Opt-outs kept"</dt><dd>{v.opt_outs_kept}</dd>
                <dt>"Invalid rows"</dt><dd id="job-failed">{v.failed}</dd>
            </dl>
            {v.error.map(|e| view! { <p class="error" role="alert">{e}</p> })}
        </section>
    }
}
