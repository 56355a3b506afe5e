//! The append-only event log. Every change writes its event in its own transaction, and
//! writing an event inserts one `webhook_deliveries` row per matching destination in
//! that transaction too: a committed event always has its deliveries, a rolled-back
//! change has none. (A cursor over `events` would be simpler but is not safe on
//! PostgreSQL: sequence values are not committed in order, so a cursor can pass an id
//! whose transaction commits later.)
//!
//! Each event says who acted (`actor`, `actor_id`), which message caused it when known
//! (`message_id`), and names its contact by a keyed hash of the address (`contact_key`,
//! [`ContactKeyer`]); the address itself is kept apart, in `event_contacts`, so that an
//! erasure removes it ([`EventStore::forget_event_contact`]) and leaves the log whole.

pub(crate) use super::contact_key::ContactKeyer;
use super::db::{Conn, on_db};
use super::one_click::Sees;
use super::sql::{placeholders, to_json, value_rows};
use super::{Audit, SqlStore, StoreResult, now_ms};
use crate::domain::{EmailAddress, Preferences};
use serde::{Deserialize, Serialize};

/// An entry of the append-only event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct EventRecord {
    pub id: i64,
    pub created_at: i64,
    pub kind: String,
    pub source: Option<String>,
    pub list_name: Option<String>,
    pub topic_name: Option<String>,
    pub contact_email: Option<String>,
    pub old_prefs: Option<String>,
    pub new_prefs: Option<String>,
    pub ip_hash: Option<String>,
    pub user_agent: Option<String>,
    pub detail: String,
    /// Who acted: `recipient`, `user`, `api_key`, `import` or `cli`; `None` for optbox
    /// itself (a delivery that failed).
    pub actor: Option<String>,
    /// The actor's id: a dashboard user's id, an access key id, an import job id.
    pub actor_id: Option<String>,
    /// The message that caused the event, when known (its SES `MessageId`).
    pub message_id: Option<String>,
    /// The SES configuration set of that message.
    #[sqlx(default)]
    pub configuration_set: Option<String>,
    /// The send record (one recipient's copy of the message) that caused the event.
    #[sqlx(default)]
    pub send_id: Option<i64>,
    /// The HTTP request that made the change (its `X-Request-Id`).
    #[sqlx(default)]
    #[serde(default)]
    pub request_id: Option<String>,
}

/// The columns of an [`EventRecord`], from `events e` joined with the addresses kept
/// apart (`event_contacts c`).
pub(super) const COLUMNS: &str = "e.id, e.created_at, e.kind, e.source, e.list_name, \
     e.topic_name, COALESCE(c.email, e.contact_email) AS contact_email, e.old_prefs, \
     e.new_prefs, e.ip_hash, e.user_agent, e.detail, e.actor, e.actor_id, e.message_id, e.configuration_set, e.send_id, \
     e.request_id";

/// `events e` with the addresses of their contacts.
const FROM: &str = "events e LEFT JOIN event_contacts c ON c.contact_key = e.contact_key";

/// Stores an event's address apart from it, once per contact.
async fn keep_contact(c: Conn<'_>, key: &[u8], email: &str) -> StoreResult<()> {
    on_db!(c, |c| {
        sqlx::query(
            "INSERT INTO event_contacts (contact_key, email) VALUES ($1, $2) \
             ON CONFLICT (contact_key) DO NOTHING",
        )
        .bind(key)
        .bind(email)
        .execute(c)
        .await?;
    });
    Ok(())
}

/// Event-log filters; every one optional. Results are newest first, keyset-paged by id.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub list: Option<String>,
    pub topic: Option<String>,
    pub contact: Option<String>,
    pub kind: Option<String>,
    /// Inclusive lower bound on `created_at` (epoch ms).
    pub since_ms: Option<i64>,
    /// Exclusive upper bound on `created_at` (epoch ms).
    pub until_ms: Option<i64>,
    /// Only events with a smaller id (the last id of the previous page).
    pub before_id: Option<i64>,
    pub limit: u32,
}

