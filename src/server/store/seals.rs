//! The event log's hash chain: tamper evidence without serialising the writers.
//!
//! Events are written by any instance, in any order their transactions commit. One
//! sealer at a time (on PostgreSQL, whoever holds a transaction-scoped advisory lock;
//! SQLite has one writer anyway) takes the events not yet sealed and appends each to
//! `event_seals`, in the order it seals them:
//!
//! - `salt`: 16 random bytes;
//! - `commitment = SHA-256(salt ‖ content)`, where `content` is the event's canonical
//!   form ([`content`]);
//! - `link = SHA-256("optbox-seal-v1" ‖ previous link ‖ seq ‖ event id ‖ commitment)`,
//!   the previous link of the first seal being 32 zero bytes, `seq` and the event id as
//!   8-byte big-endian integers.
//!
//! An erasure changes an event's content and the retention schedule deletes old events;
//! both delete the salt with it and keep the seal, so the chain verifies and the erased
//! content cannot be confirmed by guessing. Changing, deleting or inserting anything else
//! breaks it: [`SealStore::verify_chain`] names the first broken seal.

use super::db::{Conn, on_db};
use super::sql::{placeholders, value_rows};
use super::{Backend, SqlStore, StoreResult, now_ms};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The PostgreSQL advisory lock the sealer holds for its transaction.
const SEALER_LOCK: i64 = 0x6f70_7462_7365_616c; // "optbseal"

/// Seals verified per read.
const VERIFY_PAGE: i64 = 2_000;

/// The newest seal: what a signed checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainHead {
    pub seq: i64,
    pub event_id: i64,
    /// Hex.
    pub link: String,
    pub sealed_at: i64,
}

/// The first seal that does not verify, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenSeal {
    pub seq: i64,
    pub event_id: i64,
    pub reason: String,
}

/// What [`SealStore::verify_chain`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Seals walked (up to the first broken one).
    pub seals: u64,
    /// Seals whose event content was checked against its commitment.
    pub checked: u64,
    /// Seals of events erased or pruned (no salt: only the link is checked).
    pub erased: u64,
    /// Events not sealed yet.
    pub unsealed: u64,
    pub head: Option<ChainHead>,
    pub broken: Option<BrokenSeal>,
    /// The link at each sequence number asked for (to compare with checkpoints), hex.
    #[serde(skip)]
    pub links_at: Vec<(i64, String)>,
}

/// What proves one event is in the chain: recompute `commitment` from `salt` and
/// `content`, then `link` from `prev_link`, `seq`, the event id and `commitment`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SealProof {
    pub event_id: i64,
    pub seq: i64,
    /// The canonical content the commitment covers (`None` once erased or pruned).
    pub content: Option<String>,
    /// Hex; `None` once erased or pruned.
    pub salt: Option<String>,
    pub commitment: String,
    pub prev_link: String,
    pub link: String,
}

/// The hash chain over the event log.
#[async_trait::async_trait]
pub trait SealStore {
    /// Seals up to `limit` events not sealed yet, in one transaction; returns how many.
    /// Returns 0 without waiting when another sealer holds the chain (PostgreSQL).
    async fn seal_events(&self, limit: u32) -> StoreResult<u64>;
    /// Walks the whole chain, recomputing every link and, where the salt is kept, every
    /// commitment; stops at the first broken seal. `at` asks for the links at these
    /// sequence numbers too (for checkpoints).
    async fn verify_chain(&self, at: &[i64]) -> StoreResult<Verification>;
    /// The newest seal, if any.
    async fn chain_head(&self) -> StoreResult<Option<ChainHead>>;
    /// The proofs of these events (those sealed).
    async fn seal_proofs(&self, event_ids: &[i64]) -> StoreResult<Vec<SealProof>>;
}

/// An event row as the chain commits to it.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    created_at: i64,
    kind: String,
    source: Option<String>,
    list_name: Option<String>,
    topic_name: Option<String>,
    contact_key: Option<Vec<u8>>,
    old_prefs: Option<String>,
    new_prefs: Option<String>,
    ip_hash: Option<String>,
    user_agent: Option<String>,
    detail: String,
    actor: Option<String>,
    actor_id: Option<String>,
    message_id: Option<String>,
    configuration_set: Option<String>,
    send_id: Option<i64>,
}

const ROW_COLUMNS: &str = "e.id, e.created_at, e.kind, e.source, e.list_name, e.topic_name, \
     e.contact_key, e.old_prefs, e.new_prefs, e.ip_hash, e.user_agent, e.detail, e.actor, \
     e.actor_id, e.message_id, e.configuration_set, e.send_id";

