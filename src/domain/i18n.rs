//! Translations for the recipient surface (en, ru, de, fr, es); the languages and their
//! negotiation are `domain::lang`.
//! Plain tables: the pages have a few dozen strings each.

pub use crate::domain::lang::Lang;

/// The strings of the recipient surface.
pub struct Text {
    pub title: &'static str,
    pub intro: &'static str,
    pub for_address: &'static str,
    pub topics_legend: &'static str,
    pub save: &'static str,
    pub unsubscribe_all: &'static str,
    pub unsubscribe_all_hint: &'static str,
    pub saved: &'static str,
    pub now_subscribed: &'static str,
    pub now_unsubscribed: &'static str,
    pub all_off: &'static str,
    pub undo: &'static str,
    pub invalid_link: &'static str,
    pub address_gone: &'static str,
    pub privacy: &'static str,
    pub language: &'static str,
}

pub fn text(lang: Lang) -> &'static Text {
    match lang {
        Lang::En => &EN,
        Lang::Ru => &RU,
        Lang::De => &DE,
        Lang::Fr => &FR,
        Lang::Es => &ES,
    }
}

static EN: Text = Text {
    title: "Email preferences",
    intro: "Choose which emails you want to receive.",
    for_address: "Preferences for",
    topics_legend: "Topics",
    save: "Save preferences",
    unsubscribe_all: "Unsubscribe from all",
    unsubscribe_all_hint: "Stop all emails from this list.",
    saved: "Your preferences have been saved.",
    now_subscribed: "Subscribed to",
    now_unsubscribed: "Unsubscribed from",
    all_off: "You are unsubscribed from all emails of this list.",
    undo: "Undo",
    invalid_link: "This link is not valid. Please use the link from a recent email.",
    address_gone: "This address is no longer on the list; please ask the sender to add it again.",
    privacy: "Privacy policy",
    language: "Language",
};

static RU: Text = Text {
    title: "Настройки рассылки",
    intro: "Выберите, какие письма вы хотите получать.",
    for_address: "Настройки для",
    topics_legend: "Темы",
    save: "Сохранить",
    unsubscribe_all: "Отписаться от всего",
    unsubscribe_all_hint: "Больше не получать письма этой рассылки.",
    saved: "Настройки сохранены.",
    now_subscribed: "Подписка оформлена",
    now_unsubscribed: "Подписка отменена",
    all_off: "Вы отписаны от всех писем этой рассылки.",
    undo: "Отменить",
    invalid_link: "Ссылка недействительна. Воспользуйтесь ссылкой из недавнего письма.",
    address_gone: "Этого адреса больше нет в рассылке; попросите отправителя добавить его снова.",
    privacy: "Политика конфиденциальности",
    language: "Язык",
};

static DE: Text = Text {
    title: "E-Mail-Einstellungen",
    intro: "Wählen Sie, welche E-Mails Sie erhalten möchten.",
    for_address: "Einstellungen für",
    topics_legend: "Themen",
    save: "Einstellungen speichern",
    unsubscribe_all: "Von allem abmelden",
    unsubscribe_all_hint: "Keine E-Mails dieser Liste mehr erhalten.",
    saved: "Ihre Einstellungen wurden gespeichert.",
    now_subscribed: "Angemeldet für",
    now_unsubscribed: "Abgemeldet von",
    all_off: "Sie sind von allen E-Mails dieser Liste abgemeldet.",
    undo: "Rückgängig",
    invalid_link: "Dieser Link ist ungültig. Bitte verwenden Sie den Link aus einer aktuellen E-Mail.",
    address_gone: "Diese Adresse steht nicht mehr auf der Liste; bitten Sie den Absender, sie erneut hinzuzufügen.",
    privacy: "Datenschutzerklärung",
    language: "Sprache",
};

