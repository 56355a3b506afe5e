//! One conformance suite, run against SQLite and PostgreSQL: every store behaviour is one
//! test body invoked for each backend. A PostgreSQL that cannot be reached fails the run.
#![cfg(feature = "ssr")]

use crate::common;

use common::{TestDb, raw_sql};
use optbox::domain::*;
use optbox::server::store::*;

crate::common::on_each_backend!(
    store:
    lists_are_created_read_listed_and_deleted,
    duplicate_lists_conflict_and_strict_mode_caps_the_count,
    updating_topics_keeps_preferences_of_kept_topics,
    contacts_match_case_insensitively_on_the_domain_only,
    duplicate_contacts_conflict,
    merge_and_replace_updates_differ_and_changes_are_logged_once,
    deleting_a_contact_keeps_a_tombstone_that_wins_on_re_creation,
    a_tombstone_for_an_unknown_address_applies_when_it_is_added,
    deleting_a_list_removes_its_contacts,
    keyset_paging_visits_every_contact_once,
    filters_agree_with_the_effective_status_function,
    email_prefix_search_finds_matching_addresses,
    users_and_secrets_persist,
    events_page_backwards_and_filter,
    a_batch_of_opt_outs_commits_together_and_each_item_once,
    an_imported_row_naming_a_topic_twice_keeps_the_last,
    a_deleted_list_leaves_its_opt_outs_for_a_list_of_the_same_name,
    a_removed_topic_leaves_its_opt_outs_for_a_topic_of_the_same_name,
    concurrent_submissions_to_the_queue_commit_and_a_failing_one_fails_alone,
    an_address_reads_the_same_by_hash_and_on_every_list_at_once,
);

fn row(line: u64, e: &str, unsub: Option<bool>, prefs: &[(&str, SubscriptionStatus)]) -> ImportRow {
    ImportRow {
        line,
        email: email(e),
        unsubscribe_all: unsub,
        attributes: None,
        preferences: prefs.iter().map(|(t, s)| (tn(t), *s)).collect(),
    }
}

fn one_click(list: &ContactList, e: &str, topic: Option<&str>) -> OptOutItem {
    OptOutItem {
        list: std::sync::Arc::new(list.clone()),
        hash: email_hash(&email(e)),
        topic: topic.map(tn),
        audit: Audit::new(Source::UnsubscribeHeader),
    }
}

