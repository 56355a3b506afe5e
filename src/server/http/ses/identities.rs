//! SES v2 sending identities under `/v2/email/identities`: CreateEmailIdentity,
//! GetEmailIdentity, DeleteEmailIdentity and ListEmailIdentities. DKIM is optbox's own
//! keys for the identity's domain; the records to publish are in `DkimAttributes` as
//! `Tokens` (the selectors) and, beside SES's members, `OptboxDnsRecords`.

use super::paging::{decode_token, encode_token, page_size, query_page_size};
use super::wire;
use super::{ApiError, ApiRequest};
use crate::server::service::identities::{self, Identity};
use serde::Deserialize;
use serde_json::{Value, json};

type OpResult = Result<String, ApiError>;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CreateIn {
    email_identity: Option<String>,
    tags: Option<Vec<wire::TagIn>>,
    /// optbox signs with its own keys (`optbox dkim generate`); bring-your-own keys
    /// are refused rather than ignored.
    dkim_signing_attributes: Option<Value>,
    /// The identity's default configuration set: its mail uses it when the sender names none.
    configuration_set_name: Option<String>,
}

fn dkim_json(i: &Identity) -> Value {
    let signing = !i.dkim.is_empty();
    json!({
        "SigningEnabled": signing,
        "Status": if signing { "SUCCESS" } else { "NOT_STARTED" },
        "Tokens": i.dkim.iter().map(|k| k.selector.clone()).collect::<Vec<_>>(),
        "SigningAttributesOrigin": "EXTERNAL",
        "OptboxDnsRecords": i.dkim.iter().map(|k| json!({
            "Name": k.record_name, "Type": "TXT", "Value": k.txt,
        })).collect::<Vec<_>>(),
    })
}

/// `POST /v2/email/identities`.
pub async fn create(api: &ApiRequest<'_>) -> OpResult {
    let input: CreateIn = wire::parse(api.body)?;
    let Some(id) = input.email_identity else {
        return Err(ApiError::bad_request("EmailIdentity is required."));
    };
    if input.dkim_signing_attributes.is_some() {
        return Err(ApiError::bad_request(
            "DkimSigningAttributes are not supported: optbox signs with its own keys (optbox dkim generate).",
        ));
    }
    let mut v = wire::Violations::default();
    let tags = wire::tags(&mut v, input.tags.as_deref().unwrap_or_default());
    v.finish()?;
    let tags: Vec<(String, String)> = tags.into_iter().map(|t| (t.key, t.value)).collect();
    let i = identities::create(
        api.state.store.as_ref(),
        &id,
        input.configuration_set_name.as_deref(),
        &tags,
        &api.audit,
    )
    .await?;
    Ok(json!({
        "IdentityType": i.record.kind,
        "VerifiedForSendingStatus": true,
        "DkimAttributes": dkim_json(&i),
    })
    .to_string())
}

/// `GET /v2/email/identities/{EmailIdentity}`.
pub async fn get(api: &ApiRequest<'_>, id: &str) -> OpResult {
    let i = identities::get(api.state.store.as_ref(), id).await?;
    let tags: Vec<(String, String)> = serde_json::from_str(&i.record.tags).unwrap_or_default();
    let mut out = json!({
        "IdentityType": i.record.kind,
        "FeedbackForwardingStatus": false,
        "VerifiedForSendingStatus": true,
        "VerificationStatus": "SUCCESS",
        "DkimAttributes": dkim_json(&i),
        "Tags": tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
    });
    if let Some(set) = &i.record.configuration_set {
        out["ConfigurationSetName"] = json!(set);
    }
    Ok(out.to_string())
}

/// `DELETE /v2/email/identities/{EmailIdentity}`.
pub async fn delete(api: &ApiRequest<'_>, id: &str) -> OpResult {
    identities::delete(api.state.store.as_ref(), id, &api.audit).await?;
    Ok("{}".into())
}

/// `GET /v2/email/identities`.
pub async fn list(api: &ApiRequest<'_>) -> OpResult {
    let size = page_size(query_page_size(api)?)?;
    let after = api.query_one("NextToken").map(decode_token).transpose()?;
    let mut page = identities::list(api.state.store.as_ref(), after.as_deref(), size + 1).await?;
    let more = page.len() > size as usize;
    page.truncate(size as usize);
    let mut out = json!({
        "EmailIdentities": page.iter().map(|r| json!({
            "IdentityType": r.kind,
            "IdentityName": r.identity,
            "SendingEnabled": true,
            "VerificationStatus": "SUCCESS",
        })).collect::<Vec<_>>(),
    });
    if more && let Some(last) = page.last() {
        out["NextToken"] = json!(encode_token(&last.identity));
    }
    Ok(out.to_string())
}
