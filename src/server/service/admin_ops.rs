//! The dashboard's operations pages: webhooks, API keys, DKIM keys, the one-click
//! self-check and the development outbox. Like `admin`, each use-case takes the caller
//! as an `Actor` and checks its role first (viewer: read; admin: manage webhooks, keys
//! and DKIM), then delegates to the services the API and the CLI use.

use super::auth::{Actor, Role};
use super::{ServiceError, ServiceResult, api_keys, dkim, webhooks};
use crate::server::config::WebhookSettings;
use crate::server::config::{Settings, TokenKey};
use crate::server::events::UrlRules;
use crate::server::store::{
    ApiKeyRecord, Audit, DeliveryRecord, DynStore, MailRecord, MailState, Store, StoreError,
    WebhookRecord,
};

// ---- webhooks ----

/// Every webhook destination.
pub async fn webhooks(store: &dyn Store, actor: &Actor) -> ServiceResult<Vec<WebhookRecord>> {
    actor.require(Role::Viewer)?;
    webhooks::list(store).await
}

/// Most deliveries on one page of a webhook's log.
pub const DELIVERIES_PAGE: u32 = 50;

/// A destination with a page of its delivery log (newest first, before a delivery id)
/// and whether an older page follows.
pub async fn webhook(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    before: Option<i64>,
) -> ServiceResult<(WebhookRecord, Vec<DeliveryRecord>, bool)> {
    actor.require(Role::Viewer)?;
    let hook = webhooks::get(store, id).await?;
    let mut log = webhooks::deliveries(store, id, None, before, DELIVERIES_PAGE + 1).await?;
    let more = log.len() > DELIVERIES_PAGE as usize;
    log.truncate(DELIVERIES_PAGE as usize);
    Ok((hook, log, more))
}

/// A destination as the webhook form sends it: events comma-separated (empty: every
/// kind), list empty for every list, secret empty on an edit to keep the current one.
#[derive(Debug, Clone, Default)]
pub struct WebhookForm {
    pub url: String,
    pub secret: String,
    pub events: String,
    pub list: String,
}

/// Creates a destination (`id` None) or changes one.
pub async fn save_webhook(
    store: &dyn Store,
    rules: UrlRules,
    actor: &Actor,
    id: Option<i64>,
    f: &WebhookForm,
    audit: &Audit,
) -> ServiceResult<WebhookRecord> {
    actor.require(Role::Admin)?;
    let events: Vec<String> = f
        .events
        .split(',')
        .map(|e| e.trim().to_owned())
        .filter(|e| !e.is_empty())
        .collect();
    let list = Some(f.list.trim()).filter(|l| !l.is_empty());
    match id {
        None => webhooks::add(store, rules, &f.url, &f.secret, &events, list, audit).await,
        Some(id) => {
            let secret = if f.secret.is_empty() {
                webhooks::get(store, id).await?.secret
            } else {
                f.secret.clone()
            };
            webhooks::update(store, rules, id, &f.url, &secret, &events, list, audit).await
        }
    }
}

/// Removes a destination and its pending deliveries.
pub async fn delete_webhook(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    audit: &Audit,
) -> ServiceResult<()> {
    actor.require(Role::Admin)?;
    webhooks::remove(store, id, audit).await
}

/// Sends a signed sample event to the destination now; the receiver's 2xx status.
pub async fn test_webhook(
    store: &dyn Store,
    settings: &WebhookSettings,
    rules: UrlRules,
    actor: &Actor,
    id: i64,
) -> ServiceResult<u16> {
    actor.require(Role::Admin)?;
    webhooks::test(store, settings, rules, id).await
}

/// Queues dead-lettered deliveries again (one, or all of the destination's); how many.
pub async fn replay(
    store: &dyn Store,
    actor: &Actor,
    id: i64,
    delivery: Option<i64>,
) -> ServiceResult<u64> {
    actor.require(Role::Admin)?;
    let n = webhooks::replay(store, id, delivery).await?;
    if n == 0 {
        return Err(ServiceError::BadRequest(
            "nothing to replay: only dead-lettered deliveries can be replayed".into(),
        ));
    }
    Ok(n)
}

