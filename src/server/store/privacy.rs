//! Data-subject requests and retention: what is stored about an address (the right of
//! access), erasing it (the right to erasure), and pruning old message bodies and events.
//!
//! An erasure removes the address and what it named from every table in one
//! transaction: contacts and their preferences and attributes, the address kept apart
//! for the event log (its events stay, naming the contact by its keyed hash, with the
//! address removed from their details and their client data cleared), queued and sent
//! message bodies to it, the recipient of its send records, and its suppression. What
//! remains is keyed hashes: the opt-out tombstones of its lists (unsubscribed from all,
//! kept like every tombstone under [`ContactKeyer::tombstone`](events::ContactKeyer))
//! and an entry in `erased_recipients`, so the address is never mailed again. On SQLite
//! the erasure runs with `secure_delete` on and the WAL is checkpointed and truncated
//! after it, so no copy remains in the database files.

use super::db::{Conn, on_db};
use super::events::{self, EventRecord, NewEvent};
use super::one_click::Sees;
use super::{Audit, SqlStore, StoreError, StoreResult, now_ms};
use crate::domain::EmailAddress;
use serde::Serialize;

/// A message to the address in the relay queue or the outbox (without its bytes).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct SubjectMessage {
    pub id: i64,
    pub message_id: String,
    pub mail_from: String,
    pub state: String,
    pub size: i64,
    pub created_at: i64,
}

/// A send record of a copy sent to the address.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct SubjectSend {
    pub id: i64,
    pub message_id: String,
    pub list_name: Option<String>,
    pub topic_name: Option<String>,
    pub configuration_set: Option<String>,
    pub tags: String,
    pub created_at: i64,
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Erasure {
    /// Contacts removed (one per list).
    pub contacts: u64,
    /// Events whose address, details or client data were cleared.
    pub events: u64,
    /// Queued or kept message bodies deleted.
    pub messages: u64,
    /// Send records whose recipient was cleared.
    pub sends: u64,
    /// Whether a suppression-list entry was removed.
    pub suppression: bool,
}

/// What retention pruning removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub messages: u64,
    pub events: u64,
}

/// Data-subject requests and retention; a part of `Store`.
#[async_trait::async_trait]
pub trait PrivacyStore {
    /// Messages to the address kept in the queue or the outbox, newest first.
    async fn messages_to(&self, email: &EmailAddress) -> StoreResult<Vec<SubjectMessage>>;
    /// Send records of copies sent to the address, newest first.
    async fn sends_to(&self, email: &EmailAddress) -> StoreResult<Vec<SubjectSend>>;
    /// Every event naming the address, oldest first.
    async fn events_about(&self, email: &EmailAddress) -> StoreResult<Vec<EventRecord>>;
    /// Whether the address was erased (and when).
    async fn erased_at(&self, email: &EmailAddress) -> StoreResult<Option<i64>>;
    /// Which of these addresses (lower-cased) were erased.
    async fn erased_among(&self, emails: &[String]) -> StoreResult<Vec<String>>;
    /// Erases the address everywhere (see the module documentation) and logs a
    /// `contact.erased` event; `NotFound` when nothing is stored about it.
    async fn erase_subject(&self, email: &EmailAddress, audit: &Audit) -> StoreResult<Erasure>;
    /// Deletes message bodies that are no longer queued (sent, failed, kept in the
    /// outbox) created before `messages_before`, and events created before
    /// `events_before`, with their webhook deliveries. Tombstones and suppressions stay.
    async fn prune(
        &self,
        messages_before: Option<i64>,
        events_before: Option<i64>,
    ) -> StoreResult<Pruned>;
}

/// The most rows one pruning statement deletes (short write transactions).
const PRUNE_BATCH: i64 = 5_000;

/// `s` with every occurrence of `needle` (ASCII case-insensitive) replaced.
fn redact(s: &str, needle: &str) -> String {
    let (hay, pat) = (s.to_ascii_lowercase(), needle.to_ascii_lowercase());
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    while let Some(i) = hay[at..].find(&pat) {
        out.push_str(&s[at..at + i]);
        out.push_str("[erased]");
        at += i + pat.len();
    }
    out.push_str(&s[at..]);
    out
}

