//! A small SES v2 client for tests: signs like botocore (labels quoted with safe
//! `-._~`, the canonical path encoded a second time, `host;x-amz-date` plus
//! `content-type` when there is a body) and returns status, headers and JSON.
#![allow(dead_code)]

use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const UNRESERVED: &[u8] = b"-._~";

/// `quote(s, safe=extra + unreserved)` as Python's urllib does it.
/// `X-Amz-Date` for an instant: `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(now: time::OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        now.month() as u8,
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

pub fn quote(s: &str, safe: &[u8]) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || UNRESERVED.contains(&b) || safe.contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The hex SHA-256 of `b` (a payload line).
pub fn hex_sha256(b: &[u8]) -> String {
    hex(&Sha256::digest(b))
}

#[derive(Clone)]
pub struct SesClient {
    pub base: String,
    pub host: String,
    pub key_id: String,
    pub secret: String,
    pub region: String,
    pub http: reqwest::Client,
    /// Seconds added to the signing clock (to test skew).
    pub clock_offset: i64,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    /// The `x-amzn-ErrorType` code, if any.
    pub fn code(&self) -> Option<&str> {
        self.headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok())
    }
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or("")
    }
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.json);
        &self.json
    }
    #[track_caller]
    pub fn err(&self, status: u16, code: &str) -> &str {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.json);
        assert_eq!(self.code(), Some(code), "{:?}", self.json);
        self.message()
    }
}

impl SesClient {
    pub fn new(base: &str, key_id: &str, secret: &str) -> Self {
        Self {
            base: base.to_owned(),
            host: base.trim_start_matches("http://").to_owned(),
            key_id: key_id.to_owned(),
            secret: secret.to_owned(),
            region: "us-east-1".into(),
            http: reqwest::Client::new(),
            clock_offset: 0,
        }
    }

    /// Signs a request as botocore would; returns the Authorization and X-Amz-Date
    /// values. `qs` is the canonical (sorted, encoded) query string.
    pub fn sign(
        &self,
        method: &str,
        path: &str,
        qs: &str,
        body: Option<&[u8]>,
    ) -> (String, String) {
        let now = time::OffsetDateTime::now_utc() + time::Duration::seconds(self.clock_offset);
        let amz_date = amz_date(now);
        let body_bytes = body.unwrap_or(b"");
        let mut signed: Vec<(&str, String)> = vec![];
        if body.is_some() {
            signed.push(("content-type", "application/json".into()));
        }
        signed.push(("host", self.host.clone()));
        signed.push(("x-amz-date", amz_date.clone()));
        let auth = self.sign_canonical(
            method,
            &quote(path, b"/"),
            qs,
            &signed,
            &hex(&Sha256::digest(body_bytes)),
            &amz_date,
        );
        (auth, amz_date)
    }

    /// The Authorization value for a canonical request made of these parts: the
    /// canonical path as it goes into the request (already encoded), the signed headers
    /// (lowercase, sorted, `host` and `x-amz-date` among them) and the payload line.
    pub fn sign_canonical(
        &self,
        method: &str,
        canonical_path: &str,
        qs: &str,
        signed: &[(&str, String)],
        payload: &str,
        amz_date: &str,
    ) -> String {
        let date = &amz_date[..8];
        let canonical_headers: String = signed.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_names = signed.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(";");
        let canonical = format!(
            "{method}\n{canonical_path}\n{qs}\n{canonical_headers}\n{signed_names}\n{payload}"
        );
        let scope = format!("{date}/{}/ses/aws4_request", self.region);
        let sts = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let k = hmac(format!("AWS4{}", self.secret).as_bytes(), date.as_bytes());
        let k = hmac(&k, self.region.as_bytes());
        let k = hmac(&k, b"ses");
        let k = hmac(&k, b"aws4_request");
        let sig = hex(&hmac(&k, sts.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_names}, Signature={sig}",
            self.key_id
        )
    }

    /// A pre-signed request without a query (valid for the 5-minute skew window).
    pub fn presign(&self, method: &str, path: &str, body: Option<&[u8]>) -> (String, String) {
        self.sign(method, path, "", body)
    }

    /// `path` has its labels already quoted (see `label`); `query` pairs are raw.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Reply {
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (quote(k, b""), quote(v, b"")))
            .collect();
        q.sort();
        let qs = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let (auth, amz_date) = self.sign(method, path, &qs, body);
        let url = if qs.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{qs}", self.base)
        };
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .header("authorization", auth)
            .header("x-amz-date", amz_date);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_vec());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
        Reply {
            status,
            headers,
            json,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], None).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, &[], None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, &[], Some(body.to_string().as_bytes()))
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, &[], Some(body.to_string().as_bytes()))
            .await
    }
}

/// A URI label as botocore quotes it.
pub fn label(s: &str) -> String {
    quote(s, b"")
}
