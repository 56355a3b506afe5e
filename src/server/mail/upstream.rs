//! The SMTP client the relay worker sends through: lettre's protocol engine
//! (`AsyncSmtpConnection`) on connections optbox opens itself, kept in a small pool.
//!
//! Why not lettre's own pooled `AsyncSmtpTransport`: it cannot set `TCP_NODELAY`, and
//! lettre writes a message and its final `CRLF . CRLF` as two writes. With Nagle's
//! algorithm on, the terminator waits for the upstream's delayed ACK of the body, about
//! 40 ms on Linux, so every relayed message cost 40 ms of idle wire time whatever the
//! upstream's speed (measured: 47 ms per message end to end, bench/smtp.sh). Our own
//! connections set `TCP_NODELAY`. Implicit TLS (`smtps://`) still connects through
//! lettre's `connect_tokio1`, which has no socket hook, so it keeps that delay.

use crate::server::config::RelaySettings;
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the connection is secured (lettre's URL forms).
#[derive(Clone)]
enum Tls {
    None,
    /// STARTTLS when the server offers it (`?tls=opportunistic`).
    Opportunistic(TlsParameters),
    /// STARTTLS or fail (`?tls=required`).
    Required(TlsParameters),
    /// TLS from the first byte (`smtps://`).
    Wrapper(TlsParameters),
}

/// Why a send failed, and whether retrying can help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl SendError {
    fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }
}

impl From<lettre::transport::smtp::Error> for SendError {
    fn from(e: lettre::transport::smtp::Error) -> Self {
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(&e);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        Self {
            message,
            permanent: e.is_permanent(),
        }
    }
}

/// Why a `relay_url` with credentials and without required TLS is refused.
pub const CLEAR_CREDENTIALS: &str = "relay_url has credentials but does not require TLS, so they could be read on the way (a STARTTLS offer can be stripped): use smtps://user:pass@host or smtp://user:pass@host:587?tls=required";

/// An upstream SMTP server with a pool of idle connections.
pub struct Upstream {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello: ClientId,
    timeout: Duration,
    max_idle: usize,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

/// An idle connection older than this is closed rather than reused.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// An idle connection older than this is checked with NOOP before it is reused.
const CHECK_AFTER: Duration = Duration::from_secs(1);

/// The host and port `relay_url` connects to (the scheme's default port when it names
/// none), for a reachability check; `None` when it does not parse.
pub fn address_of(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    let host = u
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tls = u.query_pairs().any(|(k, _)| k == "tls");
    let default = match (u.scheme(), tls) {
        ("smtps", _) => 465,
        ("smtp", true) => 587,
        _ => 25,
    };
    Some((host, u.port().unwrap_or(default)))
}

/// Whether the host of `relay_url` accepts a TCP connection (readiness, `optbox doctor`).
#[derive(Debug)]
pub enum Probe {
    /// `relay_url` does not parse.
    Unparsable,
    Reachable {
        host: String,
        port: u16,
    },
    Refused {
        host: String,
        port: u16,
        error: String,
    },
    /// No answer within the time given.
    Silent {
        host: String,
        port: u16,
    },
}

/// Tries a TCP connection to `relay_url`'s host and port within `within`.
pub async fn probe(url: &str, within: Duration) -> Probe {
    let Some((host, port)) = address_of(url) else {
        return Probe::Unparsable;
    };
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(within, connect).await {
        Ok(Ok(_)) => Probe::Reachable { host, port },
        Ok(Err(e)) => Probe::Refused {
            host,
            port,
            error: e.to_string(),
        },
        Err(_) => Probe::Silent { host, port },
    }
}

impl Upstream {
    /// Parses `relay_url`: `smtp://host[:port]`, `smtp://user:pass@host:587?tls=required`
    /// or `?tls=opportunistic`, `smtps://host[:port]`; an optional path is the EHLO name.
    pub fn from_url(url: &str, s: &RelaySettings) -> Result<Self, String> {
        let bad = |why: String| {
            format!(
                "relay_url is not a usable SMTP URL (smtp://host:port, smtps://host:port): {why}"
            )
        };
        let u = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let tls_param = u
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let params = || TlsParameters::new(host.clone()).map_err(|e| bad(e.to_string()));
        let (tls, default_port) = match (u.scheme(), tls_param.as_deref()) {
            ("smtp", None) => (Tls::None, 25),
            ("smtp", Some("required")) => (Tls::Required(params()?), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(params()?), 587),
            ("smtps", None) => (Tls::Wrapper(params()?), 465),
            (scheme, tls) => {
                return Err(bad(format!(
                    "unknown scheme {scheme:?} or tls parameter {tls:?}"
                )));
            }
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|e| bad(e.to_string()))
        };
        let credentials = match u.password() {
            Some(p) => Some(Credentials::new(decode(u.username())?, decode(p)?)),
            None => None,
        };
        // Credentials go over TLS or not at all: in clear anyone on the path reads them,
        // and an opportunistic STARTTLS is dropped by removing it from the EHLO answer.
        if (credentials.is_some() || !u.username().is_empty())
            && !matches!(tls, Tls::Required(_) | Tls::Wrapper(_))
        {
            return Err(CLEAR_CREDENTIALS.into());
        }
        let hello = match u.path().trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        Ok(Self {
            port: u.port().unwrap_or(default_port),
            host,
            tls,
            credentials,
            hello,
            timeout: Duration::from_millis(s.relay_timeout_ms.max(1)),
            max_idle: s.relay_concurrency.max(1),
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let mut conn = match &self.tls {
            Tls::Wrapper(p) => {
                AsyncSmtpConnection::connect_tokio1(
                    (self.host.as_str(), self.port),
                    Some(self.timeout),
                    &self.hello,
                    Some(p.clone()),
                    None,
                )
                .await?
            }
            _ => {
                let stream = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                    .await
                    .map_err(|e| {
                        SendError::transient(format!(
                            "cannot connect to {}:{}: {e}",
                            self.host, self.port
                        ))
                    })?;
                // The point of this module: no Nagle delay on the DATA terminator.
                let _ = stream.set_nodelay(true);
                AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello).await?
            }
        };
        match &self.tls {
            Tls::Opportunistic(p) if conn.can_starttls() => {
                conn.starttls(p.clone(), &self.hello).await?
            }
            Tls::Required(p) => conn.starttls(p.clone(), &self.hello).await?,
            _ => {}
        }
        if let Some(c) = &self.credentials {
            conn.auth(&[Mechanism::Plain, Mechanism::Login], c).await?;
        }
        Ok(conn)
    }