static FR: Text = Text {
    title: "Préférences e-mail",
    intro: "Choisissez les e-mails que vous souhaitez recevoir.",
    for_address: "Préférences pour",
    topics_legend: "Sujets",
    save: "Enregistrer",
    unsubscribe_all: "Se désabonner de tout",
    unsubscribe_all_hint: "Ne plus recevoir aucun e-mail de cette liste.",
    saved: "Vos préférences ont été enregistrées.",
    now_subscribed: "Abonné à",
    now_unsubscribed: "Désabonné de",
    all_off: "Vous êtes désabonné de tous les e-mails de cette liste.",
    undo: "Annuler",
    invalid_link: "Ce lien n’est pas valide. Utilisez le lien d’un e-mail récent.",
    address_gone: "Cette adresse n’est plus sur la liste ; demandez à l’expéditeur de l’ajouter à nouveau.",
    privacy: "Politique de confidentialité",
    language: "Langue",
};

static ES: Text = Text {
    title: "Preferencias de correo",
    intro: "Elige qué correos quieres recibir.",
    for_address: "Preferencias para",
    topics_legend: "Temas",
    save: "Guardar preferencias",
    unsubscribe_all: "Darse de baja de todo",
    unsubscribe_all_hint: "Dejar de recibir todos los correos de esta lista.",
    saved: "Tus preferencias se han guardado.",
    now_subscribed: "Suscrito a",
    now_unsubscribed: "Baja de",
    all_off: "Te has dado de baja de todos los correos de esta lista.",
    undo: "Deshacer",
    invalid_link: "Este enlace no es válido. Usa el enlace de un correo reciente.",
    address_gone: "Esta dirección ya no está en la lista; pide al remitente que la vuelva a añadir.",
    privacy: "Política de privacidad",
    language: "Idioma",
};

/// The strings of the recipient pages beyond the preference form: the pause, the manage
/// page (`/manage`), the hosted subscription form (`/s/{list}`), its confirmation, and
/// the mail they send. `{n}`, `{date}`, `{list}` and `{link}` are filled in.
pub struct Words {
    pub pause_legend: &'static str,
    pub pause_hint: &'static str,
    pub pause_for: &'static str,
    pub paused_until: &'static str,
    pub resume_now: &'static str,
    pub manage_title: &'static str,
    pub manage_intro: &'static str,
    pub email_label: &'static str,
    pub send_link: &'static str,
    pub check_inbox: &'static str,
    pub manage_sent: &'static str,
    pub bad_address: &'static str,
    pub throttled: &'static str,
    pub link_expired: &'static str,
    pub request_new_link: &'static str,
    pub your_subscriptions: &'static str,
    pub on_no_list: &'static str,
    pub subscribe_title: &'static str,
    pub subscribe_intro: &'static str,
    pub subscribe_button: &'static str,
    pub consent: &'static str,
    pub subscribe_sent: &'static str,
    pub no_form: &'static str,
    pub confirm_title: &'static str,
    pub confirm_intro: &'static str,
    pub confirm_button: &'static str,
    pub confirmed_title: &'static str,
    pub confirmed: &'static str,
    pub manage_mail_subject: &'static str,
    pub manage_mail_body: &'static str,
    pub confirm_mail_subject: &'static str,
    pub confirm_mail_body: &'static str,
    pub honeypot_label: &'static str,
    pub no_pause: &'static str,
    pub survey_title: &'static str,
    pub survey_hint: &'static str,
    pub survey_reason: &'static str,
    pub survey_comment: &'static str,
    pub survey_send: &'static str,
    pub survey_thanks: &'static str,
    pub reason_too_many: &'static str,
    pub reason_not_relevant: &'static str,
    pub reason_never_signed_up: &'static str,
    pub reason_other: &'static str,
    pub unsubscribed_title: &'static str,
    pub unsubscribed_text: &'static str,
    pub manage_other: &'static str,
}

pub fn words(lang: Lang) -> &'static Words {
    match lang {
        Lang::En => &W_EN,
        Lang::Ru => &W_RU,
        Lang::De => &W_DE,
        Lang::Fr => &W_FR,
        Lang::Es => &W_ES,
    }
}