// ---- API keys ----

/// Every SES-API key, newest first (never a secret).
pub async fn api_keys(store: &dyn Store, actor: &Actor) -> ServiceResult<Vec<ApiKeyRecord>> {
    actor.require(Role::Viewer)?;
    api_keys::list(store).await
}

/// Creates a key; the only time its secret is known to anyone.
pub async fn create_api_key(
    store: &dyn Store,
    master: &[u8],
    actor: &Actor,
    description: &str,
    scope: &crate::domain::KeyScope,
    audit: &Audit,
) -> ServiceResult<api_keys::NewKey> {
    actor.require(Role::Admin)?;
    api_keys::create_scoped(store, master, description.trim(), scope, audit).await
}

/// Revokes a key for every instance at once.
pub async fn revoke_api_key(
    store: &dyn Store,
    actor: &Actor,
    access_key_id: &str,
    audit: &Audit,
) -> ServiceResult<()> {
    actor.require(Role::Admin)?;
    api_keys::revoke(store, access_key_id.trim(), audit).await
}

// ---- DKIM ----

/// Every DKIM key with its DNS record.
pub async fn dkim_keys(store: &dyn Store, actor: &Actor) -> ServiceResult<Vec<dkim::KeyView>> {
    actor.require(Role::Viewer)?;
    dkim::list(store).await
}

/// Generates a key for a domain and selector.
pub async fn generate_dkim(
    store: &dyn Store,
    actor: &Actor,
    domain: &str,
    selector: &str,
    algorithm: &str,
    audit: &Audit,
) -> ServiceResult<dkim::KeyView> {
    actor.require(Role::Admin)?;
    dkim::generate(store, domain, selector.trim(), algorithm.trim(), audit).await
}

// ---- "will Gmail show one-click?" ----

/// One check of the self-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub pass: bool,
    pub reason: String,
}

/// The list name the sample link names. No list can be created with it by accident that
/// matters: the check only reads the answer, and a missing list changes nothing.
pub const SELF_CHECK_LIST: &str = "optbox-self-check";

/// Checks what Gmail needs to offer one-click unsubscribe: links on HTTPS; a POST to a
/// one-click link through the public URL reaching this instance (no redirect, no wall);
/// and a DKIM key for the sending domain whose signature covers `List-Unsubscribe` and
/// `List-Unsubscribe-Post`. `domain` empty means the domain of the newest DKIM key.
pub async fn self_check(
    store: &dyn Store,
    settings: &Settings,
    keys: &[TokenKey],
    actor: &Actor,
    domain: &str,
) -> ServiceResult<Vec<Check>> {
    actor.require(Role::Viewer)?;
    let mut out = Vec::with_capacity(3);
    let base = settings.public_base();
    out.push(match &settings.public_url {
        None => Check {
            name: "Links use HTTPS",
            pass: false,
            reason: format!(
                "public_url is not set, so links use {base}; set OPTBOX_PUBLIC_URL=https://…"
            ),
        },
        Some(u) if u.starts_with("https://") => Check {
            name: "Links use HTTPS",
            pass: true,
            reason: format!("public_url is {u}"),
        },
        Some(u) => Check {
            name: "Links use HTTPS",
            pass: false,
            reason: format!(
                "public_url is {u}; Gmail offers one-click only for https:// links (RFC 8058)"
            ),
        },
    });
    out.push(post_check(keys, &base).await);
    out.push(dkim_check(store, domain).await?);
    Ok(out)
}