    /// An idle connection that still answers, or a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, SendError> {
        loop {
            let next = self.idle.lock().expect("pool lock").pop();
            let Some((mut conn, since)) = next else {
                break;
            };
            let age = since.elapsed();
            if age > IDLE_TIMEOUT {
                let _ = conn.quit().await;
                continue;
            }
            if age <= CHECK_AFTER || conn.test_connected().await {
                return Ok(conn);
            }
            conn.abort().await;
        }
        self.connect().await
    }

    /// Sends one message (the bytes without their final CRLF, which lettre adds before
    /// the terminating dot), within the relay timeout.
    pub async fn send_raw(&self, env: &Envelope, body: &[u8]) -> Result<(), SendError> {
        let run = async {
            let mut conn = self.checkout().await?;
            match conn.send(env, body).await {
                Ok(_) => Ok(conn),
                Err(e) => {
                    conn.abort().await;
                    Err(SendError::from(e))
                }
            }
        };
        let timeout = self.timeout.saturating_mul(3);
        let conn = tokio::time::timeout(timeout, run).await.map_err(|_| {
            SendError::transient(format!(
                "no answer from {}:{} within {} ms",
                self.host,
                self.port,
                timeout.as_millis()
            ))
        })??;
        if !conn.has_broken() {
            let mut idle = self.idle.lock().expect("pool lock");
            if idle.len() < self.max_idle {
                idle.push((conn, Instant::now()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<Upstream, String> {
        Upstream::from_url(url, &RelaySettings::default())
    }

    #[test]
    fn relay_urls_in_lettres_forms() {
        let u = parse("smtp://relay.example").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("relay.example", 25));
        assert!(matches!(u.tls, Tls::None) && u.credentials.is_none());

        let u =
            parse("smtp://user:p%40ss@relay.example:2525/mx.sender.example?tls=required").unwrap();
        assert_eq!(u.port, 2525);
        assert!(matches!(u.tls, Tls::Required(_)));
        assert!(u.credentials == Some(Credentials::new("user".into(), "p@ss".into())));
        assert_eq!(u.hello, ClientId::Domain("mx.sender.example".into()));

        let u = parse("smtp://relay.example?tls=opportunistic").unwrap();
        assert!(matches!(u.tls, Tls::Opportunistic(_)) && u.port == 587);
        let u = parse("smtps://relay.example").unwrap();
        assert!(matches!(u.tls, Tls::Wrapper(_)) && u.port == 465);
        let u = parse("smtp://[::1]:2525").unwrap();
        assert_eq!(u.host, "::1");
    }

    #[test]
    fn unusable_relay_urls_are_refused_with_a_reason() {
        for bad in [
            "http://relay.example",
            "smtp://relay.example?tls=sometimes",
            "smtp://",
            "not a url",
        ] {
            let e = parse(bad).err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert!(e.starts_with("relay_url is not a usable SMTP URL"), "{e}");
        }
    }

    #[test]
    fn credentials_need_required_tls() {
        for clear in [
            "smtp://user:secret@relay.example",
            "smtp://user:secret@relay.example:587?tls=opportunistic",
            "smtp://user@relay.example:2525",
        ] {
            let e = parse(clear)
                .err()
                .unwrap_or_else(|| panic!("{clear} accepted"));
            assert_eq!(e, CLEAR_CREDENTIALS);
            assert!(!e.contains("secret"));
        }
        for tls in [
            "smtp://user:secret@relay.example:587?tls=required",
            "smtps://user:secret@relay.example",
        ] {
            assert!(parse(tls).unwrap().credentials.is_some(), "{tls}");
        }
    }
}