/// Reading the event log.
#[async_trait::async_trait]
pub trait EventStore {
    async fn list_events(
        &self,
        list_name: Option<&str>,
        kind: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>>;
    /// The event log, filtered and keyset-paged.
    async fn query_events(&self, q: &EventQuery) -> StoreResult<Vec<EventRecord>>;
    /// Removes an address from the event log (its events stay, naming the contact only
    /// by its keyed hash); returns how many addresses were removed (0 or 1).
    async fn forget_event_contact(&self, email: &EmailAddress) -> StoreResult<u64>;
    /// Records a change to configuration (a list, an API key, a user, a webhook, …) made
    /// by `audit`'s actor: one event of `kind` (see
    /// [`CONFIGURATION_KINDS`](crate::domain::events::CONFIGURATION_KINDS)) with its
    /// webhook deliveries, in a transaction of its own.
    async fn record_change(
        &self,
        audit: &Audit,
        kind: &str,
        list_name: Option<&str>,
        topic_name: Option<&str>,
        detail: serde_json::Value,
    ) -> StoreResult<()>;
}

/// An event about to be written inside a store transaction.
pub(super) struct NewEvent<'a> {
    pub kind: &'a str,
    pub audit: Option<&'a Audit>,
    pub list_name: Option<&'a str>,
    pub topic_name: Option<&'a str>,
    pub contact_email: Option<&'a str>,
    pub old: Option<&'a Preferences>,
    pub new: Option<&'a Preferences>,
    pub detail: serde_json::Value,
}

impl<'a> NewEvent<'a> {
    /// An event of `kind` by `audit`'s actor; what it is about is added by the methods
    /// below.
    pub fn new(kind: &'a str, audit: &'a Audit, detail: serde_json::Value) -> Self {
        NewEvent {
            kind,
            audit: Some(audit),
            list_name: None,
            topic_name: None,
            contact_email: None,
            old: None,
            new: None,
            detail,
        }
    }

    pub fn list(self, name: impl Into<Option<&'a str>>) -> Self {
        NewEvent {
            list_name: name.into(),
            ..self
        }
    }

    pub fn topic(self, name: impl Into<Option<&'a str>>) -> Self {
        NewEvent {
            topic_name: name.into(),
            ..self
        }
    }

    pub fn contact(self, email: impl Into<Option<&'a str>>) -> Self {
        NewEvent {
            contact_email: email.into(),
            ..self
        }
    }

    /// The contact's preferences before and after the change.
    pub fn prefs(self, old: Option<&'a Preferences>, new: Option<&'a Preferences>) -> Self {
        NewEvent { old, new, ..self }
    }
}

/// The key an event names its contact by, the address stored apart first.
async fn contact(
    c: Conn<'_>,
    keyer: &ContactKeyer,
    email: Option<&str>,
) -> StoreResult<Option<Vec<u8>>> {
    let Some(email) = email else {
        return Ok(None);
    };
    let key = keyer.hash(email)?;
    keep_contact(c, &key, email).await?;
    Ok(Some(key))
}

/// Writes an event and its webhook deliveries, in the caller's transaction.
pub(super) async fn write(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    e: NewEvent<'_>,
) -> StoreResult<()> {
    let contact_key = contact(c.re(), keyer, e.contact_email).await?;
    let id: i64 = on_db!(c.re(), |c| {
        sqlx::query_scalar(
            "INSERT INTO events (created_at, kind, source, list_name, topic_name, \
             contact_key, old_prefs, new_prefs, ip_hash, user_agent, detail, actor, \
             actor_id, message_id, configuration_set, send_id, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
             $17) RETURNING id",
        )
        .bind(now_ms())
        .bind(e.kind)
        .bind(e.audit.map(|a| a.source.as_str()))
        .bind(e.list_name)
        .bind(e.topic_name)
        .bind(contact_key.as_deref())
        .bind(e.old.map(to_json))
        .bind(e.new.map(to_json))
        .bind(e.audit.and_then(|a| a.ip_hash.clone()))
        .bind(e.audit.and_then(|a| a.user_agent.clone()))
        .bind(e.detail.to_string())
        .bind(e.audit.map(|a| a.actor.as_str()))
        .bind(e.audit.and_then(|a| a.actor_id.as_deref()))
        .bind(e.audit.and_then(|a| a.message_id.as_deref()))
        .bind(e.audit.and_then(|a| a.configuration_set.as_deref()))
        .bind(e.audit.and_then(|a| a.send_id))
        .bind(e.audit.and_then(|a| a.request_id.as_deref()))
        .fetch_one(c)
        .await?
    });
    let set = e.audit.and_then(|a| a.configuration_set.as_deref());
    enqueue_deliveries(c, id, e.kind, e.list_name, set, None).await
}

