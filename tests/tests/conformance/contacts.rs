//! The contacts role: what messages tell and what the business keeps live side by side, changes
//! merge without losing one another, and lists filter and page the same on both backends.

use super::*;
use wabridge::contacts::{ContactChange, MAX_TAGS};
use wabridge::ports::{Changed, ContactFilter};

fn tags(t: &[&str]) -> ContactChange {
    ContactChange {
        add_tags: t.iter().map(|s| (*s).to_owned()).collect(),
        ..ContactChange::default()
    }
}

fn named(name: &str) -> ContactChange {
    ContactChange {
        name: Some(Some(name.to_owned())),
        ..ContactChange::default()
    }
}

async fn change(b: &Backend, who: &str, c: &ContactChange, create: bool) -> Changed {
    b.store.change_contact(&key(who), c, create, T0 + 50).await.unwrap()
}

/// Every contact `filter` selects, walking pages of two.
async fn all(b: &Backend, filter: &ContactFilter) -> Vec<String> {
    let (mut out, mut after) = (Vec::new(), None);
    loop {
        let p = b.store.find_contacts(filter, &page(2, after)).await.unwrap();
        assert!(p.data.len() <= 2);
        out.extend(p.data.iter().map(|c| c.wa_id.clone().unwrap()));
        match p.next_cursor {
            Some(c) => after = Some(wabridge::read::Cursor::decode(&c, "contacts").unwrap()),
            None => return out,
        }
    }
}

async fn contacts_keep_first_and_last_seen_and_the_latest_name(b: Backend) {
    for (w, ts) in [("wamid.K2", 2000), ("wamid.K1", 1000), ("wamid.K3", 3000)] {
        b.store.record_inbound(&inbound(w, "555", T0 + ts, "x")).await.unwrap();
    }
    b.store
        .record_inbound(&inbound("wamid.L1", "666", T0, "x"))
        .await
        .unwrap();
    let k = b.store.contact(&key("555")).await.unwrap().unwrap();
    assert_eq!((k.first_seen_at, k.last_seen_at), (Some(T0 + 1000), Some(T0 + 3000)));
    assert_eq!(k.name.as_deref(), Some(format!("name-{}", T0 + 3000).as_str()));
    assert_eq!(k.profile_name, k.name);
    assert_eq!(k.wa_id.as_deref(), Some("555"));
    assert_eq!((k.tags.len(), k.opted_out, k.created_at), (0, false, Some(T0 + 1000)));
    assert_eq!(all(&b, &ContactFilter::default()).await, ["555", "666"]);
    assert!(b.store.contact(&key("777")).await.unwrap().is_none());
}

