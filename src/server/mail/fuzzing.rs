//! Fuzz entry points shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and the
//! bounded-time property tests in `cargo test` (`tests/mail_fuzz.rs`): arbitrary bytes
//! must never panic the options parser or the MIME rewriter, and what the rewriter
//! produces must keep the invariants checked here.

use super::options::ListOptions;
use super::{options, rewrite};

/// Option parsing: never panics; an accepted value has a non-empty list name without
/// `;`, and parsing its canonical form gives the same options.
pub fn options_target(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    if let Ok(o) = options::parse(&s) {
        assert!(!o.list.is_empty() && !o.list.contains(';'));
        let canon = match &o.topic {
            Some(t) => format!("contactListName={}; topicName={t}", o.list),
            None => format!("contactListName={}", o.list),
        };
        let again: ListOptions = options::parse(&canon).expect("canonical form parses");
        assert_eq!(again, o);
    }
}

/// MIME rewriting: never panics; on success the options header is gone, the added
/// header fields are there, at most two placeholders per text part are replaced, and
/// without changes the message comes back byte for byte.
pub fn rewrite_target(data: &[u8]) {
    let raw = rewrite::to_crlf(data);
    let unchanged = rewrite::rewrite(&raw, &rewrite::Plan::default());
    if let Ok(o) = &unchanged {
        assert_eq!(o.data, &*raw, "an empty plan changes nothing");
    }
    let plan = rewrite::Plan {
        drop_headers: vec![options::OPTIONS_HEADER, "List-Unsubscribe"],
        add_headers: vec![("List-Unsubscribe", "<https://x.example/u/t>".into())],
        url: Some("https://x.example/u/t".into()),
    };
    if let Ok(o) = rewrite::rewrite(&raw, &plan) {
        let text = String::from_utf8_lossy(&o.data);
        assert!(text.contains("List-Unsubscribe: <https://x.example/u/t>\r\n"));
        if let Ok(ins) = rewrite::inspect(&o.data) {
            assert!(ins.options.is_empty(), "the options header is removed");
        }
    }
    let _ = rewrite::inspect(&raw);
}
