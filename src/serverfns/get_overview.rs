//! The dashboard overview: opt-outs per day over the last 30 days by topic, by message tag
//! and by source,
//! and the lists with their topic and contact counts (from the cached aggregates of
//! `service::overview`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListRow {
    pub name: String,
    pub topics: i64,
    pub contacts: i64,
}

/// One line of a chart: a count per day (oldest first) and its total.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SeriesRow {
    pub name: String,
    pub counts: Vec<i64>,
    pub total: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Overview {
    pub user_email: String,
    pub role: String,
    pub lists: Vec<ListRow>,
    /// The charts' days as `YYYY-MM-DD` (UTC), oldest first.
    pub days: Vec<String>,
    pub by_topic: Vec<SeriesRow>,
    pub by_source: Vec<SeriesRow>,
    /// Opt-outs from messages' links by the messages' tags (`name=value`).
    pub by_tag: Vec<SeriesRow>,
    /// The unsubscribe survey's answers by `list: answer`.
    pub by_reason: Vec<SeriesRow>,
    /// Opt-out events over the days.
    pub total: i64,
    /// When the figures were read, `YYYY-MM-DD HH:MM:SS` UTC.
    pub as_of: String,
    /// Why the relay is paused, when its breaker tripped.
    pub relay_paused: Option<String>,
}

#[server(endpoint = "overview")]
pub async fn get_overview() -> Result<Overview, ServerFnError> {
    use super::support::{require, service, state};
    use crate::server::service::{admin_ops, auth::Role, overview};
    let user = require(Role::Viewer).await?;
    let st = state();
    let snap = overview::overview(&st.overview, &st.store, &user)
        .await
        .map_err(service)?;
    let relay_paused = admin_ops::relay_paused(&st.store, &user)
        .await
        .map_err(service)?;
    let rows = |v: &[overview::Series]| {
        v.iter()
            .map(|s| SeriesRow {
                name: s.name.clone(),
                counts: s.counts.clone(),
                total: s.total,
            })
            .collect::<Vec<_>>()
    };
    let date = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
            .map(|t| {
                let d = t.date();
                (
                    format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()),
                    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second()),
                )
            })
            .unwrap_or_default()
    };
    let days = (0..overview::DAYS)
        .map(|i| date((snap.first_day + i) * 86_400_000).0)
        .collect();
    let (d, t) = date(snap.as_of);
    Ok(Overview {
        user_email: user.email,
        role: user.role.as_str().into(),
        lists: snap
            .lists
            .iter()
            .map(|l| ListRow {
                name: l.name.clone(),
                topics: l.topics,
                contacts: l.contacts,
            })
            .collect(),
        days,
        by_topic: rows(&snap.by_topic),
        by_source: rows(&snap.by_source),
        by_tag: rows(&snap.by_tag),
        by_reason: rows(&snap.by_reason),
        total: snap.total,
        as_of: format!("{d} {t} UTC"),
        relay_paused,
    })
}
