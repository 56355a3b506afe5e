//! Translations for the recipient surface (en, ru, de, fr, es); the languages and their
//! negotiation are `domain::lang`.
//! Plain tables: the page has a few dozen strings, and they must be in the wasm bundle too.

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
            }
        }
    }
}
