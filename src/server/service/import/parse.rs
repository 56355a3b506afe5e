//! The import file formats: SES CSV, a one-column email CSV and JSON lines, parsed into
//! batches of rows on the parser thread.

use super::{Batch, MAX_ROW_BYTES, RowError};
use crate::domain::spreadsheet::restore;
use crate::domain::{
    ContactList, EmailAddress, SubscriptionStatus, TopicName, validate_attributes,
};
use crate::server::store::ImportRow;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

/// Collects rows into batches; a second row for the same address closes the batch
/// first, so it is applied on top of the first one (the later row wins, subject to the
/// opt-out rules).
struct Batcher<'a> {
    batch: Batch,
    keys: HashSet<String>,
    /// The addresses of the batch before (see `Batch::overlaps_previous`).
    previous_keys: HashSet<String>,
    /// Rows (and refused lines) per batch.
    limit: usize,
    send: &'a dyn Fn(Result<Batch, String>) -> bool,
}

impl<'a> Batcher<'a> {
    fn new(limit: usize, send: &'a dyn Fn(Result<Batch, String>) -> bool) -> Self {
        Self {
            batch: Batch::default(),
            keys: HashSet::new(),
            previous_keys: HashSet::new(),
            limit,
            send,
        }
    }

    fn push(&mut self, line: u64, row: Result<ImportRow, String>) -> Result<(), String> {
        match row {
            Ok(r) => {
                let key = r.email.key();
                if self.keys.contains(&key) {
                    self.flush()?;
                }
                if self.previous_keys.contains(&key) {
                    self.batch.overlaps_previous = true;
                }
                self.keys.insert(key);
                self.batch.rows.push(r);
            }
            Err(reason) => self.batch.errors.push(RowError { line, reason }),
        }
        self.batch.last_line = line;
        if self.batch.rows.len() + self.batch.errors.len() >= self.limit {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), String> {
        std::mem::swap(&mut self.keys, &mut self.previous_keys);
        self.keys.clear();
        let last = self.batch.last_line;
        let b = std::mem::take(&mut self.batch);
        self.batch.last_line = last;
        if (b.rows.is_empty() && b.errors.is_empty()) || (self.send)(Ok(b)) {
            Ok(())
        } else {
            Err("import cancelled".into())
        }
    }
}

#[derive(Debug, Clone)]
enum Col {
    Email,
    UnsubscribeAll,
    Attributes,
    Topic(TopicName),
    /// An export's `pausedUntil`: read and ignored (a pause is the recipient's to make;
    /// the export's topic statuses already say OPT_OUT while it runs).
    PausedUntil,
}

fn header_columns(list: &ContactList, header: &[String]) -> Result<Vec<Col>, String> {
    let mut cols = Vec::with_capacity(header.len());
    for h in header {
        let h = h.trim();
        let lower = h.to_ascii_lowercase();
        let col = match lower.as_str() {
            "emailaddress" | "email" | "email_address" => Col::Email,
            "unsubscribeall" => Col::UnsubscribeAll,
            "attributesdata" => Col::Attributes,
            "pauseduntil" => Col::PausedUntil,
            _ if lower.starts_with("topicpreferences.") => {
                let name = &h["topicPreferences.".len()..];
                let topic = list
                    .topic(name)
                    .ok_or_else(|| format!("List: {} doesn't contain Topic: {name}", list.name))?;
                Col::Topic(topic.name.clone())
            }
            _ => {
                return Err(format!(
                    "unknown column \"{h}\": expected emailAddress, unsubscribeAll, attributesData or topicPreferences.<Topic>"
                ));
            }
        };
        cols.push(col);
    }
    if cols.iter().filter(|c| matches!(c, Col::Email)).count() != 1 {
        return Err("the header must have exactly one emailAddress (or email) column".into());
    }
    Ok(cols)
}

fn parse_bool(s: &str) -> Result<Option<bool>, String> {
    match s.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(format!("unsubscribeAll must be true or false, not \"{s}\"")),
    }
}

fn parse_status(topic: &TopicName, s: &str) -> Result<Option<SubscriptionStatus>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    SubscriptionStatus::parse_api(s)
        .map(Some)
        .ok_or_else(|| format!("topicPreferences.{topic} must be OPT_IN or OPT_OUT, not \"{s}\""))
}

fn parse_email(s: &str) -> Result<EmailAddress, String> {
    if s.is_empty() {
        return Err("emailAddress is empty".into());
    }
    EmailAddress::parse(s).map_err(|e| e.to_string())
}

