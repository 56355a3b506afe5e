//! The SES v2 account suppression list: PutSuppressedDestination,
//! GetSuppressedDestination, DeleteSuppressedDestination and ListSuppressedDestinations
//! under `/v2/email/suppression/addresses`. (Imports into it are import jobs:
//! `import_jobs.rs`.)

use super::paging::{decode_token, encode_token, invalid_token, query_page_size, ts};
use super::wire::{self, Violations};
use super::{ApiError, ApiRequest};
use crate::domain::SuppressionReason;
use crate::server::service::suppressions;
use crate::server::store::SuppressionQuery;
use serde::Deserialize;
use serde_json::{Value, json};

type OpResult = Result<String, ApiError>;

const ENUM_REASON: &str = "[BOUNCE, COMPLAINT]";

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct PutIn {
    email_address: Option<String>,
    reason: Option<String>,
}

fn reason_error(v: &mut Violations, value: &str, path: &str) {
    v.push(format!(
        "Value '{}' at '{path}' failed to satisfy constraint: Member must satisfy enum value set: {ENUM_REASON}",
        value.chars().take(64).collect::<String>()
    ));
}

/// `PUT /v2/email/suppression/addresses`.
pub async fn put(api: &ApiRequest<'_>) -> OpResult {
    let input: PutIn = wire::parse(api.body)?;
    let mut v = Violations::default();
    let email = v.required("emailAddress", &input.email_address).cloned();
    let reason = v.required("reason", &input.reason).and_then(|r| {
        let parsed = SuppressionReason::parse(r);
        if parsed.is_none() {
            reason_error(&mut v, r, "reason");
        }
        parsed
    });
    v.finish()?;
    let (Some(email), Some(reason)) = (email, reason) else {
        return Err(ApiError::bad_request(
            "EmailAddress and Reason are required.",
        ));
    };
    suppressions::put(api.state.store.as_ref(), &email, reason, &api.audit, None).await?;
    Ok("{}".into())
}

/// `GET /v2/email/suppression/addresses/{EmailAddress}`.
pub async fn get(api: &ApiRequest<'_>, email: &str) -> OpResult {
    let s = suppressions::get(api.state.store.as_ref(), email).await?;
    let mut dest = json!({
        "EmailAddress": s.email,
        "Reason": s.reason.as_str(),
        "LastUpdateTime": ts(s.updated_at),
    });
    let mut attributes = serde_json::Map::new();
    if let Some(m) = &s.message_id {
        attributes.insert("MessageId".into(), json!(m));
    }
    if let Some(f) = &s.feedback_id {
        attributes.insert("FeedbackId".into(), json!(f));
    }
    if !attributes.is_empty() {
        dest["Attributes"] = Value::Object(attributes);
    }
    Ok(json!({ "SuppressedDestination": dest }).to_string())
}

/// `DELETE /v2/email/suppression/addresses/{EmailAddress}`.
pub async fn delete(api: &ApiRequest<'_>, email: &str) -> OpResult {
    suppressions::delete(api.state.store.as_ref(), email, &api.audit, None).await?;
    Ok("{}".into())
}

/// A query-string timestamp as botocore sends it (ISO 8601: `2026-12-08T10:00:00Z`,
/// with optional fractional seconds or a `±hh:mm` offset, or a bare date) or as epoch
/// seconds; in ms.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<f64>() {
        return secs.is_finite().then(|| (secs * 1000.0).round() as i64);
    }
    let num = |t: &str| -> Option<u32> {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (date, rest) = match s.split_once(['T', 't', ' ']) {
        Some((d, r)) => (d, Some(r)),
        None => (s, None),
    };
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let date = time::Date::from_calendar_date(
        y as i32,
        time::Month::try_from(u8::try_from(m).ok()?).ok()?,
        u8::try_from(day).ok()?,
    )
    .ok()?;
    let (mut secs, mut ms) = (date.midnight().assume_utc().unix_timestamp(), 0i64);
    if let Some(rest) = rest {
        // The offset: `Z`, `+hh:mm`, `-hh:mm` (or `+hhmm`), or none (UTC).
        let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
            (c, 0i64)
        } else if let Some(i) = rest.rfind(['+', '-']) {
            let (c, o) = rest.split_at(i);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let digits: String = o[1..].chars().filter(|c| *c != ':').collect();
            if digits.len() != 4 {
                return None;
            }
            let (h, mi) = (num(&digits[..2])?, num(&digits[2..])?);
            (c, sign * (h as i64 * 3600 + mi as i64 * 60))
        } else {
            (rest, 0)
        };
        let (whole, frac) = match clock.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (clock, None),
        };
        let mut parts = whole.split(':');
        let h = num(parts.next()?)?;
        let mi = num(parts.next()?)?;
        let sec = match parts.next() {
            Some(x) => num(x)?,
            None => 0,
        };
        if parts.next().is_some() || h > 23 || mi > 59 || sec > 60 {
            return None;
        }
        if let Some(f) = frac {
            num(f)?;
            let f3: String = f.chars().chain(std::iter::repeat('0')).take(3).collect();
            ms = f3.parse::<i64>().ok()?;
        }
        secs += h as i64 * 3600 + mi as i64 * 60 + sec as i64 - offset;
    }
    Some(secs * 1000 + ms)
}

