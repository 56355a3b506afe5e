//! The audit trail's proofs: the sealer that chains the event log, signed checkpoints
//! of the chain, its verification, and one contact's history with what verifies it.
//!
//! A checkpoint is the chain's head (sequence number, event id, link, time) signed with
//! an Ed25519 key kept outside the database (`audit_signing_key`). Whoever holds an
//! earlier checkpoint can tell that the history up to it is the one the operator had
//! then: rewriting it changes the link at that sequence number, and a new signature
//! over the new link needs the key.

use super::{ServiceError, ServiceResult};
use crate::server::store::{ChainHead, DynStore, EventRecord, SealProof, Store, Verification};
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Events sealed per transaction.
const SEAL_BATCH: u32 = 1_000;

/// How often the sealer looks for new events.
pub const SEAL_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// Seals every event written so far (in batches); returns how many.
pub async fn seal_all(store: &dyn Store) -> ServiceResult<u64> {
    let mut total = 0;
    loop {
        let n = store.seal_events(SEAL_BATCH).await?;
        total += n;
        if n < u64::from(SEAL_BATCH) {
            return Ok(total);
        }
    }
}

/// The sealer: seals new events every [`SEAL_INTERVAL`] until aborted. Every instance
/// runs one; on PostgreSQL one at a time holds the chain and the others skip the round.
pub fn spawn_sealer(store: DynStore) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(SEAL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let span = tracing::info_span!("job", job = "seal_events");
            if let Err(e) = tracing::Instrument::instrument(seal_all(store.as_ref()), span).await {
                tracing::warn!(error = %crate::server::service::chain(&e), "sealing the event log failed");
            }
        }
    })
}

/// A signed checkpoint of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub seq: i64,
    pub event_id: i64,
    /// The link at `seq`, hex.
    pub link: String,
    pub sealed_at: i64,
    /// The Ed25519 public key, base64.
    pub public_key: String,
    /// Ed25519 over [`Checkpoint::message`], base64.
    pub signature: String,
}

impl Checkpoint {
    /// The bytes signed.
    pub fn message(seq: i64, event_id: i64, link: &str, sealed_at: i64) -> String {
        format!("optbox-checkpoint-v1\n{seq}\n{event_id}\n{link}\n{sealed_at}\n")
    }
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The public key of a signing key's seed, base64.
pub fn public_key(seed: &[u8; 32]) -> String {
    b64().encode(SigningKey::from_bytes(seed).verifying_key().to_bytes())
}

/// A new signing key's seed, base64.
pub fn new_signing_key() -> String {
    use rand::RngCore;
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    b64().encode(seed)
}

/// Seals what is not sealed yet, then signs the chain's head. `Refused` on an empty log.
pub async fn checkpoint(store: &dyn Store, seed: &[u8; 32]) -> ServiceResult<Checkpoint> {
    seal_all(store).await?;
    let head: ChainHead = store.chain_head().await?.ok_or_else(|| {
        ServiceError::BadRequest("the event log is empty: nothing to sign".into())
    })?;
    let key = SigningKey::from_bytes(seed);
    let sig = key
        .sign(Checkpoint::message(head.seq, head.event_id, &head.link, head.sealed_at).as_bytes());
    Ok(Checkpoint {
        seq: head.seq,
        event_id: head.event_id,
        link: head.link,
        sealed_at: head.sealed_at,
        public_key: b64().encode(key.verifying_key().to_bytes()),
        signature: b64().encode(sig.to_bytes()),
    })
}

/// Checks a checkpoint's signature against `public_key` (base64).
pub fn check_signature(cp: &Checkpoint, public_key: &str) -> Result<(), String> {
    if cp.public_key != public_key {
        return Err(format!(
            "checkpoint {} was signed by another key ({}), not {public_key}",
            cp.seq, cp.public_key
        ));
    }
    let key = b64()
        .decode(public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
        .ok_or_else(|| format!("{public_key} is not an Ed25519 public key"))?;
    let sig = b64()
        .decode(&cp.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| ed25519_dalek::Signature::from_bytes(&b))
        .ok_or_else(|| format!("checkpoint {}: the signature is not Ed25519", cp.seq))?;
    key.verify_strict(
        Checkpoint::message(cp.seq, cp.event_id, &cp.link, cp.sealed_at).as_bytes(),
        &sig,
    )
    .map_err(|_| format!("checkpoint {}: the signature does not verify", cp.seq))
}

/// The chain verified, and each checkpoint compared with it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub chain: Verification,
    /// One line per checkpoint that does not hold.
    pub checkpoint_failures: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.chain.broken.is_none() && self.checkpoint_failures.is_empty()
    }
}

