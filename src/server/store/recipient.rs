//! What the recipient pages keep beyond preferences: a contact's pause of its list, the
//! lists an address is on, and the requests a public page mailed a link for (a manage
//! link, a subscription to confirm).

use super::contacts::{By, OF_ADDRESS_SQL, contacts, read};
use super::db::on_db;
use super::events::{self, NewEvent};
use super::one_click::Sees;
use super::{SqlStore, StoreResult, now_ms};
use crate::domain::{Audit, Contact, ContactList, EmailAddress};
use sha2::{Digest, Sha256};

/// A request a public page stores before it mails the link: only the token's SHA-256 is
/// kept.
#[derive(Debug, Clone)]
pub struct NewRequest<'a> {
    /// `manage` or `subscribe`.
    pub kind: &'a str,
    pub token: &'a str,
    pub email: &'a EmailAddress,
    pub list_name: Option<&'a str>,
    /// What using it needs (a subscription's address, topics and consent).
    pub payload: serde_json::Value,
    pub expires_at: i64,
}

/// A stored request, found by its token.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredRequest {
    pub kind: String,
    pub list_name: Option<String>,
    pub payload: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
}

/// The keyed hash requests are counted and erased by: of the address in lower case, so
/// that spelling it differently neither escapes the per-address limit nor an erasure.
pub(super) fn request_key(
    keyer: &events::ContactKeyer,
    email: &EmailAddress,
) -> StoreResult<Vec<u8>> {
    keyer.hash(&email.as_str().to_ascii_lowercase())
}

/// A request by its token's hash.
pub(super) const REQUEST_SQL: &str = "SELECT kind, list_name, payload, created_at, expires_at, \
     used_at FROM recipient_requests WHERE token_hash = $1";

fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[async_trait::async_trait]
pub trait RecipientStore {
    /// Pauses (`Some(until)`) or resumes (`None`) the contact of `hash` on `list`, and
    /// writes a `pause` or `resume` event in the same transaction when that changes
    /// anything. Returns the contact after. `NotFound` without a contact.
    async fn set_pause(
        &self,
        list: &ContactList,
        hash: &[u8],
        until: Option<i64>,
        audit: &Audit,
    ) -> StoreResult<Contact>;
    /// Clears up to `limit` pauses that ended by `now`, each with its `resume` event.
    /// Returns how many.
    async fn resume_ended_pauses(&self, now: i64, limit: u32) -> StoreResult<u64>;
    /// The contacts of this address hash on every list, each with its list's name, by
    /// list name.
    async fn contacts_of_address(&self, hash: &[u8]) -> StoreResult<Vec<(String, Contact)>>;
    /// Stores a request before its link is mailed.
    async fn put_request(&self, r: &NewRequest<'_>) -> StoreResult<()>;
    /// Requests of `kind` for this address made since `since` (the per-address limit).
    async fn count_requests(
        &self,
        kind: &str,
        email: &EmailAddress,
        since: i64,
    ) -> StoreResult<i64>;
    /// The request of a token, whether or not used or expired.
    async fn get_request(&self, token: &str) -> StoreResult<Option<StoredRequest>>;
    /// Marks a request used, once: `false` if it was used already or has expired.
    async fn use_request(&self, token: &str, now: i64) -> StoreResult<bool>;
    /// Writes an event about a contact (a confirmed subscription's consent, an
    /// unsubscribe's reason) and its webhook deliveries.
    async fn record_contact_event(
        &self,
        audit: &Audit,
        kind: &str,
        list_name: &str,
        email: Option<&EmailAddress>,
        detail: serde_json::Value,
    ) -> StoreResult<()>;
    /// Deletes requests that expired, once a day has passed since they were made (the
    /// per-address limit counts a day back). Returns how many.
    async fn prune_requests(&self, now: i64) -> StoreResult<u64>;
}

#[async_trait::async_trait]
impl RecipientStore for SqlStore {
    async fn set_pause(
        &self,
        list: &ContactList,
        hash: &[u8],
        until: Option<i64>,
        audit: &Audit,
    ) -> StoreResult<Contact> {
        let db = self.settled(Sees::Contact(list.id, hash)).await?;
        let mut tx = db.write().begin().await?;
        let mut c = tx.conn();
        let old = read(c.re(), list.id, By::Hash(hash)).await?;
        let now = now_ms();
        let running = old.paused_at(now);
        if until.is_none() && !running && old.paused_until.is_none() {
            return Ok(old);
        }
        on_db!(c.re(), |c| {
            sqlx::query("UPDATE contacts SET paused_until = $1, updated_at = $2 WHERE id = $3")
                .bind(until)
                .bind(now)
                .bind(old.id)
                .execute(c)
                .await?;
        });
        // A pause that ended by itself and is cleared now is resumed without anyone
        // acting: still one `resume` event.
        let (kind, detail) = match until {
            Some(t) => (
                "pause",
                serde_json::json!({ "pausedUntil": t, "previousPausedUntil": old.paused_until }),
            ),
            None => (
                "resume",
                serde_json::json!({ "pausedUntil": old.paused_until }),
            ),
        };
        events::write(
            c.re(),
            self.pools.keyer(),
            NewEvent::new(kind, audit, detail)
                .list(list.name.as_str())
                .contact(old.email.as_str()),
        )
        .await?;
        let new = read(c, list.id, By::Hash(hash)).await?;
        tx.commit().await?;
        Ok(new)
    }