async fn post_check(keys: &[TokenKey], base: &str) -> Check {
    let name = "A POST to a one-click link reaches optbox";
    let (Ok(list), Ok(email)) = (
        crate::domain::ListName::parse(SELF_CHECK_LIST),
        crate::domain::EmailAddress::parse("self-check@optbox.invalid"),
    ) else {
        return Check {
            name,
            pass: false,
            reason: "could not build the sample link".into(),
        };
    };
    if keys.is_empty() {
        return Check {
            name,
            pass: false,
            reason: "no token key is configured".into(),
        };
    }
    let url = super::recipient::url_for(keys, base, &list, None, &email);
    let shown = format!("{base}/u/…");
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return Check {
                name,
                pass: false,
                reason: format!("no HTTP client: {e}"),
            };
        }
    };
    let resp = client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept-language", "en")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await;
    match resp {
        Err(e) => Check {
            name,
            pass: false,
            reason: format!("POST {shown} failed: {e}"),
        },
        Ok(r) => {
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = r.text().await.unwrap_or_default();
            // The sample link names a list that does not exist: optbox verifies the
            // signature and answers 404 "not valid" without changing anything.
            let ours = body
                .contains(crate::domain::i18n::text(crate::domain::lang::Lang::En).invalid_link);
            match (status, location) {
                (200, _) | (404, _) if ours => Check {
                    name,
                    pass: true,
                    reason: format!(
                        "POST {shown} answered HTTP {status} from optbox's one-click handler (the sample link changes nothing)"
                    ),
                },
                (300..=399, loc) => Check {
                    name,
                    pass: false,
                    reason: format!(
                        "POST {shown} answered HTTP {status} redirecting to {}; one-click POSTs are not redirected",
                        loc.unwrap_or_default()
                    ),
                },
                (s, _) => Check {
                    name,
                    pass: false,
                    reason: format!(
                        "POST {shown} answered HTTP {s}, not optbox's one-click handler; check the proxy in front of optbox"
                    ),
                },
            }
        }
    }
}

async fn dkim_check(store: &dyn Store, domain: &str) -> ServiceResult<Check> {
    use crate::server::mail::dkim::{Algorithm, Signer};
    let name = "DKIM signs the List-Unsubscribe headers";
    let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let key = if domain.is_empty() {
        store.list_dkim_keys().await?.into_iter().next()
    } else {
        store.dkim_key_for(&domain).await?
    };
    let Some(k) = key else {
        return Ok(Check {
            name,
            pass: false,
            reason: if domain.is_empty() {
                "there is no DKIM key; generate one for your sending domain".into()
            } else {
                format!("there is no DKIM key for {domain}; generate one")
            },
        });
    };
    let signer = Algorithm::parse(&k.algorithm)
        .ok_or_else(|| format!("unknown algorithm {}", k.algorithm))
        .and_then(|alg| Signer::new(alg, &k.domain, &k.selector, &k.private_key));
    let signer = match signer {
        Ok(s) => s,
        Err(e) => {
            return Ok(Check {
                name,
                pass: false,
                reason: format!("the key for {} cannot sign: {e}", k.domain),
            });
        }
    };
    let sample = format!(
        "From: news@{d}\r\nTo: self-check@optbox.invalid\r\nSubject: self-check\r\n\
         Date: Wed, 25 Nov 2026 00:00:00 +0000\r\nMessage-ID: <self-check@{d}>\r\n\
         List-Unsubscribe: <https://example.invalid/u/x>\r\n\
         List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nhello\r\n",
        d = k.domain
    );
    let signed = match signer.sign(sample.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            return Ok(Check {
                name,
                pass: false,
                reason: format!("signing a sample failed: {e}"),
            });
        }
    };
    let h = signed_headers(&String::from_utf8_lossy(&signed));
    let covers = |f: &str| h.iter().any(|x| x.eq_ignore_ascii_case(f));
    Ok(
        if covers("List-Unsubscribe") && covers("List-Unsubscribe-Post") {
            Check {
                name,
                pass: true,
                reason: format!(
                    "the {} key {}._domainkey.{} signs h={}",
                    k.algorithm,
                    k.selector,
                    k.domain,
                    h.join(":")
                ),
            }
        } else {
            Check {
                name,
                pass: false,
                reason: format!(
                    "the signature of {} covers h={} without both List-Unsubscribe headers",
                    k.domain,
                    h.join(":")
                ),
            }
        },
    )
}

