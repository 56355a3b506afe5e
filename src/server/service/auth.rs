//! Dashboard users: argon2id password hashes (computed off the async runtime), roles, the
//! `Actor` every dashboard use-case is called with, sign-in checks with rate limiting per
//! account and per client, and user management (owners only).

use super::{ServiceError, ServiceResult};
use crate::domain::EmailAddress;
use crate::server::store::{Store, StoreError, UserRecord};
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
/// Failed sign-ins per account within the window before the account is refused.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed sign-ins per client (IP) within the window before the client is refused.
pub const MAX_FAILURES_PER_CLIENT: i64 = 20;

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 12;

async fn hash(password: String) -> ServiceResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| ServiceError::Internal(e.to_string()))
    })
    .await
    .map_err(|e| ServiceError::Internal(e.to_string()))?
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

pub async fn create_user(
    store: &dyn Store,
    email: &str,
    role: Role,
    password: &str,
) -> ServiceResult<UserRecord> {
    let email =
        EmailAddress::parse(email.trim()).map_err(|e| ServiceError::BadRequest(e.to_string()))?;
    if password.chars().count() < MIN_PASSWORD {
        return Err(ServiceError::BadRequest(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        )));
    }
    let phc = hash(password.to_owned()).await?;
    match store.create_user(&email.key(), role.as_str(), &phc).await {
        Err(StoreError::Conflict) => Err(ServiceError::AlreadyExists(format!(
            "a user {email} already exists"
        ))),
        other => Ok(other?),
    }
}

/// Checks a sign-in from the client whose keyed IP hash is `client`. Unknown users cost
/// the same hash as known ones. After `MAX_FAILURES_PER_ACCOUNT` failures for an address
/// (known or not) or `MAX_FAILURES_PER_CLIENT` from one client within
/// `FAILURE_WINDOW_MS`, attempts are refused without checking the password
/// (`LimitExceeded`), so guessing is slow even across instances (the counts are in the
/// database).
pub async fn authenticate(
    store: &dyn Store,
    email: &str,
    password: &str,
    client: &str,
) -> ServiceResult<UserRecord> {
    let denied = || ServiceError::Unauthorized("wrong email or password".into());
    let key = EmailAddress::parse(email.trim())
        .map(|e| e.key())
        .unwrap_or_else(|_| email.trim().to_lowercase().chars().take(320).collect());
    let now = crate::server::store::now_ms();
    let counts = store
        .login_failures(&key, client, now - FAILURE_WINDOW_MS)
        .await?;
    if counts.account >= MAX_FAILURES_PER_ACCOUNT || counts.client >= MAX_FAILURES_PER_CLIENT {
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
            store.clear_login_failures(&key).await?;
            Ok(u)
        }
        _ => {
            store
                .record_login_failure(&key, client, now, now - FAILURE_WINDOW_MS)
                .await?;
            Err(denied())
        }
    }
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
) -> ServiceResult<UserRecord> {
    actor.require(Role::Owner)?;
    create_user(store, email, role, password).await
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

/// Changes a user's role (owners only); the last owner cannot be demoted.
pub async fn set_role(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    role: Role,
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
    match store.set_user_role(id, role.as_str()).await {
        Err(StoreError::NotFound) => Err(user_not_found(id)),
        other => Ok(other?),
    }
}

/// Removes a user (owners only); nobody removes themselves or the last owner.
pub async fn remove_user(store: &dyn Store, actor: &Actor, id: i64) -> ServiceResult<()> {
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
        Err(StoreError::NotFound) => Err(user_not_found(id)),
        other => Ok(other?),
    }
}
