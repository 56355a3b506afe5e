//! The languages of the recipient surface (en, ru, de, fr, es) and how a page picks one.
//! The texts themselves are in `domain::i18n`.

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Lang {
    En,
    Ru,
    De,
    Fr,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Ru, Lang::De, Lang::Fr, Lang::Es];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::De => "de",
            Lang::Fr => "fr",
            Lang::Es => "es",
        }
    }

    /// Parses a tag such as `de`, `de-AT` or `RU`.
    pub fn parse(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The best supported language of an `Accept-Language` header, by q-value.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(l) = Lang::parse(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, l));
            }
        }
        best.map(|(_, l)| l)
    }

    /// The page language: `?lang=`, then the contact's `language` attribute, then the
    /// list default, then `Accept-Language`, then English.
    pub fn negotiate(
        query: Option<&str>,
        contact: Option<&str>,
        list_default: Option<&str>,
        accept: Option<&str>,
    ) -> Lang {
        query
            .and_then(Lang::parse)
            .or_else(|| contact.and_then(Lang::parse))
            .or_else(|| list_default.and_then(Lang::parse))
            .or_else(|| accept.and_then(Lang::from_accept_language))
            .unwrap_or(Lang::En)
    }
}
