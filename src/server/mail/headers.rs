//! The header fields optbox adds to list-managed mail: RFC 8058's `List-Unsubscribe` and
//! `List-Unsubscribe-Post`, and RFC 2919's `List-Id`.

use crate::domain::ContactList;
use serde_json::json;

/// The header lines for one recipient: `List-Unsubscribe` (the https link, then the
/// unsubscribe address when optbox receives mail), `List-Unsubscribe-Post`, and `List-Id`.
pub fn list_headers(
    list: &ContactList,
    url: &str,
    mailto: Option<&str>,
    public_host: &str,
) -> Vec<(&'static str, String)> {
    let unsubscribe = match mailto {
        Some(m) => format!("<{url}>, <mailto:{m}?subject=unsubscribe>"),
        None => format!("<{url}>"),
    };
    vec![
        ("List-Unsubscribe", unsubscribe),
        (
            "List-Unsubscribe-Post",
            "List-Unsubscribe=One-Click".to_owned(),
        ),
        ("List-Id", list_id(list, public_host)),
    ]
}

/// The RFC 8058 pair for senders that build their own messages (`/v1/links`,
/// `optbox link --headers`): as a JSON object and as CRLF-terminated header lines.
pub fn unsubscribe_header_lines(url: &str) -> (serde_json::Value, String) {
    let lu = format!("<{url}>");
    let post = "List-Unsubscribe=One-Click";
    (
        json!({ "List-Unsubscribe": lu, "List-Unsubscribe-Post": post }),
        format!("List-Unsubscribe: {lu}\r\nList-Unsubscribe-Post: {post}\r\n"),
    )
}

/// RFC 2919 `List-Id`: the list's name (or display name) as phrase, `<name.host>` as id.
fn list_id(list: &ContactList, public_host: &str) -> String {
    let id = format!(
        "{}.{}",
        list.name.as_str().to_ascii_lowercase().replace('_', "-"),
        public_host
    );
    format!("{} <{id}>", list.name.as_str())
}

/// The host of the public URL (for `List-Id`).
pub fn public_host(public_base: &str) -> String {
    let rest = public_base
        .split_once("://")
        .map(|x| x.1)
        .unwrap_or(public_base);
    let host = rest.split(['/', ':']).next().unwrap_or("localhost");
    if host.is_empty() {
        "localhost".into()
    } else {
        host.to_ascii_lowercase()
    }
}