fn parse_attrs(s: &str) -> Result<Option<String>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    validate_attributes(s)?;
    Ok(Some(s.to_owned()))
}

/// Refuses a row of `len` bytes over [`MAX_ROW_BYTES`].
pub(in crate::server::service) fn row_length(len: usize) -> Result<(), String> {
    if len > MAX_ROW_BYTES {
        return Err(format!(
            "row is longer than {MAX_ROW_BYTES} bytes ({len} bytes)"
        ));
    }
    Ok(())
}

fn csv_row(cols: &[Col], rec: &csv::ByteRecord, line: u64) -> Result<ImportRow, String> {
    row_length(rec.as_slice().len())?;
    if rec.len() != cols.len() {
        return Err(format!(
            "expected {} fields, found {}",
            cols.len(),
            rec.len()
        ));
    }
    let mut row = ImportRow {
        line,
        email: EmailAddress::parse("x@x.invalid").expect("a valid placeholder"),
        unsubscribe_all: None,
        attributes: None,
        preferences: Vec::new(),
    };
    let mut email = None;
    for (col, raw) in cols.iter().zip(rec.iter()) {
        let v = std::str::from_utf8(raw)
            .map_err(|_| "not valid UTF-8".to_owned())?
            .trim();
        match col {
            // An export's neutralised cells (see domain::spreadsheet) read back as written.
            Col::Email => email = Some(parse_email(restore(v))?),
            Col::UnsubscribeAll => row.unsubscribe_all = parse_bool(v)?,
            Col::Attributes => row.attributes = parse_attrs(restore(v))?,
            Col::PausedUntil => {}
            Col::Topic(t) => {
                if let Some(s) = parse_status(t, v)? {
                    row.preferences.push((t.clone(), s));
                }
            }
        }
    }
    row.email = email.ok_or("emailAddress is missing")?;
    Ok(row)
}

fn is_blank(rec: &csv::ByteRecord) -> bool {
    rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim_ascii().is_empty())
}

pub(super) fn parse_csv<R: Read>(
    reader: R,
    list: &ContactList,
    skip_through: u64,
    limit: usize,
    send: &dyn Fn(Result<Batch, String>) -> bool,
) -> Result<(), String> {
    let mut rdr = csv_reader(reader);
    let mut rec = csv::ByteRecord::new();
    let first = loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => return Err("the file is empty".into()),
            Ok(true) if is_blank(&rec) => continue,
            Ok(true) => break rec.clone(),
            Err(e) => return Err(format!("unreadable CSV: {e}")),
        }
    };
    let fields: Vec<String> = first
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let f = if i == 0 {
                f.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(f)
            } else {
                f
            };
            String::from_utf8_lossy(f).into_owned()
        })
        .collect();
    let mut batcher = Batcher::new(limit, send);
    // A one-column file whose first cell is an address has no header.
    let headerless = fields.len() == 1 && fields[0].contains('@');
    let cols = if headerless {
        vec![Col::Email]
    } else {
        header_columns(list, &fields)?
    };
    if headerless {
        let mut r = first.clone();
        r.clear();
        r.push_field(fields[0].as_bytes());
        let line = first.position().map_or(1, |p| p.line());
        if line > skip_through {
            batcher.push(line, csv_row(&cols, &r, line))?;
        }
    }
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {
                let line = rec.position().map_or(0, |p| p.line());
                if line <= skip_through {
                    continue;
                }
                // A blank line is not a row.
                if is_blank(&rec) {
                    continue;
                }
                batcher.push(line, csv_row(&cols, &rec, line))?;
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(format!("reading the file failed at line {line}: {e}"));
                }
                batcher.push(line, Err(e.to_string()))?;
            }
        }
    }
    batcher.flush()
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonRow {
    email_address: Option<String>,
    unsubscribe_all: Option<bool>,
    attributes_data: Option<serde_json::Value>,
    topic_preferences: Option<Vec<JsonPref>>,
    /// An export's; ignored as in CSV.
    #[allow(dead_code)]
    paused_until: Option<serde_json::Value>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonPref {
    topic_name: String,
    subscription_status: String,
}

/// One JSON line read as a `T`; the error without serde_json's position within the line
/// (the line is ours).
pub(in crate::server::service) fn json_line<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| {
        let m = e.to_string();
        m.split(" at line ").next().unwrap_or(&m).to_owned()
    })
}

