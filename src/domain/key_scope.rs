//! What an API key may do: operations, contact lists and sending identities. A key
//! without a scope (every key made before scopes existed) may do everything.

use serde::{Deserialize, Serialize};

/// A kind of SES operation a scoped key may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Permission {
    /// SendEmail, the SMTP relay, `/v1/links`.
    Send,
    /// Reading contact lists and contacts.
    ReadLists,
    /// Changing contact lists and contacts.
    WriteLists,
    /// Import jobs.
    Import,
    /// The account suppression list.
    Suppression,
}

impl Permission {
    pub const ALL: [Permission; 5] = [
        Permission::Send,
        Permission::ReadLists,
        Permission::WriteLists,
        Permission::Import,
        Permission::Suppression,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Send => "send",
            Permission::ReadLists => "read-lists",
            Permission::WriteLists => "write-lists",
            Permission::Import => "import",
            Permission::Suppression => "suppression",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// A key's limits; `None` in a member means no limit there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyScope {
    pub permissions: Option<Vec<Permission>>,
    /// Contact list names.
    pub lists: Option<Vec<String>>,
    /// Sending identities: domains and addresses, lower-cased.
    pub identities: Option<Vec<String>>,
}

impl KeyScope {
    /// No limits (the scope of every key made without one).
    pub fn is_full(&self) -> bool {
        self.permissions.is_none() && self.lists.is_none() && self.identities.is_none()
    }

    pub fn allows(&self, p: Permission) -> bool {
        self.permissions.as_ref().is_none_or(|ps| ps.contains(&p))
    }

    pub fn allows_list(&self, name: &str) -> bool {
        self.lists
            .as_ref()
            .is_none_or(|ls| ls.iter().any(|l| l == name))
    }

    /// Whether mail from `address` is within the key's identities (the address or its
    /// domain).
    pub fn allows_sender(&self, address: &str) -> bool {
        let a = address.trim().to_ascii_lowercase();
        let domain = a.rsplit_once('@').map_or("", |(_, d)| d).to_owned();
        self.identities
            .as_ref()
            .is_none_or(|ids| ids.iter().any(|i| *i == a || *i == domain))
    }

    /// Parses the command line's comma-separated forms; `None` for each one not given.
    pub fn parse(
        permissions: Option<&str>,
        lists: Option<&str>,
        identities: Option<&str>,
    ) -> Result<Self, String> {
        let split = |s: &str| -> Vec<String> {
            s.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_owned)
                .collect()
        };
        let permissions = permissions
            .map(|s| {
                split(s)
                    .iter()
                    .map(|p| {
                        Permission::parse(p).ok_or_else(|| {
                            format!(
                                "unknown permission {p:?}: use send, read-lists, write-lists, import or suppression"
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let identities = identities.map(|s| {
            split(s)
                .into_iter()
                .map(|i| i.to_ascii_lowercase())
                .collect()
        });
        Ok(Self {
            permissions,
            lists: lists.map(split),
            identities,
        })
    }

    /// One line for listings: `all`, or the limits.
    pub fn describe(&self) -> String {
        if self.is_full() {
            return "all".into();
        }
        let mut parts = Vec::new();
        if let Some(p) = &self.permissions {
            parts.push(format!(
                "allow={}",
                p.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(",")
            ));
        }
        if let Some(l) = &self.lists {
            parts.push(format!("lists={}", l.join(",")));
        }
        if let Some(i) = &self.identities {
            parts.push(format!("identities={}", i.join(",")));
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_limit_operations_lists_and_senders() {
        let full = KeyScope::default();
        assert!(full.is_full() && full.allows(Permission::Import) && full.allows_sender("x@y.z"));
        let s = KeyScope::parse(
            Some("send, read-lists"),
            Some("news"),
            Some("Example.com,ops@other.example"),
        )
        .unwrap();
        assert!(s.allows(Permission::Send) && !s.allows(Permission::WriteLists));
        assert!(s.allows_list("news") && !s.allows_list("offers"));
        assert!(s.allows_sender("a@example.com") && s.allows_sender("OPS@other.example"));
        assert!(!s.allows_sender("ceo@other.example") && !s.allows_sender("a@sub.example.com"));
        assert_eq!(
            s.describe(),
            "allow=send,read-lists lists=news identities=example.com,ops@other.example"
        );
        assert!(KeyScope::parse(Some("everything"), None, None).is_err());
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<KeyScope>(&json).unwrap(), s);
    }
}
