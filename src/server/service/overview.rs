//! The overview's figures: opt-outs per day over the last 30 days by topic, by source and
//! by the tags of the message whose link was used (SES `EmailTags`, e.g. a campaign), the
//! answers to the unsubscribe survey per list, and list sizes.
//!
//! Counting events at each page view would read every opt-out of the month (a million
//! rows at scale), so the figures are an in-process aggregate kept incrementally by event
//! id watermark: the first view (or the warm-up at start) reads the month's
//! `subscription` events newest first through the `(kind, id)` index; later refreshes
//! read only the events above the watermark. Nothing is added to the write path (the
//! one-click group commit stays as it is), no table or migration is needed, and each
//! instance keeps its own copy. Each view refreshes the aggregate (the new events, and
//! list sizes by a `COUNT(*)` per list) so that a change shows on the next view, waiting
//! at most `FRESH_WAIT`; only the very first view waits for the month's events.

use super::ServiceResult;
use super::auth::{Actor, Role};
use crate::domain::{Preferences, SubscriptionStatus, Tombstone};
use crate::server::store::{DynStore, EventQuery, EventRecord, ListStats};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Days in the charts (today included).
pub const DAYS: i64 = 30;
/// A snapshot younger than this is served as it is (views within the same moment share
/// one read).
pub const MIN_AGE: Duration = Duration::from_millis(200);
/// How long a view waits for fresh figures before it is served the last snapshot.
pub const FRESH_WAIT: Duration = Duration::from_millis(500);
/// Series drawn per chart; the rest are summed as "Other".
pub const MAX_SERIES: usize = 8;
/// The topic label of an opt-out from everything (UnsubscribeAll).
pub const ALL_TOPICS: &str = "(all topics)";

const DAY_MS: i64 = 86_400_000;
const PAGE: u32 = 1000;

/// One line of a chart: a count per day, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Series {
    pub name: String,
    pub counts: Vec<i64>,
    pub total: i64,
}

/// What the overview shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The first day (days since the Unix epoch, UTC) of the `DAYS` days.
    pub first_day: i64,
    /// Opt-outs per day by `list/topic` (or `list/(all topics)`), largest first.
    pub by_topic: Vec<Series>,
    /// Opt-outs per day by the event's source (`UnsubscribeHeader`, `LandingPage`, …).
    pub by_source: Vec<Series>,
    /// Opt-outs made from a message's link, per day by its tags (`name=value`).
    pub by_tag: Vec<Series>,
    /// The unsubscribe survey's answers per day, by `list: answer`.
    pub by_reason: Vec<Series>,
    /// Opt-out events in the period.
    pub total: i64,
    pub lists: Vec<ListStats>,
    /// When the figures were read (epoch ms).
    pub as_of: i64,
}

#[derive(Default)]
struct Aggregate {
    /// Highest event id counted.
    watermark: i64,
    /// (day, topic label) → opt-outs.
    topics: HashMap<(i64, String), i64>,
    /// (day, source) → opt-out events.
    sources: HashMap<(i64, String), i64>,
    /// (day, `name=value`) → opt-out events from messages with that tag.
    tags: HashMap<(i64, String), i64>,
    /// Highest survey answer (`unsubscribe.reason` event) id counted.
    reasons_watermark: i64,
    /// (day, `list: answer`) → answers.
    reasons: HashMap<(i64, String), i64>,
}

#[derive(Default)]
struct Inner {
    /// Held while counting: one refresh at a time.
    agg: tokio::sync::Mutex<Aggregate>,
    snapshot: std::sync::Mutex<Option<(Instant, Arc<Snapshot>)>>,
}

/// The per-instance cache of the overview's figures (one per `AppState`).
#[derive(Clone, Default)]
pub struct OverviewCache(Arc<Inner>);

