//! Dashboard users: argon2id password hashes (computed off the async runtime), roles, and
//! sign-in checks.

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

/// Checks a sign-in. Unknown users cost the same hash as known ones.
pub async fn authenticate(
    store: &dyn Store,
    email: &str,
    password: &str,
) -> ServiceResult<UserRecord> {
    let denied = || ServiceError::Unauthorized("wrong email or password".into());
    let key = EmailAddress::parse(email.trim())
        .map(|e| e.key())
        .unwrap_or_default();
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
        Some(u) if ok => Ok(u),
        _ => Err(denied()),
    }
}