/// The business's name shows instead of the profile name, and a later message moves the profile
/// name and last seen without touching what the business set; a contact the API creates before
/// any message gets its first and last seen from its first message.
async fn what_the_business_sets_and_what_messages_tell_never_overwrite_each_other(b: Backend) {
    b.store
        .record_inbound(&inbound("wamid.N1", "27820000001", T0, "hi"))
        .await
        .unwrap();
    let mut ch = named("Thandi M");
    ch.add_tags = vec!["vip".into()];
    ch.attributes = vec![("first_name".into(), Some("Thandi".into()))];
    let Changed::Existing(c) = change(&b, "27820000001", &ch, true).await else {
        panic!("a contact a message created exists");
    };
    assert_eq!(c.name.as_deref(), Some("Thandi M"));
    assert_eq!(c.profile_name.as_deref(), Some(format!("name-{T0}").as_str()));
    assert_eq!(c.updated_at, Some(T0 + 50));
    b.store
        .record_inbound(&inbound("wamid.N2", "27820000001", T0 + 9000, "again"))
        .await
        .unwrap();
    let c = b.store.contact(&key("27820000001")).await.unwrap().unwrap();
    assert_eq!(
        c.name.as_deref(),
        Some("Thandi M"),
        "a message does not rename the contact"
    );
    assert_eq!(c.profile_name.as_deref(), Some(format!("name-{}", T0 + 9000).as_str()));
    assert_eq!(
        (c.tags.as_slice(), c.last_seen_at),
        (&["vip".to_owned()][..], Some(T0 + 9000))
    );
    assert_eq!(c.attributes.get("first_name").map(String::as_str), Some("Thandi"));
    // Clearing the name shows the profile name again.
    let cleared = ContactChange {
        name: Some(None),
        ..ContactChange::default()
    };
    let Changed::Existing(c) = change(&b, "27820000001", &cleared, false).await else {
        panic!("exists");
    };
    assert_eq!(c.name, c.profile_name);

    let Changed::Created(new) = change(&b, "27820000002", &named("Sipho"), true).await else {
        panic!("no contact yet: created");
    };
    assert_eq!(new.wa_id.as_deref(), Some("27820000002"));
    assert_eq!(
        (new.first_seen_at, new.last_seen_at, new.created_at),
        (None, None, Some(T0 + 50))
    );
    b.store
        .record_inbound(&inbound("wamid.N3", "27820000002", T0 + 100, "hello"))
        .await
        .unwrap();
    let c = b.store.contact(&key("27820000002")).await.unwrap().unwrap();
    assert_eq!((c.first_seen_at, c.last_seen_at), (Some(T0 + 100), Some(T0 + 100)));
    assert_eq!(c.name.as_deref(), Some("Sipho"));
    assert_eq!(c.phone_number_id.as_deref(), Some(PNI));
    assert_eq!(c.created_at, Some(T0 + 50), "known since the API created it");
    // Created twice is created once.
    assert!(matches!(
        change(&b, "27820000002", &named("Sipho"), true).await,
        Changed::Existing(_)
    ));
}

async fn a_change_that_may_not_create_finds_nothing_and_writes_nothing(b: Backend) {
    assert_eq!(change(&b, "27820000003", &named("x"), false).await, Changed::NotFound);
    assert!(b.store.contact(&key("27820000003")).await.unwrap().is_none());
}

/// Twelve changes racing on one contact, each adding its own tag and attribute: all land.
async fn concurrent_changes_to_one_contact_all_land(b: Backend) {
    let runs = (0..12).map(|i| {
        let store = b.store.clone();
        async move {
            let mut ch = tags(&[&format!("t{i}")]);
            ch.attributes = vec![(format!("a{i}"), Some(i.to_string()))];
            store
                .change_contact(&key("27820000004"), &ch, true, T0 + i)
                .await
                .unwrap()
        }
    });
    let results = futures::future::join_all(runs).await;
    let created = results.iter().filter(|r| matches!(r, Changed::Created(_))).count();
    assert_eq!(created, 1, "exactly one change created the contact");
    let c = b.store.contact(&key("27820000004")).await.unwrap().unwrap();
    assert_eq!(c.tags.len(), 12, "{:?}", c.tags);
    assert_eq!(c.attributes.len(), 12);
}

async fn a_merge_over_the_tag_limit_is_refused_and_changes_nothing(b: Backend) {
    let many: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i:02}")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(matches!(
        change(&b, "27820000005", &tags(&refs), true).await,
        Changed::Created(_)
    ));
    let Changed::Refused(e) = change(&b, "27820000005", &tags(&["one-more"]), false).await else {
        panic!("over the limit");
    };
    assert_eq!((e.field.as_str(), e.code), ("tags", "too_many"));
    let c = b.store.contact(&key("27820000005")).await.unwrap().unwrap();
    assert_eq!(c.tags, many);
}

