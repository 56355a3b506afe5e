//! List logos: the upload (admins), its limits, removal, and the cached read behind the
//! public logo route and the preference page. The rules that need no database (type by
//! magic bytes, the accent colour's stylesheet) are in `domain::branding`.

use super::auth::{Actor, Role};
use super::{ServiceError, ServiceResult, lists};
use crate::domain::Audit;
use crate::domain::branding::{MAX_LOGO_BYTES, sniff_image};
use crate::server::store::{LIST_CACHE_TTL, ListLogo, Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The message for a file that is not an accepted image.
pub const WRONG_TYPE: &str =
    "the logo must be a PNG, JPEG, GIF or WebP image (SVG is not accepted: it can carry script)";
/// The message for a file over the limit.
pub const TOO_LARGE: &str = "the logo is larger than 256 KiB";
/// The message for an empty upload.
pub const EMPTY: &str = "the file is empty: choose a PNG, JPEG, GIF or WebP image";

/// The logo's version: the first 64 bits of its SHA-256, in hex.
pub fn version_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    crate::server::hex::encode(&Sha256::digest(bytes)[..8])
}

/// Checks an upload: not empty, at most 256 KiB, and by its first bytes a PNG, JPEG,
/// GIF or WebP image. Returns the content type to serve it with.
pub fn check_logo(bytes: &[u8]) -> ServiceResult<&'static str> {
    if bytes.is_empty() {
        return Err(ServiceError::BadRequest(EMPTY.into()));
    }
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(ServiceError::LimitExceeded(TOO_LARGE.into()));
    }
    sniff_image(bytes).ok_or_else(|| ServiceError::BadRequest(WRONG_TYPE.into()))
}

/// The `list.updated` event of a logo uploaded or removed.
async fn record(store: &dyn Store, audit: &Audit, list: &str, what: &str) -> ServiceResult<()> {
    let detail = serde_json::json!({ "name": list, "branding": ["logo"], "logo": what });
    Ok(store
        .record_change(audit, "list.updated", Some(list), None, detail)
        .await?)
}

/// Stores `bytes` as the logo of `list` (admins), replacing any other. Nothing is stored
/// unless every check passes. A `list.updated` event says who uploaded it.
pub async fn upload_logo(
    store: &dyn Store,
    cache: &LogoCache,
    actor: &Actor,
    list: &str,
    bytes: &[u8],
    audit: &Audit,
) -> ServiceResult<ListLogo> {
    actor.require(Role::Admin)?;
    let l = lists::get(store, list).await?;
    let content_type = check_logo(bytes)?;
    let version = version_of(bytes);
    match store
        .put_list_logo(l.id, content_type, bytes, &version)
        .await
    {
        Err(StoreError::NotFound) => {
            return Err(ServiceError::NotFound(format!(
                "List with name: {list} doesn't exist."
            )));
        }
        r => r?,
    }
    cache.invalidate(l.id);
    tracing::info!(list = %l.name, content_type, size = bytes.len(), "list logo uploaded");
    record(store, audit, l.name.as_str(), "uploaded").await?;
    Ok(ListLogo {
        list_id: l.id,
        content_type: content_type.to_owned(),
        bytes: bytes.to_vec(),
        version,
        updated_at: crate::server::store::now_ms(),
    })
}

/// Removes the logo of `list` (admins); false when it had none. A `list.updated` event
/// says who removed it.
pub async fn remove_logo(
    store: &dyn Store,
    cache: &LogoCache,
    actor: &Actor,
    list: &str,
    audit: &Audit,
) -> ServiceResult<bool> {
    actor.require(Role::Admin)?;
    let l = lists::get(store, list).await?;
    let removed = store.delete_list_logo(l.id).await?;
    cache.invalidate(l.id);
    if removed {
        record(store, audit, l.name.as_str(), "removed").await?;
    }
    Ok(removed)
}

/// The logo of list `list_id` as the dashboard shows it (read from the database).
pub async fn logo(store: &dyn Store, list_id: i64) -> ServiceResult<Option<ListLogo>> {
    Ok(store.get_list_logo(list_id).await?)
}

/// Logos read on the public path (the logo route and the preference page), kept for
/// [`LIST_CACHE_TTL`] like the lists themselves: changes through this instance are seen
/// at once, changes by another instance within that time. A generation counter keeps a
/// read that raced a change from being stored.
#[derive(Default)]
pub struct LogoCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    generation: u64,
    logos: HashMap<i64, (Instant, Option<Arc<ListLogo>>)>,
}

impl LogoCache {
    /// Bounds memory (64 logos of at most 256 KiB).
    const MAX_ENTRIES: usize = 64;

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The logo of list `list_id`, if it has one.
    pub async fn get(
        &self,
        store: &dyn Store,
        list_id: i64,
    ) -> ServiceResult<Option<Arc<ListLogo>>> {
        let generation = {
            let g = self.lock();
            match g.logos.get(&list_id) {
                Some((at, logo)) if at.elapsed() < LIST_CACHE_TTL => return Ok(logo.clone()),
                _ => g.generation,
            }
        };
        let logo = store.get_list_logo(list_id).await?.map(Arc::new);
        let mut g = self.lock();
        if g.generation == generation {
            if g.logos.len() >= Self::MAX_ENTRIES {
                g.logos.clear();
            }
            g.logos.insert(list_id, (Instant::now(), logo.clone()));
        }
        Ok(logo)
    }

    /// Called after every change of a logo through this instance.
    pub fn invalidate(&self, list_id: i64) {
        let mut g = self.lock();
        g.generation += 1;
        g.logos.remove(&list_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_checked_before_anything_is_stored() {
        assert!(matches!(check_logo(b""), Err(ServiceError::BadRequest(m)) if m == EMPTY));
        let big = [b"\x89PNG\r\n\x1a\n".as_slice(), &vec![0u8; MAX_LOGO_BYTES]].concat();
        assert!(matches!(
            check_logo(&big),
            Err(ServiceError::LimitExceeded(_))
        ));
        assert_eq!(
            check_logo(&big[..MAX_LOGO_BYTES]).unwrap(),
            "image/png",
            "exactly 256 KiB is allowed"
        );
        assert!(
            matches!(check_logo(b"<svg/>"), Err(ServiceError::BadRequest(m)) if m == WRONG_TYPE)
        );
        assert_eq!(version_of(b"a").len(), 16);
        assert_ne!(version_of(b"a"), version_of(b"b"));
    }
}