fn date_param(api: &ApiRequest<'_>, name: &str, path: &str) -> Result<Option<i64>, ApiError> {
    match api.query_one(name) {
        None => Ok(None),
        Some(raw) => parse_time(raw).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "1 validation error detected: Value '{}' at '{path}' failed to satisfy constraint: Member must be a timestamp (ISO 8601 or epoch seconds)",
                raw.chars().take(64).collect::<String>()
            ))
        }),
    }
}

/// The (time, address) a `NextToken` continues after.
fn cursor(token: &str) -> Option<(i64, String)> {
    let s = decode_token(token).ok()?;
    let (at, email) = s.strip_prefix("s1:")?.split_once(':')?;
    Some((at.parse().ok()?, email.to_owned()))
}

/// `GET /v2/email/suppression/addresses?Reason=&StartDate=&EndDate=&NextToken=&PageSize=`.
pub async fn list(api: &ApiRequest<'_>) -> OpResult {
    let mut v = Violations::default();
    let mut reasons = Vec::new();
    for r in api.query_all("Reason") {
        match SuppressionReason::parse(r) {
            Some(x) if !reasons.contains(&x) => reasons.push(x),
            Some(_) => {}
            None => reason_error(&mut v, r, "reasons"),
        }
    }
    v.finish()?;
    let start = date_param(api, "StartDate", "startDate")?;
    let end = date_param(api, "EndDate", "endDate")?;
    let limit = match query_page_size(api)? {
        None => suppressions::MAX_PAGE,
        Some(n) if (1..=suppressions::MAX_PAGE as i64).contains(&n) => n as u32,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "PageSize must be between 1 and {}, got {n}.",
                suppressions::MAX_PAGE
            )));
        }
    };
    let after = match api.query_one("NextToken") {
        // This operation models its own error for a bad token.
        Some(t) => Some(cursor(t).ok_or_else(|| ApiError {
            code: "InvalidNextTokenException",
            ..invalid_token()
        })?),
        None => None,
    };
    let q = SuppressionQuery {
        reasons,
        start,
        end,
        search: None,
        after,
        limit,
    };
    let (rows, more) = suppressions::list(api.state.store.as_ref(), &q).await?;
    let mut out = json!({
        "SuppressedDestinationSummaries": rows.iter().map(|s| json!({
            "EmailAddress": s.email,
            "Reason": s.reason.as_str(),
            "LastUpdateTime": ts(s.updated_at),
        })).collect::<Vec<_>>(),
    });
    if more && let Some(last) = rows.last() {
        out["NextToken"] = json!(encode_token(&format!(
            "s1:{}:{}",
            last.updated_at, last.email
        )));
    }
    Ok(out.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn timestamps_in_iso_8601_and_epoch_seconds() {
        let base = 1_796_724_000_000; // 2026-12-08T10:00:00Z
        assert_eq!(parse_time("2026-12-08T10:00:00Z"), Some(base));
        assert_eq!(parse_time("2026-12-08T10:00:00.250Z"), Some(base + 250));
        assert_eq!(parse_time("2026-12-08T11:00:00+01:00"), Some(base));
        assert_eq!(parse_time("2026-12-08T10:00:00"), Some(base));
        assert_eq!(parse_time("2026-12-08"), Some(base - 10 * 3_600_000));
        assert_eq!(parse_time("1796724000"), Some(base));
        assert_eq!(parse_time("1796724000.5"), Some(base + 500));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("2026-12-08T25:00:00Z"), None);
    }
}