impl OverviewCache {
    /// Reads the figures now (the warm-up at start, and the first view).
    pub async fn refresh(&self, store: &DynStore) -> ServiceResult<Arc<Snapshot>> {
        let mut agg = self.0.agg.lock().await;
        let now = crate::server::store::now_ms();
        let today = now.div_euclid(DAY_MS);
        let first_day = today - (DAYS - 1);
        read_new_events(store, &mut agg, first_day * DAY_MS).await?;
        read_new_reasons(store, &mut agg, first_day * DAY_MS).await?;
        agg.topics.retain(|(d, _), _| *d >= first_day);
        agg.sources.retain(|(d, _), _| *d >= first_day);
        agg.tags.retain(|(d, _), _| *d >= first_day);
        agg.reasons.retain(|(d, _), _| *d >= first_day);
        let lists = store.list_stats(200).await?;
        let snap = Arc::new(Snapshot {
            first_day,
            by_topic: series(&agg.topics, first_day),
            by_source: series(&agg.sources, first_day),
            by_tag: series(&agg.tags, first_day),
            by_reason: series(&agg.reasons, first_day),
            total: agg
                .sources
                .iter()
                .filter(|((d, _), _)| *d >= first_day)
                .map(|(_, n)| n)
                .sum(),
            lists,
            as_of: now,
        });
        *self.0.snapshot.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), snap.clone()));
        Ok(snap)
    }

    /// Fresh figures: each view reads what changed since the last one (the events above
    /// the watermark, and the list sizes), waiting at most `FRESH_WAIT` for it; a slower
    /// read (a busy database) leaves this view the last snapshot and finishes in the
    /// background. Only the very first view waits for the month's events.
    pub async fn get(&self, store: &DynStore) -> ServiceResult<Arc<Snapshot>> {
        let cached = self
            .0
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let Some((at, snap)) = cached else {
            return self.refresh(store).await;
        };
        if at.elapsed() < MIN_AGE {
            return Ok(snap);
        }
        let (me, store) = (self.clone(), store.clone());
        let task = tokio::spawn(async move { me.refresh(&store).await });
        match tokio::time::timeout(FRESH_WAIT, task).await {
            Ok(Ok(Ok(fresh))) => Ok(fresh),
            Ok(Ok(Err(e))) => {
                tracing::warn!(error = %crate::server::service::chain(&e), "overview refresh failed");
                Ok(snap)
            }
            _ => Ok(snap),
        }
    }
}

/// The overview for a signed-in viewer.
pub async fn overview(
    cache: &OverviewCache,
    store: &DynStore,
    actor: &Actor,
) -> ServiceResult<Arc<Snapshot>> {
    actor.require(Role::Viewer)?;
    cache.get(store).await
}

/// The events of one kind above a watermark, a page at a time, newest first, down to the
/// watermark or to a page of events all before `since_ms`.
struct NewEvents<'a> {
    store: &'a DynStore,
    kind: &'static str,
    watermark: i64,
    since_ms: i64,
    before: Option<i64>,
    done: bool,
    /// The highest id seen: the next watermark.
    top: i64,
}

impl<'a> NewEvents<'a> {
    fn new(store: &'a DynStore, kind: &'static str, watermark: i64, since_ms: i64) -> Self {
        Self {
            store,
            kind,
            watermark,
            since_ms,
            before: None,
            done: false,
            top: watermark,
        }
    }

    /// The next page's new events inside the window; `None` once the walk is over.
    async fn next(&mut self) -> ServiceResult<Option<Vec<EventRecord>>> {
        if self.done {
            return Ok(None);
        }
        let page = self
            .store
            .query_events(&EventQuery {
                kind: Some(self.kind.into()),
                before_id: self.before,
                limit: PAGE,
                ..Default::default()
            })
            .await?;
        let full = page.len() == PAGE as usize;
        let all_old = page.iter().all(|e| e.created_at < self.since_ms);
        let reached = page.iter().any(|e| e.id <= self.watermark);
        // A whole page before the window ends the walk (ids grow with time, give or take
        // a few events committed out of order).
        match page.last() {
            Some(last) if full && !all_old && !reached => self.before = Some(last.id),
            _ => self.done = true,
        }
        let fresh: Vec<EventRecord> = page
            .into_iter()
            .take_while(|e| e.id > self.watermark)
            .inspect(|e| self.top = self.top.max(e.id))
            .filter(|e| e.created_at >= self.since_ms)
            .collect();
        Ok(Some(fresh))
    }
}

/// Counts the `subscription` events above the watermark (older ones are skipped).
async fn read_new_events(
    store: &DynStore,
    agg: &mut Aggregate,
    since_ms: i64,
) -> ServiceResult<()> {
    let mut walk = NewEvents::new(store, "subscription", agg.watermark, since_ms);
    while let Some(page) = walk.next().await? {
        // The tags of the messages whose links were used, for the page at once.
        let sends: Vec<i64> = page.iter().filter_map(|e| e.send_id).collect();
        let tags: HashMap<i64, Vec<(String, String)>> = if sends.is_empty() {
            HashMap::new()
        } else {
            store
                .send_records_by_ids(&sends)
                .await?
                .into_iter()
                .map(|r| (r.id, r.info.tags))
                .collect()
        };
        for e in &page {
            let t = e.send_id.and_then(|id| tags.get(&id));
            count(agg, e, t.map(Vec::as_slice).unwrap_or_default());
        }
    }
    agg.watermark = walk.top;
    Ok(())
}