async fn lists_filter_by_tag_opt_out_number_and_name_across_pages(b: Backend) {
    let people = [
        ("27820000011", "Ayanda", &["vip", "gold"][..], false),
        ("27820000012", "Émile", &["vip"][..], true),
        ("27830000013", "ayesha", &["gold"][..], false),
        ("27830000014", "Bongani", &["vip"][..], false),
        ("44770000015", "Ayo", &[][..], true),
        ("44770000016", "Zed", &["vip"][..], false),
    ];
    for (wa, name, t, out) in people {
        let mut ch = tags(t);
        ch.name = Some(Some(name.into()));
        ch.opted_out = Some(out);
        assert!(matches!(change(&b, wa, &ch, true).await, Changed::Created(_)));
    }
    // A customer who only wrote, found by the profile name a message gave.
    let mut m = inbound("wamid.F1", "27820000017", T0, "hi");
    m.profile_name = Some("AYANDA K".into());
    b.store.record_inbound(&m).await.unwrap();

    let vip = ContactFilter {
        tag: Some("vip".into()),
        ..ContactFilter::default()
    };
    assert_eq!(
        all(&b, &vip).await,
        ["27820000011", "27820000012", "27830000014", "44770000016"]
    );
    let vip_in = ContactFilter {
        opted_out: Some(false),
        ..vip.clone()
    };
    assert_eq!(all(&b, &vip_in).await, ["27820000011", "27830000014", "44770000016"]);
    let out = ContactFilter {
        opted_out: Some(true),
        ..ContactFilter::default()
    };
    assert_eq!(all(&b, &out).await, ["27820000012", "44770000015"]);
    let sa = ContactFilter {
        number_prefix: Some("2782".into()),
        ..ContactFilter::default()
    };
    assert_eq!(all(&b, &sa).await, ["27820000011", "27820000012", "27820000017"]);
    let ay = ContactFilter {
        name_prefix: Some("ay".into()),
        ..ContactFilter::default()
    };
    assert_eq!(
        all(&b, &ay).await,
        ["27820000011", "27820000017", "27830000013", "44770000015"],
        "the business's name or the profile name, whatever the case"
    );
    let accented = ContactFilter {
        name_prefix: Some(wabridge::domain::fold_name("ÉM")),
        ..ContactFilter::default()
    };
    assert_eq!(all(&b, &accented).await, ["27820000012"]);
    let none = ContactFilter {
        tag: Some("gold".into()),
        number_prefix: Some("4477".into()),
        ..ContactFilter::default()
    };
    assert!(all(&b, &none).await.is_empty());
}

/// A batch: one result per change in order, a customer's changes applied in the order given,
/// the first creating and the next merging.
async fn a_batch_of_changes_answers_each_in_order(b: Backend) {
    let mut rename = named("Second");
    rename.add_tags = vec!["b".into()];
    let changes = vec![
        (key("27820000021"), tags(&["a"])),
        (key("27820000022"), named("Other")),
        (key("27820000021"), rename),
        (
            key("27820000021"),
            tags(
                &(0..MAX_TAGS)
                    .map(|i| format!("x{i}"))
                    .collect::<Vec<_>>()
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>(),
            ),
        ),
    ];
    let got = b.store.change_contacts(&changes, T0).await.unwrap();
    let kinds: Vec<&str> = got
        .iter()
        .map(|c| match c {
            Changed::Created(_) => "created",
            Changed::Existing(_) => "existing",
            Changed::Refused(_) => "refused",
            Changed::NotFound => "not found",
        })
        .collect();
    assert_eq!(kinds, ["created", "created", "existing", "refused"]);
    let c = b.store.contact(&key("27820000021")).await.unwrap().unwrap();
    assert_eq!(
        (c.name.as_deref(), c.tags.as_slice()),
        (Some("Second"), &["a".to_owned(), "b".to_owned()][..])
    );
}

on_both_backends!(
    a_batch_of_changes_answers_each_in_order,
    contacts_keep_first_and_last_seen_and_the_latest_name,
    what_the_business_sets_and_what_messages_tell_never_overwrite_each_other,
    a_change_that_may_not_create_finds_nothing_and_writes_nothing,
    concurrent_changes_to_one_contact_all_land,
    a_merge_over_the_tag_limit_is_refused_and_changes_nothing,
    lists_filter_by_tag_opt_out_number_and_name_across_pages,
);
