//! Dashboard users: argon2id password hashes (computed off the async runtime), roles, the
//! `Actor` every dashboard use-case is called with, sign-in checks with rate limiting per
//! account and client and per client, sessions that end with their user's role, and user
//! management (owners only).

use super::{ServiceError, ServiceResult};
use crate::domain::{Audit, EmailAddress};
use crate::server::store::{FailureCounts, Store, StoreError, UserRecord};
use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

/// What a user may do: owners and admins change things; viewers only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(s: &str) -> ServiceResult<Self> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            _ => Err(ServiceError::BadRequest(format!(
                "unknown role {s:?}: use owner, admin or viewer"
            ))),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// A signed-in dashboard user, as the service layer sees the caller. Dashboard use-cases
/// (`service::admin`) take one and check its role before anything else, so an edge that
/// forgot its own check still cannot read or change what the role does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
}

impl Actor {
    /// `Forbidden` unless the actor has at least `min`.
    pub fn require(&self, min: Role) -> ServiceResult<()> {
        if self.role >= min {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "your role ({}) does not allow this; it needs {}",
                self.role.as_str(),
                min.as_str()
            )))
        }
    }
}

/// The actor for a signed-in user id (from the session); `Unauthorized` when the user no
/// longer exists (removed while signed in).
pub async fn actor(store: &dyn Store, user_id: i64) -> ServiceResult<Actor> {
    let user = match store.get_user(user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound) => {
            return Err(ServiceError::Unauthorized("sign in first".into()));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Actor {
        user_id: user.id,
        role: Role::parse(&user.role)?,
        email: user.email,
    })
}

/// Whether a session made for user `user_id` at `epoch` still stands: the user exists and
/// its session epoch is the same (a new role changes it; a removed user has none). Every
/// request with a signed-in session checks this.
pub async fn session_valid(store: &dyn Store, user_id: i64, epoch: i64) -> ServiceResult<bool> {
    match store.get_user(user_id).await {
        Ok(u) => Ok(u.session_epoch == epoch),
        Err(StoreError::NotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A session ends after this long without a request (the cookie's inactivity expiry).
pub const IDLE_TIMEOUT_SECS: i64 = 8 * 3600;
/// A session ends this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT_MS: i64 = 7 * 24 * 3600 * 1000;

/// True while a session signed in at `signed_in_at` (epoch ms) is within its absolute
/// lifetime.
pub fn session_alive(signed_in_at: i64, now: i64) -> bool {
    now >= signed_in_at && now - signed_in_at < ABSOLUTE_TIMEOUT_MS
}

/// The window over which failed sign-ins are counted.
pub const FAILURE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Failed sign-ins for one account from one client within the window before that client
/// is refused for that account. Other clients are not: a stranger who knows the address
/// cannot lock its owner out.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed sign-ins from one client (whatever the accounts) within the window before the
/// client is refused.
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

async fn hash(password: String) -> ServiceResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::internal(e.to_string()))
    })
    .await
    .map_err(|e| ServiceError::internal(e.to_string()))?
}

async fn verify(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// A user as its events describe it: id, address and role (never the password hash).
fn describe(u: &UserRecord) -> serde_json::Value {
    serde_json::json!({ "user_id": u.id, "email": u.email, "role": u.role })
}

/// Creates a dashboard user; a `user.created` event says who did.
pub async fn create_user(
    store: &dyn Store,
    email: &str,
    role: Role,
    password: &str,
    audit: &Audit,
) -> ServiceResult<UserRecord> {
    let email =
        EmailAddress::parse(email.trim()).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(ServiceError::BadRequest(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        )));
    }
    let phc = hash(password.to_owned()).await?;
    let user = match store.create_user(&email.key(), role.as_str(), &phc).await {
        Err(StoreError::Conflict) => {
            return Err(ServiceError::AlreadyExists(format!(
                "a user {email} already exists"
            )));
        }
        other => other?,
    };
    store
        .record_change(audit, "user.created", None, None, describe(&user))
        .await?;
    Ok(user)
}

/// Checks a sign-in from the client whose keyed address hash is `client`. Unknown users
/// cost the same hash as known ones. The attempt is counted before the password is
/// checked (as a failure, forgotten if it succeeds), so concurrent guesses cannot slip
/// past the limits: after `MAX_FAILURES_PER_ACCOUNT` for one address (known or not) from
/// this client, or `MAX_FAILURES_PER_CLIENT` from this client, within
/// `FAILURE_WINDOW_MS`, attempts are refused without checking the password
/// (`LimitExceeded`). The counts are in the database, so they hold across instances.
/// The HTTP edge bounds how many sign-ins hash at once and how often one client may try.
pub async fn authenticate(
    store: &dyn Store,
    email: &str,
    password: &str,
    client: &str,
) -> ServiceResult<UserRecord> {
    let denied = || ServiceError::Unauthorized("wrong email or password".into());
    let key = account_key(email);
    let now = crate::server::store::now_ms();
    let max = FailureCounts {
        account_client: MAX_FAILURES_PER_ACCOUNT,
        client: MAX_FAILURES_PER_CLIENT,
    };
    if !store
        .record_login_attempt(&key, client, now, now - FAILURE_WINDOW_MS, max)
        .await?
    {
        return Err(ServiceError::LimitExceeded(
            "too many failed sign-ins; wait 15 minutes and try again".into(),
        ));
    }
    let user = match store.get_user_by_email(&key).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    // A fixed, valid hash keeps the timing of unknown and known users alike.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0CjCJ9h3F9q+f8kJ3WxnV9B2kq6l0g5XyQyZxYwVqfE";
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY.into());
    let ok = verify(password.to_owned(), phc).await;
    match user {
        Some(u) if ok => {
            store.clear_login_failures(&key, client).await?;
            Ok(u)
        }
        _ => Err(denied()),
    }
}

