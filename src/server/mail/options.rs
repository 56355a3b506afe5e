//! Parsing list-management options: the `X-SES-LIST-MANAGEMENT-OPTIONS` header in every
//! syntax senders use (AWS `list; topic=t`, Postbox `contactListName=list; topicName=t`,
//! case-insensitive keys, optional spaces).

/// List-management options: the API's `ListManagementOptions`, or parsed from the
/// `X-SES-LIST-MANAGEMENT-OPTIONS` header when `None` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    pub list: String,
    pub topic: Option<String>,
}

/// The header that carries list-management options over SMTP (and in Raw API messages).
pub const OPTIONS_HEADER: &str = "X-SES-LIST-MANAGEMENT-OPTIONS";

/// Parses a header value. Accepted: `L`, `contactListName=L`, either followed by
/// `; topic=T` or `; topicName=T` (keys in any case, spaces around `;` and `=` allowed,
/// an optional trailing `;`). Errors name what is wrong, for the sender.
pub fn parse(value: &str) -> Result<ListOptions, String> {
    // Unfold: a folded header value may carry CR/LF and leading whitespace.
    let v: String = value
        .chars()
        .map(|c| {
            if c == '\r' || c == '\n' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut items = v.split(';').map(str::trim);
    let first = items.next().unwrap_or("");
    let list = match split_kv(first) {
        Some((k, val)) if k.eq_ignore_ascii_case("contactListName") => val,
        Some((k, _)) => {
            return Err(format!(
                "{OPTIONS_HEADER}: unknown option {k:?} (expected a list name or contactListName=)"
            ));
        }
        None => first,
    };
    if list.is_empty() {
        return Err(format!(
            "{OPTIONS_HEADER}: the contact list name is missing"
        ));
    }
    let mut topic = None;
    for item in items {
        if item.is_empty() {
            continue;
        }
        match split_kv(item) {
            Some((k, val))
                if k.eq_ignore_ascii_case("topic") || k.eq_ignore_ascii_case("topicName") =>
            {
                if val.is_empty() {
                    return Err(format!("{OPTIONS_HEADER}: the topic name is empty"));
                }
                if topic.is_some() {
                    return Err(format!("{OPTIONS_HEADER}: the topic is given twice"));
                }
                topic = Some(val.to_owned());
            }
            _ => {
                return Err(format!(
                    "{OPTIONS_HEADER}: unexpected {item:?} (expected topic=NAME or topicName=NAME)"
                ));
            }
        }
    }
    Ok(ListOptions {
        list: list.to_owned(),
        topic,
    })
}

fn split_kv(s: &str) -> Option<(&str, &str)> {
    let (k, v) = s.split_once('=')?;
    Some((k.trim(), v.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(list: &str, topic: Option<&str>) -> Result<ListOptions, String> {
        Ok(ListOptions {
            list: list.into(),
            topic: topic.map(Into::into),
        })
    }

    #[test]
    fn every_documented_syntax_is_accepted() {
        assert_eq!(parse("news"), ok("news", None));
        assert_eq!(parse("news; topic=weekly"), ok("news", Some("weekly")));
        assert_eq!(parse("news;topic=weekly"), ok("news", Some("weekly")));
        assert_eq!(
            parse("contactListName=news; topicName=weekly"),
            ok("news", Some("weekly"))
        );
        assert_eq!(
            parse("CONTACTLISTNAME = news ;  TOPICNAME = weekly ;"),
            ok("news", Some("weekly"))
        );
        assert_eq!(parse("contactlistname=news"), ok("news", None));
        assert_eq!(parse(" news ; Topic=weekly"), ok("news", Some("weekly")));
        assert_eq!(parse("news;\r\n topic=weekly"), ok("news", Some("weekly")));
    }

    #[test]
    fn malformed_options_are_refused_with_a_reason() {
        assert!(parse("").unwrap_err().contains("list name is missing"));
        assert!(parse("contactListName=").unwrap_err().contains("missing"));
        assert!(
            parse("news; topic=")
                .unwrap_err()
                .contains("topic name is empty")
        );
        assert!(
            parse("news; colour=red")
                .unwrap_err()
                .contains("unexpected")
        );
        assert!(parse("list=news").unwrap_err().contains("unknown option"));
        assert!(
            parse("news; topic=a; topic=b")
                .unwrap_err()
                .contains("twice")
        );
    }
}
