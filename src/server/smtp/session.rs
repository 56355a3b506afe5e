//! One SMTP submission session, generic over the stream (`AsyncRead + AsyncWrite`) so it
//! runs on TCP, on TLS after STARTTLS, and on an in-memory pipe in transcript tests.
//! Commands and DATA are parsed by `smtp-proto` (Stalwart's parser); replies to pipelined
//! commands are written together before the session waits for more input.

use super::{Context, Role};
use crate::server::service::api_keys;
use crate::server::service::inbound::Recipient;
use crate::server::service::sending::{SendError, Submission, Via};
use base64::Engine;
use smtp_proto::request::receiver::{
    DataReceiver, DummyDataReceiver, LineReceiver, RequestReceiver,
};
use smtp_proto::{
    AUTH_LOGIN, AUTH_PLAIN, EXT_8BIT_MIME, EXT_AUTH, EXT_ENHANCED_STATUS_CODES, EXT_PIPELINING,
    EXT_SIZE, EXT_START_TLS, EhloResponse, Error as ParseError, Request,
};
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Too many bad commands or failed logins end the session.
const MAX_ERRORS: u32 = 10;
const MAX_AUTH_FAILURES: u32 = 3;
/// Commands that move no message forward (NOOP, RSET, HELP, VRFY, EHLO/HELO again) a
/// session may send between two messages; more end it, so a client cannot hold a slot
/// by chattering.
const MAX_IDLE_COMMANDS: u32 = 20;

/// Runs a connection: greeting, session, and after STARTTLS a fresh session on TLS.
pub async fn serve<S>(ctx: &Context, mut stream: S, peer: SocketAddr) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let greeting = format!("220 {} ESMTP optbox ready\r\n", ctx.settings.smtp_hostname);
    stream.write_all(greeting.as_bytes()).await?;
    stream.flush().await?;
    let started = tokio::time::Instant::now();
    let mut session = Session::new(peer, false, started);
    match session.run(ctx, &mut stream).await? {
        End::StartTls => {}
        End::Closed => return Ok(()),
    }
    let Some(acceptor) = &ctx.tls else {
        return Ok(());
    };
    let timeout = Duration::from_secs(ctx.settings.smtp_timeout_secs.max(1));
    let mut tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Ok(()),
    };
    // RFC 3207 §4.2: the client starts over with EHLO; nothing from before TLS is kept.
    let mut session = Session::new(peer, true, started);
    session.run(ctx, &mut tls).await?;
    let _ = tls.shutdown().await;
    Ok(())
}

/// How a session's loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    /// QUIT, an error limit, a timeout, shutdown, or the client hung up.
    Closed,
    /// The client asked for STARTTLS and was told to go ahead.
    StartTls,
}

enum Input {
    Command,
    Data {
        rx: DataReceiver,
        msg: Vec<u8>,
    },
    /// The message passed the size limit: read to the end and refuse it.
    TooBig(DummyDataReceiver),
    Auth(AuthStep, LineReceiver<()>),
}

enum AuthStep {
    Plain,
    LoginUser,
    LoginPass { user: String },
}

enum Next {
    Continue,
    Input(Input),
    Close,
    StartTls,
}

/// The state of one session.
pub struct Session {
    peer: SocketAddr,
    tls: bool,
    helo: Option<String>,
    /// The access key id that authenticated, and what it may do.
    auth: Option<String>,
    scope: crate::domain::KeyScope,
    mail_from: Option<String>,
    rcpts: Vec<String>,
    /// The inbound listener's recipients, as accepted.
    inbound_rcpts: Vec<Recipient>,
    errors: u32,
    auth_failures: u32,
    /// Commands without progress since the last message (see [`MAX_IDLE_COMMANDS`]).
    idle_commands: u32,
    /// When the connection was accepted: the AUTH deadline counts from here.
    started: tokio::time::Instant,
}