/// A `LIKE` pattern matching `s` anywhere, with `\` as the escape.
fn like_anywhere(s: &str) -> String {
    let mut p = String::from("%");
    for ch in s.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// The address in lower case, parsed (erasure and access match every spelling).
fn lowered(email: &EmailAddress) -> StoreResult<EmailAddress> {
    EmailAddress::parse(&email.as_str().to_ascii_lowercase())
        .map_err(|e| StoreError::Refused(format!("{email}: {e}")))
}

/// The keyed hash an erasure keeps for the address (any spelling).
fn erased_hash(keyer: &events::ContactKeyer, email: &EmailAddress) -> StoreResult<Vec<u8>> {
    keyer.erased(&super::email_hash(&lowered(email)?))
}

/// Every key the event log names the address by: as given, in lower case (the
/// suppression list's spelling), and any other spelling kept apart for the log.
async fn contact_keys(
    c: Conn<'_>,
    keyer: &events::ContactKeyer,
    email: &EmailAddress,
) -> StoreResult<Vec<Vec<u8>>> {
    let addr = email.as_str().to_ascii_lowercase();
    let mut keys = vec![keyer.hash(email.as_str())?, keyer.hash(&addr)?];
    let kept: Vec<Vec<u8>> = on_db!(c, |c| {
        sqlx::query_scalar("SELECT contact_key FROM event_contacts WHERE lower(email) = $1")
            .bind(&addr)
            .fetch_all(c)
            .await?
    });
    keys.extend(kept);
    keys.sort();
    keys.dedup();
    Ok(keys)
}

async fn erase_in(
    mut c: Conn<'_>,
    keyer: &events::ContactKeyer,
    email: &EmailAddress,
    audit: &Audit,
) -> StoreResult<Erasure> {
    let addr = email.as_str().to_ascii_lowercase();
    let keys = contact_keys(c.re(), keyer, email).await?;
    let now = now_ms();
    let mut done = Erasure::default();

    // Contacts (in any spelling): gone, with an opt-out from all of their list kept as a
    // tombstone.
    let contacts: Vec<(i64, String, Vec<u8>)> = on_db!(c.re(), |c| {
        sqlx::query_as(
            "SELECT c.id, l.name, c.email_hash FROM contacts c \
             JOIN contact_lists l ON l.id = c.list_id WHERE lower(c.email) = $1",
        )
        .bind(&addr)
        .fetch_all(c)
        .await?
    });
    for (id, list, hash) in &contacts {
        let key = keyer.tombstone(hash)?;
        on_db!(c.re(), |c| {
            sqlx::query("DELETE FROM contact_topic_prefs WHERE contact_id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query("DELETE FROM contacts WHERE id = $1")
                .bind(id)
                .execute(&mut *c)
                .await?;
            sqlx::query(
                "INSERT INTO tombstones (list_name, email_hash, unsubscribe_all, topics, \
                 updated_at) VALUES ($1, $2, TRUE, '[]', $3) \
                 ON CONFLICT (list_name, email_hash) DO UPDATE SET unsubscribe_all = TRUE, \
                 updated_at = excluded.updated_at",
            )
            .bind(list)
            .bind(&key)
            .bind(now)
            .execute(c)
            .await?;
        });
    }
    done.contacts = contacts.len() as u64;

    // The event log: the address kept apart goes, and so does every copy of it in an
    // event's detail; the contact's events lose their client data. `events` counts the
    // events that named it (by key or in their detail).
    let mut forgotten = 0;
    let mut named: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    for key in &keys {
        forgotten += on_db!(c.re(), |c| {
            sqlx::query("DELETE FROM event_contacts WHERE contact_key = $1")
                .bind(key)
                .execute(c)
                .await?
                .rows_affected()
        });
        let ids: Vec<i64> = on_db!(c.re(), |c| {
            sqlx::query(
                "UPDATE events SET ip_hash = NULL, user_agent = NULL, contact_email = NULL \
                 WHERE contact_key = $1",
            )
            .bind(key)
            .execute(&mut *c)
            .await?;
            sqlx::query_scalar("SELECT id FROM events WHERE contact_key = $1")
                .bind(key)
                .fetch_all(c)
                .await?
        });
        named.extend(ids);
    }
    let rows: Vec<(i64, String)> = on_db!(c.re(), |c| {
        sqlx::query_as(
            "SELECT id, detail FROM events WHERE lower(contact_email) = $1 \
             OR lower(detail) LIKE $2 ESCAPE '\\'",
        )
        .bind(&addr)
        .bind(like_anywhere(&addr))
        .fetch_all(c)
        .await?
    });
    for (id, detail) in &rows {
        on_db!(c.re(), |c| {
            sqlx::query(
                "UPDATE events SET detail = $2, contact_email = NULL, ip_hash = NULL, \
                 user_agent = NULL, contact_key = COALESCE(contact_key, $3) WHERE id = $1",
            )
            .bind(id)
            .bind(redact(detail, &addr))
            .bind(&keys[0])
            .execute(c)
            .await?;
        });
    }
    // Found only by key with its address already gone: erased before.
    let still_named = forgotten > 0 || !rows.is_empty();
    named.extend(rows.iter().map(|(id, _)| *id));
    done.events = named.len() as u64;
    // Their seals stay in the chain without the salt: the changed content cannot be
    // checked against them, nor the erased content guessed from them.
    let named: Vec<i64> = named.into_iter().collect();
    super::seals::forget_salts(c.re(), &named).await?;

    // Message bodies to the address, and the recipient of its send records.
    done.messages = on_db!(c.re(), |c| {
        sqlx::query("DELETE FROM mail_queue WHERE lower(rcpt) = $1")
            .bind(&addr)
            .execute(c)
            .await?
            .rows_affected()
    });
    done.sends = on_db!(c.re(), |c| {
        sqlx::query("UPDATE send_records SET rcpt = '' WHERE lower(rcpt) = $1")
            .bind(&addr)
            .execute(c)
            .await?
            .rows_affected()
    });
    done.suppression = on_db!(c.re(), |c| {
        sqlx::query("DELETE FROM suppressions WHERE email = $1")
            .bind(&addr)
            .execute(c)
            .await?
            .rows_affected()
    }) > 0;
    // Links a recipient page mailed it (manage, subscriptions not yet confirmed).
    let request_key = super::recipient::request_key(keyer, email)?;
    on_db!(c.re(), |c| {
        sqlx::query("DELETE FROM recipient_requests WHERE address_key = $1")
            .bind(&request_key)
            .execute(c)
            .await?;
    });

    let nothing = Erasure {
        events: done.events,
        ..Erasure::default()
    };
    if done == nothing && !still_named {
        return Err(StoreError::NotFound);
    }
    on_db!(c.re(), |c| {
        sqlx::query(
            "INSERT INTO erased_recipients (hash, erased_at) VALUES ($1, $2) \
             ON CONFLICT (hash) DO NOTHING",
        )
        .bind(erased_hash(keyer, email)?)
        .bind(now)
        .execute(c)
        .await?;
    });
    events::write(
        c,
        keyer,
        NewEvent::new(
            "contact.erased",
            audit,
            serde_json::to_value(&done).expect("plain data"),
        ),
    )
    .await?;
    Ok(done)
}

#[async_trait::async_trait]
impl PrivacyStore for SqlStore {
    async fn messages_to(&self, email: &EmailAddress) -> StoreResult<Vec<SubjectMessage>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT id, message_id, mail_from, state, CAST(length(data) AS BIGINT) AS size, \
                 created_at FROM mail_queue WHERE lower(rcpt) = $1 ORDER BY id DESC",
            )
            .bind(email.as_str().to_ascii_lowercase())
            .fetch_all(p)
            .await?
        }))
    }

    async fn sends_to(&self, email: &EmailAddress) -> StoreResult<Vec<SubjectSend>> {
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(
                "SELECT id, message_id, list_name, topic_name, configuration_set, tags, \
                 created_at FROM send_records WHERE lower(rcpt) = $1 ORDER BY created_at DESC",
            )
            .bind(email.as_str().to_ascii_lowercase())
            .fetch_all(p)
            .await?
        }))
    }

    async fn events_about(&self, email: &EmailAddress) -> StoreResult<Vec<EventRecord>> {
        let db = self.settled(Sees::All).await?;
        let mut conn = db.read().acquire().await?;
        let keys = contact_keys(conn.conn(), self.pools.keyer(), email).await?;
        let sql = format!(
            "SELECT {} FROM events e LEFT JOIN event_contacts c ON c.contact_key = e.contact_key \
             WHERE e.contact_key IN ({}) ORDER BY e.id",
            events::COLUMNS,
            super::sql::placeholders(1, keys.len())
        );
        Ok(on_db!(conn.conn(), |c| {
            let mut q = sqlx::query_as(&sql);
            for k in &keys {
                q = q.bind(k);
            }
            q.fetch_all(c).await?
        }))
    }

    async fn erased_at(&self, email: &EmailAddress) -> StoreResult<Option<i64>> {
        let h = erased_hash(self.pools.keyer(), email)?;
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_scalar("SELECT erased_at FROM erased_recipients WHERE hash = $1")
                .bind(h)
                .fetch_optional(p)
                .await?
        }))
    }

    async fn erased_among(&self, emails: &[String]) -> StoreResult<Vec<String>> {
        let mut by_hash = std::collections::HashMap::new();
        for e in emails {
            if let Ok(addr) = EmailAddress::parse(e) {
                let h = erased_hash(self.pools.keyer(), &addr)?;
                by_hash.insert(h, e.clone());
            }
        }
        if by_hash.is_empty() {
            return Ok(Vec::new());
        }
        let hashes: Vec<Vec<u8>> = by_hash.keys().cloned().collect();
        let mut out = Vec::new();
        for chunk in hashes.chunks(200) {
            let sql = format!(
                "SELECT hash FROM erased_recipients WHERE hash IN ({})",
                super::sql::placeholders(1, chunk.len())
            );
            let found: Vec<Vec<u8>> = on_db!(self.pools.read(), |p| {
                let mut q = sqlx::query_scalar(&sql);
                for h in chunk {
                    q = q.bind(h);
                }
                q.fetch_all(p).await?
            });
            out.extend(found.iter().filter_map(|h| by_hash.get(h).cloned()));
        }
        Ok(out)
    }

    async fn erase_subject(&self, email: &EmailAddress, audit: &Audit) -> StoreResult<Erasure> {
        let db = self.settled(Sees::All).await?;
        let mut conn = db.write().acquire().await?;
        let sqlite = self.pools.backend() == super::Backend::Sqlite;
        if sqlite {
            on_db!(conn.conn(), |c| {
                sqlx::query("PRAGMA secure_delete = ON").execute(c).await?;
            });
        }
        let result = async {
            let mut c = conn.conn();
            let mut tx = c.begin().await?;
            let done = erase_in(tx.conn(), self.pools.keyer(), email, audit).await?;
            tx.commit().await?;
            Ok::<_, StoreError>(done)
        }
        .await;
        if sqlite {
            on_db!(conn.conn(), |c| {
                sqlx::query("PRAGMA secure_delete = FAST")
                    .execute(c)
                    .await?;
            });
        }
        drop(conn);
        let done = result?;
        if sqlite {
            self.truncate_wal().await?;
        }
        Ok(done)
    }

    async fn prune(
        &self,
        messages_before: Option<i64>,
        events_before: Option<i64>,
    ) -> StoreResult<Pruned> {
        let mut pruned = Pruned::default();
        if let Some(t) = messages_before {
            loop {
                let n = on_db!(self.pools.write(), |p| {
                    sqlx::query(
                        "DELETE FROM mail_queue WHERE id IN (SELECT id FROM mail_queue \
                         WHERE state <> 'queued' AND created_at < $1 ORDER BY id LIMIT $2)",
                    )
                    .bind(t)
                    .bind(PRUNE_BATCH)
                    .execute(p)
                    .await?
                    .rows_affected()
                });
                pruned.messages += n;
                if n < PRUNE_BATCH as u64 {
                    break;
                }
            }
        }
        if let Some(t) = events_before {
            loop {
                let mut tx = self.pools.write().begin().await?;
                let n = on_db!(tx.conn(), |c| {
                    let ids: Vec<i64> = sqlx::query_scalar(
                        "SELECT id FROM events WHERE created_at < $1 ORDER BY id LIMIT $2",
                    )
                    .bind(t)
                    .bind(PRUNE_BATCH)
                    .fetch_all(&mut *c)
                    .await?;
                    if let (Some(lo), Some(hi)) = (ids.first(), ids.last()) {
                        sqlx::query(
                            "DELETE FROM webhook_deliveries WHERE event_id >= $1 AND event_id <= $2",
                        )
                        .bind(lo)
                        .bind(hi)
                        .execute(&mut *c)
                        .await?;
                        sqlx::query("DELETE FROM events WHERE id >= $1 AND id <= $2")
                            .bind(lo)
                            .bind(hi)
                            .execute(&mut *c)
                            .await?;
                    }
                    ids
                });
                if let (Some(lo), Some(hi)) = (n.first(), n.last()) {
                    // The seals stay, without their salts (see `seals`).
                    super::seals::forget_salts_between(tx.conn(), *lo, *hi).await?;
                }
                let n = n.len() as u64;
                tx.commit().await?;
                pruned.events += n;
                if n < PRUNE_BATCH as u64 {
                    break;
                }
            }
            if pruned.events > 0 {
                // Addresses kept apart for events that are all gone go too (one pass).
                on_db!(self.pools.write(), |p| {
                    sqlx::query(
                        "DELETE FROM event_contacts WHERE NOT EXISTS (SELECT 1 FROM events e \
                         WHERE e.contact_key = event_contacts.contact_key)",
                    )
                    .execute(p)
                    .await?;
                });
            }
        }
        Ok(pruned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_is_case_insensitive_and_total() {
        assert_eq!(
            redact(
                r#"{"to":"Ann@Example.com","cc":"ann@example.com!"}"#,
                "ann@example.com"
            ),
            r#"{"to":"[erased]","cc":"[erased]!"}"#
        );
        assert_eq!(redact("nothing here", "ann@example.com"), "nothing here");
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_anywhere("a_b%c@x"), "%a\\_b\\%c@x%");
    }
}