/// A list deleted and created again under its name: every way of adding an address
/// back (CreateContact, an import) finds its opt-outs, unless an import overrides them.
async fn a_deleted_list_leaves_its_opt_outs_for_a_list_of_the_same_name(s: DynStore) {
    let d = def(vec![topic("a", OptIn), topic("b", OptIn)]);
    let list = s.create_list("news", &d, None).await.unwrap();
    for e in ["ann@x.com", "bob@x.com", "cy@x.com", "dan@x.com"] {
        s.create_contact(&list, &new_contact(e, &[("b", OptIn)]), &api())
            .await
            .unwrap();
    }
    s.apply_opt_outs(
        &[
            one_click(&list, "ann@x.com", Some("a")),
            one_click(&list, "bob@x.com", None),
            one_click(&list, "cy@x.com", Some("a")),
            one_click(&list, "dan@x.com", Some("b")),
        ],
        None,
    )
    .await
    .unwrap();
    s.delete_list("news").await.unwrap();
    let again = s.create_list("news", &d, None).await.unwrap();

    let ann = s
        .create_contact(&again, &new_contact("ann@x.com", &[("a", OptIn)]), &api())
        .await
        .unwrap();
    assert_eq!(ann.explicit("a"), Some(OptOut));
    let done = s
        .import_batch(
            &again,
            ImportAction::Put,
            &[
                row(2, "bob@x.com", Some(false), &[]),
                row(3, "cy@x.com", None, &[("a", OptIn)]),
            ],
            false,
            &api(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.opt_outs_kept, 2);
    assert!(
        s.get_contact(&again, &email("bob@x.com"))
            .await
            .unwrap()
            .unsubscribe_all
    );
    assert_eq!(
        s.get_contact(&again, &email("cy@x.com"))
            .await
            .unwrap()
            .explicit("a"),
        Some(OptOut)
    );
    // The one way back for an operator: an import that overrides, logged per contact.
    let done = s
        .import_batch(
            &again,
            ImportAction::Put,
            &[row(2, "dan@x.com", None, &[("b", OptIn)])],
            true,
            &api(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(done.opt_outs_overridden, 1);
    assert_eq!(
        s.get_contact(&again, &email("dan@x.com"))
            .await
            .unwrap()
            .explicit("b"),
        Some(OptIn)
    );
    let logged = s
        .list_events(Some("news"), Some("subscription"), None, 50)
        .await
        .unwrap()
        .into_iter()
        .any(|e| {
            e.detail.contains("overrideOptOuts") && e.contact_email.as_deref() == Some("dan@x.com")
        });
    assert!(logged, "the override is in the event log");
    // Another list of another name knows nothing of them.
    let other = s.create_list("other", &d, None).await.unwrap();
    let c = s
        .create_contact(&other, &new_contact("bob@x.com", &[]), &api())
        .await
        .unwrap();
    assert!(!c.unsubscribe_all);
}

/// A topic removed and added again under its name (even with the default OPT_IN) gets
/// back the opt-outs of its contacts, including those deleted and added again, by
/// CreateContact or an import, while it was gone.
async fn a_removed_topic_leaves_its_opt_outs_for_a_topic_of_the_same_name(s: DynStore) {
    let with = def(vec![topic("a", OptOut), topic("b", OptIn)]);
    let without = def(vec![topic("b", OptIn)]);
    let list = s.create_list("l", &with, None).await.unwrap();
    for e in ["ann@x.com", "bob@x.com", "cy@x.com", "dan@x.com"] {
        let p: &[(&str, SubscriptionStatus)] = if e == "dan@x.com" {
            &[("a", OptIn)]
        } else {
            &[("a", OptOut)]
        };
        s.create_contact(&list, &new_contact(e, p), &api())
            .await
            .unwrap();
    }
    let list = s.update_list("l", &without).await.unwrap();
    // bob: deleted and added again by CreateContact while the topic is gone.
    s.delete_contact(&list, &email("bob@x.com"), &api())
        .await
        .unwrap();
    s.create_contact(&list, &new_contact("bob@x.com", &[]), &api())
        .await
        .unwrap();
    // cy: deleted and added again by imports.
    for action in [ImportAction::Delete, ImportAction::Put] {
        s.import_batch(
            &list,
            action,
            &[row(2, "cy@x.com", None, &[])],
            false,
            &api(),
            None,
        )
        .await
        .unwrap();
    }
    // The topic comes back, now subscribed by default.
    let mut back = def(vec![topic("a", OptIn), topic("b", OptIn)]);
    back.description = "again".into();
    let list = s.update_list("l", &back).await.unwrap();
    let a = list.topic("a").unwrap().clone();
    for e in ["ann@x.com", "bob@x.com", "cy@x.com"] {
        let c = s.get_contact(&list, &email(e)).await.unwrap();
        assert_eq!(c.status_for(&a), OptOut, "{e}: {c:?}");
    }
    // dan had opted in: the new default applies to him like to anyone new.
    let dan = s.get_contact(&list, &email("dan@x.com")).await.unwrap();
    assert_eq!(dan.status_for(&a), OptIn);
    // Nothing is left over once the opt-outs are back on their contacts.
    for e in ["ann@x.com", "bob@x.com", "cy@x.com"] {
        assert!(
            s.get_tombstone(&list, &email_hash(&email(e)))
                .await
                .unwrap()
                .is_none(),
            "{e}"
        );
    }
}

/// New contacts' preferences are inserted without an upsert, so a row that names a topic
/// twice (a CSV with a repeated column) must reach the store as one preference.
async fn an_imported_row_naming_a_topic_twice_keeps_the_last(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    let row = ImportRow {
        line: 2,
        email: email("x@example.com"),
        unsubscribe_all: None,
        attributes: None,
        preferences: vec![(tn("a"), OptIn), (tn("a"), OptOut)],
    };
    let done = s
        .import_batch(&list, ImportAction::Put, &[row], false, &api(), None)
        .await
        .unwrap();
    assert_eq!(done.created, 1);
    let c = s.get_contact(&list, &email("x@example.com")).await.unwrap();
    assert_eq!(c.explicit("a"), Some(OptOut));
}

fn topic(name: &str, default: SubscriptionStatus) -> Topic {
    Topic {
        name: TopicName::parse(name).unwrap(),
        display_name: format!("Topic {name}"),
        description: String::new(),
        default_status: default,
        hidden: false,
    }
}

fn def(topics: Vec<Topic>) -> ListDefinition {
    ListDefinition {
        description: "d".into(),
        topics,
        ..Default::default()
    }
}

fn email(s: &str) -> EmailAddress {
    EmailAddress::parse(s).unwrap()
}

fn tn(s: &str) -> TopicName {
    TopicName::parse(s).unwrap()
}

fn new_contact(e: &str, prefs: &[(&str, SubscriptionStatus)]) -> NewContact {
    NewContact {
        email: email(e),
        unsubscribe_all: false,
        preferences: prefs.iter().map(|(t, s)| (tn(t), *s)).collect(),
        attributes: String::new(),
    }
}

fn api() -> Audit {
    Audit::new(Source::Api)
}

use SubscriptionStatus::{OptIn, OptOut};
use optbox::server::store::OptOut as OptOutItem;

async fn lists_are_created_read_listed_and_deleted(s: DynStore) {
    let mut d = def(vec![topic("news", OptIn), topic("offers", OptOut)]);
    d.tags = vec![Tag {
        key: "team".into(),
        value: "growth".into(),
    }];
    d.branding.display_name = Some("Шлюз News".into());
    let created = s.create_list("weekly", &d, None).await.unwrap();
    assert_eq!(created.name.as_str(), "weekly");
    assert_eq!(created.topics.len(), 2);
    let got = s.get_list("weekly").await.unwrap();
    assert_eq!(got, created);
    assert_eq!(got.topics[1].default_status, OptOut);
    assert_eq!(got.tags[0].value, "growth");
    assert_eq!(got.branding.display_name.as_deref(), Some("Шлюз News"));
    assert_eq!(
        s.get_list_by_id(got.id).await.unwrap().name.as_str(),
        "weekly"
    );
    s.create_list("alpha", &def(vec![]), None).await.unwrap();
    let names: Vec<String> = s
        .list_lists(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["alpha", "weekly"]);
    let after: Vec<String> = s
        .list_lists(Some("alpha"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(after, ["weekly"]);
    s.delete_list("weekly").await.unwrap();
    assert!(matches!(
        s.get_list("weekly").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_list("weekly").await,
        Err(StoreError::NotFound)
    ));
}

async fn duplicate_lists_conflict_and_strict_mode_caps_the_count(s: DynStore) {
    s.create_list("a", &def(vec![]), None).await.unwrap();
    assert!(matches!(
        s.create_list("a", &def(vec![]), None).await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.create_list("b", &def(vec![]), Some(1)).await,
        Err(StoreError::LimitReached)
    ));
    s.create_list("b", &def(vec![]), Some(2)).await.unwrap();
}

async fn updating_topics_keeps_preferences_of_kept_topics(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn), topic("b", OptIn)]), None)
        .await
        .unwrap();
    s.create_contact(
        &list,
        &new_contact("x@example.com", &[("a", OptOut), ("b", OptOut)]),
        &api(),
    )
    .await
    .unwrap();
    let mut d = def(vec![topic("c", OptOut), topic("a", OptOut)]);
    d.description = "new".into();
    let list = s.update_list("l", &d).await.unwrap();
    assert_eq!(list.description, "new");
    let names: Vec<&str> = list.topics.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["c", "a"]);
    assert_eq!(list.topics[1].default_status, OptOut);
    let c = s.get_contact(&list, &email("x@example.com")).await.unwrap();
    assert_eq!(
        c.preferences,
        vec![TopicPreference {
            topic: tn("a"),
            status: OptOut
        }]
    );
    assert!(matches!(
        s.update_list("missing", &d).await,
        Err(StoreError::NotFound)
    ));
}

async fn contacts_match_case_insensitively_on_the_domain_only(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    let c = s
        .create_contact(&list, &new_contact("Ann@Example.COM", &[]), &api())
        .await
        .unwrap();
    assert_eq!(c.email.as_str(), "Ann@Example.COM");
    let same = s
        .get_contact(&list, &email("Ann@example.com"))
        .await
        .unwrap();
    assert_eq!(same.id, c.id);
    assert!(matches!(
        s.get_contact(&list, &email("ann@example.com")).await,
        Err(StoreError::NotFound)
    ));
    let by_hash = s
        .get_contact_by_hash(&list, &email_hash(&email("Ann@EXAMPLE.com")))
        .await
        .unwrap();
    assert_eq!(by_hash.id, c.id);
}