    async fn resume_ended_pauses(&self, now: i64, limit: u32) -> StoreResult<u64> {
        #[derive(sqlx::FromRow)]
        struct Ended {
            id: i64,
            email: String,
            list_name: String,
            paused_until: i64,
        }
        let db = self.settled(Sees::All).await?;
        let mut tx = db.write().begin().await?;
        let mut c = tx.conn();
        let ended: Vec<Ended> = on_db!(c.re(), |c| {
            sqlx::query_as(
                "SELECT c.id, c.email, l.name AS list_name, c.paused_until FROM contacts c \
                 JOIN contact_lists l ON l.id = c.list_id \
                 WHERE c.paused_until IS NOT NULL AND c.paused_until <= $1 LIMIT $2",
            )
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(c)
            .await?
        });
        let audit = Audit::new(crate::domain::Source::LandingPage);
        for e in &ended {
            let cleared = on_db!(c.re(), |c| {
                sqlx::query(
                    "UPDATE contacts SET paused_until = NULL \
                     WHERE id = $1 AND paused_until = $2",
                )
                .bind(e.id)
                .bind(e.paused_until)
                .execute(c)
                .await?
                .rows_affected()
            });
            if cleared == 0 {
                continue;
            }
            events::write(
                c.re(),
                self.pools.keyer(),
                NewEvent::new(
                    "resume",
                    &audit,
                    serde_json::json!({ "pausedUntil": e.paused_until, "ended": true }),
                )
                .list(e.list_name.as_str())
                .contact(e.email.as_str()),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(ended.len() as u64)
    }

    async fn contacts_of_address(&self, hash: &[u8]) -> StoreResult<Vec<(String, Contact)>> {
        let db = self.settled(Sees::All).await?;
        let rows = match &self.inline {
            Some(inline) => inline.contacts_of_address(hash)?,
            None => on_db!(db.read(), |p| {
                sqlx::query_as(OF_ADDRESS_SQL)
                    .bind(hash)
                    .fetch_all(p)
                    .await?
            }),
        };
        contacts(rows)
    }

    async fn put_request(&self, r: &NewRequest<'_>) -> StoreResult<()> {
        let key = request_key(self.pools.keyer(), r.email)?;
        on_db!(self.pools.write(), |p| {
            sqlx::query(
                "INSERT INTO recipient_requests (token_hash, kind, address_key, list_name, \
                 payload, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(token_hash(r.token))
            .bind(r.kind)
            .bind(key)
            .bind(r.list_name)
            .bind(r.payload.to_string())
            .bind(now_ms())
            .bind(r.expires_at)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    async fn count_requests(
        &self,
        kind: &str,
        email: &EmailAddress,
        since: i64,
    ) -> StoreResult<i64> {
        let key = request_key(self.pools.keyer(), email)?;
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM recipient_requests \
                 WHERE address_key = $1 AND kind = $2 AND created_at >= $3",
            )
            .bind(key)
            .bind(kind)
            .bind(since)
            .fetch_one(p)
            .await?
        }))
    }

    async fn get_request(&self, token: &str) -> StoreResult<Option<StoredRequest>> {
        if let Some(inline) = &self.inline {
            return inline.request(&token_hash(token));
        }
        Ok(on_db!(self.pools.read(), |p| {
            sqlx::query_as(REQUEST_SQL)
                .bind(token_hash(token))
                .fetch_optional(p)
                .await?
        }))
    }

    async fn use_request(&self, token: &str, now: i64) -> StoreResult<bool> {
        let n = on_db!(self.pools.write(), |p| {
            sqlx::query(
                "UPDATE recipient_requests SET used_at = $2, payload = '{}' \
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            )
            .bind(token_hash(token))
            .bind(now)
            .execute(p)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    async fn record_contact_event(
        &self,
        audit: &Audit,
        kind: &str,
        list_name: &str,
        email: Option<&EmailAddress>,
        detail: serde_json::Value,
    ) -> StoreResult<()> {
        let mut tx = self.pools.write().begin().await?;
        events::write(
            tx.conn(),
            self.pools.keyer(),
            NewEvent::new(kind, audit, detail)
                .list(list_name)
                .contact(email.map(EmailAddress::as_str)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_requests(&self, now: i64) -> StoreResult<u64> {
        Ok(on_db!(self.pools.write(), |p| {
            sqlx::query(
                "DELETE FROM recipient_requests WHERE expires_at <= $1 AND created_at <= $2",
            )
            .bind(now)
            .bind(now - 86_400_000)
            .execute(p)
            .await?
            .rows_affected()
        }))
    }
}
