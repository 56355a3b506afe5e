//! `/s/{list}` (the hosted subscription form, also the endpoint a sender's site posts to)
//! and `/c/{token}` (confirming it).

use super::*;

fn subscribe_form(
    list: &ContactList,
    lang: Lang,
    status: StatusCode,
    error: Option<&str>,
    value: &str,
) -> Response {
    let w = words(lang);
    let title = requests::list_title(list);
    let err = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let mut topics = String::new();
    let visible = recipient::localised_topics(list, lang);
    if !visible.is_empty() {
        let _ = write!(
            topics,
            "<fieldset><legend>{}</legend>",
            esc(text(lang).topics_legend)
        );
        for t in visible {
            let id = format!("topic-{}", esc(t.name.as_str()));
            let _ = write!(
                topics,
                "<div class=\"topic\"><input type=\"checkbox\" id=\"{id}\" name=\"topic\" value=\"{}\"{} aria-describedby=\"{id}-desc\"><label for=\"{id}\">{}</label><p class=\"muted topic-desc\" id=\"{id}-desc\">{}</p></div>",
                esc(t.name.as_str()),
                if t.default_status == crate::domain::SubscriptionStatus::OptIn {
                    " checked"
                } else {
                    ""
                },
                esc(&t.display_name),
                esc(&t.description)
            );
        }
        topics.push_str("</fieldset>");
    }
    page(
        status,
        lang,
        &format!("{} · {title}", w.subscribe_title),
        Some(list),
        &format!(
            "<h1>{}</h1><p class=\"lead\">{}</p>{err}<form method=\"post\" action=\"/s/{}\" id=\"subscribe-form\">{}{topics}{}<p class=\"muted\" id=\"consent\">{}</p><button type=\"submit\" aria-describedby=\"consent\">{}</button></form>",
            esc(&title),
            esc(w.subscribe_intro),
            esc(list.name.as_str()),
            email_field(lang, value),
            honeypot(lang),
            esc(w.consent),
            esc(w.subscribe_button)
        ),
    )
}

fn no_form(lang: Lang) -> Response {
    let w = words(lang);
    message(
        StatusCode::NOT_FOUND,
        lang,
        w.subscribe_title,
        w.no_form,
        "",
    )
}

/// `GET /s/{list}`: the hosted form.
pub async fn subscribe_get(
    State(st): State<AppState>,
    Path(list): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    match requests::form_list(&*st.store, &list).await {
        Ok(l) => {
            let lang = lang_of(q.lang.as_deref(), Some(&l), &headers);
            subscribe_form(&l, lang, StatusCode::OK, None, "")
        }
        Err(RequestError::NoForm) => no_form(lang_of(q.lang.as_deref(), None, &headers)),
        Err(e) => server_error(e, lang_of(q.lang.as_deref(), None, &headers)),
    }
}

/// `POST /s/{list}`: the hosted form's submission, or a sender's site posting its own
/// form here. Mails the confirmation link; subscribes nobody.
pub async fn subscribe_post(
    State(st): State<AppState>,
    Path(list): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let list = match requests::form_list(&*st.store, &list).await {
        Ok(l) => l,
        Err(RequestError::NoForm) => return no_form(lang_of(field(&f, "lang"), None, &headers)),
        Err(e) => return server_error(e, lang_of(field(&f, "lang"), None, &headers)),
    };
    let lang = lang_of(field(&f, "lang"), Some(&list), &headers);
    let w = words(lang);
    let title = requests::list_title(&list);
    let sent = || message(StatusCode::OK, lang, w.check_inbox, w.subscribe_sent, "");
    if field(&f, "website").is_some_and(|v| !v.is_empty()) {
        return sent();
    }
    let email = field(&f, "email").unwrap_or("").trim();
    if crate::domain::EmailAddress::parse(email).is_err() {
        return subscribe_form(
            &list,
            lang,
            StatusCode::BAD_REQUEST,
            Some(w.bad_address),
            email,
        );
    }
    if !st.allow_form(peer.ip(), &headers) {
        return throttled(lang, w.subscribe_title);
    }
    let topics: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "topic")
        .map(|(_, v)| v.clone())
        .collect();
    let base = st.public_base();
    let inbound = st.settings.inbound.domain();
    let m = mailer(&st, &base, inbound.as_deref());
    let audit = st.audit(Source::SubscribeForm, Some(peer.ip()), &headers);
    let letter = |link: &str| Letter {
        subject: w.confirm_mail_subject.replace("{list}", &title),
        body: w
            .confirm_mail_body
            .replace("{list}", &title)
            .replace("{link}", link),
    };
    match requests::request_subscription(&m, &list, email, &topics, lang, &audit, w.consent, letter)
        .await
    {
        Ok(()) => sent(),
        Err(RequestError::BadAddress) => subscribe_form(
            &list,
            lang,
            StatusCode::BAD_REQUEST,
            Some(w.bad_address),
            email,
        ),
        Err(RequestError::Throttled) => throttled(lang, w.subscribe_title),
        Err(RequestError::NoForm) => no_form(lang),
        Err(e) => server_error(e, lang),
    }
}

