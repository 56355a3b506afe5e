//! What the SES list operations share: paging (`PageSize`, `NextToken`) and timestamps.

use super::{ApiError, ApiRequest};
use base64::Engine;
use serde_json::{Value, json};

/// Most items one page returns; larger `PageSize` values are clamped to it.
pub(super) const MAX_PAGE: u32 = 1000;

/// Epoch seconds as a JSON number (restJson's default timestamp format).
pub(super) fn ts(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

pub(super) fn page_size(raw: Option<i64>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(MAX_PAGE),
        Some(n) if n < 1 => Err(ApiError::bad_request(format!(
            "PageSize must be at least 1, got {n}."
        ))),
        Some(n) => Ok(n.min(MAX_PAGE as i64) as u32),
    }
}

pub(super) fn query_page_size(api: &ApiRequest<'_>) -> Result<Option<i64>, ApiError> {
    api.query_one("PageSize")
        .map(|s| {
            s.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "1 validation error detected: Value '{}' at 'pageSize' failed to satisfy constraint: Member must be an integer",
                    s.chars().take(32).collect::<String>()
                ))
            })
        })
        .transpose()
}

pub(super) fn invalid_token() -> ApiError {
    ApiError::bad_request("The NextToken is invalid or belongs to another request.")
}

pub(super) fn encode_token(s: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

pub(super) fn decode_token(t: &str) -> Result<String, ApiError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(t.trim_end_matches('='))
        .map_err(|_| invalid_token())?;
    String::from_utf8(bytes).map_err(|_| invalid_token())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_clamped_and_checked() {
        assert_eq!(page_size(None).unwrap(), MAX_PAGE);
        assert_eq!(page_size(Some(5)).unwrap(), 5);
        assert_eq!(page_size(Some(50_000)).unwrap(), MAX_PAGE);
        assert!(page_size(Some(0)).is_err());
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = encode_token("c1:3:42");
        assert_eq!(decode_token(&t).unwrap(), "c1:3:42");
        assert!(decode_token("!!!").is_err());
    }
}
