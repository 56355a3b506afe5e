//! `/manage` (ask for a link to manage every subscription of an address) and `/m/{token}`
//! (the page that link opens).

use super::*;

fn manage_form(lang: Lang, status: StatusCode, error: Option<&str>, value: &str) -> Response {
    let w = words(lang);
    let err = error
        .map(|e| {
            format!(
                "<p class=\"error\" role=\"alert\" id=\"email-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    page(
        status,
        lang,
        w.manage_title,
        None,
        &format!(
            "<h1>{}</h1><p class=\"lead\">{}</p>{err}<form method=\"post\" action=\"/manage\" id=\"manage-form\">{}{}<button type=\"submit\">{}</button></form>",
            esc(w.manage_title),
            esc(w.manage_intro),
            email_field(lang, value),
            honeypot(lang),
            esc(w.send_link)
        ),
    )
}

/// `GET /manage`: the form.
pub async fn manage_get(Query(q): Query<LangQuery>, headers: HeaderMap) -> Response {
    let lang = lang_of(q.lang.as_deref(), None, &headers);
    manage_form(lang, StatusCode::OK, None, "")
}

/// `POST /manage`: mails the link when the address is known; the answer is the same
/// either way.
pub async fn manage_post(
    State(st): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let lang = lang_of(field(&f, "lang"), None, &headers);
    let w = words(lang);
    let email = field(&f, "email").unwrap_or("").trim();
    let sent = || message(StatusCode::OK, lang, w.check_inbox, w.manage_sent, "");
    if field(&f, "website").is_some_and(|v| !v.is_empty()) {
        return sent();
    }
    if crate::domain::EmailAddress::parse(email).is_err() {
        return manage_form(lang, StatusCode::BAD_REQUEST, Some(w.bad_address), email);
    }
    if !st.allow_form(peer.ip(), &headers) {
        return throttled(lang, w.manage_title);
    }
    let per_day = st.settings.limits.form_mails_per_address_per_day;
    match requests::request_manage(&*st.store, email, lang, per_day).await {
        Ok(req) => {
            // Mailed after the answer: its time is the same for known and unknown
            // addresses.
            tokio::spawn(async move {
                let base = st.public_base();
                let inbound = st.settings.inbound.domain();
                let m = mailer(&st, &base, inbound.as_deref());
                let letter = |link: &str| Letter {
                    subject: w.manage_mail_subject.to_owned(),
                    body: w.manage_mail_body.replace("{link}", link),
                };
                if let Err(e) = requests::mail_manage_link(&m, &req, letter).await {
                    tracing::warn!(error = %crate::server::service::chain(&e), "manage link not mailed");
                }
            });
            sent()
        }
        Err(RequestError::BadAddress) => {
            manage_form(lang, StatusCode::BAD_REQUEST, Some(w.bad_address), email)
        }
        Err(RequestError::Throttled) => throttled(lang, w.manage_title),
        Err(e) => server_error(e, lang),
    }
}

/// One list's section of the manage page: the same controls as the preference page.
async fn list_section(
    st: &AppState,
    token: &str,
    lang: Lang,
    r: &recipient::Resolved,
    done: bool,
) -> Result<String, ServiceError> {
    let t = text(lang);
    let state = recipient::current_state(&*st.store, r).await?;
    let name = esc(r.list.name.as_str());
    let title = esc(&requests::list_title(&r.list));
    let mut s = format!(
        "<section class=\"card\" id=\"list-{name}\" aria-labelledby=\"title-{name}\" data-brand=\"{name}\"><h2 id=\"title-{name}\">{title}</h2>"
    );
    if done {
        let _ = write!(
            s,
            "<p class=\"notice\" role=\"status\">{}</p>",
            esc(t.saved)
        );
    }
    if state.unsubscribe_all {
        let _ = write!(s, "<p class=\"notice\">{}</p>", esc(t.all_off));
    }
    let hidden = |action: &str| {
        format!(
            "<input type=\"hidden\" name=\"list\" value=\"{name}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><input type=\"hidden\" name=\"lang\" value=\"{}\">",
            lang.code()
        )
    };
    let action = format!("/m/{}", esc(token));
    s.push_str(&format!("<form method=\"post\" action=\"{action}\">"));
    let topics = recipient::localised_topics(&r.list, lang);
    topic_switches(&mut s, r.list.name.as_str(), &topics, &state, lang);
    let _ = write!(
        s,
        "{}<button type=\"submit\">{}</button></form>",
        hidden("save"),
        esc(t.save)
    );
    let now = crate::server::store::now_ms();
    let paused = r
        .contact
        .as_ref()
        .and_then(|c| c.paused_until.filter(|_| c.paused_at(now)));
    if r.contact.is_some() {
        let days = r.list.branding.pause_lengths();
        pause_controls(&mut s, &action, false, paused, &days, lang, &hidden);
    }
    let _ = write!(
        s,
        "<form method=\"post\" action=\"{action}\" class=\"unsub-all\">{}<button type=\"submit\" class=\"danger\">{}</button></form></section>",
        hidden("unsubscribe_all"),
        esc(t.unsubscribe_all)
    );
    Ok(s)
}

/// The address's contact on each of its lists, of a manage link, or the page saying why
/// the link cannot be used.
async fn open(
    st: &AppState,
    token: &str,
    lang: Lang,
) -> Result<Vec<recipient::Resolved>, Response> {
    match requests::open_manage(&*st.store, token).await {
        Ok(ManageLink::Valid { lists }) => Ok(lists),
        Ok(ManageLink::Expired) => Err(expired(
            lang,
            StatusCode::GONE,
            words(lang).link_expired,
            "/manage",
        )),
        Ok(ManageLink::Unknown) => Err(expired(
            lang,
            StatusCode::NOT_FOUND,
            text(lang).invalid_link,
            "/manage",
        )),
        Err(e) => Err(server_error(e, lang)),
    }
}

/// `GET /m/{token}`: every list of the address, with its controls. Reads only.
pub async fn manage_page(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let lang = lang_of(q.lang.as_deref(), None, &headers);
    let w = words(lang);
    let lists = match open(&st, &token, lang).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let mut body = format!("<h1>{}</h1>", esc(w.your_subscriptions));
    if lists.is_empty() {
        let _ = write!(body, "<p class=\"notice\">{}</p>", esc(w.on_no_list));
    }
    for r in lists {
        let done = q.done.as_deref() == Some(r.list.name.as_str());
        match list_section(&st, &token, lang, &r, done).await {
            Ok(s) => body.push_str(&s),
            Err(e) => return server_error(e, lang),
        }
    }
    page(StatusCode::OK, lang, w.your_subscriptions, None, &body)
}

/// `POST /m/{token}`: one list's change (`save`, `unsubscribe_all`, `pause`, `resume`),
/// then back to the page.
pub async fn manage_change(
    State(st): State<AppState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let lang = lang_of(field(&f, "lang"), None, &headers);
    let lists = match open(&st, &token, lang).await {
        Ok(lists) => lists,
        Err(page) => return page,
    };
    let list_name = field(&f, "list").unwrap_or("");
    let Some(r) = lists
        .into_iter()
        .find(|r| r.list.name.as_str() == list_name)
    else {
        // A list the address is no longer on, or no list of this name.
        let (status, why) = match st.store.get_list_cached(list_name).await {
            Ok(_) => (StatusCode::NOT_FOUND, text(lang).address_gone),
            Err(_) => (StatusCode::BAD_REQUEST, text(lang).invalid_link),
        };
        return message(status, lang, text(lang).title, why, "");
    };
    let audit = st.audit(Source::ManagePage, Some(peer.ip()), &headers);
    let outcome = match field(&f, "action").unwrap_or("") {
        "save" => {
            let want = recipient::PageState {
                unsubscribe_all: false,
                opted_in: f
                    .iter()
                    .filter_map(|(k, _)| k.strip_prefix("prefs[")?.strip_suffix(']'))
                    .filter_map(|t| TopicName::parse(t).ok())
                    .collect(),
            };
            recipient::save(&*st.store, &r, &want, &audit)
                .await
                .map(drop)
        }
        "unsubscribe_all" => match recipient::current_state(&*st.store, &r).await {
            Ok(now) => {
                let want = recipient::PageState {
                    unsubscribe_all: true,
                    opted_in: now.opted_in,
                };
                recipient::save(&*st.store, &r, &want, &audit)
                    .await
                    .map(drop)
            }
            Err(e) => Err(e),
        },
        "pause" => match field(&f, "days").and_then(|d| d.parse::<u32>().ok()) {
            Some(d) => recipient::pause(&*st.store, &r, d, &audit).await.map(drop),
            None => Err(ServiceError::BadRequest("no pause length".into())),
        },
        "resume" => recipient::resume(&*st.store, &r, &audit).await,
        _ => Err(ServiceError::BadRequest("unknown action".into())),
    };
    match outcome {
        Ok(()) => see_other(&format!(
            "/m/{token}?lang={}&done={}#list-{}",
            lang.code(),
            r.list.name,
            r.list.name
        )),
        Err(ServiceError::BadRequest(_)) => message(
            StatusCode::BAD_REQUEST,
            lang,
            text(lang).title,
            words(lang).no_pause,
            "",
        ),
        Err(ServiceError::NotFound(_)) => message(
            StatusCode::NOT_FOUND,
            lang,
            text(lang).title,
            text(lang).address_gone,
            "",
        ),
        Err(e) => server_error(e, lang),
    }
}
