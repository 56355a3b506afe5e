//! Small helpers the aggregates share: building SQL text with many parameters, and
//! turning columns into domain values.

use super::{StoreError, StoreResult};
use crate::domain::{
    Branding, Contact, EmailAddress, ListName, Preferences, SubscriptionStatus, Tag, Tombstone,
    TopicName, TopicPreference,
};

/// A stored value this version cannot read, with why.
pub(super) fn corrupt<E>(what: &'static str) -> impl FnOnce(E) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StoreError::corrupt(what, Some(e))
}

pub(super) fn status(opt_in: bool) -> SubscriptionStatus {
    if opt_in {
        SubscriptionStatus::OptIn
    } else {
        SubscriptionStatus::OptOut
    }
}

pub(super) fn topic_name(name: &str) -> StoreResult<TopicName> {
    TopicName::parse(name).map_err(corrupt("topic name"))
}

/// A stored preference: its topic's name and `opt_in`.
pub(super) fn preference(name: &str, opt_in: bool) -> StoreResult<TopicPreference> {
    Ok(TopicPreference {
        topic: topic_name(name)?,
        status: status(opt_in),
    })
}

pub(super) fn parse_list_parts(
    name: &str,
    tags: &str,
    branding: &str,
) -> StoreResult<(ListName, Vec<Tag>, Branding)> {
    Ok((
        ListName::parse(name).map_err(corrupt("list name"))?,
        serde_json::from_str(tags).map_err(corrupt("tags"))?,
        serde_json::from_str(branding).map_err(corrupt("branding"))?,
    ))
}

/// A contact's columns (`id, email, unsubscribe_all, attributes, created_at, updated_at,
/// paused_until`)
/// without its preferences.
#[derive(sqlx::FromRow)]
pub(super) struct ContactRow {
    pub id: i64,
    pub email: String,
    pub unsubscribe_all: bool,
    pub attributes: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub paused_until: Option<i64>,
}

impl ContactRow {
    pub fn into_contact(self, preferences: Vec<TopicPreference>) -> StoreResult<Contact> {
        Ok(Contact {
            id: self.id,
            email: EmailAddress::parse(&self.email).map_err(corrupt("address"))?,
            unsubscribe_all: self.unsubscribe_all,
            preferences,
            attributes: self.attributes,
            created_at: self.created_at,
            updated_at: self.updated_at,
            paused_until: self.paused_until,
        })
    }
}

pub(super) fn prefs_of(c: &Contact) -> Preferences {
    Preferences {
        unsubscribe_all: c.unsubscribe_all,
        topics: c.preferences.clone(),
    }
}

/// The one topic a change touched, if exactly one did.
pub(super) fn changed_topic(old: &Contact, new: &Contact) -> Option<String> {
    let mut names: Vec<&str> = old
        .preferences
        .iter()
        .chain(new.preferences.iter())
        .map(|p| p.topic.as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    let changed: Vec<&str> = names
        .into_iter()
        .filter(|n| old.explicit(n) != new.explicit(n))
        .collect();
    (changed.len() == 1).then(|| changed[0].to_owned())
}

/// `$1, $2, …` rewritten as `?` when they appear exactly in that order (so binding
/// order is unchanged); otherwise the statement as it is. For SQLite: sqlx looks up
/// the name of every numbered parameter, and SQLite's lookup walks a list, which makes
/// a statement with thousands of `$N` parameters quadratic to bind.
pub(super) fn positional(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut expect, mut i, mut last) = (1usize, 0usize, 0usize);
    while i < b.len() {
        if b[i] == b'$' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            if j > start {
                if sql[start..j].parse::<usize>().ok() != Some(expect) {
                    return sql.to_owned();
                }
                expect += 1;
                out.push_str(&sql[last..i]);
                out.push('?');
                last = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&sql[last..]);
    out
}

/// `$start, $start+1, …` — `n` placeholders for an `IN (…)` list.
pub(super) fn placeholders(start: usize, n: usize) -> String {
    let mut s = String::with_capacity(n * 6);
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push('$');
        s.push_str(&(start + i).to_string());
    }
    s
}

/// The `VALUES` of a multi-row insert: `rows` tuples of `cols` placeholders each,
/// numbered from `$1` (`($1, $2), ($3, $4)`).
pub(super) fn value_rows(rows: usize, cols: usize) -> String {
    (0..rows)
        .map(|i| format!("({})", placeholders(i * cols + 1, cols)))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// A tombstone row's columns as the domain type.
pub(super) fn tombstone_from(unsubscribe_all: bool, topics: &str) -> StoreResult<Tombstone> {
    Ok(Tombstone {
        unsubscribe_all,
        opted_out_topics: serde_json::from_str(topics).map_err(corrupt("tombstone"))?,
    })
}

#[cfg(test)]
mod positional_tests {
    use super::positional;

    #[test]
    fn numbered_parameters_in_order_become_positional() {
        assert_eq!(
            positional("SELECT a FROM t WHERE x = $1 AND y IN ($2, $3)"),
            "SELECT a FROM t WHERE x = ? AND y IN (?, ?)"
        );
        assert_eq!(
            positional("VALUES ($1, $2), ($3, $4)"),
            "VALUES (?, ?), (?, ?)"
        );
    }

    #[test]
    fn anything_else_is_left_alone() {
        for sql in ["x = $2 AND y = $1", "x = $1 AND y = $1", "($1, $3)"] {
            assert_eq!(positional(sql), sql);
        }
        assert_eq!(positional("no parameters"), "no parameters");
    }
}