/// The `h=` tag of the first `DKIM-Signature` field of a message.
pub fn signed_headers(message: &str) -> Vec<String> {
    let Some(start) = message.find("DKIM-Signature:") else {
        return vec![];
    };
    // The field with its folded continuation lines, unfolded.
    let mut field = String::new();
    for (i, line) in message[start..].split("\r\n").enumerate() {
        if i > 0 && !line.starts_with([' ', '\t']) {
            break;
        }
        field.push_str(line);
    }
    let field = &field["DKIM-Signature:".len()..];
    field
        .split(';')
        .filter_map(|t| t.split_once('='))
        .find(|(k, _)| k.trim() == "h")
        .map(|(_, v)| {
            v.split(':')
                .map(|x| x.split_whitespace().collect::<String>())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

// ---- development outbox ----

/// Why the outbox is not available: mail goes to the configured relay.
fn outbox_available(settings: &Settings) -> ServiceResult<()> {
    if settings.relay_url.is_some() {
        return Err(ServiceError::NotFound(
            "a relay is configured (relay_url), so mail is sent, not kept in the development outbox"
                .into(),
        ));
    }
    Ok(())
}

/// Most messages on one page of the outbox.
pub const OUTBOX_PAGE: u32 = 50;

/// A page of the development outbox (newest first) and whether an older page follows;
/// only when no relay is configured.
pub async fn outbox(
    store: &DynStore,
    settings: &Settings,
    actor: &Actor,
    before: Option<i64>,
) -> ServiceResult<(Vec<MailRecord>, bool)> {
    actor.require(Role::Viewer)?;
    outbox_available(settings)?;
    let mut page =
        crate::server::mail::relay::list(store, Some(MailState::Outbox), before, OUTBOX_PAGE + 1)
            .await?;
    let more = page.len() > OUTBOX_PAGE as usize;
    page.truncate(OUTBOX_PAGE as usize);
    Ok((page, more))
}

/// Resumes a relay its breaker paused; false when it was running.
pub async fn resume_relay(
    bounces: &super::bounces::Bounces,
    actor: &Actor,
    audit: &crate::domain::Audit,
) -> ServiceResult<bool> {
    actor.require(Role::Admin)?;
    Ok(bounces.resume(audit).await?)
}

/// Why the relay is paused, when its breaker tripped.
pub async fn relay_paused(store: &DynStore, actor: &Actor) -> ServiceResult<Option<String>> {
    actor.require(Role::Viewer)?;
    Ok(store.relay_paused().await?.map(|(why, _)| why))
}

/// One message of the development outbox with its raw bytes.
pub async fn outbox_message(
    store: &DynStore,
    settings: &Settings,
    actor: &Actor,
    id: i64,
) -> ServiceResult<MailRecord> {
    actor.require(Role::Viewer)?;
    outbox_available(settings)?;
    match crate::server::mail::relay::get(store, id).await {
        Ok(m) if m.state == MailState::Outbox => Ok(m),
        Ok(_) | Err(StoreError::NotFound) => Err(ServiceError::NotFound(format!(
            "there is no message {id} in the outbox"
        ))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_headers_are_read_from_a_folded_field() {
        let m = "DKIM-Signature: v=1; a=ed25519-sha256; d=a.test; s=s1;\r\n\th=From:To:List-Unsubscribe:\r\n List-Unsubscribe-Post; bh=x; b=y\r\nFrom: a@a.test\r\n\r\n";
        assert_eq!(
            signed_headers(m),
            ["From", "To", "List-Unsubscribe", "List-Unsubscribe-Post"]
        );
        assert!(signed_headers("From: x\r\n\r\n").is_empty());
    }
}