/// The canonical content of an event: a JSON array of its columns in a fixed order (the
/// contact by its keyed hash in hex; the address itself is kept apart and not committed).
fn content(r: &Row) -> String {
    serde_json::json!([
        r.id,
        r.created_at,
        r.kind,
        r.source,
        r.list_name,
        r.topic_name,
        r.contact_key.as_deref().map(hex),
        r.old_prefs,
        r.new_prefs,
        r.ip_hash,
        r.user_agent,
        r.detail,
        r.actor,
        r.actor_id,
        r.message_id,
        r.configuration_set,
        r.send_id,
    ])
    .to_string()
}

fn hex(b: &[u8]) -> String {
    crate::server::hex::encode(b)
}

/// `SHA-256(salt ‖ content)`.
pub fn commitment(salt: &[u8], content: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(content.as_bytes());
    h.finalize().into()
}

/// `SHA-256("optbox-seal-v1" ‖ prev ‖ seq ‖ event_id ‖ commitment)`.
pub fn link(prev: &[u8], seq: i64, event_id: i64, commitment: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"optbox-seal-v1");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(event_id.to_be_bytes());
    h.update(commitment);
    h.finalize().into()
}

/// The link before the first seal.
pub const GENESIS: [u8; 32] = [0; 32];

/// Deletes the salts of these events' seals (their content was erased or pruned), in
/// the caller's transaction.
pub(super) async fn forget_salts(mut c: Conn<'_>, event_ids: &[i64]) -> StoreResult<()> {
    for chunk in event_ids.chunks(500) {
        let sql = format!(
            "UPDATE event_seals SET salt = NULL WHERE event_id IN ({})",
            placeholders(1, chunk.len())
        );
        on_db!(c.re(), |c| {
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(id);
            }
            q.execute(c).await?;
        });
    }
    Ok(())
}

/// Deletes the salts of the seals of events with ids in `lo..=hi`, in the caller's
/// transaction (the retention schedule deletes events by id range).
pub(super) async fn forget_salts_between(c: Conn<'_>, lo: i64, hi: i64) -> StoreResult<()> {
    on_db!(c, |c| {
        sqlx::query("UPDATE event_seals SET salt = NULL WHERE event_id >= $1 AND event_id <= $2")
            .bind(lo)
            .bind(hi)
            .execute(c)
            .await?;
    });
    Ok(())
}

#[derive(sqlx::FromRow)]
struct SealRow {
    seq: i64,
    event_id: i64,
    salt: Option<Vec<u8>>,
    commitment: Vec<u8>,
    link: Vec<u8>,
    sealed_at: i64,
}

/// A seal with the link of the seal before it.
#[derive(sqlx::FromRow)]
struct ProofRow {
    #[sqlx(flatten)]
    seal: SealRow,
    prev_link: Option<Vec<u8>>,
}

async fn head(c: Conn<'_>) -> StoreResult<Option<SealRow>> {
    Ok(on_db!(c, |c| {
        sqlx::query_as(
            "SELECT seq, event_id, salt, commitment, link, sealed_at FROM event_seals \
             ORDER BY seq DESC LIMIT 1",
        )
        .fetch_optional(c)
        .await?
    }))
}

fn chain_head(r: SealRow) -> ChainHead {
    ChainHead {
        seq: r.seq,
        event_id: r.event_id,
        link: hex(&r.link),
        sealed_at: r.sealed_at,
    }
}