fn json_row(list: &ContactList, bytes: &[u8], line: u64) -> Result<ImportRow, String> {
    let j: JsonRow = json_line(bytes)?;
    let email = parse_email(j.email_address.as_deref().unwrap_or("").trim())?;
    let attributes = match j.attributes_data {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => parse_attrs(s.trim())?,
        Some(v @ serde_json::Value::Object(_)) => Some(v.to_string()),
        Some(_) => {
            return Err("attributesData must be a JSON object or a string holding one".into());
        }
    };
    let mut preferences = Vec::new();
    for p in j.topic_preferences.unwrap_or_default() {
        let topic = list.topic(&p.topic_name).ok_or_else(|| {
            format!(
                "List: {} doesn't contain Topic: {}",
                list.name, p.topic_name
            )
        })?;
        let status = parse_status(&topic.name, &p.subscription_status)?
            .ok_or_else(|| format!("subscriptionStatus of {} is empty", p.topic_name))?;
        preferences.retain(|(t, _): &(TopicName, SubscriptionStatus)| t != &topic.name);
        preferences.push((topic.name.clone(), status));
    }
    Ok(ImportRow {
        line,
        email,
        unsubscribe_all: j.unsubscribe_all,
        attributes,
        preferences,
    })
}

/// Reads JSON lines for an import: each line after `skip_through` that is not blank is
/// given to `each` with its number, trimmed and without a leading byte-order mark. A
/// file without a single line is an error ("the file is empty").
pub(in crate::server::service) fn each_json_line<R: Read>(
    reader: R,
    skip_through: u64,
    mut each: impl FnMut(u64, Result<&[u8], String>) -> Result<(), String>,
) -> Result<(), String> {
    let mut rdr = BufReader::with_capacity(1 << 16, reader);
    let mut buf = Vec::with_capacity(1024);
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = rdr
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("reading the file failed after line {line}: {e}"))?;
        if n == 0 {
            break;
        }
        line += 1;
        if line <= skip_through {
            continue;
        }
        let mut bytes: &[u8] = &buf;
        if line == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.trim_ascii();
        if !bytes.is_empty() {
            each(line, row_length(bytes.len()).map(|()| bytes))?;
        }
    }
    if line == 0 {
        return Err("the file is empty".into());
    }
    Ok(())
}

pub(super) fn parse_jsonl<R: Read>(
    reader: R,
    list: &ContactList,
    skip_through: u64,
    limit: usize,
    send: &dyn Fn(Result<Batch, String>) -> bool,
) -> Result<(), String> {
    let mut batcher = Batcher::new(limit, send);
    each_json_line(reader, skip_through, |line, bytes| {
        batcher.push(line, bytes.and_then(|b| json_row(list, b, line)))
    })?;
    batcher.flush()
}
/// A reader of an import's CSV: no header row assumed, rows of any length, and lines
/// that end at '\n' only. (With the default CRLF terminator the csv crate counts the '\n'
/// of a "\r\n" into the next record's position, one line too early; a trailing '\r' is
/// whitespace that every field is trimmed of anyway.)
pub(in crate::server::service) fn csv_reader<R: std::io::Read>(reader: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(reader)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_over_the_limit_is_refused_with_its_length() {
        assert_eq!(row_length(MAX_ROW_BYTES), Ok(()));
        let e = row_length(MAX_ROW_BYTES + 5).unwrap_err();
        assert_eq!(
            e,
            format!(
                "row is longer than {MAX_ROW_BYTES} bytes ({} bytes)",
                MAX_ROW_BYTES + 5
            )
        );
    }

    #[test]
    fn a_json_line_error_drops_serde_positions() {
        let e = json_line::<serde_json::Value>(b"{\"a\": }").unwrap_err();
        assert!(!e.contains(" at line "), "{e}");
        assert!(!e.is_empty());
        let v: serde_json::Value = json_line(b"{\"a\": 1}").unwrap();
        assert_eq!(v["a"], 1);
    }

    #[test]
    fn each_json_line_hands_an_over_long_line_as_that_lines_error() {
        let long = format!("{{\"a\":\"{}\"}}", "x".repeat(MAX_ROW_BYTES));
        let text = format!("{{}}\n\n{long}\n");
        let mut seen = Vec::new();
        each_json_line(text.as_bytes(), 0, |line, bytes| {
            seen.push((line, bytes.map(|b| b.len())));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen.len(), 2, "the blank line is skipped");
        assert_eq!(seen[0], (1, Ok(2)));
        assert_eq!(seen[1].0, 3);
        assert!(
            seen[1]
                .1
                .as_ref()
                .unwrap_err()
                .starts_with("row is longer than")
        );
    }
}
