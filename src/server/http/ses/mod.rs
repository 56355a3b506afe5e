//! The SES v2-compatible API under `/v2/email/…` (restJson1, SigV4-signed), so that the
//! real `aws sesv2` CLI and boto3 work with `--endpoint-url` / `endpoint_url=`.
//!
//! One handler owns the whole prefix: it reads the body (bounded), verifies SigV4 against
//! the caller's key (looked up on every request, so revocation is immediate everywhere),
//! routes on the raw path (each segment percent-decoded exactly once) and turns every
//! failure into SES's error shape: the `x-amzn-ErrorType` header plus a JSON body with
//! `message`. The operations themselves live in `ops.rs`; their logic in the service layer.

mod configuration_sets;
mod identities;
mod import_jobs;
mod ops;
mod paging;
mod send_email;
mod suppression;
mod templates;
mod wire;

use super::sigv4::{self, SignedRequest};
use crate::server::service::{ServiceError, api_keys};
use crate::server::state::AppState;
use crate::server::store::{Audit, Source};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Largest request body the API reads (SES bodies are small; AttributesData is the
/// largest member).
pub const BODY_LIMIT: usize = 256 * 1024;

/// An SES-shaped error: status, `x-amzn-ErrorType` code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequestException",
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "NotFoundException",
            message: message.into(),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let (status, code) = match &e {
            ServiceError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequestException"),
            ServiceError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFoundException"),
            ServiceError::AlreadyExists(_) => (StatusCode::BAD_REQUEST, "AlreadyExistsException"),
            ServiceError::LimitExceeded(_) => (StatusCode::BAD_REQUEST, "LimitExceededException"),
            ServiceError::Unauthorized(_) | ServiceError::Forbidden(_) => {
                (StatusCode::FORBIDDEN, "AccessDeniedException")
            }
            ServiceError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
            ServiceError::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServiceErrorException",
            ),
        };
        let message = match &e {
            ServiceError::Unavailable(_) | ServiceError::Internal(_) => {
                tracing::error!(error = %e.detail(), code, "SES API request failed");
                if status == StatusCode::SERVICE_UNAVAILABLE {
                    "The service is temporarily unavailable; retry later.".to_owned()
                } else {
                    "An internal error occurred; the request was not applied.".to_owned()
                }
            }
            other => other.to_string(),
        };
        Self {
            status,
            code,
            message,
        }
    }
}

impl From<sigv4::SigV4Error> for ApiError {
    fn from(e: sigv4::SigV4Error) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: e.code(),
            message: e.message(),
        }
    }
}

/// The request's `x-amzn-RequestId`: the id its log lines and the events it writes carry
/// (`trace`), a random UUID v4 as AWS sends unless a proxy named the request.
pub(crate) fn request_id(req: &Request) -> String {
    super::trace::id_of(req.headers())
}

pub(crate) fn respond(
    status: StatusCode,
    body: String,
    request_id: &str,
    code: Option<&str>,
) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    if let Some(code) = code
        && let Ok(v) = HeaderValue::from_str(code)
    {
        h.insert("x-amzn-errortype", v);
    }
    r
}

pub(crate) fn error_response(e: &ApiError, request_id: &str) -> Response {
    let body = serde_json::json!({ "__type": e.code, "message": e.message }).to_string();
    respond(e.status, body, request_id, Some(e.code))
}

/// What an operation sees of its request.
pub struct ApiRequest<'a> {
    pub state: &'a AppState,
    pub method: &'a Method,
    /// Path segments after `/v2/email/`, each decoded once.
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: &'a [u8],
    pub audit: Audit,
    /// What the signing key may do.
    pub scope: crate::domain::KeyScope,
}