/// The recipient pages' reads (by address hash; an address's contacts on every list at
/// once) return what `get_contact` does, each contact with only its own preferences.
async fn an_address_reads_the_same_by_hash_and_on_every_list_at_once(s: DynStore) {
    let d = def(vec![
        topic("a", OptIn),
        topic("b", OptOut),
        topic("c", OptIn),
    ]);
    let (l1, l2, l3) = (
        s.create_list("l1", &d, None).await.unwrap(),
        s.create_list("l2", &d, None).await.unwrap(),
        s.create_list("l3", &d, None).await.unwrap(),
    );
    let ann = "Ann@Example.com";
    s.create_contact(
        &l3,
        &new_contact(ann, &[("a", OptOut), ("b", OptIn)]),
        &api(),
    )
    .await
    .unwrap();
    s.create_contact(&l1, &new_contact(ann, &[]), &api())
        .await
        .unwrap();
    s.create_contact(
        &l2,
        &new_contact("bob@example.com", &[("c", OptOut)]),
        &api(),
    )
    .await
    .unwrap();
    s.create_contact(
        &l1,
        &new_contact("bob@example.com", &[("a", OptOut)]),
        &api(),
    )
    .await
    .unwrap();
    let hash = email_hash(&email(ann));
    let all = s.contacts_of_address(&hash).await.unwrap();
    let names: Vec<&str> = all.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(names, ["l1", "l3"]);
    for (list, (_, c)) in [&l1, &l3].into_iter().zip(&all) {
        let by_email = s.get_contact(list, &email(ann)).await.unwrap();
        let by_hash = s.get_contact_by_hash(list, &hash).await.unwrap();
        assert_eq!(c, &by_email);
        assert_eq!(&by_hash, &by_email);
    }
    let prefs: Vec<(String, SubscriptionStatus)> = all[1]
        .1
        .preferences
        .iter()
        .map(|p| (p.topic.to_string(), p.status))
        .collect();
    assert_eq!(prefs, [("a".into(), OptOut), ("b".into(), OptIn)]);
    assert!(all[0].1.preferences.is_empty());
    let nobody = email_hash(&email("nobody@example.com"));
    assert!(s.contacts_of_address(&nobody).await.unwrap().is_empty());
    assert!(matches!(
        s.get_contact_by_hash(&l2, &hash).await,
        Err(StoreError::NotFound)
    ));
}

async fn duplicate_contacts_conflict(s: DynStore) {
    let list = s.create_list("l", &def(vec![]), None).await.unwrap();
    s.create_contact(&list, &new_contact("a@example.com", &[]), &api())
        .await
        .unwrap();
    assert!(matches!(
        s.create_contact(&list, &new_contact("a@EXAMPLE.com", &[]), &api())
            .await,
        Err(StoreError::Conflict)
    ));
}

async fn merge_and_replace_updates_differ_and_changes_are_logged_once(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn), topic("b", OptIn)]), None)
        .await
        .unwrap();
    let e = email("a@example.com");
    s.create_contact(
        &list,
        &new_contact("a@example.com", &[("a", OptOut)]),
        &api(),
    )
    .await
    .unwrap();
    let merge = ContactChange {
        unsubscribe_all: None,
        preferences: Some((PrefMode::Merge, vec![(tn("b"), OptOut)])),
        attributes: None,
    };
    let (old, new) = s.update_contact(&list, &e, &merge, &api()).await.unwrap();
    assert_eq!(old.preferences.len(), 1);
    assert_eq!(new.explicit("a"), Some(OptOut));
    assert_eq!(new.explicit("b"), Some(OptOut));
    // The same change again changes nothing and logs nothing.
    s.update_contact(&list, &e, &merge, &api()).await.unwrap();
    let events = s
        .list_events(Some("l"), Some("subscription"), None, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "one event for one change: {events:?}");
    assert_eq!(events[0].topic_name.as_deref(), Some("b"));
    assert_eq!(events[0].source.as_deref(), Some("Api"));
    let old_p: Preferences = serde_json::from_str(events[0].old_prefs.as_ref().unwrap()).unwrap();
    let new_p: Preferences = serde_json::from_str(events[0].new_prefs.as_ref().unwrap()).unwrap();
    assert_eq!(old_p.topics.len(), 1);
    assert_eq!(new_p.topics.len(), 2);
    let replace = ContactChange {
        unsubscribe_all: Some(true),
        preferences: Some((PrefMode::Replace, vec![(tn("b"), OptIn)])),
        attributes: Some(r#"{"language":"de"}"#.into()),
    };
    let (_, new) = s.update_contact(&list, &e, &replace, &api()).await.unwrap();
    assert_eq!(new.explicit("a"), None);
    assert_eq!(new.explicit("b"), Some(OptIn));
    assert!(new.unsubscribe_all);
    assert_eq!(new.attributes, r#"{"language":"de"}"#);
    assert!(new.updated_at >= old.updated_at);
    assert!(matches!(
        s.update_contact(&list, &email("nobody@example.com"), &merge, &api())
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn deleting_a_contact_keeps_a_tombstone_that_wins_on_re_creation(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn), topic("b", OptIn)]), None)
        .await
        .unwrap();
    let e = email("gone@example.com");
    s.create_contact(
        &list,
        &new_contact("gone@example.com", &[("a", OptOut), ("b", OptIn)]),
        &api(),
    )
    .await
    .unwrap();
    s.delete_contact(&list, &e, &api()).await.unwrap();
    assert!(matches!(
        s.get_contact(&list, &e).await,
        Err(StoreError::NotFound)
    ));
    let t = s
        .get_tombstone(&list, &email_hash(&e))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.opted_out_topics, vec![tn("a")]);
    // Re-adding with an explicit OPT_IN must not resubscribe.
    let c = s
        .create_contact(
            &list,
            &new_contact("gone@example.com", &[("a", OptIn)]),
            &api(),
        )
        .await
        .unwrap();
    assert_eq!(c.explicit("a"), Some(OptOut));
    // A contact without opt-outs leaves no tombstone.
    let f = email("fine@example.com");
    s.create_contact(
        &list,
        &new_contact("fine@example.com", &[("a", OptIn)]),
        &api(),
    )
    .await
    .unwrap();
    s.delete_contact(&list, &f, &api()).await.unwrap();
    assert!(
        s.get_tombstone(&list, &email_hash(&f))
            .await
            .unwrap()
            .is_none()
    );
    let kinds: Vec<String> = s
        .list_events(Some("l"), None, None, 20)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"contact.deleted".to_string()));
}

async fn a_tombstone_for_an_unknown_address_applies_when_it_is_added(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    let e = email("stranger@example.com");
    let tomb = Tombstone {
        unsubscribe_all: true,
        opted_out_topics: vec![],
    };
    s.record_tombstone(
        &list,
        &email_hash(&e),
        &tomb,
        &Audit::new(Source::UnsubscribeHeader),
    )
    .await
    .unwrap();
    // Recording the same opt-out again writes no second event.
    s.record_tombstone(
        &list,
        &email_hash(&e),
        &tomb,
        &Audit::new(Source::UnsubscribeHeader),
    )
    .await
    .unwrap();
    let evs = s
        .list_events(Some("l"), Some("subscription"), None, 10)
        .await
        .unwrap();
    assert_eq!(evs.len(), 1);
    let c = s
        .create_contact(&list, &new_contact("stranger@example.com", &[]), &api())
        .await
        .unwrap();
    assert!(c.unsubscribe_all);
    assert_eq!(c.status_for(&list.topics[0]), OptOut);
}