/// The answer for a confirmation link that is not (or no longer) valid.
fn confirm_refusal(link: &ConfirmLink, lang: Lang) -> Option<Response> {
    let w = words(lang);
    match link {
        ConfirmLink::Valid { .. } => None,
        ConfirmLink::Used { list } => Some(message(
            StatusCode::OK,
            lang,
            w.confirmed_title,
            &w.confirmed.replace(
                "{list}",
                &list
                    .as_deref()
                    .map(requests::list_title)
                    .unwrap_or_default(),
            ),
            "",
        )),
        ConfirmLink::Expired => Some(message(
            StatusCode::GONE,
            lang,
            w.confirm_title,
            w.link_expired,
            "",
        )),
        ConfirmLink::Unknown => Some(message(
            StatusCode::NOT_FOUND,
            lang,
            w.confirm_title,
            text(lang).invalid_link,
            "",
        )),
    }
}

/// `GET /c/{token}`: asks for the confirmation. Opening the link (as a scanner does)
/// changes nothing.
pub async fn confirm_get(
    State(st): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Response {
    let link = match requests::open_confirmation(&*st.store, &token).await {
        Ok(l) => l,
        Err(e) => return server_error(e, lang_of(q.lang.as_deref(), None, &headers)),
    };
    let stored_lang = match &link {
        ConfirmLink::Valid { pending, .. } => Some(pending.lang.clone()),
        _ => None,
    };
    let lang = lang_of(q.lang.as_deref().or(stored_lang.as_deref()), None, &headers);
    if let Some(r) = confirm_refusal(&link, lang) {
        return r;
    }
    let ConfirmLink::Valid { list, .. } = &link else {
        return server_error(ServiceError::internal("a valid link was refused"), lang);
    };
    let w = words(lang);
    let title = requests::list_title(list);
    page(
        StatusCode::OK,
        lang,
        w.confirm_title,
        Some(list),
        &format!(
            "<h1>{}</h1><p class=\"lead\">{}</p><form method=\"post\" action=\"/c/{}\" id=\"confirm-form\"><input type=\"hidden\" name=\"lang\" value=\"{}\"><button type=\"submit\">{}</button></form>",
            esc(w.confirm_title),
            esc(&w.confirm_intro.replace("{list}", &title)),
            esc(&token),
            lang.code(),
            esc(w.confirm_button)
        ),
    )
}

/// `POST /c/{token}`: confirms.
pub async fn confirm_post(
    State(st): State<AppState>,
    Path(token): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = fields(&body);
    let lang = lang_of(field(&f, "lang"), None, &headers);
    let audit = st.audit(Source::SubscribeForm, Some(peer.ip()), &headers);
    let link = match requests::confirm(&*st.store, &token, &audit).await {
        Ok(l) => l,
        Err(e) => return server_error(e, lang),
    };
    if let ConfirmLink::Valid { list, .. } = &link {
        let w = words(lang);
        return message(
            StatusCode::OK,
            lang,
            w.confirmed_title,
            &w.confirmed.replace("{list}", &requests::list_title(list)),
            "",
        );
    }
    confirm_refusal(&link, lang)
        .unwrap_or_else(|| server_error(ServiceError::internal("a valid link was refused"), lang))
}