impl ApiRequest<'_> {
    pub fn query_one(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `ANY /v2/{*rest}`: authenticate, route, answer in SES's wire format.
pub async fn handle(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let rid = request_id(&req);
    let operation = operation(req.method(), req.uri().path());
    let (r, code) = match serve(&state, peer, req).await {
        Ok(body) => (respond(StatusCode::OK, body, &rid, None), "OK"),
        Err(e) => (error_response(&e, &rid), e.code),
    };
    metrics::counter!("optbox_ses_requests_total", "operation" => operation, "code" => code)
        .increment(1);
    r
}

/// The operation a request is for, as a metrics label: the method and the path with
/// every name (list, contact, template, …) replaced by `{}`.
fn operation(method: &Method, path: &str) -> String {
    const FIXED: &[&str] = &[
        "contact-lists",
        "contacts",
        "list",
        "outbound-emails",
        "import-jobs",
        "suppression",
        "addresses",
        "identities",
        "templates",
        "render",
        "tags",
        "configuration-sets",
        "event-destinations",
        "suppression-options",
        "sending",
    ];
    let rest = path.strip_prefix("/v2/email/").unwrap_or("");
    let segs: Vec<&str> = rest
        .split('/')
        .take(6)
        .map(|s| if FIXED.contains(&s) { s } else { "{}" })
        .collect();
    format!("{method} /{}", segs.join("/"))
}

async fn serve(state: &AppState, peer: SocketAddr, req: Request) -> Result<String, ApiError> {
    let (parts, body) = req.into_parts();
    // SendEmail carries whole messages; everything else is small.
    let limit = if parts.method == Method::POST && parts.uri.path() == "/v2/email/outbound-emails" {
        send_email::BODY_LIMIT
    } else {
        BODY_LIMIT
    };
    let auth = authenticated_body(state, &parts, body, limit).await?;

    let raw_path = parts.uri.path();
    let rest = raw_path
        .strip_prefix("/v2/email/")
        .ok_or_else(|| unknown(&parts.method, raw_path))?;
    let mut segments = Vec::new();
    for seg in rest.split('/') {
        let decoded = sigv4::percent_decode(seg.as_bytes());
        let s = String::from_utf8(decoded)
            .map_err(|_| ApiError::bad_request("The request path is not valid UTF-8."))?;
        segments.push(s);
    }
    let query = parts
        .uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode_query(k), decode_query(v))
                })
                .collect()
        })
        .unwrap_or_default();
    let audit = state
        .audit(Source::Api, Some(peer.ip()), &parts.headers)
        .by(&auth.key_id);
    let api = ApiRequest {
        state,
        method: &parts.method,
        segments,
        query,
        body: &auth.body,
        audit,
        scope: auth.scope.clone(),
    };
    ops::route(&api)
        .await
        .unwrap_or_else(|| Err(unknown(&parts.method, raw_path)))
}

/// Query values as botocore sends them: RFC 3986 percent-encoding (a `+` is a plus).
fn decode_query(s: &str) -> String {
    String::from_utf8_lossy(&sigv4::percent_decode(s.as_bytes())).into_owned()
}

fn unknown(method: &Method, path: &str) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        code: "UnknownOperationException",
        message: format!(
            "No SES v2 operation is served at {method} {}",
            path.chars().take(200).collect::<String>()
        ),
    }
}

/// Request bytes the API holds in memory at once, across all requests of the process,
/// in KiB: a flood of large bodies gets `429 TooManyRequestsException` (which the AWS
/// SDKs retry) instead of the memory.
const IN_FLIGHT_KIB: usize = 64 * 1024;
static IN_FLIGHT: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(IN_FLIGHT_KIB);

/// A request's share of [`IN_FLIGHT`], held while its body is in memory.
pub(crate) type InFlight = tokio::sync::SemaphorePermit<'static>;

/// Authenticates a request (also `POST /v1/links`) and returns its body, at most `limit`
/// bytes. Everything that needs no body is checked before a byte of it is read: the
/// `Authorization` header, the clock skew and the key (looked up on every request, so
/// revocation is immediate everywhere), the declared length, and the process-wide
/// budget of bytes in flight; then the body is read and the signature verified.
pub(crate) async fn authenticated_body(
    state: &AppState,
    parts: &axum::http::request::Parts,
    body: Body,
    limit: usize,
) -> Result<Authenticated, ApiError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let key_id = sigv4::check_head(&parts.headers, now)?;
    let (secret, scope) = api_keys::key_for(state.store.as_ref(), &state.api_master, &key_id)
        .await?
        .ok_or(sigv4::SigV4Error::UnknownKey)?;
    let too_large = || {
        ApiError::bad_request(format!(
            "The request body is larger than the limit of {limit} bytes."
        ))
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let kib = declared
        .unwrap_or(limit)
        .div_ceil(1024)
        .clamp(1, IN_FLIGHT_KIB) as u32;
    let permit = IN_FLIGHT.try_acquire_many(kib).map_err(|_| ApiError {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "TooManyRequestsException",
        message: "Too many requests are being received at once; retry shortly.".into(),
    })?;
    let body = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let signed = SignedRequest {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        body: &body,
    };
    sigv4::verify(&signed, now, |_| Some(secret.clone()))?;
    Ok(Authenticated {
        body,
        key_id,
        scope,
        _in_flight: permit,
    })
}

/// A request body whose signature checked out, the key that signed it, and its share of
/// the bytes-in-flight budget (returned when this is dropped).
pub(crate) struct Authenticated {
    pub body: bytes::Bytes,
    pub key_id: String,
    /// What the key may do.
    pub scope: crate::domain::KeyScope,
    _in_flight: InFlight,
}
