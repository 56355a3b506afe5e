//! Byte-preserving MIME rewriting: drop and add top-level header fields and fill the
//! `{{amazonSESUnsubscribeUrl}}` placeholder in text/plain and text/html parts.
//!
//! The message is parsed with `mail-parser` only to learn where things are; the output
//! is spliced from the original bytes. Only a part whose placeholder is replaced is
//! re-encoded (in its own transfer encoding; the placeholder and the URL are ASCII, so in
//! any ASCII-compatible charset the replacement is a byte replacement in the decoded
//! body). Everything else, attachments included, stays byte-identical.

use base64::Engine;
use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};
use std::borrow::Cow;

/// What SES puts the unsubscribe URL in place of.
pub const PLACEHOLDER: &[u8] = b"{{amazonSESUnsubscribeUrl}}";
/// At most this many placeholders are filled in each text part (SES: "two times maximum").
pub const MAX_REPLACEMENTS: usize = 2;

/// What the pipeline needs to know about a message before deciding what to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Raw (unfolded) values of `X-SES-LIST-MANAGEMENT-OPTIONS` fields.
    pub options: Vec<String>,
    pub has_list_unsubscribe: bool,
    pub has_list_id: bool,
    /// The domain of the first From address, lower-cased.
    pub from_domain: Option<String>,
    pub dkim_signed: bool,
}

/// The changes to make.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Top-level header fields to remove (case-insensitive names).
    pub drop_headers: Vec<&'static str>,
    /// Header fields to add at the end of the top-level header block, in order. Values
    /// may contain folding (`\r\n `).
    pub add_headers: Vec<(&'static str, String)>,
    /// The URL to put in place of the placeholder, if any.
    pub url: Option<String>,
}

/// What a rewrite did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub data: Vec<u8>,
    /// Placeholders replaced, over all parts.
    pub replaced: usize,
}

/// Why a message cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MimeError(pub String);

/// Turns bare LF line ends into CRLF (SMTP and DKIM work on CRLF); borrows when the
/// message is already CRLF.
pub fn to_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    let bare = raw
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'));
    if !bare {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 40);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    Cow::Owned(out)
}

fn parse(raw: &[u8]) -> Result<mail_parser::Message<'_>, MimeError> {
    let end = header_end(raw).ok_or_else(|| {
        MimeError("the message has no header/body separator (an empty line)".into())
    })?;
    if end == 0 {
        return Err(MimeError("the message has no header fields".into()));
    }
    parse_message(raw).ok_or_else(|| MimeError("the message cannot be parsed as RFC 5322".into()))
}

/// mail-parser's parse, with its panics turned into `None`: `cargo fuzz` (target
/// `rewrite`) found nested `message/rfc822` multiparts that make mail-parser 0.11 panic
/// ("Invalid part ID, could not find multipart"). A message that cannot be parsed is
/// refused with an error in its surface's language, never a dropped connection.
pub fn parse_message(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        MessageParser::new().parse(raw)
    }))
    .ok()
    .flatten()
}

/// Where the top-level header block ends: the offset of the empty line's CRLF.
fn header_end(raw: &[u8]) -> Option<usize> {
    if raw.starts_with(b"\r\n") {
        return Some(0);
    }
    memfind(raw, b"\r\n\r\n").map(|i| i + 2)
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn unfold(v: &[u8]) -> String {
    let s = String::from_utf8_lossy(v);
    let mut out = String::with_capacity(s.len());
    for line in s.split("\r\n") {
        out.push_str(line);
    }
    out.trim().to_owned()
}

/// Reads what [`Inspection`] holds. `raw` must have CRLF line ends ([`to_crlf`]).
pub fn inspect(raw: &[u8]) -> Result<Inspection, MimeError> {
    let msg = parse(raw)?;
    let mut ins = Inspection::default();
    let root = msg
        .parts
        .first()
        .ok_or_else(|| MimeError("the message has no parts".into()))?;
    for h in &root.headers {
        let name = h.name.as_str();
        let value = raw
            .get(h.offset_start as usize..h.offset_end as usize)
            .unwrap_or_default();
        if name.eq_ignore_ascii_case(super::options::OPTIONS_HEADER) {
            ins.options.push(unfold(value));
        } else if name.eq_ignore_ascii_case("List-Unsubscribe") {
            ins.has_list_unsubscribe = true;
        } else if name.eq_ignore_ascii_case("List-Id") {
            ins.has_list_id = true;
        } else if name.eq_ignore_ascii_case("DKIM-Signature") {
            ins.dkim_signed = true;
        }
    }
    ins.from_domain = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.trim().to_ascii_lowercase())
        .filter(|d| !d.is_empty());
    Ok(ins)
}