static W_EN: Words = Words {
    pause_legend: "Take a break",
    pause_hint: "Pause every email of this list for a while. They start again by themselves.",
    pause_for: "Pause for {n} days",
    paused_until: "Emails of this list are paused until {date}.",
    resume_now: "Resume now",
    manage_title: "Manage your subscriptions",
    manage_intro: "Enter your email address and we will send you a link to a page where you can change every subscription of that address.",
    email_label: "Email address",
    send_link: "Send me the link",
    check_inbox: "Check your inbox",
    manage_sent: "If this address is on any of our lists, a link to manage its subscriptions is on its way. The link works for 24 hours.",
    bad_address: "This is not a valid email address.",
    throttled: "Too many requests. Please try again later.",
    link_expired: "This link has expired.",
    request_new_link: "Request a new link",
    your_subscriptions: "Your subscriptions",
    on_no_list: "This address is not on any list.",
    subscribe_title: "Subscribe",
    subscribe_intro: "Choose what you would like to receive. We will email you a link to confirm.",
    subscribe_button: "Subscribe",
    consent: "By subscribing you agree to receive these emails. Every email has a link to unsubscribe.",
    subscribe_sent: "We have sent a link to that address. Your subscription starts when you open it and confirm.",
    no_form: "This list does not take subscriptions here.",
    confirm_title: "Confirm your subscription",
    confirm_intro: "Confirm that you want to receive emails of {list}.",
    confirm_button: "Confirm my subscription",
    confirmed_title: "You are subscribed",
    confirmed: "Thank you: your subscription to {list} is confirmed.",
    manage_mail_subject: "Manage your subscriptions",
    manage_mail_body: "Someone, hopefully you, asked for a link to manage the email subscriptions of this address.\n\nOpen this link within 24 hours:\n{link}\n\nIf it was not you, ignore this message.\n",
    confirm_mail_subject: "Confirm your subscription to {list}",
    confirm_mail_body: "Someone, hopefully you, asked to subscribe this address to {list}.\n\nTo confirm, open this link within 7 days and press the button:\n{link}\n\nIf it was not you, ignore this message: nothing happens without your confirmation.\n",
    honeypot_label: "Leave this field empty",
    no_pause: "This list does not offer that pause.",
    survey_title: "Would you tell us why you left?",
    survey_hint: "Optional: your answer helps the sender send better email.",
    survey_reason: "Reason",
    survey_comment: "Anything else? (optional)",
    survey_send: "Send answer",
    survey_thanks: "Thank you for your answer.",
    reason_too_many: "I get too many emails",
    reason_not_relevant: "The content is not relevant to me",
    reason_never_signed_up: "I never signed up for this",
    reason_other: "Another reason",
    unsubscribed_title: "You are unsubscribed",
    unsubscribed_text: "You will get no more of these emails. Mail already on its way may still arrive for a moment.",
    manage_other: "Manage all your subscriptions",
};

