//! Byte-preserving MIME rewriting: drop and add top-level header fields and fill the
//! `{{amazonSESUnsubscribeUrl}}` placeholder in text/plain and text/html parts.
//!
//! The message is parsed with `mail-parser` only to learn where things are; the output
//! is spliced from the original bytes. Only a part whose placeholder is replaced is
//! re-encoded (in its own transfer encoding; the placeholder and the URL are ASCII, so in
//! any ASCII-compatible charset the replacement is a byte replacement in the decoded
//! body). Everything else, attachments included, stays byte-identical.
//!
//! The placeholder is found in every form a body part can carry it: literal (also inside
//! an HTML `href`), percent-encoded (`%7B%7BamazonSESUnsubscribeUrl%7D%7D`, either case of
//! hex), and behind the part's transfer encoding (quoted-printable, soft line breaks
//! included, and base64).

use base64::Engine;
use mail_parser::{Encoding, MessageParser, MimeHeaders, PartType};
use std::borrow::Cow;

/// What SES puts the unsubscribe URL in place of.
pub const PLACEHOLDER: &[u8] = b"{{amazonSESUnsubscribeUrl}}";
/// The placeholder's name between its braces.
const PLACEHOLDER_NAME: &[u8] = b"amazonSESUnsubscribeUrl";
/// At most this many placeholders are filled in each text part (SES: "two times maximum").
pub const MAX_REPLACEMENTS: usize = 2;

/// What the pipeline needs to know about a message before deciding what to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Raw (unfolded) values of `X-SES-LIST-MANAGEMENT-OPTIONS` fields.
    pub options: Vec<String>,
    pub has_list_unsubscribe: bool,
    pub has_list_id: bool,
    /// The first From address and its domain, lower-cased.
    pub from_address: Option<String>,
    pub from_domain: Option<String>,
    /// Whether the message has any `DKIM-Signature` field.
    pub dkim_signed: bool,
    /// The sender's `DKIM-Signature` fields that have the `d=` and `h=` tags a valid
    /// signature needs, in header order.
    pub signatures: Vec<SenderSignature>,
    /// The names of the top-level header fields, lower-cased, in order.
    pub header_names: Vec<String>,
}

/// One `DKIM-Signature` field already in the message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderSignature {
    /// Its position among the message's `DKIM-Signature` fields (0 is the first), as
    /// [`drop_signatures`] takes it.
    pub ordinal: usize,
    /// The `d=` domain, lower-cased.
    pub domain: String,
    /// The `h=` header names, lower-cased.
    pub signed_headers: Vec<String>,
}

impl SenderSignature {
    /// Whether `h=` names the header field `name` (case-insensitive).
    pub fn covers(&self, name: &str) -> bool {
        self.signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    }
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
    let mut ordinal = 0;
    for h in &root.headers {
        let name = h.name.as_str();
        ins.header_names.push(name.to_ascii_lowercase());
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
            if let Some(sig) = parse_signature(ordinal, &unfold(value)) {
                ins.signatures.push(sig);
            }
            ordinal += 1;
        }
    }
    ins.from_address = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(|a| a.trim().to_ascii_lowercase());
    ins.from_domain = ins
        .from_address
        .as_deref()
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    Ok(ins)
}

/// The `d=` and `h=` tags of a `DKIM-Signature` value; `None` when either is missing
/// (such a signature does not verify anyway, RFC 6376 §3.5).
fn parse_signature(ordinal: usize, value: &str) -> Option<SenderSignature> {
    let mut domain = None;
    let mut headers = None;
    for tag in value.split(';') {
        let Some((k, v)) = tag.split_once('=') else {
            continue;
        };
        let v: String = v.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        match k.trim() {
            "d" => domain = Some(v.to_ascii_lowercase()),
            "h" => {
                headers = Some(
                    v.split(':')
                        .filter(|h| !h.is_empty())
                        .map(str::to_ascii_lowercase)
                        .collect::<Vec<_>>(),
                )
            }
            _ => {}
        }
    }
    Some(SenderSignature {
        ordinal,
        domain: domain.filter(|d| !d.is_empty())?,
        signed_headers: headers?,
    })
}

/// The body of a message (CRLF line ends): everything after the empty line.
pub fn body(raw: &[u8]) -> &[u8] {
    match header_end(raw) {
        Some(i) => &raw[(i + 2).min(raw.len())..],
        None => &[],
    }
}

