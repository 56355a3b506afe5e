//! `optbox serve --demo`: a small list so a newcomer sees a working page at once.

use super::ServiceResult;
use crate::domain::{
    Branding, ContactList, EmailAddress, ListDefinition, SubscriptionStatus, Topic, TopicName,
};
use crate::server::store::{Audit, Source, Store, StoreError};

pub const DEMO_LIST: &str = "demo";
pub const DEMO_EMAIL: &str = "reader@example.com";

fn topic(name: &str, display: &str, description: &str, default: SubscriptionStatus) -> Topic {
    Topic {
        name: TopicName::parse(name).expect("literal"),
        display_name: display.into(),
        description: description.into(),
        default_status: default,
        hidden: false,
    }
}

/// Creates the demo list and contact unless they exist; returns the list.
pub async fn seed(store: &dyn Store) -> ServiceResult<ContactList> {
    let list = match store.get_list(DEMO_LIST).await {
        Ok(l) => l,
        Err(StoreError::NotFound) => {
            let def = ListDefinition {
                description: "The optbox demo list".into(),
                topics: vec![
                    topic(
                        "newsletter",
                        "Monthly newsletter",
                        "News and stories, once a month.",
                        SubscriptionStatus::OptIn,
                    ),
                    topic(
                        "product-updates",
                        "Product updates",
                        "Release notes and new features.",
                        SubscriptionStatus::OptIn,
                    ),
                    topic(
                        "offers",
                        "Offers",
                        "Occasional discounts.",
                        SubscriptionStatus::OptOut,
                    ),
                ],
                tags: vec![],
                branding: Branding {
                    display_name: Some("optbox demo".into()),
                    accent_color: Some("#2f6fdf".into()),
                    subscribe_form: true,
                    ..Default::default()
                },
            };
            let list = store.create_list(DEMO_LIST, &def, None).await?;
            // `optbox serve --demo` is the operator's command.
            super::lists::record_created(store, &list, &Audit::new(Source::Cli)).await?;
            list
        }
        Err(e) => return Err(e.into()),
    };
    let email = EmailAddress::parse(DEMO_EMAIL).expect("literal");
    super::contacts::ensure(store, &list, &email, &Audit::new(Source::Admin)).await?;
    Ok(list)
}