/// Writes an event of optbox's own, without an audit or preferences (`webhook.failed`,
/// `delivery.failed`), and its webhook deliveries (to every matching destination but
/// `exclude`), in the caller's transaction.
pub(super) async fn write_plain(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    kind: &str,
    list_name: Option<&str>,
    contact_email: Option<&str>,
    detail: &serde_json::Value,
    exclude: Option<i64>,
) -> StoreResult<()> {
    let contact_key = contact(c.re(), keyer, contact_email).await?;
    let message_id = detail.get("messageId").and_then(|m| m.as_str());
    let set = detail.get("configurationSet").and_then(|m| m.as_str());
    let id: i64 = on_db!(c.re(), |c| {
        sqlx::query_scalar(
            "INSERT INTO events (created_at, kind, list_name, contact_key, detail, message_id, \
             configuration_set) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(now_ms())
        .bind(kind)
        .bind(list_name)
        .bind(contact_key.as_deref())
        .bind(detail.to_string())
        .bind(message_id)
        .bind(set)
        .fetch_one(c)
        .await?
    });
    enqueue_deliveries(c, id, kind, list_name, set, exclude).await
}

/// Which webhooks get an event: those subscribed to its kind (and list) that no event
/// destination names, and those named by an enabled event destination of the event's
/// configuration set that matches its SES event type. A webhook that is an event
/// destination gets only what configuration sets route to it, as an SES destination does.
/// A webhook subscribed to every kind (`*`) gets the kinds
/// [`for_every_webhook`](crate::domain::events::for_every_webhook) allows.
/// `$3` whether `*` matches the kind, `$4` `%,kind,%`, `$5` list, `$6` the configuration
/// set, `$7` `%,TYPE,%`.
const MATCHING_WEBHOOKS: &str = "((((event_types = '*' AND $3) \
     OR event_types LIKE $4) AND (list_name IS NULL OR list_name = $5) \
     AND id NOT IN (SELECT webhook_id FROM event_destinations)) \
     OR id IN (SELECT webhook_id FROM event_destinations \
     WHERE configuration_set = $6 AND enabled = 1 AND event_types LIKE $7))";

/// `%,TYPE,%` for an event kind's SES type; a pattern nothing matches when it has none.
pub(super) fn ses_type_pattern(kind: &str) -> String {
    crate::domain::events::ses_event_type(kind)
        .map(|t| format!("%,{t},%"))
        .unwrap_or_else(|| "-".into())
}

/// Queues the event for every matching destination (other than `exclude`), in the
/// caller's transaction.
async fn enqueue_deliveries(
    c: Conn<'_>,
    event_id: i64,
    kind: &str,
    list_name: Option<&str>,
    configuration_set: Option<&str>,
    exclude: Option<i64>,
) -> StoreResult<()> {
    let now = now_ms();
    let sql = format!(
        "INSERT INTO webhook_deliveries \
         (webhook_id, event_id, status, attempts, next_attempt_at, created_at) \
         SELECT id, $1, 'pending', 0, $2, $2 FROM webhooks WHERE {MATCHING_WEBHOOKS} AND id <> $8"
    );
    on_db!(c, |c| {
        sqlx::query(&sql)
            .bind(event_id)
            .bind(now)
            .bind(crate::domain::events::for_every_webhook(kind))
            .bind(format!("%,{kind},%"))
            .bind(list_name)
            .bind(configuration_set)
            .bind(ses_type_pattern(kind))
            .bind(exclude.unwrap_or(-1))
            .execute(c)
            .await?;
    });
    Ok(())
}

/// A `subscription` event of a batch ([`write_subscriptions`]), its JSON ready.
pub(super) struct Subscription<'a> {
    pub audit: &'a Audit,
    pub topic: Option<String>,
    pub email: Option<String>,
    pub old: Option<String>,
    pub new: Option<String>,
    pub detail: String,
}

