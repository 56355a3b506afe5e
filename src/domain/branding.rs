//! A list's look on the recipient page, shared by the page, the dashboard's preview and
//! the server routes that serve it: the accent colour becomes a small same-origin
//! stylesheet (`/l/{list}/theme.css`, never an inline style, which the page's CSP
//! forbids), and the logo is an uploaded image served from `/l/{list}/logo`.
//!
//! Both pages mark the branded part with `data-brand="{list}"`; the stylesheet sets the
//! accent variables on that element only, so in the dashboard it colours the preview and
//! nothing else.

/// The largest logo accepted, in bytes (256 KiB).
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// Image types a logo may have, decided from the first bytes (never from the file name or
/// the type the browser claims). SVG is refused: it can carry script.
pub fn sniff_image(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// `#rrggbb` (either case) as its three channels; anything else is `None`.
pub fn parse_hex_colour(s: &str) -> Option<[u8; 3]> {
    let hex = s.strip_prefix('#')?;
    if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let ch = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([ch(0)?, ch(2)?, ch(4)?])
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// WCAG 2.1 relative luminance of an sRGB colour.
pub fn luminance(c: [u8; 3]) -> f64 {
    let lin = |v: u8| {
        let s = f64::from(v) / 255.0;
        if s <= 0.04045 {
            s / 12.92
        } else {
            ((s + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

/// WCAG 2.1 contrast ratio of two colours (1 to 21).
pub fn contrast(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

const WHITE: [u8; 3] = [0xff, 0xff, 0xff];
const BLACK: [u8; 3] = [0, 0, 0];
/// WCAG 2.1 AA for normal text.
const AA_TEXT: f64 = 4.5;

/// The colours the page derives from an accent colour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accent {
    /// The accent itself: button backgrounds, the checkbox tint.
    pub accent: String,
    /// Text on the accent (buttons): white or black, whichever contrasts more — one of
    /// them always reaches 4.5:1.
    pub on_accent: &'static str,
    /// The accent as text on the white page (links, secondary buttons, the focus ring):
    /// the accent itself, or darkened until it reaches 4.5:1 against white.
    pub text: String,
}

/// The page colours for `#rrggbb`, or `None` if it is not one.
pub fn accent(colour: &str) -> Option<Accent> {
    let c = parse_hex_colour(colour)?;
    let on_accent = if contrast(c, WHITE) >= contrast(c, BLACK) {
        "#ffffff"
    } else {
        "#000000"
    };
    let mut text = c;
    let mut step = 0u32;
    while contrast(text, WHITE) < AA_TEXT && step < 20 {
        step += 1;
        let f = 1.0 - f64::from(step) * 0.05;
        text = c.map(|v| (f64::from(v) * f).round() as u8);
    }
    Some(Accent {
        accent: hex(c),
        on_accent,
        text: hex(text),
    })
}

/// The attribute both pages put on the branded element.
pub const BRAND_ATTR: &str = "data-brand";

/// The per-list stylesheet: the accent variables on the list's branded element, or an
/// empty sheet (the default colours) when the list has no valid accent colour.
pub fn theme_css(list: &str, colour: Option<&str>) -> String {
    match colour.and_then(accent) {
        Some(a) => format!(
            "[{BRAND_ATTR}=\"{list}\"]{{--accent:{};--accent-fg:{};--accent-text:{}}}\n",
            a.accent, a.on_accent, a.text
        ),
        None => "/* no accent colour: the default colours apply */\n".to_owned(),
    }
}

/// The stylesheet's URL for a list with an accent colour (the colour is the version, so a
/// new colour is a new URL); `None` without one.
pub fn theme_href(list: &str, colour: Option<&str>) -> Option<String> {
    let a = accent(colour?)?;
    Some(format!("/l/{list}/theme.css?v={}", &a.accent[1..]))
}

/// The logo's URL for a stored logo of `version`.
pub fn logo_src(list: &str, version: &str) -> String {
    format!("/l/{list}/logo?v={version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"GIF89a..."), Some("image/gif"));
        assert_eq!(sniff_image(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(
            sniff_image(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"),
            None
        );
        assert_eq!(sniff_image(b"<?xml version=\"1.0\"?><svg/>"), None);
        assert_eq!(sniff_image(b"just text, named logo.png"), None);
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WAVE"), None);
        assert_eq!(sniff_image(b""), None);
    }

    #[test]
    fn colours_are_hex_only() {
        assert_eq!(parse_hex_colour("#1F5fbf"), Some([0x1f, 0x5f, 0xbf]));
        for bad in ["1f5fbf", "#1f5fb", "#1f5fbfa", "#1f5fbg", "red", "#fff", ""] {
            assert_eq!(parse_hex_colour(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_accent_gets_readable_text() {
        // Every 17th step of each channel: light, dark and saturated colours alike.
        for r in (0..=255u8).step_by(17) {
            for g in (0..=255u8).step_by(17) {
                for b in (0..=255u8).step_by(17) {
                    let a = accent(&hex([r, g, b])).unwrap();
                    let c = [r, g, b];
                    let fg = parse_hex_colour(a.on_accent).unwrap();
                    assert!(contrast(c, fg) >= AA_TEXT, "{a:?}");
                    let text = parse_hex_colour(&a.text).unwrap();
                    assert!(contrast(text, WHITE) >= AA_TEXT, "{a:?}");
                }
            }
        }
        let yellow = accent("#FFCC00").unwrap();
        assert_eq!(yellow.accent, "#ffcc00");
        assert_eq!(yellow.on_accent, "#000000");
        assert_ne!(yellow.text, "#ffcc00", "too light for text on white");
        let blue = accent("#1f5fbf").unwrap();
        assert_eq!((blue.on_accent, blue.text.as_str()), ("#ffffff", "#1f5fbf"));
    }

    #[test]
    fn the_stylesheet_scopes_the_colours_to_the_list() {
        let css = theme_css("news", Some("#AA3300"));
        assert!(
            css.starts_with("[data-brand=\"news\"]{--accent:#aa3300;--accent-fg:#ffffff;"),
            "{css}"
        );
        assert!(!theme_css("news", None).contains('{'));
        assert!(!theme_css("news", Some("red; x: y")).contains('{'));
        assert_eq!(
            theme_href("news", Some("#AA3300")).as_deref(),
            Some("/l/news/theme.css?v=aa3300")
        );
        assert_eq!(theme_href("news", Some("javascript:")), None);
    }

    #[test]
    fn a_stored_logo_url_is_ignored() {
        let b: crate::domain::Branding = serde_json::from_str(
            r#"{"display_name":"Acme","logo_url":"https://tracker.example/l.png"}"#,
        )
        .unwrap();
        assert_eq!(b.display_name.as_deref(), Some("Acme"));
        assert!(!serde_json::to_string(&b).unwrap().contains("logo"));
    }
}