/// Counts the survey answers above their watermark, by list and answer.
async fn read_new_reasons(
    store: &DynStore,
    agg: &mut Aggregate,
    since_ms: i64,
) -> ServiceResult<()> {
    let mut walk = NewEvents::new(
        store,
        super::recipient::REASON_KIND,
        agg.reasons_watermark,
        since_ms,
    );
    while let Some(page) = walk.next().await? {
        for e in &page {
            let detail: serde_json::Value =
                serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null);
            let Some(reason) = detail.get("reason").and_then(|r| r.as_str()) else {
                continue;
            };
            let list = e.list_name.as_deref().unwrap_or("-");
            *agg.reasons
                .entry((e.created_at.div_euclid(DAY_MS), format!("{list}: {reason}")))
                .or_default() += 1;
        }
    }
    agg.reasons_watermark = walk.top;
    Ok(())
}

fn count(agg: &mut Aggregate, e: &EventRecord, tags: &[(String, String)]) {
    let topics = opted_out(e);
    if topics.is_empty() {
        return;
    }
    let day = e.created_at.div_euclid(DAY_MS);
    for (name, value) in tags {
        *agg.tags
            .entry((day, format!("{name}={value}")))
            .or_default() += 1;
    }
    let list = e.list_name.as_deref().unwrap_or("-");
    for t in topics {
        *agg.topics.entry((day, format!("{list}/{t}"))).or_default() += 1;
    }
    let source = e.source.clone().unwrap_or_else(|| "Unknown".into());
    *agg.sources.entry((day, source)).or_default() += 1;
}

/// The topics a `subscription` event opted out of (`ALL_TOPICS` for UnsubscribeAll);
/// empty for an opt-in or a change that opted out of nothing.
pub fn opted_out(e: &EventRecord) -> Vec<String> {
    let parse = |s: &Option<String>| -> Option<Preferences> {
        s.as_deref().and_then(|j| serde_json::from_str(j).ok())
    };
    match parse(&e.new_prefs) {
        Some(new) => {
            let old = parse(&e.old_prefs).unwrap_or_default();
            if new.unsubscribe_all && !old.unsubscribe_all {
                return vec![ALL_TOPICS.into()];
            }
            new.topics
                .iter()
                .filter(|p| p.status == SubscriptionStatus::OptOut)
                .filter(|p| {
                    !old.topics
                        .iter()
                        .any(|o| o.topic == p.topic && o.status == SubscriptionStatus::OptOut)
                })
                .map(|p| p.topic.to_string())
                .collect()
        }
        // An opt-out recorded for an address without a contact (a tombstone).
        None => {
            let detail: serde_json::Value =
                serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null);
            let Some(t) = detail
                .get("tombstone")
                .and_then(|t| serde_json::from_value::<Tombstone>(t.clone()).ok())
            else {
                return vec![];
            };
            if t.unsubscribe_all {
                vec![ALL_TOPICS.into()]
            } else {
                match &e.topic_name {
                    Some(n) => vec![n.clone()],
                    None => t
                        .opted_out_topics
                        .iter()
                        .take(1)
                        .map(|x| x.to_string())
                        .collect(),
                }
            }
        }
    }
}

/// Per-day series from (day, name) counts, largest total first; beyond `MAX_SERIES`
/// the smallest are summed as "Other".
fn series(counts: &HashMap<(i64, String), i64>, first_day: i64) -> Vec<Series> {
    let mut by: HashMap<&str, Vec<i64>> = HashMap::new();
    for ((d, name), n) in counts {
        let i = d - first_day;
        if (0..DAYS).contains(&i) {
            by.entry(name.as_str())
                .or_insert_with(|| vec![0; DAYS as usize])[i as usize] += n;
        }
    }
    let mut out: Vec<Series> = by
        .into_iter()
        .map(|(name, counts)| Series {
            name: name.to_owned(),
            total: counts.iter().sum(),
            counts,
        })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then_with(|| a.name.cmp(&b.name)));
    if out.len() > MAX_SERIES {
        let rest = out.split_off(MAX_SERIES - 1);
        let mut other = Series {
            name: "Other".into(),
            counts: vec![0; DAYS as usize],
            total: 0,
        };
        for s in rest {
            for (o, n) in other.counts.iter_mut().zip(s.counts) {
                *o += n;
            }
            other.total += s.total;
        }
        out.push(other);
    }
    out
}