/// Writes many `subscription` events of one list, then their webhook deliveries, with
/// a few multi-row statements (the same rows as [`write`] one by one).
pub(super) async fn write_subscriptions(
    mut c: Conn<'_>,
    keyer: &ContactKeyer,
    list_name: &str,
    now: i64,
    events: &[Subscription<'_>],
) -> StoreResult<()> {
    const CHUNK: usize = 500;
    for chunk in events.chunks(CHUNK) {
        let keys = chunk
            .iter()
            .map(|e| e.email.as_deref().map(|m| keyer.hash(m)).transpose())
            .collect::<StoreResult<Vec<_>>>()?;
        let contacts: Vec<(&[u8], &str)> = chunk
            .iter()
            .zip(&keys)
            .filter_map(|(e, k)| Some((k.as_deref()?, e.email.as_deref()?)))
            .collect();
        if !contacts.is_empty() {
            let sql = c.fast(format!(
                "INSERT INTO event_contacts (contact_key, email) VALUES {} \
                 ON CONFLICT (contact_key) DO NOTHING",
                value_rows(contacts.len(), 2)
            ));
            on_db!(c.re(), |c| {
                let mut q = sqlx::query(&sql);
                for (k, m) in &contacts {
                    q = q.bind(*k).bind(*m);
                }
                q.execute(c).await?;
            });
        }
        // An unsubscribe from a message's link names its send record: the message and
        // its configuration set come from there.
        let sends: Vec<i64> = chunk.iter().filter_map(|e| e.audit.send_id).collect();
        let mut sent: std::collections::HashMap<i64, (String, Option<String>)> =
            std::collections::HashMap::new();
        if !sends.is_empty() {
            let sql = c.fast(format!(
                "SELECT id, message_id, configuration_set FROM send_records WHERE id IN ({})",
                placeholders(1, sends.len())
            ));
            let rows: Vec<(i64, String, Option<String>)> = on_db!(c.re(), |c| {
                let mut q = sqlx::query_as(&sql);
                for id in &sends {
                    q = q.bind(*id);
                }
                q.fetch_all(c).await?
            });
            sent.extend(rows.into_iter().map(|(id, m, s)| (id, (m, s))));
        }
        let of = |e: &Subscription<'_>| e.audit.send_id.and_then(|id| sent.get(&id));
        let sql = c.fast(format!(
            "INSERT INTO events (created_at, kind, source, list_name, topic_name, \
             contact_key, old_prefs, new_prefs, ip_hash, user_agent, detail, actor, \
             actor_id, message_id, configuration_set, send_id, request_id) VALUES {} \
             RETURNING id",
            value_rows(chunk.len(), 17)
        ));
        let mut ids: Vec<i64> = on_db!(c.re(), |c| {
            let mut q = sqlx::query_scalar(&sql);
            for (e, key) in chunk.iter().zip(&keys) {
                let send = of(e);
                q = q
                    .bind(now)
                    .bind("subscription")
                    .bind(e.audit.source.as_str())
                    .bind(list_name)
                    .bind(e.topic.as_deref())
                    .bind(key.as_deref())
                    .bind(e.old.as_deref())
                    .bind(e.new.as_deref())
                    .bind(e.audit.ip_hash.as_deref())
                    .bind(e.audit.user_agent.as_deref())
                    .bind(e.detail.as_str())
                    .bind(e.audit.actor.as_str())
                    .bind(e.audit.actor_id.as_deref())
                    .bind(send.map(|s| s.0.as_str()).or(e.audit.message_id.as_deref()))
                    .bind(
                        send.and_then(|s| s.1.as_deref())
                            .or(e.audit.configuration_set.as_deref()),
                    )
                    .bind(send.map(|_| e.audit.send_id).unwrap_or_default())
                    .bind(e.audit.request_id.as_deref());
            }
            q.fetch_all(c).await?
        });
        ids.sort_unstable();
        // As `enqueue_deliveries` for kind `subscription` on this list.
        let sql = c.fast(format!(
            "INSERT INTO webhook_deliveries \
             (webhook_id, event_id, status, attempts, next_attempt_at, created_at) \
             SELECT w.id, e.id, 'pending', 0, e.created_at, e.created_at \
             FROM events e, webhooks w WHERE e.id IN ({}) \
             AND ((((w.event_types = '*' OR w.event_types LIKE '%,subscription,%') \
             AND (w.list_name IS NULL OR w.list_name = e.list_name) \
             AND w.id NOT IN (SELECT webhook_id FROM event_destinations)) \
             OR w.id IN (SELECT d.webhook_id FROM event_destinations d \
             WHERE d.configuration_set = e.configuration_set AND d.enabled = 1 \
             AND d.event_types LIKE '%,SUBSCRIPTION,%'))) ORDER BY e.id, w.id",
            placeholders(1, ids.len())
        ));
        on_db!(c.re(), |c| {
            let mut q = sqlx::query(&sql);
            for id in &ids {
                q = q.bind(*id);
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}

/// Events by id, in chunks.
pub(super) async fn by_ids(
    mut c: Conn<'_>,
    ids: &[i64],
) -> StoreResult<std::collections::HashMap<i64, EventRecord>> {
    let mut out = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE e.id IN ({})",
            placeholders(1, chunk.len())
        );
        let rows: Vec<EventRecord> = on_db!(c.re(), |c| {
            let mut q = sqlx::query_as(&sql);
            for id in chunk {
                q = q.bind(*id);
            }
            q.fetch_all(c).await?
        });
        out.extend(rows.into_iter().map(|e| (e.id, e)));
    }
    Ok(out)
}

/// A bound parameter of a dynamically built query.
enum Arg {
    Text(String),
    Int(i64),
    Bytes(Vec<u8>),
}

#[async_trait::async_trait]
impl EventStore for SqlStore {
    async fn list_events(
        &self,
        list_name: Option<&str>,
        kind: Option<&str>,
        before_id: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<EventRecord>> {
        self.query_events(&EventQuery {
            list: list_name.map(str::to_owned),
            kind: kind.map(str::to_owned),
            before_id,
            limit,
            ..Default::default()
        })
        .await
    }

    async fn query_events(&self, f: &EventQuery) -> StoreResult<Vec<EventRecord>> {
        let db = self.settled(Sees::All).await?;
        // Only the filters given become conditions, so each shape of query gets a plan
        // that uses its index.
        let mut conds = vec!["e.id < $1".to_owned()];
        let mut args = vec![Arg::Int(f.before_id.unwrap_or(i64::MAX))];
        let mut add = |col: &str, op: &str, a: Arg| {
            args.push(a);
            conds.push(format!("{col} {op} ${}", args.len()));
        };
        if let Some(v) = &f.list {
            add("e.list_name", "=", Arg::Text(v.clone()));
        }
        if let Some(v) = &f.topic {
            add("e.topic_name", "=", Arg::Text(v.clone()));
        }
        if let Some(v) = &f.contact {
            add(
                "e.contact_key",
                "=",
                Arg::Bytes(self.pools.keyer().hash(v)?),
            );
        }
        if let Some(v) = &f.kind {
            add("e.kind", "=", Arg::Text(v.clone()));
        }
        if let Some(v) = f.since_ms {
            add("e.created_at", ">=", Arg::Int(v));
        }
        if let Some(v) = f.until_ms {
            add("e.created_at", "<", Arg::Int(v));
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {} ORDER BY e.id DESC LIMIT {}",
            conds.join(" AND "),
            f.limit.clamp(1, 1000)
        );
        Ok(on_db!(db.read(), |p| {
            let mut q = sqlx::query_as(&sql);
            for a in args {
                q = match a {
                    Arg::Text(s) => q.bind(s),
                    Arg::Int(i) => q.bind(i),
                    Arg::Bytes(b) => q.bind(b),
                };
            }
            q.fetch_all(p).await?
        }))
    }

    async fn record_change(
        &self,
        audit: &Audit,
        kind: &str,
        list_name: Option<&str>,
        topic_name: Option<&str>,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        let mut tx = self.pools.write().begin().await?;
        write(
            tx.conn(),
            self.pools.keyer(),
            NewEvent::new(kind, audit, detail)
                .list(list_name)
                .topic(topic_name),
        )
        .await?;
        tx.commit().await
    }

    async fn forget_event_contact(&self, email: &EmailAddress) -> StoreResult<u64> {
        let key = self.pools.keyer().hash(email.as_str())?;
        Ok(on_db!(self.pools.write(), |p| {
            sqlx::query("DELETE FROM event_contacts WHERE contact_key = $1")
                .bind(&key)
                .execute(p)
                .await?
                .rows_affected()
        }))
    }
}

/// Loads the contact key (made on first use) and moves the addresses of events written
/// before the key existed into `event_contacts`, a batch per transaction; run when the
/// store opens. Nothing is left to move after the first run.
pub(super) async fn prepare(store: &SqlStore) -> StoreResult<()> {
    use super::SystemStore;
    let mut fresh = vec![0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut fresh);
    let key = store.secret(ContactKeyer::SECRET, &fresh).await?;
    store.pools.keyer().set(key);
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, String)> = on_db!(store.pools.write(), |p| {
            sqlx::query_as(
                "SELECT id, contact_email FROM events WHERE id > $1 \
                 AND contact_email IS NOT NULL ORDER BY id LIMIT 2000",
            )
            .bind(after)
            .fetch_all(p)
            .await?
        });
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.0;
        let mut tx = store.pools.write().begin().await?;
        for (id, email) in &rows {
            let key = store.pools.keyer().hash(email)?;
            keep_contact(tx.conn(), &key, email).await?;
            on_db!(tx.conn(), |c| {
                sqlx::query(
                    "UPDATE events SET contact_key = $1, contact_email = NULL WHERE id = $2",
                )
                .bind(&key)
                .bind(id)
                .execute(c)
                .await?;
            });
        }
        tx.commit().await?;
    }
}
