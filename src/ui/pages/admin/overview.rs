//! `/admin`: the overview for a signed-in operator: opt-outs per day over the last 30
//! days by topic, by message tag and by source (server-rendered SVG charts, each with a
//! data table),
//! and the lists with their sizes.

use crate::serverfns::get_overview::{Overview, SeriesRow, get_overview};
use crate::serverfns::logout::Logout;
use crate::serverfns::resume_relay::ResumeRelay;
use crate::ui::components::{
    AdminFrame, DataTable, Loaded, ScrollTable, Section, col, done, error_alert, num_col,
};
use leptos::prelude::*;
use leptos_meta::Title;

/// Series colours (Okabe–Ito, distinguishable with colour-vision deficiencies); the
/// last one is for "Other".
const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7a6a00", "#8a8a8a",
];

fn colour(i: usize, name: &str) -> &'static str {
    if name == "Other" {
        PALETTE[7]
    } else {
        PALETTE[i % 7]
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The smallest of 1, 2, 5, 10, 20, 50, … that divides `peak` into at most four steps.
fn nice_step(peak: i64) -> i64 {
    let mut base = 1i64;
    loop {
        for m in [1, 2, 5] {
            let step = base.saturating_mul(m);
            if step.saturating_mul(4) >= peak {
                return step;
            }
        }
        base = base.saturating_mul(10);
    }
}

/// A count with thousands separators: `1,000,000`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An axis label: `950`, `1,500`, `20k`, `1.5M`.
fn short(n: i64) -> String {
    match n {
        n if n >= 1_000_000 && n % 100_000 == 0 => {
            let m = n / 100_000;
            if m % 10 == 0 {
                format!("{}M", m / 10)
            } else {
                format!("{}.{}M", m / 10, m % 10)
            }
        }
        n if n >= 10_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => grouped(n),
    }
}

/// A stacked bar chart of `series` per day as an SVG document fragment: `role="img"`
/// named by its `<title>` and described by a `<desc>` summing it up.
pub fn chart_svg(id: &str, title: &str, days: &[String], series: &[SeriesRow]) -> String {
    let (w, h, left, right, top, bottom) = (720.0, 220.0, 44.0, 8.0, 10.0, 26.0);
    let n = days.len().max(1);
    let totals: Vec<i64> = (0..n)
        .map(|d| {
            series
                .iter()
                .map(|s| s.counts.get(d).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    // The count axis: steps of 1, 2 or 5 times a power of ten, at most four above zero,
    // up to the first step at or above the peak (1 with no data), so labels are round
    // and never repeat.
    let peak = totals.iter().copied().max().unwrap_or(0).max(1);
    let step = nice_step(peak);
    let top_count = step * ((peak + step - 1) / step);
    let max = top_count as f64;
    let ticks: Vec<(f64, i64)> = (0..=top_count / step)
        .map(|i| ((i * step) as f64 / max, i * step))
        .collect();
    let plot_h = h - top - bottom;
    let step = (w - left - right) / n as f64;
    let bar = (step * 0.72).max(1.0);
    let sum: i64 = totals.iter().sum();
    let desc = if sum == 0 {
        "No opt-outs in the period.".to_owned()
    } else {
        let parts: Vec<String> = series
            .iter()
            .map(|s| format!("{} {}", s.name, grouped(s.total)))
            .collect();
        let peak = totals
            .iter()
            .enumerate()
            .max_by_key(|(i, t)| (**t, std::cmp::Reverse(*i)))
            .map(|(i, t)| {
                format!(
                    "; busiest day {} with {}",
                    days.get(i).map_or("", |d| d),
                    grouped(*t)
                )
            })
            .unwrap_or_default();
        format!("{} opt-outs: {}{peak}.", grouped(sum), parts.join(", "))
    };
    let mut s = format!(
        r#"<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMidYMid meet"><title id="{id}-title">{}</title><desc id="{id}-desc">{}</desc>"#,
        esc(title),
        esc(&desc)
    );
    // Grid lines and the count axis (0, half, top).
    for (frac, label) in ticks {
        let y = top + plot_h * (1.0 - frac);
        s.push_str(&format!(
            r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="#57606a">{}</text>"##,
            w - right,
            left - 6.0,
            y + 4.0,
            short(label)
        ));
    }
    for d in 0..n {
        let x = left + step * d as f64 + (step - bar) / 2.0;
        let mut y = top + plot_h;
        for (i, se) in series.iter().enumerate() {
            let v = se.counts.get(d).copied().unwrap_or(0);
            if v == 0 {
                continue;
            }
            let bh = plot_h * v as f64 / max;
            y -= bh;
            s.push_str(&format!(
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{bh:.1}" fill="{}"><title>{}: {} {v}</title></rect>"#,
                colour(i, &se.name),
                days.get(d).map_or("", |d| d),
                esc(&se.name)
            ));
        }
        // Every seventh day counted back from the last, so that labels never crowd.
        if (n - 1 - d).is_multiple_of(7) {
            let label = days.get(d).map_or("", |d| d.get(5..).unwrap_or(d));
            s.push_str(&format!(
                r##"<text x="{:.1}" y="{}" font-size="11" text-anchor="middle" fill="#57606a">{label}</text>"##,
                x + bar / 2.0,
                h - 8.0
            ));
        }
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(svg: &str, anchor: &str) -> Vec<String> {
        svg.split("<text ")
            .skip(1)
            .filter(|t| t.contains(anchor))
            .map(|t| {
                t.split('>')
                    .nth(1)
                    .unwrap()
                    .trim_end_matches("</text")
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn counts_are_grouped_by_thousands() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(981_551), "981,551");
        assert_eq!(grouped(1_000_000), "1,000,000");
        assert_eq!(grouped(-12_345), "-12,345");
    }

    #[test]
    fn axis_labels_are_distinct_and_dates_do_not_crowd() {
        let days: Vec<String> = (1..=30).map(|d| format!("2026-11-{d:02}")).collect();
        let row = |counts: Vec<i64>| SeriesRow {
            name: "news".into(),
            total: counts.iter().sum(),
            counts,
        };
        // Every day `flat`, but one day `peak`.
        let spike = |flat: i64, peak: i64| {
            let mut c = vec![flat; 30];
            c[3] = peak;
            c
        };
        for (counts, want) in [
            (spike(0, 0), vec!["0", "1"]),
            (spike(1, 1), vec!["0", "1"]),
            (spike(0, 3), vec!["0", "1", "2", "3"]),
            (spike(0, 33_336), vec!["0", "10k", "20k", "30k", "40k"]),
            (spike(0, 1_234_567), vec!["0", "500k", "1M", "1.5M"]),
            (
                spike(0, 7_000),
                vec!["0", "2,000", "4,000", "6,000", "8,000"],
            ),
        ] {
            let svg = chart_svg("c", "t", &days, &[row(counts)]);
            assert_eq!(labels(&svg, r#"text-anchor="end""#), want, "{svg}");
            let dates = labels(&svg, r#"text-anchor="middle""#);
            assert_eq!(dates, ["11-02", "11-09", "11-16", "11-23", "11-30"]);
        }
    }
}

/// A chart with its legend and, folded, the same figures as a table; with no series and
/// an `empty` (id, text), that paragraph instead.
#[component]
fn Chart(
    id: &'static str,
    title: &'static str,
    days: Vec<String>,
    series: Vec<SeriesRow>,
    #[prop(optional)] empty: Option<(&'static str, &'static str)>,
) -> impl IntoView {
    if let (true, Some((empty_id, text))) = (series.is_empty(), empty) {
        return view! { <p id=empty_id class="muted">{text}</p> }.into_any();
    }
    let svg = chart_svg(id, title, &days, &series);
    let legend = series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let style = format!("background:{}", colour(i, &s.name));
            view! {
                <li>
                    <span class="swatch" style=style aria-hidden="true"></span>
                    {s.name.clone()} " (" {grouped(s.total)} ")"
                </li>
            }
        })
        .collect_view();
    let heads = series
        .iter()
        .map(|s| view! { <th scope="col">{s.name.clone()}</th> })
        .collect_view();
    let body = days
        .iter()
        .enumerate()
        .rev()
        .map(|(d, day)| {
            let cells = series
                .iter()
                .map(|s| view! { <td>{s.counts.get(d).copied().unwrap_or(0)}</td> })
                .collect_view();
            view! {
                <tr>
                    <th scope="row">{day.clone()}</th>
                    {cells}
                </tr>
            }
        })
        .collect_view();
    let table_id = format!("{id}-table");
    let region = format!("{title}: data table");
    let caption = region.clone();
    let chart_label = format!("{title}: chart");
    view! {
        <figure class="chart-box">
            // Legible on a phone: the chart keeps a minimum width and scrolls sideways
            // inside its box (focusable, so it scrolls from the keyboard too), opening at
            // the newest days.
            <div class="scroll chart-scroll" tabindex="0" role="region" aria-label=chart_label inner_html=svg></div>
            <figcaption>
                <ul class="legend">{legend}</ul>
            </figcaption>
        </figure>
        <details>
            <summary>"Show the figures as a table"</summary>
            <ScrollTable label=region>
                <table id=table_id>
                    <caption>{caption}</caption>
                    <thead>
                        <tr>
                            <th scope="col">"Day"</th>
                            {heads}
                        </tr>
                    </thead>
                    <tbody>{body}</tbody>
                </table>
            </ScrollTable>
        </details>
    }
    .into_any()
}

#[component]
pub fn OverviewPage() -> impl IntoView {
    let data = Resource::new(|| (), |_| get_overview());
    let logout = ServerAction::<Logout>::new();
    view! {
        <Title text="Overview · optbox" />
        <AdminFrame current="overview">
            <Loaded
                data
                then=move |o| view! { <OverviewBody o logout /> }.into_any()
                failed=Callback::new(|e| {
                    view! {
                        <h1>"Overview"</h1>
                        {error_alert(&e)}
                        <p><a href="/admin/login">"Sign in"</a></p>
                    }
                        .into_any()
                })
            />
        </AdminFrame>
    }
}

#[component]
fn OverviewBody(o: Overview, logout: ServerAction<Logout>) -> impl IntoView {
    let Overview {
        user_email,
        role,
        lists,
        days,
        by_topic,
        by_source,
        by_tag,
        by_reason,
        total,
        as_of,
        relay_paused,
    } = o;
    let tags_view = view! {
        <Chart
            id="chart-tag"
            title="Opt-outs per day by message tag, last 30 days"
            days=days.clone()
            series=by_tag
            empty=(
                "no-tags",
                "No opt-outs from tagged messages yet: SendEmail's EmailTags (or SMTP's X-SES-MESSAGE-TAGS) name a message's campaign.",
            )
        />
    };
    let reasons_view = view! {
        <Chart
            id="chart-reason"
            title="Why people left, per day by list and answer, last 30 days"
            days=days.clone()
            series=by_reason
            empty=(
                "no-reasons",
                "No survey answers yet: after an unsubscribe, the recipient page asks why (the answers are set per list in its details).",
            )
        />
    };
    let resume = ServerAction::<ResumeRelay>::new();
    let paused = relay_paused.map(|why| {
        view! {
            <section class="card danger-zone" id="relay-paused" role="alert">
                <h2>"The relay is paused"</h2>
                <p>{why}</p>
                <ActionForm action=resume>
                    {move || done(resume.value().get())}
                    <button type="submit">"Resume the relay"</button>
                </ActionForm>
            </section>
        }
    });
    let lists_view = view! {
        <DataTable
            id="lists"
            label="Contact lists table"
            caption="Lists with their topic and contact counts"
            heads=vec![col("List"), num_col("Topics"), num_col("Contacts")]
            is_empty=lists.is_empty()
            empty=("no-lists", "No contact lists yet.")
        >
            {lists
                .into_iter()
                .map(|l| {
                    view! {
                        <tr>
                            <td>
                                <a href=format!("/admin/lists/{}", l.name)>{l.name.clone()}</a>
                            </td>
                            <td class="num">{l.topics}</td>
                            <td class="num">{grouped(l.contacts)}</td>
                        </tr>
                    }
                })
                .collect_view()}
        </DataTable>
    };
    let topic_days = days.clone();
    view! {
        <div class="row spread">
            <h1>"Overview"</h1>
            <ActionForm action=logout>
                <span class="muted">{user_email} " (" {role} ") "</span>
                <button type="submit" class="secondary">"Sign out"</button>
            </ActionForm>
        </div>
        {paused}
        <p class="muted" id="as-of">
            {grouped(total)} " opt-outs in the last 30 days (UTC days) · figures as of " {as_of}
        </p>
        <Section id="by-topic" title="Opt-outs per day by topic" class="card">
            <Chart id="chart-topic" title="Opt-outs per day by topic, last 30 days" days=topic_days series=by_topic />
        </Section>
        <Section id="by-tag" title="Opt-outs per day by message tag" class="card">
            {tags_view}
        </Section>
        <Section id="by-reason" title="Why people left" class="card">
            {reasons_view}
        </Section>
        <Section id="by-source" title="Opt-outs per day by source" class="card">
            <Chart id="chart-source" title="Opt-outs per day by source, last 30 days" days=days series=by_source />
        </Section>
        <Section id="lists" title="Contact lists" class="card">
            {lists_view}
        </Section>
    }
}