fn reply(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

impl Session {
    pub fn new(peer: SocketAddr, tls: bool, started: tokio::time::Instant) -> Self {
        Self {
            idle_commands: 0,
            started,
            peer,
            tls,
            helo: None,
            auth: None,
            scope: Default::default(),
            mail_from: None,
            rcpts: Vec::new(),
            inbound_rcpts: Vec::new(),
            errors: 0,
            auth_failures: 0,
        }
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpts.clear();
        self.inbound_rcpts.clear();
    }

    fn auth_allowed(&self, ctx: &Context) -> bool {
        ctx.role == Role::Submission && (self.tls || ctx.loopback)
    }

    /// Whether this session must authenticate before MAIL.
    fn must_auth(&self, ctx: &Context) -> bool {
        ctx.role == Role::Submission && ctx.settings.smtp_require_auth && self.auth.is_none()
    }

    /// Reads and answers commands until the session ends.
    pub async fn run<S>(&mut self, ctx: &Context, stream: &mut S) -> io::Result<End>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let timeout = Duration::from_secs(ctx.settings.smtp_timeout_secs.max(1));
        let mut shutdown = ctx.shutdown.clone();
        let mut requests = RequestReceiver::default();
        let mut input = Input::Command;
        let mut buf = vec![0u8; 16 * 1024];
        let mut out: Vec<u8> = Vec::with_capacity(1024);
        loop {
            if !out.is_empty() {
                stream.write_all(&out).await?;
                stream.flush().await?;
                out.clear();
            }
            let idle = matches!(input, Input::Command);
            // With AUTH required, a session that has not authenticated in time is closed.
            let must_auth = self.must_auth(ctx);
            let auth_deadline =
                self.started + Duration::from_secs(ctx.settings.smtp_auth_timeout_secs.max(1));
            let n = tokio::select! {
                _ = tokio::time::sleep_until(auth_deadline), if must_auth => {
                    let _ = stream.write_all(b"421 4.7.0 Authentication timeout, closing connection\r\n").await;
                    return Ok(End::Closed);
                }
                r = tokio::time::timeout(timeout, stream.read(&mut buf)) => match r {
                    Ok(Ok(0)) => return Ok(End::Closed),
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) => return Err(e),
                    Err(_) => {
                        let _ = stream.write_all(b"421 4.4.2 Idle timeout, closing connection\r\n").await;
                        return Ok(End::Closed);
                    }
                },
                _ = shutdown.changed(), if idle => {
                    let _ = stream.write_all(b"421 4.3.2 Server shutting down, try again later\r\n").await;
                    return Ok(End::Closed);
                }
            };
            let mut bytes = buf[..n].iter();
            while !bytes.as_slice().is_empty() {
                let current = std::mem::replace(&mut input, Input::Command);
                let next = match current {
                    Input::Command => match requests.ingest(&mut bytes) {
                        Ok(req) => {
                            let req = req.into_owned();
                            self.command(ctx, req, &mut out).await
                        }
                        Err(ParseError::NeedsMoreData { .. }) => Next::Continue,
                        Err(e) => {
                            self.parse_error(e, &mut out);
                            if self.errors >= MAX_ERRORS {
                                reply(&mut out, "421 4.7.0 Too many errors, closing connection");
                                Next::Close
                            } else {
                                Next::Continue
                            }
                        }
                    },
                    Input::Data { mut rx, mut msg } => {
                        if rx.ingest(&mut bytes, &mut msg) {
                            if msg.len() > ctx.settings.smtp_max_message_bytes {
                                self.reset();
                                too_big(ctx, &mut out);
                            } else {
                                self.deliver(ctx, msg, &mut out).await;
                            }
                            Next::Continue
                        } else if msg.len() > ctx.settings.smtp_max_message_bytes {
                            Next::Input(Input::TooBig(DummyDataReceiver::new_data(&rx)))
                        } else {
                            Next::Input(Input::Data { rx, msg })
                        }
                    }
                    Input::TooBig(mut rx) => {
                        if rx.ingest(&mut bytes) {
                            self.reset();
                            too_big(ctx, &mut out);
                            Next::Continue
                        } else {
                            Next::Input(Input::TooBig(rx))
                        }
                    }
                    Input::Auth(step, mut line) => {
                        if line.ingest(&mut bytes) {
                            let text = String::from_utf8_lossy(&line.buf).trim().to_owned();
                            self.auth_step(ctx, step, &text, &mut out).await
                        } else {
                            Next::Input(Input::Auth(step, line))
                        }
                    }
                };
                match next {
                    Next::Continue => {}
                    Next::Input(i) => input = i,
                    Next::Close => {
                        stream.write_all(&out).await?;
                        stream.flush().await?;
                        return Ok(End::Closed);
                    }
                    Next::StartTls => {
                        // Anything pipelined after STARTTLS is dropped (RFC 3207 §5).
                        stream.write_all(&out).await?;
                        stream.flush().await?;
                        return Ok(End::StartTls);
                    }
                }
            }
        }
    }

    fn parse_error(&mut self, e: ParseError, out: &mut Vec<u8>) {
        self.errors += 1;
        let text = match e {
            ParseError::UnknownCommand => "500 5.5.1 Unknown command".to_owned(),
            ParseError::InvalidSenderAddress => "501 5.1.7 Invalid sender address".to_owned(),
            ParseError::InvalidRecipientAddress => "501 5.1.3 Invalid recipient address".to_owned(),
            ParseError::SyntaxError { syntax } => {
                format!("501 5.5.2 Syntax error, expected: {syntax}")
            }
            ParseError::InvalidParameter { param } => {
                format!("501 5.5.4 Invalid parameter {param:?}")
            }
            ParseError::UnsupportedParameter { param } => {
                format!("504 5.5.4 Unsupported parameter {param:?}")
            }
            ParseError::ResponseTooLong => "500 5.5.6 Line too long".to_owned(),
            _ => "500 5.5.2 Syntax error".to_owned(),
        };
        reply(out, &text);
    }

    async fn command(&mut self, ctx: &Context, req: Request<String>, out: &mut Vec<u8>) -> Next {
        let s = &ctx.settings;
        if matches!(
            req,
            Request::Ehlo { .. }
                | Request::Helo { .. }
                | Request::Rset
                | Request::Noop { .. }
                | Request::Vrfy { .. }
                | Request::Help { .. }
        ) {
            self.idle_commands += 1;
            if self.idle_commands > MAX_IDLE_COMMANDS {
                reply(
                    out,
                    "421 4.7.0 Too many commands without a message, closing connection",
                );
                return Next::Close;
            }
        }
        match req {
            Request::Ehlo { host } => {
                self.helo = Some(host);
                self.reset();
                let mut e = EhloResponse::new(s.smtp_hostname.as_str());
                e.capabilities =
                    EXT_PIPELINING | EXT_SIZE | EXT_8BIT_MIME | EXT_ENHANCED_STATUS_CODES;
                e.size = s.smtp_max_message_bytes;
                if ctx.tls.is_some() && !self.tls {
                    e.capabilities |= EXT_START_TLS;
                }
                if self.auth_allowed(ctx) && self.auth.is_none() {
                    e.capabilities |= EXT_AUTH;
                    e.auth_mechanisms = AUTH_PLAIN | AUTH_LOGIN;
                }
                let _ = e.write(&mut *out);
            }
            Request::Helo { host } => {
                self.helo = Some(host);
                self.reset();
                reply(out, &format!("250 {}", s.smtp_hostname));
            }
            Request::Mail { from } => {
                if self.helo.is_none() {
                    reply(out, "503 5.5.1 Send EHLO first");
                } else if self.must_auth(ctx) {
                    reply(out, "530 5.7.0 Authentication required");
                } else if self.mail_from.is_some() {
                    reply(out, "503 5.5.1 Nested MAIL command");
                } else if from.size > s.smtp_max_message_bytes {
                    reply(
                        out,
                        &format!(
                            "552 5.3.4 Message too big (the limit is {} bytes)",
                            s.smtp_max_message_bytes
                        ),
                    );
                } else if !from.address.is_empty()
                    && from.address.parse::<lettre::Address>().is_err()
                {
                    reply(out, "553 5.1.7 Invalid sender address");
                } else {
                    self.mail_from = Some(from.address);
                    reply(out, "250 2.1.0 Sender OK");
                }
            }
            Request::Rcpt { to } => {
                if self.mail_from.is_none() {
                    reply(out, "503 5.5.1 Send MAIL first");
                } else if to.address.parse::<lettre::Address>().is_err()
                    && !(ctx.role == Role::Inbound && to.address.eq_ignore_ascii_case("postmaster"))
                {
                    reply(out, "553 5.1.3 Invalid recipient address");
                } else if self.rcpts.len() >= s.smtp_max_recipients {
                    reply(
                        out,
                        &format!(
                            "452 4.5.3 Too many recipients (the limit is {})",
                            s.smtp_max_recipients
                        ),
                    );
                } else if ctx.role == Role::Inbound {
                    self.inbound_rcpt(ctx, to.address, out);
                } else {
                    if !self.rcpts.contains(&to.address) {
                        self.rcpts.push(to.address);
                    }
                    reply(out, "250 2.1.5 Recipient OK");
                }
            }
            Request::Data => {
                if self.mail_from.is_none() {
                    reply(out, "503 5.5.1 Send MAIL first");
                } else if self.rcpts.is_empty() {
                    reply(out, "503 5.5.1 Send RCPT first");
                } else {
                    reply(out, "354 Start mail input; end with <CRLF>.<CRLF>");
                    return Next::Input(Input::Data {
                        rx: DataReceiver::new(),
                        msg: Vec::with_capacity(8192),
                    });
                }
            }
            Request::Auth {
                mechanism,
                initial_response,
            } => {
                if self.auth.is_some() {
                    reply(out, "503 5.5.1 Already authenticated");
                } else if self.mail_from.is_some() {
                    reply(
                        out,
                        "503 5.5.1 AUTH is not allowed during a mail transaction",
                    );
                } else if !self.auth_allowed(ctx) {
                    reply(
                        out,
                        "538 5.7.11 Encryption required for requested authentication mechanism",
                    );
                } else if mechanism == AUTH_PLAIN {
                    if initial_response.is_empty() {
                        reply(out, "334 ");
                        return Next::Input(Input::Auth(AuthStep::Plain, LineReceiver::new(())));
                    }
                    return self
                        .auth_step(ctx, AuthStep::Plain, &initial_response, out)
                        .await;
                } else if mechanism == AUTH_LOGIN {
                    if initial_response.is_empty() {
                        reply(out, "334 VXNlcm5hbWU6");
                        return Next::Input(Input::Auth(
                            AuthStep::LoginUser,
                            LineReceiver::new(()),
                        ));
                    }
                    return self
                        .auth_step(ctx, AuthStep::LoginUser, &initial_response, out)
                        .await;
                } else {
                    reply(
                        out,
                        "504 5.5.4 Unrecognized authentication type (use PLAIN or LOGIN)",
                    );
                }
            }
            Request::StartTls => {
                if self.tls {
                    reply(out, "503 5.5.1 TLS is already active");
                } else if ctx.tls.is_none() {
                    reply(
                        out,
                        "502 5.5.1 STARTTLS is not available (no certificate configured)",
                    );
                } else {
                    reply(out, "220 2.0.0 Ready to start TLS");
                    return Next::StartTls;
                }
            }
            Request::Rset => {
                self.reset();
                reply(out, "250 2.0.0 OK");
            }
            Request::Noop { .. } => reply(out, "250 2.0.0 OK"),
            Request::Quit => {
                reply(out, "221 2.0.0 Bye");
                return Next::Close;
            }
            Request::Vrfy { .. } => {
                reply(out, "252 2.5.0 Cannot VRFY user, but will accept message");
            }
            Request::Help { .. } => {
                reply(
                    out,
                    match ctx.role {
                        Role::Submission => {
                            "214 2.0.0 optbox submission: EHLO, AUTH, MAIL, RCPT, DATA, QUIT"
                        }
                        Role::Inbound => "214 2.0.0 optbox inbound: EHLO, MAIL, RCPT, DATA, QUIT",
                    },
                );
            }
            Request::Lhlo { .. } => {
                self.errors += 1;
                reply(out, "500 5.5.1 This is an SMTP server, not LMTP");
            }
            Request::Bdat { .. }
            | Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                self.errors += 1;
                reply(out, "502 5.5.1 Command not implemented");
            }
        }
        if self.errors >= MAX_ERRORS {
            reply(out, "421 4.7.0 Too many errors, closing connection");
            return Next::Close;
        }
        Next::Continue
    }

    async fn auth_step(
        &mut self,
        ctx: &Context,
        step: AuthStep,
        line: &str,
        out: &mut Vec<u8>,
    ) -> Next {
        if line == "*" {
            reply(out, "501 5.7.0 Authentication cancelled");
            return Next::Continue;
        }
        let b64 = base64::engine::general_purpose::STANDARD;
        let Ok(decoded) = b64.decode(line) else {
            reply(out, "501 5.5.2 Invalid base64 in the AUTH response");
            return Next::Continue;
        };
        let decoded = String::from_utf8_lossy(&decoded).into_owned();
        let (user, pass) = match step {
            AuthStep::LoginUser => {
                reply(out, "334 UGFzc3dvcmQ6");
                return Next::Input(Input::Auth(
                    AuthStep::LoginPass { user: decoded },
                    LineReceiver::new(()),
                ));
            }
            AuthStep::LoginPass { user } => (user, decoded),
            AuthStep::Plain => {
                let mut parts = decoded.splitn(3, '\0');
                let (authz, user, pass) = (parts.next(), parts.next(), parts.next());
                match (authz, user, pass) {
                    (Some(z), Some(u), Some(p)) if z.is_empty() || z == u => {
                        (u.to_owned(), p.to_owned())
                    }
                    _ => {
                        reply(out, "501 5.5.2 Malformed AUTH PLAIN response");
                        return Next::Continue;
                    }
                }
            }
        };
        let st = &ctx.state;
        match api_keys::key_for(st.store.as_ref(), &st.api_master, &user).await {
            Ok(Some((secret, scope))) if constant_eq(secret.as_bytes(), pass.as_bytes()) => {
                tracing::info!(peer = %self.peer, key = %user, "SMTP AUTH accepted");
                self.auth = Some(user);
                self.scope = scope;
                reply(out, "235 2.7.0 Authentication successful");
                Next::Continue
            }
            Ok(_) => {
                self.auth_failures += 1;
                tracing::warn!(peer = %self.peer, "SMTP AUTH refused");
                reply(out, "535 5.7.8 Authentication credentials invalid");
                if self.auth_failures >= MAX_AUTH_FAILURES {
                    reply(out, "421 4.7.0 Too many authentication failures");
                    return Next::Close;
                }
                Next::Continue
            }
            Err(e) => {
                tracing::error!(error = %crate::server::service::chain(&e), "SMTP AUTH could not be checked");
                reply(
                    out,
                    "454 4.7.0 Temporary authentication failure, try again later",
                );
                Next::Continue
            }
        }
    }

    /// RCPT on the inbound listener: the addresses optbox issued and the report
    /// mailboxes, nothing else.
    fn inbound_rcpt(&mut self, ctx: &Context, address: String, out: &mut Vec<u8>) {
        let Some(domain) = ctx.state.settings.inbound.domain() else {
            reply(out, "550 5.7.1 This server takes no mail");
            return;
        };
        match ctx.state.inbound(&domain).accept(&address) {
            Ok(r) => {
                if !self.inbound_rcpts.contains(&r) {
                    self.inbound_rcpts.push(r);
                    self.rcpts.push(address);
                }
                reply(out, "250 2.1.5 Recipient OK");
            }
            Err(text) => {
                self.errors += 1;
                tracing::info!(peer = %self.peer, %address, "inbound recipient refused");
                reply(out, text);
            }
        }
    }

    /// The end of DATA on the inbound listener: acted on durably before the 250.
    async fn receive(&mut self, ctx: &Context, data: Vec<u8>, out: &mut Vec<u8>) {
        let mail_from = self.mail_from.take().unwrap_or_default();
        let rcpts = std::mem::take(&mut self.inbound_rcpts);
        self.rcpts.clear();
        let Some(domain) = ctx.state.settings.inbound.domain() else {
            reply(out, "554 5.7.1 This server takes no mail");
            return;
        };
        match ctx
            .state
            .inbound(&domain)
            .receive(&mail_from, &rcpts, &data)
            .await
        {
            Ok(notes) => {
                for n in &notes {
                    tracing::info!(peer = %self.peer, "inbound: {n}");
                }
                reply(out, "250 2.0.0 Ok");
            }
            Err(e) => {
                let cause = crate::server::service::chain(&e);
                tracing::error!(%cause, "inbound message not taken");
                reply(
                    out,
                    "451 4.3.0 The message could not be processed, try again later",
                );
            }
        }
    }

    /// The end of DATA, counted for `/metrics` by the class of its reply.
    async fn deliver(&mut self, ctx: &Context, data: Vec<u8>, out: &mut Vec<u8>) {
        let at = out.len();
        self.take(ctx, data, out).await;
        let outcome = match out.get(at) {
            Some(b'2') => "accepted",
            Some(b'4') => "temporary",
            _ => "refused",
        };
        metrics::counter!("optbox_smtp_messages_total", "listener" => ctx.role.name(), "outcome" => outcome)
            .increment(1);
    }

    /// The end of DATA: the pipeline, the durable queue, and one reply.
    async fn take(&mut self, ctx: &Context, data: Vec<u8>, out: &mut Vec<u8>) {
        self.idle_commands = 0;
        if ctx.role == Role::Inbound {
            return self.receive(ctx, data, out).await;
        }
        let (configuration_set, tags) = ses_headers(&data);
        let sub = Submission {
            mail_from: self.mail_from.take().unwrap_or_default(),
            rcpts: std::mem::take(&mut self.rcpts),
            data,
            options: None,
            via: Via::Smtp,
            key_id: self.auth.clone(),
            configuration_set,
            tags,
            scope: self.scope.clone(),
        };
        let n_rcpts = sub.rcpts.len();
        let processed = match ctx.state.process_mail(sub).await {
            Ok(p) => p,
            Err(e) => {
                reply(out, &send_error_reply(&e));
                return;
            }
        };
        let refused: Vec<String> = processed
            .refused
            .iter()
            .map(|r| format!("<{}> {}", r.rcpt, r.reason))
            .collect();
        if processed.outgoing.is_empty() && processed.suppressed.is_empty() {
            if refused.is_empty() {
                reply(out, "554 5.7.1 No recipient left to send to");
            } else {
                let last = refused.len() - 1;
                for (i, r) in refused.iter().enumerate() {
                    let sep = if i == last { ' ' } else { '-' };
                    reply(out, &format!("550{sep}5.7.1 {r}"));
                }
            }
            return;
        }
        // Recipients on the suppression list are accepted with the rest (as SES does)
        // and not queued: when nobody else is left, nothing is stored.
        let queued = if processed.outgoing.is_empty() {
            Ok(vec![processed.message_id.clone()])
        } else {
            ctx.state.enqueue_mail(&processed.outgoing).await
        };
        match queued {
            Ok(ids) => {
                let id = ids.first().cloned().unwrap_or_default();
                tracing::info!(peer = %self.peer, message_id = %id, recipients = n_rcpts, "SMTP message accepted");
                if refused.is_empty() {
                    reply(out, &format!("250 2.0.0 Ok: queued as {id}"));
                } else {
                    reply(
                        out,
                        &format!(
                            "250 2.0.0 Ok: queued as {id}; not sent to {}",
                            refused.join("; ")
                        ),
                    );
                }
            }
            Err(e) => {
                tracing::error!(error = %crate::server::service::chain(&e), "cannot queue an SMTP message");
                reply(
                    out,
                    "451 4.3.0 The message could not be stored, try again later",
                );
            }
        }
    }
}