async fn deleting_a_list_removes_its_contacts(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    s.create_contact(
        &list,
        &new_contact("a@example.com", &[("a", OptOut)]),
        &api(),
    )
    .await
    .unwrap();
    assert_eq!(s.count_contacts(list.id).await.unwrap(), 1);
    let stats = s.list_stats(10).await.unwrap();
    assert_eq!(
        stats,
        vec![ListStats {
            name: "l".into(),
            topics: 1,
            contacts: 1
        }]
    );
    s.delete_list("l").await.unwrap();
    assert_eq!(s.count_contacts(list.id).await.unwrap(), 0);
    let again = s
        .create_list("l", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    assert_eq!(s.count_contacts(again.id).await.unwrap(), 0);
}

async fn keyset_paging_visits_every_contact_once(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    for i in 0..25 {
        s.create_contact(
            &list,
            &new_contact(&format!("u{i:02}@example.com"), &[("a", OptOut)]),
            &api(),
        )
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s
            .list_contacts(&list, &ContactFilter::default(), after, 10)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        assert!(
            page.iter().all(|c| c.explicit("a") == Some(OptOut)),
            "preferences come with each page"
        );
        after = page.last().map(|c| c.id);
        seen.extend(page.into_iter().map(|c| c.email.as_str().to_owned()));
    }
    assert_eq!(seen.len(), 25);
    let mut dedup = seen.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), 25);
}

async fn filters_agree_with_the_effective_status_function(s: DynStore) {
    let list = s
        .create_list(
            "l",
            &def(vec![topic("in", OptIn), topic("out", OptOut)]),
            None,
        )
        .await
        .unwrap();
    // Every combination of UnsubscribeAll and explicit preference on both topics.
    let choices = [None, Some(OptIn), Some(OptOut)];
    let mut n = 0;
    for unsub in [false, true] {
        for p_in in choices {
            for p_out in choices {
                let mut prefs = vec![];
                if let Some(p) = p_in {
                    prefs.push(("in", p));
                }
                if let Some(p) = p_out {
                    prefs.push(("out", p));
                }
                let mut nc = new_contact(&format!("c{n}@example.com"), &prefs);
                nc.unsubscribe_all = unsub;
                s.create_contact(&list, &nc, &api()).await.unwrap();
                n += 1;
            }
        }
    }
    let all = s
        .list_contacts(&list, &ContactFilter::default(), None, 1000)
        .await
        .unwrap();
    assert_eq!(all.len(), n);
    for t in &list.topics {
        for status in [OptIn, OptOut] {
            for use_default in [true, false] {
                let f = ContactFilter {
                    status: Some(status),
                    topic: Some(TopicFilter {
                        topic: t.name.clone(),
                        use_default,
                    }),
                    email_prefix: None,
                    after_key: None,
                };
                let got: Vec<i64> = s
                    .list_contacts(&list, &f, None, 1000)
                    .await
                    .unwrap()
                    .iter()
                    .map(|c| c.id)
                    .collect();
                let want: Vec<i64> = all
                    .iter()
                    .filter(|c| {
                        (use_default || c.explicit(t.name.as_str()).is_some())
                            && c.status_for(t) == status
                    })
                    .map(|c| c.id)
                    .collect();
                assert_eq!(
                    got, want,
                    "topic {} status {status} use_default {use_default}",
                    t.name
                );
            }
        }
    }
    for status in [OptIn, OptOut] {
        let f = ContactFilter {
            status: Some(status),
            topic: None,
            email_prefix: None,
            after_key: None,
        };
        let got = s.list_contacts(&list, &f, None, 1000).await.unwrap();
        assert_eq!(got.len(), n / 2);
        assert!(got.iter().all(|c| c.unsubscribe_all == (status == OptOut)));
    }
}

async fn email_prefix_search_finds_matching_addresses(s: DynStore) {
    let list = s.create_list("l", &def(vec![]), None).await.unwrap();
    for e in ["anna@example.com", "andy@example.com", "bob@example.com"] {
        s.create_contact(&list, &new_contact(e, &[]), &api())
            .await
            .unwrap();
    }
    let f = ContactFilter {
        email_prefix: Some("an".into()),
        ..Default::default()
    };
    let got: Vec<String> = s
        .list_contacts(&list, &f, None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.email.to_string())
        .collect();
    // A prefix search lists in matching-key order (a range of the address index).
    assert_eq!(got, ["andy@example.com", "anna@example.com"]);
}

async fn users_and_secrets_persist(s: DynStore) {
    assert_eq!(s.count_users().await.unwrap(), 0);
    let u = s
        .create_user("op@example.com", "owner", "$argon2id$x")
        .await
        .unwrap();
    assert_eq!(s.get_user_by_email("op@example.com").await.unwrap(), u);
    assert_eq!(s.get_user(u.id).await.unwrap().role, "owner");
    assert!(matches!(
        s.create_user("op@example.com", "viewer", "h").await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        s.get_user_by_email("x@example.com").await,
        Err(StoreError::NotFound)
    ));
    let first = s.secret("k", b"one").await.unwrap();
    let second = s.secret("k", b"two").await.unwrap();
    assert_eq!(first, b"one");
    assert_eq!(second, b"one");
    s.ping().await.unwrap();
}

async fn events_page_backwards_and_filter(s: DynStore) {
    let list = s.create_list("l", &def(vec![]), None).await.unwrap();
    let other = s.create_list("m", &def(vec![]), None).await.unwrap();
    for i in 0..5 {
        s.create_contact(
            &list,
            &new_contact(&format!("e{i}@example.com"), &[]),
            &api(),
        )
        .await
        .unwrap();
    }
    s.create_contact(&other, &new_contact("z@example.com", &[]), &api())
        .await
        .unwrap();
    let first = s.list_events(Some("l"), None, None, 3).await.unwrap();
    assert_eq!(first.len(), 3);
    assert!(first.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let rest = s
        .list_events(Some("l"), None, Some(first[2].id), 10)
        .await
        .unwrap();
    assert_eq!(rest.len(), 2);
    assert!(
        rest.iter()
            .all(|e| e.kind == "contact.created" && e.list_name.as_deref() == Some("l"))
    );
    assert_eq!(
        s.list_events(None, Some("contact.created"), None, 100)
            .await
            .unwrap()
            .len(),
        6
    );
}

fn queued(send_id: i64, rcpt: &str) -> NewMail {
    NewMail {
        send_id,
        message_id: format!("m{send_id}@example.com"),
        mail_from: "news@example.com".into(),
        rcpt: rcpt.into(),
        data: format!("Subject: {send_id}\r\n\r\nbody\r\n").into_bytes(),
        state: MailState::Outbox,
        send: Default::default(),
    }
}

/// Submissions that arrive together are committed together (SQLite's group commit), each
/// on its own: one that fails (its send record id is taken) leaves nothing behind and
/// takes none of the others with it.
async fn concurrent_submissions_to_the_queue_commit_and_a_failing_one_fails_alone(s: DynStore) {
    s.enqueue_mail(&[queued(7, "first@example.com")])
        .await
        .unwrap();
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                let msgs = if i == 20 {
                    // Two copies; the second reuses a taken send record id.
                    vec![queued(1000, "a@example.com"), queued(7, "b@example.com")]
                } else {
                    vec![queued(100 + i, &format!("r{i}@example.com"))]
                };
                s.enqueue_mail(&msgs).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap());
    }
    for (i, r) in results.iter().enumerate() {
        if i == 20 {
            assert!(r.is_err(), "a taken send record id fails: {r:?}");
        } else {
            assert_eq!(r.as_ref().unwrap().len(), 1, "submission {i}: {r:?}");
        }
    }
    let rows = s.list_mail(None, None, 1000).await.unwrap();
    assert_eq!(rows.len(), 40, "the first, then 39 of the 40: {rows:?}");
    assert!(
        !rows
            .iter()
            .any(|m| m.rcpt == "a@example.com" || m.rcpt == "b@example.com"),
        "nothing of the failed submission is left"
    );
    let mut ids: Vec<i64> = rows.iter().map(|m| m.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 40);
}