#[async_trait::async_trait]
impl SealStore for SqlStore {
    async fn seal_events(&self, limit: u32) -> StoreResult<u64> {
        use rand::RngCore;
        // Most rounds find nothing: ask a reader first, and take neither the writer nor
        // the lock then.
        let waiting: Option<i64> = on_db!(self.pools.read(), |p| {
            sqlx::query_scalar("SELECT id FROM events WHERE sealed IS NULL LIMIT 1")
                .fetch_optional(p)
                .await?
        });
        if waiting.is_none() {
            return Ok(0);
        }
        let mut tx = self.pools.write().begin().await?;
        let mut c = tx.conn();
        if c.backend() == Backend::Sqlite {
            // Take the write lock before reading, so a second process sealing the same
            // file (the CLI beside a server) waits for it instead of failing to upgrade
            // a stale read.
            on_db!(c.re(), |c| {
                sqlx::query("UPDATE event_seals SET seq = seq WHERE seq < 0")
                    .execute(c)
                    .await?;
            });
        } else {
            let ours: bool = on_db!(c.re(), |c| {
                sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                    .bind(SEALER_LOCK)
                    .fetch_one(c)
                    .await?
            });
            if !ours {
                return Ok(0);
            }
        }
        // On PostgreSQL the rows stay locked until the seals commit, so an erasure that
        // changes one waits and then deletes the salt of the seal it finds.
        let lock = match c.backend() {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "SELECT {ROW_COLUMNS} FROM events e WHERE e.sealed IS NULL ORDER BY e.id LIMIT $1{lock}"
        );
        let rows: Vec<Row> = on_db!(c.re(), |c| {
            sqlx::query_as(&sql)
                .bind(i64::from(limit))
                .fetch_all(c)
                .await?
        });
        if rows.is_empty() {
            return Ok(0);
        }
        let (mut seq, mut prev) = match head(c.re()).await? {
            Some(h) => (h.seq, h.link),
            None => (0, GENESIS.to_vec()),
        };
        let now = now_ms();
        let mut seals = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut salt = [0u8; 16];
            rand::thread_rng().fill_bytes(&mut salt);
            let commitment = commitment(&salt, &content(r));
            seq += 1;
            let l = link(&prev, seq, r.id, &commitment);
            seals.push((seq, r.id, salt, commitment, l));
            prev = l.to_vec();
        }
        for chunk in seals.chunks(100) {
            let sql = format!(
                "INSERT INTO event_seals (seq, event_id, salt, commitment, link, sealed_at) \
                 VALUES {}",
                value_rows(chunk.len(), 6)
            );
            on_db!(c.re(), |c| {
                let mut q = sqlx::query(&sql);
                for (seq, id, salt, commitment, link) in chunk {
                    q = q
                        .bind(seq)
                        .bind(id)
                        .bind(&salt[..])
                        .bind(&commitment[..])
                        .bind(&link[..])
                        .bind(now);
                }
                q.execute(c).await?;
            });
            let sql = format!(
                "UPDATE events SET sealed = TRUE WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            on_db!(c.re(), |c| {
                let mut q = sqlx::query(&sql);
                for (_, id, ..) in chunk {
                    q = q.bind(id);
                }
                q.execute(c).await?;
            });
        }
        tx.commit().await?;
        Ok(rows.len() as u64)
    }

    async fn verify_chain(&self, at: &[i64]) -> StoreResult<Verification> {
        let mut conn = self.pools.read().acquire().await?;
        let mut c = conn.conn();
        let mut v = Verification::default();
        let mut prev = GENESIS.to_vec();
        let mut last: Option<SealRow> = None;
        let sql = format!(
            "SELECT s.seq, s.event_id, s.salt, s.commitment, s.link, s.sealed_at, \
             e.id IS NOT NULL AS present, {ROW_COLUMNS} \
             FROM event_seals s LEFT JOIN events e ON e.id = s.event_id \
             WHERE s.seq > $1 ORDER BY s.seq LIMIT $2"
        );
        'walk: loop {
            let after = last.as_ref().map_or(0, |s| s.seq);
            let page: Vec<(SealRow, bool, Option<Row>)> = on_db!(c.re(), |c| {
                use sqlx::Row as _;
                let rows = sqlx::query(&sql)
                    .bind(after)
                    .bind(VERIFY_PAGE)
                    .fetch_all(c)
                    .await?;
                let mut out = Vec::with_capacity(rows.len());
                for r in &rows {
                    let seal = SealRow {
                        seq: r.try_get("seq")?,
                        event_id: r.try_get("event_id")?,
                        salt: r.try_get("salt")?,
                        commitment: r.try_get("commitment")?,
                        link: r.try_get("link")?,
                        sealed_at: r.try_get("sealed_at")?,
                    };
                    let present: bool = r.try_get("present")?;
                    let event = if present {
                        Some(Row {
                            id: r.try_get("id")?,
                            created_at: r.try_get("created_at")?,
                            kind: r.try_get("kind")?,
                            source: r.try_get("source")?,
                            list_name: r.try_get("list_name")?,
                            topic_name: r.try_get("topic_name")?,
                            contact_key: r.try_get("contact_key")?,
                            old_prefs: r.try_get("old_prefs")?,
                            new_prefs: r.try_get("new_prefs")?,
                            ip_hash: r.try_get("ip_hash")?,
                            user_agent: r.try_get("user_agent")?,
                            detail: r.try_get("detail")?,
                            actor: r.try_get("actor")?,
                            actor_id: r.try_get("actor_id")?,
                            message_id: r.try_get("message_id")?,
                            configuration_set: r.try_get("configuration_set")?,
                            send_id: r.try_get("send_id")?,
                        })
                    } else {
                        None
                    };
                    out.push((seal, present, event));
                }
                out
            });
            let n = page.len() as i64;
            for (seal, _, event) in page {
                let broken = |reason: &str| BrokenSeal {
                    seq: seal.seq,
                    event_id: seal.event_id,
                    reason: reason.to_owned(),
                };
                let expected_seq = last.as_ref().map_or(1, |s| s.seq + 1);
                if seal.seq != expected_seq {
                    v.broken = Some(BrokenSeal {
                        seq: expected_seq,
                        event_id: seal.event_id,
                        reason: format!("seal {expected_seq} is missing"),
                    });
                    break 'walk;
                }
                if link(&prev, seal.seq, seal.event_id, &seal.commitment)[..] != seal.link[..] {
                    v.broken = Some(broken("its link does not follow from the one before"));
                    break 'walk;
                }
                match (&seal.salt, &event) {
                    (Some(salt), Some(e)) => {
                        if commitment(salt, &content(e))[..] != seal.commitment[..] {
                            v.broken =
                                Some(broken("the event's content does not match its commitment"));
                            break 'walk;
                        }
                        v.checked += 1;
                    }
                    (Some(_), None) => {
                        v.broken = Some(broken(
                            "the event is gone but was neither erased nor pruned",
                        ));
                        break 'walk;
                    }
                    (None, _) => v.erased += 1,
                }
                v.seals += 1;
                if at.contains(&seal.seq) {
                    v.links_at.push((seal.seq, hex(&seal.link)));
                }
                prev = seal.link.clone();
                last = Some(seal);
            }
            if n < VERIFY_PAGE {
                break;
            }
        }
        if v.broken.is_none() {
            // An event marked sealed whose seal is gone (a seal deleted at the head).
            let orphan: Option<i64> = on_db!(c.re(), |c| {
                sqlx::query_scalar(
                    "SELECT e.id FROM events e WHERE e.sealed IS NOT NULL AND NOT EXISTS \
                     (SELECT 1 FROM event_seals s WHERE s.event_id = e.id) ORDER BY e.id LIMIT 1",
                )
                .fetch_optional(c)
                .await?
            });
            if let Some(id) = orphan {
                v.broken = Some(BrokenSeal {
                    seq: last.as_ref().map_or(1, |s| s.seq + 1),
                    event_id: id,
                    reason: format!("event {id} was sealed but its seal is gone"),
                });
            }
        }
        v.unsealed = on_db!(c.re(), |c| {
            sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM events WHERE sealed IS NULL")
                .fetch_one(c)
                .await?
        }) as u64;
        v.head = last.map(chain_head);
        Ok(v)
    }

    async fn chain_head(&self) -> StoreResult<Option<ChainHead>> {
        let mut conn = self.pools.read().acquire().await?;
        Ok(head(conn.conn()).await?.map(chain_head))
    }

    async fn seal_proofs(&self, event_ids: &[i64]) -> StoreResult<Vec<SealProof>> {
        let mut conn = self.pools.read().acquire().await?;
        let mut c = conn.conn();
        let mut out = Vec::with_capacity(event_ids.len());
        for chunk in event_ids.chunks(500) {
            let sql = format!(
                "SELECT s.seq, s.event_id, s.salt, s.commitment, s.link, s.sealed_at, \
                 p.link AS prev_link FROM event_seals s \
                 LEFT JOIN event_seals p ON p.seq = s.seq - 1 \
                 WHERE s.event_id IN ({}) ORDER BY s.seq",
                placeholders(1, chunk.len())
            );
            let seals: Vec<ProofRow> = on_db!(c.re(), |c| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await?
            });
            let sql = format!(
                "SELECT {ROW_COLUMNS} FROM events e WHERE e.id IN ({})",
                placeholders(1, chunk.len())
            );
            let rows: Vec<Row> = on_db!(c.re(), |c| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                q.fetch_all(c).await?
            });
            for ProofRow {
                seal: s,
                prev_link: prev,
            } in seals
            {
                let content = s
                    .salt
                    .as_ref()
                    .and_then(|_| rows.iter().find(|r| r.id == s.event_id))
                    .map(content);
                out.push(SealProof {
                    event_id: s.event_id,
                    seq: s.seq,
                    content,
                    salt: s.salt.as_deref().map(hex),
                    commitment: hex(&s.commitment),
                    prev_link: hex(prev.as_deref().unwrap_or(&GENESIS)),
                    link: hex(&s.link),
                });
            }
        }
        Ok(out)
    }
}