static W_RU: Words = Words {
    pause_legend: "Сделать перерыв",
    pause_hint: "Приостановить все письма этой рассылки на время. Потом они возобновятся сами.",
    pause_for: "Пауза на {n} дней",
    paused_until: "Письма этой рассылки приостановлены до {date}.",
    resume_now: "Возобновить сейчас",
    manage_title: "Управление подписками",
    manage_intro: "Введите адрес электронной почты, и мы пришлём ссылку на страницу, где можно изменить все подписки этого адреса.",
    email_label: "Адрес электронной почты",
    send_link: "Прислать ссылку",
    check_inbox: "Проверьте почту",
    manage_sent: "Если этот адрес есть в наших рассылках, ссылка для управления подписками уже в пути. Она действует 24 часа.",
    bad_address: "Это не адрес электронной почты.",
    throttled: "Слишком много запросов. Попробуйте позже.",
    link_expired: "Срок действия ссылки истёк.",
    request_new_link: "Запросить новую ссылку",
    your_subscriptions: "Ваши подписки",
    on_no_list: "Этого адреса нет ни в одной рассылке.",
    subscribe_title: "Подписаться",
    subscribe_intro: "Выберите, что вы хотите получать. Мы пришлём ссылку для подтверждения.",
    subscribe_button: "Подписаться",
    consent: "Подписываясь, вы соглашаетесь получать эти письма. В каждом письме есть ссылка для отписки.",
    subscribe_sent: "Мы отправили ссылку на этот адрес. Подписка начнётся, когда вы откроете её и подтвердите.",
    no_form: "Эта рассылка не принимает подписки здесь.",
    confirm_title: "Подтвердите подписку",
    confirm_intro: "Подтвердите, что хотите получать письма рассылки {list}.",
    confirm_button: "Подтвердить подписку",
    confirmed_title: "Подписка оформлена",
    confirmed: "Спасибо: подписка на {list} подтверждена.",
    manage_mail_subject: "Управление подписками",
    manage_mail_body: "Кто-то, надеемся, вы, запросил ссылку для управления подписками этого адреса.\n\nОткройте ссылку в течение 24 часов:\n{link}\n\nЕсли это были не вы, просто не обращайте внимания на это письмо.\n",
    confirm_mail_subject: "Подтвердите подписку на {list}",
    confirm_mail_body: "Кто-то, надеемся, вы, хочет подписать этот адрес на {list}.\n\nЧтобы подтвердить, откройте ссылку в течение 7 дней и нажмите кнопку:\n{link}\n\nЕсли это были не вы, ничего не делайте: без подтверждения подписки не будет.\n",
    honeypot_label: "Оставьте это поле пустым",
    no_pause: "Эта рассылка не предлагает такую паузу.",
    survey_title: "Расскажете, почему вы отписались?",
    survey_hint: "Необязательно: ваш ответ поможет отправителю писать лучше.",
    survey_reason: "Причина",
    survey_comment: "Что-нибудь ещё? (необязательно)",
    survey_send: "Отправить ответ",
    survey_thanks: "Спасибо за ответ.",
    reason_too_many: "Слишком много писем",
    reason_not_relevant: "Содержание мне неинтересно",
    reason_never_signed_up: "Я не подписывался на эту рассылку",
    reason_other: "Другая причина",
    unsubscribed_title: "Вы отписаны",
    unsubscribed_text: "Эти письма больше не будут приходить. Письма, уже отправленные, ещё могут прийти в ближайшее время.",
    manage_other: "Управлять всеми подписками",
};