/// The key sign-in attempts of an address are counted under: the normalised address, or
/// for something that is not one, its lower-cased text (bounded).
fn account_key(email: &str) -> String {
    EmailAddress::parse(email.trim())
        .map(|e| e.key())
        .unwrap_or_else(|_| email.trim().to_lowercase().chars().take(320).collect())
}

/// Lets an account sign in again from everywhere at once, forgetting its failed sign-ins
/// (`optbox admin unlock`). Returns how many were forgotten; `NotFound` when there is no
/// such user.
pub async fn unlock(store: &dyn Store, email: &str) -> ServiceResult<u64> {
    let key = account_key(email);
    match store.get_user_by_email(&key).await {
        Ok(_) => {}
        Err(StoreError::NotFound) => {
            return Err(ServiceError::NotFound(format!(
                "there is no user {}",
                email.trim()
            )));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(store.unlock_account(&key).await?)
}

/// A user as the users page shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
}

/// Every dashboard user (admins and owners may see who has access).
pub async fn list_users(store: &dyn Store, actor: &Actor) -> ServiceResult<Vec<UserSummary>> {
    actor.require(Role::Admin)?;
    store
        .list_users()
        .await?
        .into_iter()
        .map(|u| {
            Ok(UserSummary {
                id: u.id,
                role: Role::parse(&u.role)?,
                email: u.email,
                created_at: u.created_at,
            })
        })
        .collect()
}

/// Adds a user (owners only).
pub async fn add_user(
    store: &dyn Store,
    actor: &Actor,
    email: &str,
    role: Role,
    password: &str,
    audit: &Audit,
) -> ServiceResult<UserRecord> {
    actor.require(Role::Owner)?;
    create_user(store, email, role, password, audit).await
}

async fn owners(store: &dyn Store) -> ServiceResult<usize> {
    Ok(store
        .list_users()
        .await?
        .iter()
        .filter(|u| u.role == Role::Owner.as_str())
        .count())
}

fn user_not_found(id: i64) -> ServiceError {
    ServiceError::NotFound(format!("there is no user {id}"))
}

/// Changes a user's role (owners only); the last owner cannot be demoted. A
/// `user.role_changed` event says who changed it, from what to what.
pub async fn set_role(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    role: Role,
    audit: &Audit,
) -> ServiceResult<UserRecord> {
    actor.require(Role::Owner)?;
    let user = match store.get_user(id).await {
        Err(StoreError::NotFound) => return Err(user_not_found(id)),
        other => other?,
    };
    if user.role == Role::Owner.as_str() && role != Role::Owner && owners(store).await? <= 1 {
        return Err(ServiceError::BadRequest(
            "the last owner cannot be demoted; make someone else owner first".into(),
        ));
    }
    let changed = match store.set_user_role(id, role.as_str()).await {
        Err(StoreError::NotFound) => return Err(user_not_found(id)),
        other => other?,
    };
    let mut detail = describe(&changed);
    detail["from"] = user.role.into();
    store
        .record_change(audit, "user.role_changed", None, None, detail)
        .await?;
    Ok(changed)
}

/// Removes a user (owners only); nobody removes themselves or the last owner. A
/// `user.deleted` event says who removed whom.
pub async fn remove_user(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    audit: &Audit,
) -> ServiceResult<()> {
    actor.require(Role::Owner)?;
    if id == actor.user_id {
        return Err(ServiceError::BadRequest(
            "you cannot remove yourself; ask another owner".into(),
        ));
    }
    let user = match store.get_user(id).await {
        Err(StoreError::NotFound) => return Err(user_not_found(id)),
        other => other?,
    };
    if user.role == Role::Owner.as_str() && owners(store).await? <= 1 {
        return Err(ServiceError::BadRequest(
            "the last owner cannot be removed".into(),
        ));
    }
    match store.delete_user(id).await {
        Err(StoreError::NotFound) => return Err(user_not_found(id)),
        other => other?,
    }
    Ok(store
        .record_change(audit, "user.deleted", None, None, describe(&user))
        .await?)
}
