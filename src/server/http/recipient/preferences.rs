//! `GET /u/{token}`: the recipient's preference page, and the unsubscribe survey it (and
//! the one-click answer) shows after an opt-out.
//!
//! Complete without JavaScript: every form posts to `/api/save_preferences`, which
//! answers with a redirect back here showing what changed. With JavaScript, `/prefs.js`
//! submits the same forms in place and swaps in the page it gets back. The list's
//! branding comes from same-origin URLs only (its stylesheet and uploaded logo), so the
//! strict CSP needs no exception.

use super::*;

/// The query the page reads (each set by the redirect after a form).
#[derive(serde::Deserialize, Default)]
pub struct PrefQuery {
    lang: Option<String>,
    /// The state before the last save, for "undo".
    saved: Option<String>,
    /// A problem with the last form: `invalid`, `gone`, `pause` or `reason`.
    error: Option<String>,
    /// The survey was answered.
    thanks: Option<String>,
}

/// The page's CSP: its one script is same-origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The fields every form of the page carries.
fn hidden(token: &str, action: &str, lang: Lang) -> String {
    format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"lang\" value=\"{}\">",
        esc(token),
        lang.code()
    )
}

/// Masks an address for display: `j***@example.com`.
pub fn mask_email(e: &str) -> String {
    match e.rsplit_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

/// The survey after an unsubscribe: one of the list's answers and optional free text,
/// posted with the link's token. Empty when the list asks nothing.
pub fn survey(list: &ContactList, token: &str, lang: Lang) -> String {
    let reasons = list.branding.survey_reasons(lang);
    if reasons.is_empty() {
        return String::new();
    }
    let w = words(lang);
    let mut s = format!(
        "<form method=\"post\" action=\"/api/save_preferences\" id=\"survey-form\" class=\"survey\"><fieldset><legend>{}</legend><p class=\"muted\" id=\"survey-hint\">{}</p>",
        esc(w.survey_title),
        esc(w.survey_hint)
    );
    for (i, (stored, label)) in reasons.iter().enumerate() {
        let _ = write!(
            s,
            "<div class=\"choice\"><input type=\"radio\" name=\"reason\" id=\"reason-{i}\" value=\"{}\" required><label for=\"reason-{i}\">{}</label></div>",
            esc(stored),
            esc(label)
        );
    }
    let _ = write!(
        s,
        "<label for=\"survey-comment\">{}</label><textarea id=\"survey-comment\" name=\"comment\" rows=\"3\" maxlength=\"{}\"></textarea></fieldset>{}<button type=\"submit\" class=\"secondary\">{}</button></form>",
        esc(w.survey_comment),
        crate::domain::MAX_SURVEY_COMMENT_CHARS,
        hidden(token, "reason", lang),
        esc(w.survey_send)
    );
    s
}

/// The answer to a one-click POST made in a browser (or shown by a mail client): the
/// opt-out is done; the survey and a link to the whole page follow, in the list's
/// language or the browser's.
pub fn one_click_answer(list: &ContactList, token: &str, headers: &HeaderMap) -> Response {
    let lang = lang_of(None, Some(list), headers);
    let w = words(lang);
    let body = format!(
        "<h1>{}</h1><p class=\"notice\" role=\"status\">{}</p>{}<p><a href=\"/u/{}?lang={}\">{}</a></p>",
        esc(w.unsubscribed_title),
        esc(w.unsubscribed_text),
        survey(list, token, lang),
        esc(token),
        lang.code(),
        esc(text(lang).title)
    );
    page(
        StatusCode::OK,
        lang,
        w.unsubscribed_title,
        Some(list),
        &body,
    )
}

/// A refused one-click link, in the browser's language.
pub fn invalid_link(status: StatusCode, headers: &HeaderMap) -> Response {
    let lang = lang_of(None, None, headers);
    let t = text(lang);
    message(status, lang, t.title, t.invalid_link, "")
}

/// `GET /u/{token}`: the page. Reads only.
pub async fn preferences_page(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<PrefQuery>,
    headers: HeaderMap,
) -> Response {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    let r = match recipient::resolve(&*st.store, &st.token_keys, &token).await {
        Ok(r) => r,
        Err(e @ (ServiceError::BadRequest(_) | ServiceError::NotFound(_))) => {
            metrics::counter!("optbox_page_renders_total", "outcome" => "invalid_link")
                .increment(1);
            let status = if matches!(e, ServiceError::BadRequest(_)) {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::NOT_FOUND
            };
            let lang = Lang::negotiate(q.lang.as_deref(), None, None, accept);
            let t = text(lang);
            return message(status, lang, t.title, t.invalid_link, "");
        }
        Err(e) => return server_error(e, lang_of(q.lang.as_deref(), None, &headers)),
    };
    let view = match recipient::page(
        &*st.store,
        &r,
        q.lang.as_deref(),
        accept,
        q.saved.as_deref(),
    )
    .await
    {
        Ok(v) => v,
        Err(e) => return server_error(e, lang_of(q.lang.as_deref(), Some(&r.list), &headers)),
    };
    // Without its logo the page still works: a failed read is logged, not shown.
    let logo = match st.logos.get(&*st.store, r.list.id).await {
        Ok(logo) => {
            logo.map(|g| crate::domain::branding::logo_src(r.list.name.as_str(), &g.version))
        }
        Err(e) => {
            tracing::warn!(error = %crate::server::service::chain(&e), "list logo unavailable");
            None
        }
    };
    metrics::counter!("optbox_page_renders_total", "outcome" => "ok").increment(1);
    let html = render(&r, &view, &token, logo.as_deref(), &q);
    let title = format!(
        "{} · {}",
        text(view.lang).title,
        requests::list_title(&r.list)
    );
    let mut resp = page_with(
        StatusCode::OK,
        view.lang,
        &title,
        Some(&r.list),
        &html,
        "<script src=\"/prefs.js\" defer></script>",
    );
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    resp
}

/// The body of the page.
fn render(
    r: &recipient::Resolved,
    view: &recipient::PageView,
    token: &str,
    logo: Option<&str>,
    q: &PrefQuery,
) -> String {
    let lang = view.lang;
    let (t, w) = (text(lang), words(lang));
    let now = &view.now;
    let mut s = String::with_capacity(4096);
    // The heading names the list, so the logo beside it is decorative.
    if let Some(src) = logo {
        let _ = write!(
            s,
            "<img class=\"logo\" id=\"list-logo\" src=\"{}\" alt=\"\">",
            esc(src)
        );
    }
    let _ = write!(
        s,
        "<h1>{}</h1><p class=\"lead\">{}</p>",
        esc(&requests::list_title(&r.list)),
        esc(t.intro)
    );
    if let Some(c) = &r.contact {
        let _ = write!(
            s,
            "<p class=\"muted\">{} <strong>{}</strong></p>",
            esc(t.for_address),
            esc(&mask_email(c.email.as_str()))
        );
    }
    if let Some(e) = &q.error {
        let msg = match e.as_str() {
            "gone" => t.address_gone,
            "pause" => w.no_pause,
            // `invalid`, and a survey answer the list does not offer (a forged form).
            _ => t.invalid_link,
        };
        let _ = write!(
            s,
            "<p class=\"error\" role=\"alert\" id=\"page-error\">{}</p>",
            esc(msg)
        );
    }
    if q.thanks.is_some() {
        let _ = write!(
            s,
            "<p class=\"notice\" role=\"status\" id=\"survey-thanks\" tabindex=\"-1\">{}</p>",
            esc(w.survey_thanks)
        );
    }
    if let Some(saved) = &view.saved {
        let _ = write!(
            s,
            "<section class=\"notice\" role=\"status\" aria-labelledby=\"saved-title\" tabindex=\"-1\"><h2 id=\"saved-title\">{}</h2>",
            esc(t.saved)
        );
        for (label, names) in [
            (t.now_subscribed, &saved.subscribed),
            (t.now_unsubscribed, &saved.unsubscribed),
        ] {
            if !names.is_empty() {
                let _ = write!(s, "<p>{}: {}</p>", esc(label), esc(&names.join(", ")));
            }
        }
        let _ = write!(
            s,
            "<form method=\"post\" action=\"/api/save_preferences\" id=\"undo-form\">{}<input type=\"hidden\" name=\"state\" value=\"{}\"><button type=\"submit\" class=\"secondary\">{}</button></form></section>",
            hidden(token, "set", lang),
            esc(&saved.undo.encode()),
            esc(t.undo)
        );
        if !saved.unsubscribed.is_empty() || now.unsubscribe_all {
            s.push_str(&survey(&r.list, token, lang));
        }
    }
    if now.unsubscribe_all {
        let _ = write!(
            s,
            "<p class=\"notice\" id=\"all-off\">{}</p>",
            esc(t.all_off)
        );
    }
    s.push_str("<form method=\"post\" action=\"/api/save_preferences\" id=\"prefs-form\">");
    topic_switches(&mut s, "topic", &view.topics, now, lang);
    let _ = write!(
        s,
        "{}<button type=\"submit\">{}</button></form>",
        hidden(token, "save", lang),
        esc(t.save)
    );
    let fields = |action: &str| hidden(token, action, lang);
    pause_controls(
        &mut s,
        "/api/save_preferences",
        true,
        view.paused_until,
        &view.pause_days,
        lang,
        &fields,
    );
    let _ = write!(
        s,
        "<form method=\"post\" action=\"/api/save_preferences\" id=\"unsub-all-form\" class=\"unsub-all\">{}<p class=\"muted\">{}</p><button type=\"submit\" class=\"danger\">{}</button></form>",
        hidden(token, "unsubscribe_all", lang),
        esc(t.unsubscribe_all_hint),
        esc(t.unsubscribe_all)
    );
    let _ = write!(
        s,
        "<nav class=\"langs\" aria-label=\"{}\">",
        esc(t.language)
    );
    for l in Lang::ALL {
        let _ = write!(
            s,
            "<a href=\"/u/{}?lang={c}\" hreflang=\"{c}\" lang=\"{c}\"{}>{c}</a> ",
            esc(token),
            if l == lang {
                " aria-current=\"true\""
            } else {
                ""
            },
            c = l.code()
        );
    }
    s.push_str("</nav><footer class=\"muted\">");
    if let Some(f) = &r.list.branding.footer_text {
        let _ = write!(s, "<p>{}</p>", esc(f));
    }
    if let Some(u) = r
        .list
        .branding
        .privacy_url
        .as_deref()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        let _ = write!(
            s,
            "<p><a href=\"{}\" rel=\"noopener noreferrer\">{}</a></p>",
            esc(u),
            esc(t.privacy)
        );
    }
    let _ = write!(
        s,
        "<p><a href=\"/manage?lang={}\">{}</a></p></footer>",
        lang.code(),
        esc(w.manage_other)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_the_local_part() {
        assert_eq!(mask_email("jane@example.com"), "j***@example.com");
        assert_eq!(mask_email("nobody"), "***");
    }
}