static W_DE: Words = Words {
    pause_legend: "Eine Pause machen",
    pause_hint: "Alle E-Mails dieser Liste eine Zeit lang pausieren. Danach kommen sie von selbst wieder.",
    pause_for: "{n} Tage pausieren",
    paused_until: "E-Mails dieser Liste sind bis {date} pausiert.",
    resume_now: "Jetzt fortsetzen",
    manage_title: "Abonnements verwalten",
    manage_intro: "Geben Sie Ihre E-Mail-Adresse ein. Wir senden Ihnen einen Link zu einer Seite, auf der Sie jedes Abonnement dieser Adresse ändern können.",
    email_label: "E-Mail-Adresse",
    send_link: "Link senden",
    check_inbox: "Sehen Sie in Ihr Postfach",
    manage_sent: "Wenn diese Adresse auf einer unserer Listen steht, ist ein Link zur Verwaltung ihrer Abonnements unterwegs. Er gilt 24 Stunden.",
    bad_address: "Das ist keine gültige E-Mail-Adresse.",
    throttled: "Zu viele Anfragen. Bitte versuchen Sie es später erneut.",
    link_expired: "Dieser Link ist abgelaufen.",
    request_new_link: "Neuen Link anfordern",
    your_subscriptions: "Ihre Abonnements",
    on_no_list: "Diese Adresse steht auf keiner Liste.",
    subscribe_title: "Abonnieren",
    subscribe_intro: "Wählen Sie, was Sie erhalten möchten. Wir senden Ihnen einen Link zur Bestätigung.",
    subscribe_button: "Abonnieren",
    consent: "Mit dem Abonnieren stimmen Sie zu, diese E-Mails zu erhalten. Jede E-Mail enthält einen Link zum Abbestellen.",
    subscribe_sent: "Wir haben einen Link an diese Adresse gesendet. Ihr Abonnement beginnt, sobald Sie ihn öffnen und bestätigen.",
    no_form: "Diese Liste nimmt hier keine Abonnements an.",
    confirm_title: "Abonnement bestätigen",
    confirm_intro: "Bestätigen Sie, dass Sie E-Mails von {list} erhalten möchten.",
    confirm_button: "Abonnement bestätigen",
    confirmed_title: "Sie haben abonniert",
    confirmed: "Danke: Ihr Abonnement von {list} ist bestätigt.",
    manage_mail_subject: "Abonnements verwalten",
    manage_mail_body: "Jemand, hoffentlich Sie, hat einen Link zur Verwaltung der Abonnements dieser Adresse angefordert.\n\nÖffnen Sie diesen Link innerhalb von 24 Stunden:\n{link}\n\nWenn Sie es nicht waren, ignorieren Sie diese Nachricht.\n",
    confirm_mail_subject: "Bestätigen Sie Ihr Abonnement von {list}",
    confirm_mail_body: "Jemand, hoffentlich Sie, möchte diese Adresse für {list} anmelden.\n\nZum Bestätigen öffnen Sie diesen Link innerhalb von 7 Tagen und drücken Sie die Schaltfläche:\n{link}\n\nWenn Sie es nicht waren, ignorieren Sie diese Nachricht: ohne Ihre Bestätigung geschieht nichts.\n",
    honeypot_label: "Dieses Feld leer lassen",
    no_pause: "Diese Liste bietet diese Pause nicht an.",
    survey_title: "Verraten Sie uns, warum Sie gehen?",
    survey_hint: "Freiwillig: Ihre Antwort hilft dem Absender, bessere E-Mails zu schreiben.",
    survey_reason: "Grund",
    survey_comment: "Sonst noch etwas? (freiwillig)",
    survey_send: "Antwort senden",
    survey_thanks: "Danke für Ihre Antwort.",
    reason_too_many: "Ich bekomme zu viele E-Mails",
    reason_not_relevant: "Der Inhalt ist für mich nicht relevant",
    reason_never_signed_up: "Ich habe mich nie angemeldet",
    reason_other: "Ein anderer Grund",
    unsubscribed_title: "Sie sind abgemeldet",
    unsubscribed_text: "Sie erhalten diese E-Mails nicht mehr. Bereits versandte Post kann noch kurz ankommen.",
    manage_other: "Alle Abonnements verwalten",
};