/// Whether a text/plain or text/html body part of `raw` (CRLF line ends) carries the
/// unsubscribe placeholder, in any of the forms listed in the module documentation:
/// exactly the parts [`rewrite`] fills.
pub fn has_placeholder(raw: &[u8]) -> Result<bool, MimeError> {
    let msg = parse(raw)?;
    for (part, _) in body_texts(&msg) {
        let Some(body) = raw.get(part.offset_body as usize..part.offset_end as usize) else {
            continue;
        };
        if let Some(decoded) = decode_body(body, part.encoding)
            && find_placeholder(&decoded, 0).is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes the `DKIM-Signature` fields at the given ordinals (see
/// [`SenderSignature::ordinal`]); everything else stays byte-identical.
pub fn drop_signatures(raw: &[u8], ordinals: &[usize]) -> Result<Vec<u8>, MimeError> {
    let msg = parse(raw)?;
    let hdr_end = header_end(raw).unwrap_or(0);
    let root = msg
        .parts
        .first()
        .ok_or_else(|| MimeError("the message has no parts".into()))?;
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    let mut ordinal = 0;
    for h in &root.headers {
        if !h.name.as_str().eq_ignore_ascii_case("DKIM-Signature") {
            continue;
        }
        if ordinals.contains(&ordinal) {
            let start = h.offset_field as usize;
            let end = field_end(raw, h.offset_end as usize, hdr_end);
            if start < at || start > end {
                return Err(MimeError("the message structure is inconsistent".into()));
            }
            out.extend_from_slice(&raw[at..start]);
            at = end;
        }
        ordinal += 1;
    }
    out.extend_from_slice(&raw[at..]);
    Ok(out)
}

/// The end of a header field that mail-parser says ends at `end`, with its line end.
fn field_end(raw: &[u8], end: usize, hdr_end: usize) -> usize {
    let mut end = end.min(hdr_end);
    while end < hdr_end && raw[end - 1] != b'\n' {
        end += 1;
    }
    end
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
            // Take the field's line end with it.
            let end = field_end(raw, h.offset_end as usize, hdr_end);
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
        for (part, html) in body_texts(&msg) {
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

/// The message's text/plain and text/html body parts that optbox reads and fills (see
/// [`is_body_text`]), each with whether it is HTML.
fn body_texts<'m>(
    msg: &'m mail_parser::Message<'m>,
) -> impl Iterator<Item = (&'m mail_parser::MessagePart<'m>, bool)> {
    msg.parts.iter().filter_map(|part| {
        let html = match &part.body {
            PartType::Text(_) => false,
            PartType::Html(_) => true,
            _ => return None,
        };
        is_body_text(part, html).then_some((part, html))
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

/// A body as its reader sees it: quoted-printable and base64 decoded (leniently, as
/// mail readers do); `None` for base64 that does not decode at all.
fn decode_body(body: &[u8], enc: Encoding) -> Option<Cow<'_, [u8]>> {
    match enc {
        Encoding::QuotedPrintable => Some(Cow::Owned(qp_decode(body))),
        Encoding::Base64 => b64_decode(body).map(Cow::Owned),
        Encoding::None => Some(Cow::Borrowed(body)),
    }
}

/// Base64 decoding that skips line breaks and other characters outside the alphabet
/// and does not insist on padding.
fn b64_decode(body: &[u8]) -> Option<Vec<u8>> {
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut compact: Vec<u8> = body
        .iter()
        .copied()
        .take_while(|b| *b != b'=')
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    if compact.len() % 4 == 1 {
        compact.pop();
    }
    LENIENT.decode(&compact).ok()
}

/// Replaces the first [`MAX_REPLACEMENTS`] placeholders in one encoded body; `None`
/// when it has none (the part is then left as it is).
fn fill_part(body: &[u8], enc: Encoding, value: &[u8]) -> Option<(Vec<u8>, usize)> {
    let decoded = decode_body(body, enc)?;
    let (new, n) = replace(&decoded, value)?;
    let mut out = match enc {
        Encoding::QuotedPrintable => qp_encode(&new),
        Encoding::Base64 => b64_encode(&new),
        Encoding::None => return Some((new, n)),
    };
    keep_trailing_crlf(body, &mut out);
    Some((out, n))
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

/// Where the next placeholder at or after `from` is: (offset, length). Each of its
/// four braces may be literal or percent-encoded (`%7B`, `%7d`, …).
fn find_placeholder(hay: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut i = from;
    while i < hay.len() {
        i += hay[i..].iter().position(|b| *b == b'{' || *b == b'%')?;
        if let Some(len) = placeholder_at(hay, i) {
            return Some((i, len));
        }
        i += 1;
    }
    None
}

/// The length of the placeholder starting at `hay[i]`, if one does.
fn placeholder_at(hay: &[u8], i: usize) -> Option<usize> {
    let brace = |j: usize, lit: u8, hex: &[u8]| -> Option<usize> {
        match *hay.get(j)? {
            b if b == lit => Some(1),
            b'%' if hay.get(j + 1..j + 3)?.eq_ignore_ascii_case(hex) => Some(3),
            _ => None,
        }
    };
    let mut j = i;
    for _ in 0..2 {
        j += brace(j, b'{', b"7b")?;
    }
    if !hay.get(j..)?.starts_with(PLACEHOLDER_NAME) {
        return None;
    }
    j += PLACEHOLDER_NAME.len();
    for _ in 0..2 {
        j += brace(j, b'}', b"7d")?;
    }
    Some(j - i)
}

fn replace(hay: &[u8], value: &[u8]) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::with_capacity(hay.len() + 2 * value.len());
    let mut at = 0;
    let mut n = 0;
    while n < MAX_REPLACEMENTS {
        let Some((i, len)) = find_placeholder(hay, at) else {
            break;
        };
        out.extend_from_slice(&hay[at..i]);
        out.extend_from_slice(value);
        at = i + len;
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

    fn detect(content_type: &str, cte: &str, body: &str) -> bool {
        let raw = format!(
            "From: a@example.com\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n{cte}\r\n{body}\r\n"
        );
        has_placeholder(raw.as_bytes()).unwrap()
    }

    fn b64(s: &str) -> String {
        let e = base64::engine::general_purpose::STANDARD.encode(s);
        // Folded at 20 characters, so the placeholder spans lines.
        e.as_bytes()
            .chunks(20)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn the_placeholder_is_found_in_every_form_a_body_part_carries() {
        let plain = "text/plain; charset=utf-8";
        let html = "text/html; charset=utf-8";
        let qp = "Content-Transfer-Encoding: quoted-printable\r\n";
        let b = "Content-Transfer-Encoding: base64\r\n";
        // Literal, and inside an HTML href.
        assert!(detect(plain, "", "Leave: {{amazonSESUnsubscribeUrl}}"));
        assert!(detect(
            html,
            "",
            "<a href=\"{{amazonSESUnsubscribeUrl}}\">unsubscribe</a>"
        ));
        // Percent-encoded, upper- and lower-case hex, and mixed with literal braces.
        assert!(detect(
            html,
            "",
            "<a href=\"%7B%7BamazonSESUnsubscribeUrl%7D%7D\">x</a>"
        ));
        assert!(detect(plain, "", "%7b%7bamazonSESUnsubscribeUrl%7d%7d"));
        assert!(detect(plain, "", "{%7BamazonSESUnsubscribeUrl}%7d"));
        // Quoted-printable: split by a soft line break, braces encoded, and the
        // percent-encoded form behind QP (=25 is "%").
        assert!(detect(plain, qp, "Leave: {{amazonSESUn=\r\nsubscribeUrl}}"));
        assert!(detect(
            html,
            qp,
            "<a href=3D\"=7B=7BamazonSESUnsubscribeUrl=7D=7D\">"
        ));
        assert!(detect(
            html,
            qp,
            "<a href=3D\"=257B=257BamazonSESUnsubscribe=\r\nUrl=257D=257D\">"
        ));
        // Base64, folded across lines, with the literal and the percent-encoded form.
        assert!(detect(
            plain,
            b,
            &b64("Leave: {{amazonSESUnsubscribeUrl}} now")
        ));
        assert!(detect(
            html,
            b,
            &b64("<a href=\"%7B%7BamazonSESUnsubscribeUrl%7D%7D\">x</a>")
        ));
        // In a multipart message's HTML alternative.
        let raw = "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nno link here\r\n--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPGEgaHJlZj0ie3thbWF6b25TRVNVbnN1YnNjcmliZVVybH19Ij54PC9hPg==\r\n--b--\r\n";
        assert!(has_placeholder(raw.as_bytes()).unwrap());
        // Not there: near misses, and an attachment (which is not filled either).
        assert!(!detect(
            plain,
            "",
            "{{amazonSESUnsubscribeURL}} {amazonSESUnsubscribeUrl}"
        ));
        assert!(!detect(plain, "", "%7B%7BamazonSESUnsubscribeUrl%7D"));
        assert!(!detect(plain, b, &b64("nothing to see")));
        assert!(!detect(
            "text/plain; name=a.txt\r\nContent-Disposition: attachment",
            "",
            "{{amazonSESUnsubscribeUrl}}"
        ));
    }

    fn fill(content_type: &str, cte: &str, body: &str) -> (String, usize) {
        let raw = format!(
            "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: {content_type}\r\n{cte}\r\n{body}\r\n"
        );
        let out = rewrite(
            raw.as_bytes(),
            &Plan {
                url: Some("https://optbox.example/u/T".into()),
                ..Default::default()
            },
        )
        .unwrap();
        let ct = content_type.to_owned();
        let text = String::from_utf8(out.data).unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1.to_owned();
        let decoded = if cte.contains("base64") {
            String::from_utf8(b64_decode(body.as_bytes()).unwrap()).unwrap()
        } else if cte.contains("quoted-printable") {
            String::from_utf8(qp_decode(body.as_bytes())).unwrap()
        } else {
            body
        };
        assert!(!has_placeholder(text.as_bytes()).unwrap(), "{ct}: {text}");
        (decoded, out.replaced)
    }

    #[test]
    fn every_form_of_the_placeholder_is_replaced() {
        let html_b64 = b64("<a href=\"%7B%7BamazonSESUnsubscribeUrl%7D%7D\">x</a>");
        let cases: [(&str, &str, &str, &str, usize); 4] = [
            (
                "text/html",
                "",
                "<a href=\"%7B%7BamazonSESUnsubscribeUrl%7D%7D\">x</a> {{amazonSESUnsubscribeUrl}}",
                "<a href=\"https://optbox.example/u/T\">x</a> https://optbox.example/u/T\r\n",
                2,
            ),
            (
                "text/plain",
                "",
                "Leave: %7b%7bamazonSESUnsubscribeUrl%7d%7d.",
                "Leave: https://optbox.example/u/T.\r\n",
                1,
            ),
            (
                "text/plain",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "Leave: =257B=257BamazonSESUn=\r\nsubscribeUrl=257D=257D.",
                "Leave: https://optbox.example/u/T.\r\n",
                1,
            ),
            (
                "text/html",
                "Content-Transfer-Encoding: base64\r\n",
                &html_b64,
                "<a href=\"https://optbox.example/u/T\">x</a>",
                1,
            ),
        ];
        for (ct, cte, body, want, replaced) in cases {
            let (t, n) = fill(ct, cte, body);
            assert_eq!((t.as_str(), n), (want, replaced), "{ct} {cte}");
        }
    }

    #[test]
    fn sender_signatures_are_read_and_dropped_one_by_one() {
        let raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=Example.COM; s=a;\r\n\th=From : To:\r\n List-Unsubscribe; bh=x; b=y\r\nDKIM-Signature: v=1; d=no-h.example; b=z\r\nDKIM-Signature: v=1; d=other.example; h=from; b=w\r\nFrom: a@example.com\r\n\r\nbody\r\n";
        let ins = inspect(raw).unwrap();
        assert!(ins.dkim_signed);
        assert_eq!(
            ins.signatures,
            vec![
                SenderSignature {
                    ordinal: 0,
                    domain: "example.com".into(),
                    signed_headers: vec!["from".into(), "to".into(), "list-unsubscribe".into()],
                },
                SenderSignature {
                    ordinal: 2,
                    domain: "other.example".into(),
                    signed_headers: vec!["from".into()],
                },
            ]
        );
        assert!(ins.signatures[0].covers("List-Unsubscribe"));
        assert_eq!(ins.header_names[0], "dkim-signature");
        let out = drop_signatures(raw, &[0, 2]).unwrap();
        assert_eq!(
            out,
            b"DKIM-Signature: v=1; d=no-h.example; b=z\r\nFrom: a@example.com\r\n\r\nbody\r\n"
        );
        assert_eq!(body(raw), b"body\r\n");
    }

    #[test]
    fn bare_line_feeds_become_crlf() {
        assert_eq!(&*to_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert!(matches!(to_crlf(b"a\r\nb"), Cow::Borrowed(_)));
    }
}