/// Applies `plan` to `raw` (CRLF line ends, see [`to_crlf`]).
pub fn rewrite(raw: &[u8], plan: &Plan) -> Result<Outcome, MimeError> {
    let msg = parse(raw)?;
    let hdr_end = header_end(raw).unwrap_or(0);
    // (start, end, replacement) splices, in ascending order, non-overlapping.
    let mut splices: Vec<(usize, usize, Vec<u8>)> = Vec::new();

    let root = msg
        .parts
        .first()
        .ok_or_else(|| MimeError("the message has no parts".into()))?;
    for h in &root.headers {
        let name = h.name.as_str();
        if plan
            .drop_headers
            .iter()
            .any(|d| d.eq_ignore_ascii_case(name))
        {
            let start = h.offset_field as usize;
            let mut end = (h.offset_end as usize).min(hdr_end);
            // Take the field's line end with it.
            while end < hdr_end && raw[end - 1] != b'\n' {
                end += 1;
            }
            if start < end {
                splices.push((start, end, Vec::new()));
            }
        }
    }
    if !plan.add_headers.is_empty() {
        let mut add = Vec::new();
        for (name, value) in &plan.add_headers {
            add.extend_from_slice(name.as_bytes());
            add.extend_from_slice(b": ");
            add.extend_from_slice(value.as_bytes());
            add.extend_from_slice(b"\r\n");
        }
        splices.push((hdr_end, hdr_end, add));
    }

    let mut replaced = 0;
    if let Some(url) = &plan.url {
        for part in &msg.parts {
            let html = match &part.body {
                PartType::Text(_) => false,
                PartType::Html(_) => true,
                _ => continue,
            };
            if !is_body_text(part, html) {
                continue;
            }
            let (start, end) = (part.offset_body as usize, part.offset_end as usize);
            let Some(body) = raw.get(start..end) else {
                continue;
            };
            let value = if html {
                Cow::Owned(url.replace('&', "&amp;").replace('"', "&quot;"))
            } else {
                Cow::Borrowed(url.as_str())
            };
            if let Some((new_body, n)) = fill_part(body, part.encoding, value.as_bytes()) {
                replaced += n;
                splices.push((start, end, new_body));
            }
        }
    }

    splices.sort_by_key(|s| (s.0, s.1));
    let mut out = Vec::with_capacity(raw.len() + 512);
    let mut at = 0;
    for (start, end, with) in splices {
        if start < at {
            return Err(MimeError("the message structure is inconsistent".into()));
        }
        out.extend_from_slice(&raw[at..start]);
        out.extend_from_slice(&with);
        at = end;
    }
    out.extend_from_slice(&raw[at..]);
    Ok(Outcome {
        data: out,
        replaced,
    })
}

/// A text/plain or text/html body part (not an attachment, in an ASCII-compatible
/// charset).
fn is_body_text(part: &mail_parser::MessagePart<'_>, html: bool) -> bool {
    if part
        .content_disposition()
        .is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"))
    {
        return false;
    }
    if let Some(ct) = part.content_type() {
        let sub = ct.subtype().unwrap_or("");
        let want = if html { "html" } else { "plain" };
        if !ct.ctype().eq_ignore_ascii_case("text") || !sub.eq_ignore_ascii_case(want) {
            return false;
        }
        // UTF-16/32 bodies do not contain the placeholder as ASCII bytes.
        if let Some(cs) = ct.attribute("charset") {
            let cs = cs.to_ascii_lowercase();
            if cs.starts_with("utf-16") || cs.starts_with("utf-32") || cs.starts_with("ucs") {
                return false;
            }
        }
    }
    true
}