/// SES's `X-SES-CONFIGURATION-SET` and `X-SES-MESSAGE-TAGS` (`name=value, name=value`)
/// of a submitted message, kept with its send records (values SES would refuse are
/// dropped: at most 64 characters of `[A-Za-z0-9_-]`, 50 tags).
pub fn ses_headers(data: &[u8]) -> (Option<String>, Vec<(String, String)>) {
    let valid = |v: &str| {
        !v.is_empty()
            && v.len() <= 256
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let Some(m) = mail_parser::MessageParser::new().parse_headers(data) else {
        return (None, Vec::new());
    };
    let set = m
        .header_raw("X-SES-CONFIGURATION-SET")
        .map(|v| v.trim().to_owned())
        .filter(|v| v.len() <= 64 && valid(v));
    let tags = m
        .header_raw("X-SES-MESSAGE-TAGS")
        .map(|v| {
            v.split(',')
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, v)| valid(k) && valid(v))
                .take(50)
                .collect()
        })
        .unwrap_or_default();
    (set, tags)
}

/// The SMTP reply for a message the pipeline refused as a whole.
pub fn send_error_reply(e: &SendError) -> String {
    match e {
        SendError::UnknownList(m)
        | SendError::UnknownTopic(m)
        | SendError::UnknownConfigurationSet(m) => format!("550 5.1.0 {m}"),
        SendError::SendingPaused(m) => format!("554 5.7.0 {m}"),
        SendError::BadRequest(m) | SendError::Unpersonalised(m) => format!("554 5.6.0 {m}"),
        SendError::DkimWouldBreak(m) => format!("550 5.7.0 {m}"),
        SendError::NotVerified(m) | SendError::AccessDenied(m) => format!("550 5.7.1 {m}"),
        e @ SendError::Unavailable(_) => {
            let cause = crate::server::service::chain(e);
            tracing::error!(%cause, "SMTP message refused: database unavailable");
            "451 4.3.0 The database is unavailable, try again later".to_owned()
        }
        e @ SendError::Internal(_) => {
            let cause = crate::server::service::chain(e);
            tracing::error!(%cause, "SMTP message refused");
            "451 4.3.0 Internal error, try again later".to_owned()
        }
    }
}

fn too_big(ctx: &Context, out: &mut Vec<u8>) {
    reply(
        out,
        &format!(
            "552 5.3.4 Message too big (the limit is {} bytes)",
            ctx.settings.smtp_max_message_bytes
        ),
    );
}

fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ses_configuration_set_and_tags_are_read() {
        let (set, tags) = super::ses_headers(
            b"X-SES-CONFIGURATION-SET: marketing\r\nX-SES-MESSAGE-TAGS: campaign=dec, kind=news,bad tag=x\r\n\r\nbody",
        );
        assert_eq!(set.as_deref(), Some("marketing"));
        assert_eq!(
            tags,
            [
                ("campaign".to_owned(), "dec".to_owned()),
                ("kind".to_owned(), "news".to_owned())
            ]
        );
        assert_eq!(super::ses_headers(b"Subject: x\r\n\r\n"), (None, vec![]));
        assert_eq!(
            super::ses_headers(b"X-SES-CONFIGURATION-SET: a b\r\n\r\n").0,
            None
        );
    }
}
