//! Cells of the CSV files optbox writes (the contacts export, the event log) as a
//! spreadsheet will read them. A cell that starts with `=`, `+`, `-`, `@`, a tab or a CR
//! would be run as a formula ("CSV injection": an address such as `=HYPERLINK(…)@x.com`
//! is valid), so it is written with a leading `'`, which spreadsheets show as text. The
//! importer takes the `'` off again (`restore`), so export → import gives back the same
//! contacts; a cell that itself starts with `'` before such a character gets a second
//! `'`, which keeps the two exact inverses of each other.

use std::borrow::Cow;

const FORMULA_START: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn needs_quote(s: &str) -> bool {
    s.starts_with(FORMULA_START) || s.strip_prefix('\'').is_some_and(needs_quote)
}

/// The cell as written: with a leading `'` if a spreadsheet would run it.
pub fn neutralise(s: &str) -> Cow<'_, str> {
    if needs_quote(s) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

/// The value of a cell `neutralise` wrote.
pub fn restore(s: &str) -> &str {
    match s.strip_prefix('\'') {
        Some(rest) if needs_quote(rest) => rest,
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_quoted_and_restored() {
        for (value, cell) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tcmd", "'\tcmd"),
            ("\rcmd", "'\rcmd"),
            ("'=x", "''=x"),
            ("''-x", "'''-x"),
            ("plain@example.com", "plain@example.com"),
            ("'quoted", "'quoted"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(value), cell, "{value:?}");
            assert_eq!(restore(cell), value, "{cell:?}");
        }
    }
}
