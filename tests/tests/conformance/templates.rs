//! The templates role: one copy per name and language, written only at the revision it was read
//! at, listed by name then language with filters and paging.

use super::*;
use wabridge::templates::{Template, TemplateQuery};

fn template(name: &str, language: &str, status: &str) -> Template {
    Template {
        status: status.into(),
        category: Some("UTILITY".into()),
        components: json!([{"type": "BODY", "text": "Hi {{1}}"}]),
        ..Template::new(name, language)
    }
}

async fn a_template_is_written_only_at_the_revision_it_was_read_at(b: Backend) {
    let t = template("welcome", "en_US", "PENDING");
    assert!(b.store.save_template(&t).await.unwrap());
    assert!(!b.store.save_template(&t).await.unwrap(), "a second create loses");
    let mut read = b.store.template("welcome", "en_US").await.unwrap().unwrap();
    assert_eq!((read.rev, read.status.as_str()), (1, "PENDING"));
    let stale = read.clone();
    read.status = "APPROVED".into();
    assert!(b.store.save_template(&read).await.unwrap());
    let mut lost = stale;
    lost.status = "REJECTED".into();
    assert!(
        !b.store.save_template(&lost).await.unwrap(),
        "written since it was read"
    );
    let now = b.store.template("welcome", "en_US").await.unwrap().unwrap();
    assert_eq!((now.rev, now.status.as_str()), (2, "APPROVED"));
    assert_eq!(now.components, json!([{"type": "BODY", "text": "Hi {{1}}"}]));
    assert_eq!(b.store.template("welcome", "pt_BR").await.unwrap(), None);
}

async fn templates_list_by_name_then_language_with_filters_and_pages(b: Backend) {
    for (name, lang, status) in [
        ("b_offer", "en", "APPROVED"),
        ("a_receipt", "pt_BR", "APPROVED"),
        ("a_receipt", "en", "REJECTED"),
        ("a", "en", "APPROVED"),
        ("c_code", "en", "PAUSED"),
    ] {
        assert!(b.store.save_template(&template(name, lang, status)).await.unwrap());
    }
    let keys = |ts: Vec<Template>| ts.into_iter().map(|t| (t.name, t.language)).collect::<Vec<_>>();
    let all = TemplateQuery {
        limit: 50,
        ..TemplateQuery::default()
    };
    let pair = |n: &str, l: &str| (n.to_owned(), l.to_owned());
    assert_eq!(
        keys(b.store.list_templates(&all).await.unwrap()),
        [
            pair("a", "en"),
            pair("a_receipt", "en"),
            pair("a_receipt", "pt_BR"),
            pair("b_offer", "en"),
            pair("c_code", "en")
        ]
    );
    let page = TemplateQuery {
        limit: 2,
        after: Some(pair("a_receipt", "en")),
        ..all.clone()
    };
    assert_eq!(
        keys(b.store.list_templates(&page).await.unwrap()),
        [pair("a_receipt", "pt_BR"), pair("b_offer", "en")]
    );
    let approved = TemplateQuery {
        status: Some("APPROVED".into()),
        language: Some("en".into()),
        ..all.clone()
    };
    assert_eq!(
        keys(b.store.list_templates(&approved).await.unwrap()),
        [pair("a", "en"), pair("b_offer", "en")]
    );
    assert_eq!(
        keys(b.store.templates_named("a_receipt").await.unwrap()),
        [pair("a_receipt", "en"), pair("a_receipt", "pt_BR")]
    );
    assert!(
        b.store.templates_named("a_rec").await.unwrap().is_empty(),
        "a name, not a prefix"
    );
}

on_both_backends!(
    a_template_is_written_only_at_the_revision_it_was_read_at,
    templates_list_by_name_then_language_with_filters_and_pages,
);