/// Replaces the first [`MAX_REPLACEMENTS`] placeholders in one encoded body; `None`
/// when it has none (the part is then left as it is).
fn fill_part(body: &[u8], enc: Encoding, value: &[u8]) -> Option<(Vec<u8>, usize)> {
    match enc {
        Encoding::QuotedPrintable => {
            let decoded = qp_decode(body);
            let (new, n) = replace(&decoded, value)?;
            let mut out = qp_encode(&new);
            keep_trailing_crlf(body, &mut out);
            Some((out, n))
        }
        Encoding::Base64 => {
            let compact: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&compact)
                .ok()?;
            let (new, n) = replace(&decoded, value)?;
            let mut out = b64_encode(&new);
            keep_trailing_crlf(body, &mut out);
            Some((out, n))
        }
        Encoding::None => replace(body, value),
    }
}

fn keep_trailing_crlf(orig: &[u8], out: &mut Vec<u8>) {
    let had = orig.ends_with(b"\r\n");
    let has = out.ends_with(b"\r\n");
    if had && !has {
        out.extend_from_slice(b"\r\n");
    } else if !had && has {
        out.truncate(out.len() - 2);
    }
}

fn replace(hay: &[u8], value: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(hay.len() + 2 * value.len());
    let mut at = 0;
    let mut n = 0;
    while n < MAX_REPLACEMENTS {
        let Some(i) = memfind(&hay[at..], PLACEHOLDER) else {
            break;
        };
        out.extend_from_slice(&hay[at..at + i]);
        out.extend_from_slice(value);
        at += i + PLACEHOLDER.len();
        n += 1;
    }
    if n == 0 {
        return None;
    }
    out.extend_from_slice(&hay[at..]);
    Some((out, n))
}

/// RFC 2045 §6.7 decoding; lenient (a stray `=` is kept), CRLF hard line breaks kept.
fn qp_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'=' {
            if s[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            if s[i + 1..].starts_with(b"\n") {
                i += 2;
                continue;
            }
            if i + 2 < s.len()
                && let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2]))
            {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
            // Soft break made of trailing whitespace then CRLF.
            let rest = &s[i + 1..];
            let ws = rest
                .iter()
                .take_while(|c| **c == b' ' || **c == b'\t')
                .count();
            if rest[ws..].starts_with(b"\r\n") {
                i += 1 + ws + 2;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// Quoted-printable encoding of text: CRLF stays a hard line break, lines at most 76
/// characters with soft breaks, trailing whitespace encoded.
fn qp_encode(s: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(s.len() + s.len() / 8);
    let mut col = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'\r' && s.get(i + 1) == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            col = 0;
            i += 2;
            continue;
        }
        let line_end_next = matches!(s.get(i + 1), None | Some(b'\r'));
        let literal =
            (b == b' ' || b == b'\t') && !line_end_next || (33..=126).contains(&b) && b != b'=';
        let width = if literal { 1 } else { 3 };
        if col + width > 75 {
            out.extend_from_slice(b"=\r\n");
            col = 0;
        }
        if literal {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'=', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
        }
        col += width;
        i += 1;
    }
    out
}

fn b64_encode(s: &[u8]) -> Vec<u8> {
    let enc = base64::engine::general_purpose::STANDARD.encode(s);
    let mut out = Vec::with_capacity(enc.len() + enc.len() / 38);
    for chunk in enc.as_bytes().chunks(76) {
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_round_trips_through_our_encoder() {
        let text = "Gr\u{fc}\u{df}e = caf\u{e9} \r\nline with trailing space \r\n".repeat(20);
        let enc = qp_encode(text.as_bytes());
        assert!(enc.split(|b| *b == b'\n').all(|l| l.len() <= 77));
        assert_eq!(qp_decode(&enc), text.as_bytes());
    }

    #[test]
    fn bare_line_feeds_become_crlf() {
        assert_eq!(&*to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
    }
}