static W_FR: Words = Words {
    pause_legend: "Faire une pause",
    pause_hint: "Suspendre tous les e-mails de cette liste pendant un temps. Ils reprennent d'eux-mêmes.",
    pause_for: "Suspendre {n} jours",
    paused_until: "Les e-mails de cette liste sont suspendus jusqu'au {date}.",
    resume_now: "Reprendre maintenant",
    manage_title: "Gérer vos abonnements",
    manage_intro: "Saisissez votre adresse e-mail : nous vous enverrons un lien vers une page où modifier chaque abonnement de cette adresse.",
    email_label: "Adresse e-mail",
    send_link: "Envoyer le lien",
    check_inbox: "Consultez votre boîte de réception",
    manage_sent: "Si cette adresse figure sur l'une de nos listes, un lien pour gérer ses abonnements est en route. Il est valable 24 heures.",
    bad_address: "Ce n'est pas une adresse e-mail valide.",
    throttled: "Trop de demandes. Veuillez réessayer plus tard.",
    link_expired: "Ce lien a expiré.",
    request_new_link: "Demander un nouveau lien",
    your_subscriptions: "Vos abonnements",
    on_no_list: "Cette adresse ne figure sur aucune liste.",
    subscribe_title: "S'abonner",
    subscribe_intro: "Choisissez ce que vous souhaitez recevoir. Nous vous enverrons un lien de confirmation.",
    subscribe_button: "S'abonner",
    consent: "En vous abonnant, vous acceptez de recevoir ces e-mails. Chaque e-mail contient un lien de désabonnement.",
    subscribe_sent: "Nous avons envoyé un lien à cette adresse. Votre abonnement commence quand vous l'ouvrez et confirmez.",
    no_form: "Cette liste n'accepte pas d'abonnements ici.",
    confirm_title: "Confirmez votre abonnement",
    confirm_intro: "Confirmez que vous souhaitez recevoir les e-mails de {list}.",
    confirm_button: "Confirmer mon abonnement",
    confirmed_title: "Vous êtes abonné",
    confirmed: "Merci : votre abonnement à {list} est confirmé.",
    manage_mail_subject: "Gérer vos abonnements",
    manage_mail_body: "Quelqu'un, vous sans doute, a demandé un lien pour gérer les abonnements de cette adresse.\n\nOuvrez ce lien dans les 24 heures :\n{link}\n\nSi ce n'était pas vous, ignorez ce message.\n",
    confirm_mail_subject: "Confirmez votre abonnement à {list}",
    confirm_mail_body: "Quelqu'un, vous sans doute, souhaite abonner cette adresse à {list}.\n\nPour confirmer, ouvrez ce lien dans les 7 jours et appuyez sur le bouton :\n{link}\n\nSi ce n'était pas vous, ignorez ce message : rien ne se passe sans votre confirmation.\n",
    honeypot_label: "Laissez ce champ vide",
    no_pause: "Cette liste ne propose pas cette pause.",
    survey_title: "Pouvez-vous nous dire pourquoi vous partez ?",
    survey_hint: "Facultatif : votre réponse aide l’expéditeur à mieux écrire.",
    survey_reason: "Raison",
    survey_comment: "Autre chose ? (facultatif)",
    survey_send: "Envoyer la réponse",
    survey_thanks: "Merci pour votre réponse.",
    reason_too_many: "Je reçois trop d’e-mails",
    reason_not_relevant: "Le contenu ne me concerne pas",
    reason_never_signed_up: "Je ne me suis jamais inscrit",
    reason_other: "Une autre raison",
    unsubscribed_title: "Vous êtes désabonné",
    unsubscribed_text: "Vous ne recevrez plus ces e-mails. Un message déjà en route peut encore arriver.",
    manage_other: "Gérer tous vos abonnements",
};