async fn a_batch_of_opt_outs_commits_together_and_each_item_once(s: DynStore) {
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn), topic("b", OptIn)]), None)
        .await
        .unwrap();
    s.create_contact(&list, &new_contact("x@example.com", &[]), &api())
        .await
        .unwrap();
    s.create_contact(&list, &new_contact("y@example.com", &[]), &api())
        .await
        .unwrap();
    let item = |e: &str, t: Option<&str>| OptOutItem {
        list: list.clone().into(),
        hash: email_hash(&email(e)),
        topic: t.map(tn),
        audit: Audit::new(Source::UnsubscribeHeader),
    };
    let mut other_list = list.clone();
    // The list was deleted since the token was read: the opt-out is kept for its name.
    other_list.id = -1;
    let batch = vec![
        item("x@example.com", Some("a")),
        item("x@example.com", Some("a")),
        item("y@example.com", None),
        item("gone@example.com", Some("b")),
        OptOutItem {
            list: other_list.into(),
            ..item("z@example.com", None)
        },
    ];
    let results = s.apply_opt_outs(&batch, None).await.unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    assert!(
        s.get_tombstone(&list, &email_hash(&email("z@example.com")))
            .await
            .unwrap()
            .is_some_and(|t| t.unsubscribe_all),
        "an opt-out for a list deleted meanwhile is kept for its name"
    );
    let x = s.get_contact(&list, &email("x@example.com")).await.unwrap();
    assert_eq!(x.explicit("a"), Some(OptOut));
    assert_eq!(x.explicit("b"), None);
    assert!(
        s.get_contact(&list, &email("y@example.com"))
            .await
            .unwrap()
            .unsubscribe_all
    );
    let t = s
        .get_tombstone(&list, &email_hash(&email("gone@example.com")))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.opted_out_topics, vec![tn("b")]);
    let evs = s
        .list_events(Some("l"), Some("subscription"), None, 20)
        .await
        .unwrap();
    assert_eq!(evs.len(), 4, "x once, y once, each tombstone once: {evs:?}");
    assert!(
        evs.iter()
            .all(|e| e.source.as_deref() == Some("UnsubscribeHeader"))
    );
}

/// SQLite only: WAL checkpoints run on a connection of their own, not on the writer at
/// each commit. The writer's own threshold is 16,384 pages (64 MiB), so the few hundred
/// commits here would leave every page in the WAL and the database file as the migrations
/// left it; the background checkpointer copies them in within a fraction of a second.
#[tokio::test]
async fn sqlite_checkpoints_the_wal_in_the_background() {
    let db = TestDb::new("sqlite").await;
    let s = db.store().await;
    let path = db.url.strip_prefix("sqlite://").unwrap().to_owned();
    let size = || std::fs::metadata(&path).unwrap().len();
    let list = s
        .create_list("shop", &def(vec![topic("news", OptIn)]), None)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let before = size();
    for i in 0..300 {
        s.create_contact(
            &list,
            &new_contact(&format!("user{i}@example.com"), &[("news", OptOut)]),
            &api(),
        )
        .await
        .unwrap();
    }
    let wal = std::fs::metadata(format!("{path}-wal")).unwrap().len();
    assert!(
        wal > 256 * 1024,
        "the commits went to the WAL ({wal} bytes)"
    );
    let mut grew = 0;
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        grew = size().saturating_sub(before);
        if grew >= 100 * 1024 {
            break;
        }
    }
    assert!(
        grew >= 100 * 1024,
        "the database file grew by {grew} bytes: the WAL was not checkpointed"
    );
    db.cleanup().await;
}

/// Runs raw SQL against a test database and returns the first column of the first row.
async fn scalar(url: &str, sql: &str) -> i64 {
    if url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    } else {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
        pool.close().await;
        n
    }
}

/// Preferences have no foreign keys on PostgreSQL (they made imports 30–50% slower):
/// deleting a contact, a topic, an imported address or a list must remove its
/// preferences all the same, on both backends.
#[tokio::test]
async fn deletes_remove_preferences_without_relying_on_foreign_keys() {
    for backend in ["sqlite", "postgres"] {
        let db = TestDb::new(backend).await;
        let s = db.store().await;
        let prefs = |sql: &'static str| {
            let url = db.url.clone();
            async move {
                scalar(
                    &url,
                    &format!("SELECT COUNT(*) FROM contact_topic_prefs {sql}"),
                )
                .await
            }
        };
        let topics = vec![topic("a", OptIn), topic("b", OptIn), topic("c", OptOut)];
        let list = s.create_list("l", &def(topics), None).await.unwrap();
        let x = s
            .create_contact(
                &list,
                &new_contact("x@example.com", &[("a", OptOut), ("b", OptIn)]),
                &api(),
            )
            .await
            .unwrap();
        let y = s
            .create_contact(
                &list,
                &new_contact("y@example.com", &[("a", OptIn), ("c", OptIn)]),
                &api(),
            )
            .await
            .unwrap();
        s.create_contact(
            &list,
            &new_contact("z@example.com", &[("b", OptOut)]),
            &api(),
        )
        .await
        .unwrap();
        assert_eq!(prefs("").await, 5, "{backend}");

        s.delete_contact(&list, &email("x@example.com"), &api())
            .await
            .unwrap();
        let of_x = format!("WHERE contact_id = {}", x.id);
        assert_eq!(
            scalar(
                &db.url,
                &format!("SELECT COUNT(*) FROM contact_topic_prefs {of_x}")
            )
            .await,
            0,
            "{backend}: a deleted contact's preferences"
        );

        let b_id = scalar(&db.url, "SELECT id FROM topics WHERE name = 'b'").await;
        s.update_list("l", &def(vec![topic("a", OptIn), topic("c", OptOut)]))
            .await
            .unwrap();
        assert_eq!(
            scalar(
                &db.url,
                &format!("SELECT COUNT(*) FROM contact_topic_prefs WHERE topic_id = {b_id}")
            )
            .await,
            0,
            "{backend}: a removed topic's preferences"
        );

        let list = s.get_list("l").await.unwrap();
        let row = ImportRow {
            line: 2,
            email: email("y@example.com"),
            unsubscribe_all: None,
            attributes: None,
            preferences: Vec::new(),
        };
        let done = s
            .import_batch(&list, ImportAction::Delete, &[row], false, &api(), None)
            .await
            .unwrap();
        assert_eq!(done.deleted, 1);
        assert_eq!(
            scalar(
                &db.url,
                &format!(
                    "SELECT COUNT(*) FROM contact_topic_prefs WHERE contact_id = {}",
                    y.id
                )
            )
            .await,
            0,
            "{backend}: preferences of an address deleted by an import"
        );

        s.create_contact(
            &list,
            &new_contact("w@example.com", &[("a", OptOut), ("c", OptIn)]),
            &api(),
        )
        .await
        .unwrap();
        assert_eq!(prefs("").await, 2, "{backend}");
        s.delete_list("l").await.unwrap();
        assert_eq!(
            prefs("").await,
            0,
            "{backend}: a deleted list's preferences"
        );
        db.cleanup().await;
    }
}