/// Verifies the chain and each checkpoint: its signature by `public_key`, and its link
/// against the chain's link at its sequence number.
pub async fn verify(
    store: &dyn Store,
    checkpoints: &[Checkpoint],
    public_key: Option<&str>,
) -> ServiceResult<Report> {
    let at: Vec<i64> = checkpoints.iter().map(|c| c.seq).collect();
    let chain = store.verify_chain(&at).await?;
    let mut failures = Vec::new();
    for cp in checkpoints {
        if let Some(pk) = public_key
            && let Err(e) = check_signature(cp, pk)
        {
            failures.push(e);
            continue;
        }
        match chain.links_at.iter().find(|(s, _)| *s == cp.seq) {
            Some((_, link)) if *link == cp.link => {}
            Some(_) => failures.push(format!(
                "checkpoint {}: the chain's link there differs from the signed one: the history up to it was rewritten",
                cp.seq
            )),
            None => failures.push(format!(
                "checkpoint {}: the chain has no intact seal {} (it was cut short or broken before it)",
                cp.seq, cp.seq
            )),
        }
    }
    Ok(Report {
        chain,
        checkpoint_failures: failures,
    })
}

/// One event of a contact's history with its proof.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    #[serde(flatten)]
    pub event: EventRecord,
    /// `None` until the sealer has sealed it (within seconds on a running server).
    pub seal: Option<SealProof>,
}

/// A contact's complete history, oldest first, with what verifies each event.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub email: String,
    pub events: Vec<HistoryEntry>,
    /// The chain's head when the history was read.
    pub chain_head: Option<ChainHead>,
    pub how_to_verify: &'static str,
}

pub const HOW_TO_VERIFY: &str = "For each event: SHA-256(hex-decoded salt || content) must equal commitment, and SHA-256(\"optbox-seal-v1\" || prev_link || seq as 8-byte big-endian || event_id as 8-byte big-endian || commitment), all hashes hex-decoded, must equal link. `optbox events verify --checkpoint FILE` then proves the chain from the first seal to a signed checkpoint is intact, and with it every link listed here. A seal without salt and content belongs to an event erased or pruned.";

/// Every event about `email` (any list), oldest first, each with its seal proof.
pub async fn history(store: &dyn Store, email: &str) -> ServiceResult<History> {
    let subject = super::privacy::parse(email)?;
    let mut events = store.events_about(&subject).await?;
    events.sort_by_key(|e| e.id);
    let ids: Vec<i64> = events.iter().map(|e| e.id).collect();
    let mut proofs = store.seal_proofs(&ids).await?;
    proofs.sort_by_key(|p| p.event_id);
    let events = events
        .into_iter()
        .map(|event| {
            let seal = proofs
                .binary_search_by_key(&event.id, |p| p.event_id)
                .ok()
                .map(|i| proofs[i].clone());
            HistoryEntry { event, seal }
        })
        .collect();
    Ok(History {
        email: subject.to_string(),
        events,
        chain_head: store.chain_head().await?,
        how_to_verify: HOW_TO_VERIFY,
    })
}

/// [`history`] for a dashboard user: owners only, as every request about a person.
pub async fn history_as(
    store: &dyn Store,
    actor: &super::auth::Actor,
    email: &str,
) -> ServiceResult<History> {
    actor.require(super::auth::Role::Owner)?;
    history(store, email).await
}