static W_ES: Words = Words {
    pause_legend: "Tomar un descanso",
    pause_hint: "Pausar todos los correos de esta lista por un tiempo. Vuelven solos después.",
    pause_for: "Pausar {n} días",
    paused_until: "Los correos de esta lista están en pausa hasta el {date}.",
    resume_now: "Reanudar ahora",
    manage_title: "Gestionar sus suscripciones",
    manage_intro: "Escriba su dirección de correo y le enviaremos un enlace a una página donde cambiar cada suscripción de esa dirección.",
    email_label: "Dirección de correo",
    send_link: "Enviarme el enlace",
    check_inbox: "Revise su bandeja de entrada",
    manage_sent: "Si esta dirección está en alguna de nuestras listas, un enlace para gestionar sus suscripciones va en camino. Es válido 24 horas.",
    bad_address: "No es una dirección de correo válida.",
    throttled: "Demasiadas solicitudes. Inténtelo más tarde.",
    link_expired: "Este enlace ha caducado.",
    request_new_link: "Pedir un enlace nuevo",
    your_subscriptions: "Sus suscripciones",
    on_no_list: "Esta dirección no está en ninguna lista.",
    subscribe_title: "Suscribirse",
    subscribe_intro: "Elija lo que quiere recibir. Le enviaremos un enlace para confirmar.",
    subscribe_button: "Suscribirse",
    consent: "Al suscribirse acepta recibir estos correos. Cada correo tiene un enlace para darse de baja.",
    subscribe_sent: "Hemos enviado un enlace a esa dirección. Su suscripción empieza cuando lo abra y confirme.",
    no_form: "Esta lista no acepta suscripciones aquí.",
    confirm_title: "Confirme su suscripción",
    confirm_intro: "Confirme que quiere recibir los correos de {list}.",
    confirm_button: "Confirmar mi suscripción",
    confirmed_title: "Está suscrito",
    confirmed: "Gracias: su suscripción a {list} está confirmada.",
    manage_mail_subject: "Gestionar sus suscripciones",
    manage_mail_body: "Alguien, seguramente usted, pidió un enlace para gestionar las suscripciones de esta dirección.\n\nAbra este enlace en las próximas 24 horas:\n{link}\n\nSi no fue usted, ignore este mensaje.\n",
    confirm_mail_subject: "Confirme su suscripción a {list}",
    confirm_mail_body: "Alguien, seguramente usted, quiere suscribir esta dirección a {list}.\n\nPara confirmar, abra este enlace en los próximos 7 días y pulse el botón:\n{link}\n\nSi no fue usted, ignore este mensaje: no pasa nada sin su confirmación.\n",
    honeypot_label: "Deje este campo vacío",
    no_pause: "Esta lista no ofrece esa pausa.",
    survey_title: "¿Nos dice por qué se va?",
    survey_hint: "Opcional: su respuesta ayuda al remitente a escribir mejor.",
    survey_reason: "Motivo",
    survey_comment: "¿Algo más? (opcional)",
    survey_send: "Enviar respuesta",
    survey_thanks: "Gracias por su respuesta.",
    reason_too_many: "Recibo demasiados correos",
    reason_not_relevant: "El contenido no me interesa",
    reason_never_signed_up: "Nunca me suscribí",
    reason_other: "Otro motivo",
    unsubscribed_title: "Se ha dado de baja",
    unsubscribed_text: "No recibirá más estos correos. Un mensaje ya enviado aún puede llegar en breve.",
    manage_other: "Gestionar todas sus suscripciones",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_the_documented_order() {
        assert_eq!(
            Lang::negotiate(Some("de"), Some("fr"), Some("es"), Some("ru")),
            Lang::De
        );
        assert_eq!(
            Lang::negotiate(Some("xx"), Some("fr"), Some("es"), Some("ru")),
            Lang::Fr
        );
        assert_eq!(
            Lang::negotiate(None, None, Some("es"), Some("ru")),
            Lang::Es
        );
        assert_eq!(
            Lang::negotiate(None, None, None, Some("ru-RU,ru;q=0.9,en;q=0.8")),
            Lang::Ru
        );
        assert_eq!(
            Lang::negotiate(None, None, None, Some("ja, fr;q=0.5, de;q=0.7")),
            Lang::De
        );
        assert_eq!(Lang::negotiate(None, None, None, Some("ja")), Lang::En);
        assert_eq!(Lang::negotiate(None, None, None, Some("de;q=0")), Lang::En);
    }

    #[test]
    fn every_language_translates_every_string() {
        for l in Lang::ALL {
            let t = text(l);
            for s in [
                t.title,
                t.save,
                t.unsubscribe_all,
                t.undo,
                t.saved,
                t.invalid_link,
            ] {
                assert!(!s.is_empty());
            }
            if l != Lang::En {
                assert_ne!(t.save, EN.save, "{l:?}");
                let w = words(l);
                for (a, b) in [
                    (w.pause_for, W_EN.pause_for),
                    (w.manage_title, W_EN.manage_title),
                    (w.confirm_button, W_EN.confirm_button),
                    (w.confirm_mail_body, W_EN.confirm_mail_body),
                ] {
                    assert_ne!(a, b, "{l:?}");
                }
                assert!(w.pause_for.contains("{n}") && w.paused_until.contains("{date}"));
                assert!(
                    w.confirm_mail_body.contains("{link}") && w.manage_mail_body.contains("{link}")
                );
            }
        }
    }
}