/// Without foreign keys a race with a delete on PostgreSQL can leave a preference whose
/// topic or contact is gone. Such a row is no one's preference: reads skip it.
#[tokio::test]
async fn postgres_reads_skip_preferences_of_deleted_topics_and_contacts() {
    let db = TestDb::new("postgres").await;
    let s = db.store().await;
    let list = s
        .create_list("l", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    let c = s
        .create_contact(
            &list,
            &new_contact("x@example.com", &[("a", OptOut)]),
            &api(),
        )
        .await
        .unwrap();
    let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
    sqlx::raw_sql(&format!(
        "INSERT INTO contact_topic_prefs (contact_id, topic_id, opt_in) VALUES ({0}, 987654, false), ({0} + 1000, 987654, true)",
        c.id
    ))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let got = s.get_contact(&list, &email("x@example.com")).await.unwrap();
    assert_eq!(got.preferences, c.preferences);
    let page = s
        .list_contacts(&list, &ContactFilter::default(), None, 10)
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].preferences, c.preferences);
    let by_prefix = s
        .list_contacts(
            &list,
            &ContactFilter {
                email_prefix: Some("x".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(by_prefix[0].preferences, c.preferences);
    db.cleanup().await;
}

/// One event model: each event names who acted (with the actor's id), the message that
/// caused it, and its contact by a keyed hash, with the address kept apart: forgetting
/// the address leaves every event in place, found by the address's key, without it.
#[tokio::test]
async fn events_name_their_actor_and_message_and_keep_the_address_apart() {
    for backend in ["sqlite", "postgres"] {
        let db = TestDb::new(backend).await;
        let s = db.store().await;
        let list = s.create_list("l", &def(vec![]), None).await.unwrap();
        let who = email("Ann@Example.com");
        s.create_contact(
            &list,
            &new_contact(who.as_str(), &[]),
            &Audit::new(Source::Api).by("AKIDEXAMPLE"),
        )
        .await
        .unwrap();
        let change = ContactChange {
            unsubscribe_all: Some(true),
            preferences: None,
            attributes: None,
        };
        s.update_contact(&list, &who, &change, &Audit::new(Source::Admin).by("7"))
            .await
            .unwrap();
        s.log_mail_events(
            &Audit::new(Source::Send).by("AKIDEXAMPLE").caused_by("m-1"),
            &[MailEvent {
                kind: "reject",
                list_name: Some("l"),
                topic_name: None,
                contact_email: Some(who.as_str()),
                detail: serde_json::json!({ "messageId": "m-1" }),
            }],
        )
        .await
        .unwrap();
        let by_contact = |c: &str| EventQuery {
            contact: Some(c.into()),
            limit: 10,
            ..Default::default()
        };
        // The domain matches in any case, as SES matches addresses.
        let evs = s
            .query_events(&by_contact("Ann@EXAMPLE.COM"))
            .await
            .unwrap();
        let kinds: Vec<&str> = evs.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["reject", "subscription", "contact.created"],
            "{backend}"
        );
        let actors: Vec<(Option<&str>, Option<&str>)> = evs
            .iter()
            .map(|e| (e.actor.as_deref(), e.actor_id.as_deref()))
            .collect();
        assert_eq!(
            actors,
            [
                (Some("api_key"), Some("AKIDEXAMPLE")),
                (Some("user"), Some("7")),
                (Some("api_key"), Some("AKIDEXAMPLE")),
            ]
        );
        assert_eq!(evs[0].message_id.as_deref(), Some("m-1"));
        assert_eq!(evs[1].message_id, None);
        assert!(
            evs.iter()
                .all(|e| e.contact_email.as_deref() == Some("Ann@Example.com"))
        );
        // The address is stored once, apart from the log; the log holds only its key.
        assert_eq!(
            scalar(&db.url, "SELECT COUNT(*) FROM event_contacts").await,
            1
        );
        assert_eq!(
            scalar(
                &db.url,
                "SELECT COUNT(*) FROM events WHERE contact_email IS NOT NULL"
            )
            .await,
            0
        );
        assert_eq!(s.forget_event_contact(&who).await.unwrap(), 1);
        assert_eq!(s.forget_event_contact(&who).await.unwrap(), 0);
        let after = s.query_events(&by_contact(who.as_str())).await.unwrap();
        assert_eq!(after.len(), 3, "the events stay");
        assert!(after.iter().all(|e| e.contact_email.is_none()));
        db.cleanup().await;
    }
}

/// Events written before the event model kept their address in the log itself: opening
/// the store moves it apart (keyed like new events) and the log reads as before.
#[tokio::test]
async fn opening_the_store_moves_addresses_of_older_events_apart() {
    for backend in ["sqlite", "postgres"] {
        let db = TestDb::new(backend).await;
        let s = db.store().await;
        let list = s.create_list("l", &def(vec![]), None).await.unwrap();
        s.create_contact(&list, &new_contact("new@example.com", &[]), &api())
            .await
            .unwrap();
        drop(s);
        let insert = "INSERT INTO events (created_at, kind, source, list_name, contact_email, detail) \
                      VALUES (1, 'contact.created', 'Api', 'l', 'old@example.com', '{}'), \
                      (2, 'contact.deleted', 'Api', 'l', 'old@example.com', '{}')";
        if backend == "sqlite" {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
        } else {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(insert).execute(&pool).await.unwrap();
            pool.close().await;
        }
        let s = db.store().await;
        assert_eq!(
            scalar(
                &db.url,
                "SELECT COUNT(*) FROM events WHERE contact_email IS NOT NULL"
            )
            .await,
            0,
            "{backend}"
        );
        assert_eq!(
            scalar(&db.url, "SELECT COUNT(*) FROM event_contacts").await,
            2
        );
        let old = s
            .query_events(&EventQuery {
                contact: Some("old@example.com".into()),
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(old.len(), 2);
        assert!(
            old.iter()
                .all(|e| e.contact_email.as_deref() == Some("old@example.com"))
        );
        drop(s);
        db.cleanup().await;
    }
}

async fn seal_everything(s: &DynStore) -> u64 {
    let mut n = 0;
    loop {
        let k = s.seal_events(1000).await.unwrap();
        n += k;
        if k == 0 {
            return n;
        }
    }
}

/// The event log's hash chain: every event is sealed once, even by two sealers at a
/// time; the chain verifies after an erasure and after pruning; and a changed, deleted
/// or unsealed record is named as the first broken seal.
async fn the_event_chain(backend: &str) {
    let db = TestDb::new(backend).await;
    let (s, other) = (db.store().await, db.store().await);
    let list = s
        .create_list("chained", &def(vec![topic("a", OptIn)]), None)
        .await
        .unwrap();
    for i in 0..30 {
        s.create_contact(&list, &new_contact(&format!("c{i}@x.com"), &[]), &api())
            .await
            .unwrap();
    }
    // Two sealers at once (two instances): each event sealed exactly once.
    let (a, b) = tokio::join!(seal_everything(&s), seal_everything(&other));
    assert_eq!(a + b, 30, "every event sealed once");
    let v = s.verify_chain(&[]).await.unwrap();
    assert_eq!(v.broken, None);
    assert_eq!((v.seals, v.checked, v.erased, v.unsealed), (30, 30, 0, 0));
    assert_eq!(v.head.as_ref().unwrap().seq, 30);

    // New events wait for the sealer, then extend the chain.
    s.create_contact(&list, &new_contact("late@x.com", &[]), &api())
        .await
        .unwrap();
    assert_eq!(s.verify_chain(&[]).await.unwrap().unsealed, 1);
    assert_eq!(seal_everything(&s).await, 1);
    let v = s.verify_chain(&[5, 31]).await.unwrap();
    assert_eq!((v.seals, v.broken.clone()), (31, None));
    assert_eq!(v.links_at.len(), 2);
    assert_eq!(v.links_at[1].1, v.head.as_ref().unwrap().link);

    // Tampering, each undone before the next.
    let url = &db.url;
    raw_sql(
        url,
        &[
            "CREATE TABLE seals_kept AS SELECT * FROM event_seals",
            "CREATE TABLE events_kept AS SELECT * FROM events",
        ],
    )
    .await;
    let restore = [
        "DELETE FROM event_seals",
        "INSERT INTO event_seals SELECT * FROM seals_kept",
        "DELETE FROM events",
        "INSERT INTO events SELECT * FROM events_kept",
    ];
    let seventh = "(SELECT event_id FROM event_seals WHERE seq = 7)";
    let cases: [(String, i64, &str); 5] = [
        (
            format!("UPDATE events SET list_name = 'other' WHERE id = {seventh}"),
            7,
            "content does not match",
        ),
        (
            format!("DELETE FROM events WHERE id = {seventh}"),
            7,
            "neither erased nor pruned",
        ),
        (
            "DELETE FROM event_seals WHERE seq = 7".into(),
            7,
            "is missing",
        ),
        (
            "UPDATE event_seals SET commitment = link WHERE seq = 7".into(),
            7,
            "does not follow",
        ),
        (
            "DELETE FROM event_seals WHERE seq = 31".into(),
            31,
            "its seal is gone",
        ),
    ];
    for (tamper, seq, why) in &cases {
        raw_sql(url, &[tamper.as_str()]).await;
        let v = s.verify_chain(&[]).await.unwrap();
        let broken = v.broken.unwrap_or_else(|| panic!("{tamper}: not detected"));
        assert_eq!(broken.seq, *seq, "{tamper}: {broken:?}");
        assert!(broken.reason.contains(why), "{tamper}: {broken:?}");
        raw_sql(url, &restore).await;
        assert_eq!(s.verify_chain(&[]).await.unwrap().broken, None, "restored");
    }

    // An erasure changes its subject's events and keeps their seals without salts.
    s.erase_subject(&email("c3@x.com"), &api()).await.unwrap();
    seal_everything(&s).await;
    let v = s.verify_chain(&[]).await.unwrap();
    assert_eq!(v.broken, None);
    assert_eq!(v.seals, 32, "the erasure is an event too");
    assert!(v.erased >= 1, "{v:?}");
    // Pruning every event keeps every seal, and the chain still verifies.
    let pruned = s.prune(None, Some(i64::MAX)).await.unwrap();
    assert_eq!(pruned.events, 32);
    let v = s.verify_chain(&[]).await.unwrap();
    assert_eq!(v.broken, None);
    assert_eq!((v.seals, v.checked, v.erased), (32, 0, 32));
    db.cleanup().await;
}

#[tokio::test]
async fn the_event_chain_on_sqlite() {
    the_event_chain("sqlite").await;
}

#[tokio::test]
async fn the_event_chain_on_postgres() {
    the_event_chain("postgres").await;
}

/// A tombstone keeps a keyed hash of the address (HMAC under the database's own key),
/// never the address hash that contacts and links carry: whichever way it was written
/// (a contact deleted, a one-click opt-out of an address without a contact, an import's
/// DELETE, a recorded opt-out, a removed topic), no row of `tombstones` holds it, and
/// every way back (CreateContact, an import, the topic added again) still finds it.
#[tokio::test]
async fn tombstones_keep_only_a_keyed_hash_and_still_win_on_re_creation() {
    for backend in ["sqlite", "postgres"] {
        let db = TestDb::new(backend).await;
        let s = db.store().await;
        let list = s
            .create_list("l", &def(vec![topic("a", OptIn), topic("b", OptIn)]), None)
            .await
            .unwrap();
        let ann = email("Ann@Example.com");
        s.create_contact(&list, &new_contact("Ann@Example.com", &[]), &api())
            .await
            .unwrap();
        let unsub = ContactChange {
            unsubscribe_all: Some(true),
            preferences: None,
            attributes: None,
        };
        s.update_contact(&list, &ann, &unsub, &api()).await.unwrap();
        s.delete_contact(&list, &ann, &api()).await.unwrap();
        s.apply_opt_outs(&[one_click(&list, "bob@example.com", Some("a"))], None)
            .await
            .unwrap();
        s.create_contact(
            &list,
            &new_contact("cy@example.com", &[("a", OptOut)]),
            &api(),
        )
        .await
        .unwrap();
        s.import_batch(
            &list,
            ImportAction::Delete,
            &[row(2, "cy@example.com", None, &[])],
            false,
            &api(),
            None,
        )
        .await
        .unwrap();
        s.record_tombstone(
            &list,
            &email_hash(&email("dan@example.com")),
            &Tombstone {
                unsubscribe_all: true,
                opted_out_topics: vec![],
            },
            &Audit::new(Source::UnsubscribeHeader),
        )
        .await
        .unwrap();
        s.create_contact(
            &list,
            &new_contact("eve@example.com", &[("b", OptOut)]),
            &api(),
        )
        .await
        .unwrap();
        s.update_list("l", &def(vec![topic("a", OptIn)]))
            .await
            .unwrap();

        let rows = common::raw_tombstones(&db.url, "tombstones").await;
        assert_eq!(rows.len(), 5, "{backend}: {rows:?}");
        let key = common::tombstone_keyer(&db.url).await;
        for e in [
            "Ann@Example.com",
            "bob@example.com",
            "cy@example.com",
            "dan@example.com",
            "eve@example.com",
        ] {
            let plain = email_hash(&email(e));
            assert!(
                rows.iter().all(|r| r.1 != plain),
                "{backend}: the tombstone of {e} holds its address hash"
            );
            assert!(
                rows.iter().any(|r| r.1 == key(&plain)),
                "{backend}: {e} has no tombstone under its keyed hash: {rows:?}"
            );
        }

        // Every way back finds them.
        let c = s
            .create_contact(&list, &new_contact("Ann@Example.com", &[]), &api())
            .await
            .unwrap();
        assert!(c.unsubscribe_all, "{backend}");
        let done = s
            .import_batch(
                &list,
                ImportAction::Put,
                &[
                    row(2, "bob@example.com", None, &[("a", OptIn)]),
                    row(3, "cy@example.com", None, &[]),
                ],
                false,
                &api(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(done.opt_outs_kept, 1, "{backend}");
        for e in ["bob@example.com", "cy@example.com"] {
            let c = s.get_contact(&list, &email(e)).await.unwrap();
            assert_eq!(c.explicit("a"), Some(OptOut), "{backend}: {e}");
        }
        let c = s
            .create_contact(&list, &new_contact("dan@example.com", &[]), &api())
            .await
            .unwrap();
        assert!(c.unsubscribe_all, "{backend}");
        s.update_list("l", &def(vec![topic("a", OptIn), topic("b", OptIn)]))
            .await
            .unwrap();
        let c = s
            .get_contact(&list, &email("eve@example.com"))
            .await
            .unwrap();
        assert_eq!(c.explicit("b"), Some(OptOut), "{backend}");
        // What the contacts hold again has left the tombstones.
        let rows = common::raw_tombstones(&db.url, "tombstones").await;
        assert!(rows.is_empty(), "{backend}: {rows:?}");
        drop(s);
        db.cleanup().await;
    }
}

/// Tombstones an older version wrote under the address hash itself are keyed when the
/// store opens: the migration puts them aside (`tombstones_unkeyed`), opening moves them
/// into `tombstones` under their keys and drops the emptied table, and they are honoured
/// as before. A row left to move whose key is kept already merges with it (opt-outs of
/// both, the later time), and stores opening at once move each row once.
#[tokio::test]
async fn tombstones_of_an_older_version_are_keyed_when_the_store_opens() {
    for backend in ["sqlite", "postgres"] {
        let db = TestDb::new(backend).await;
        // The schema of the version before, and its tombstones.
        common::migrate_up_to(&db.url, 20261210000200).await;
        let ann = email_hash(&email("ann@example.com"));
        let bob = email_hash(&email("bob@example.com"));
        common::insert_raw_tombstones(
            &db.url,
            "tombstones",
            &[
                ("l", &ann, true, "[]", 1000),
                ("l", &bob, false, r#"["a"]"#, 2000),
                ("gone", &ann, false, r#"["x"]"#, 3000),
            ],
        )
        .await;

        let s = db.store().await;
        assert!(
            !common::raw_table_exists(&db.url, "tombstones_unkeyed").await,
            "{backend}"
        );
        let key = common::tombstone_keyer(&db.url).await;
        let mut want = vec![
            (
                "gone".to_string(),
                key(&ann),
                false,
                r#"["x"]"#.to_string(),
                3000,
            ),
            ("l".to_string(), key(&ann), true, "[]".to_string(), 1000),
            (
                "l".to_string(),
                key(&bob),
                false,
                r#"["a"]"#.to_string(),
                2000,
            ),
        ];
        want.sort();
        let mut rows = common::raw_tombstones(&db.url, "tombstones").await;
        rows.sort();
        assert_eq!(rows, want, "{backend}");
        // Honoured as before.
        let list = s
            .create_list("l", &def(vec![topic("a", OptIn), topic("b", OptIn)]), None)
            .await
            .unwrap();
        let c = s
            .create_contact(&list, &new_contact("ann@example.com", &[]), &api())
            .await
            .unwrap();
        assert!(c.unsubscribe_all, "{backend}");
        let t = s.get_tombstone(&list, &bob).await.unwrap().unwrap();
        assert_eq!(t.opted_out_topics, vec![tn("a")], "{backend}");
        drop(s);

        // Rows still to move (an interrupted move, or several at once): one whose key is
        // kept already, and many more than a batch, for two stores opening together.
        common::recreate_unkeyed_tombstones(&db.url).await;
        let many: Vec<Vec<u8>> = (0..1500)
            .map(|i| email_hash(&email(&format!("u{i}@example.com"))))
            .collect();
        let mut legacy: Vec<(&str, &[u8], bool, &str, i64)> =
            vec![("l", &bob, false, r#"["b"]"#, 5000)];
        legacy.extend(many.iter().map(|h| ("m", h.as_slice(), true, "[]", 7)));
        common::insert_raw_tombstones(&db.url, "tombstones_unkeyed", &legacy).await;
        let (s1, s2) = tokio::join!(db.store(), db.store());
        assert!(
            !common::raw_table_exists(&db.url, "tombstones_unkeyed").await,
            "{backend}"
        );
        let rows = common::raw_tombstones(&db.url, "tombstones").await;
        assert_eq!(rows.len(), 2 + many.len(), "{backend}");
        let bob_row = rows
            .iter()
            .find(|r| r.0 == "l" && r.1 == key(&bob))
            .unwrap();
        assert_eq!(
            (bob_row.2, bob_row.3.as_str(), bob_row.4),
            (false, r#"["a","b"]"#, 5000),
            "{backend}"
        );
        let moved: std::collections::BTreeSet<&Vec<u8>> =
            rows.iter().filter(|r| r.0 == "m").map(|r| &r.1).collect();
        let keys: Vec<Vec<u8>> = many.iter().map(|h| key(h)).collect();
        assert_eq!(moved, keys.iter().collect(), "{backend}");
        assert!(rows.iter().all(|r| r.1 != bob && !many.contains(&r.1)));
        let t = s2.get_tombstone(&list, &bob).await.unwrap().unwrap();
        assert_eq!(t.opted_out_topics, vec![tn("a"), tn("b")], "{backend}");
        drop((s1, s2));
        db.cleanup().await;
    }
}
