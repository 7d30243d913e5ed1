//! The automation role: rules are created once, replaced, listed and deleted, each write moving
//! the version; a cooldown lets the same message claim again and another only after it; what
//! automation did with a message is kept once and shown on the message; escalation labels add up
//! on the conversation and `escalated_at` never goes back.

use super::*;
use wabridge::automation::rules::Rule;
use wabridge::domain::Json;
use wabridge::flows::definition::Flow;
use wabridge::flows::session::{Decision, Incoming, Interaction, Session, Status, decide};
use wabridge::ports::{InteractionFilter, RuleWrite, SessionFilter};

fn rule(id: &str, keyword: &str) -> Rule {
    Rule::parse(
        &json!({"match": {"keywords": [keyword]}, "reply": {"type": "text", "text": {"body": keyword}}}),
        id,
    )
    .unwrap()
}

async fn rules_are_written_once_replaced_listed_and_deleted_each_moving_the_version(b: Backend) {
    let s = &b.store;
    let v0 = s.rules_version().await.unwrap();
    assert!(s.rules().await.unwrap().is_empty());
    assert!(s.create_rule(&rule("b", "price")).await.unwrap());
    assert!(s.create_rule(&rule("a", "hours")).await.unwrap());
    let v1 = s.rules_version().await.unwrap();
    assert!(v1 > v0, "{v0} -> {v1}");
    assert!(
        !s.create_rule(&rule("a", "other")).await.unwrap(),
        "an id is created once"
    );
    assert_eq!(s.rules_version().await.unwrap(), v1, "a refused write moves nothing");
    assert_eq!(s.rule("a").await.unwrap().unwrap().matching.keywords, ["hours"]);

    assert_eq!(s.put_rule(&rule("a", "opening")).await.unwrap(), RuleWrite::Replaced);
    assert_eq!(s.put_rule(&rule("c", "stock")).await.unwrap(), RuleWrite::Created);
    let v2 = s.rules_version().await.unwrap();
    assert!(v2 > v1);
    let ids: Vec<String> = s.rules().await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, ["a", "b", "c"], "in id order");
    assert_eq!(s.rule("a").await.unwrap().unwrap().matching.keywords, ["opening"]);

    assert!(s.delete_rule("b").await.unwrap());
    assert!(!s.delete_rule("b").await.unwrap());
    assert!(s.rule("b").await.unwrap().is_none());
    let v3 = s.rules_version().await.unwrap();
    assert!(v3 > v2);
    assert_eq!(s.rules().await.unwrap().len(), 2);
}

async fn a_cooldown_admits_the_same_message_again_and_another_only_after_it(b: Backend) {
    let s = &b.store;
    let c = CustomerKey::parse("27820000501").unwrap();
    let other = CustomerKey::parse("27820000502").unwrap();
    let (w1, w2, w3) = (
        Wamid::parse("wamid.CD1").unwrap(),
        Wamid::parse("wamid.CD2").unwrap(),
        Wamid::parse("wamid.CD3").unwrap(),
    );
    let minute = 60_000;
    assert!(s.claim_firing("r", &c, &w1, T0, minute).await.unwrap());
    assert!(
        s.claim_firing("r", &c, &w1, T0, minute).await.unwrap(),
        "a redelivery claims again"
    );
    assert!(
        !s.claim_firing("r", &c, &w2, T0 + 30_000, minute).await.unwrap(),
        "within the cooldown"
    );
    assert!(
        s.claim_firing("r", &other, &w2, T0 + 30_000, minute).await.unwrap(),
        "per customer"
    );
    assert!(
        s.claim_firing("other-rule", &c, &w2, T0 + 30_000, minute)
            .await
            .unwrap(),
        "per rule"
    );
    assert!(
        s.claim_firing("r", &c, &w3, T0 + minute, minute).await.unwrap(),
        "a cooldown later"
    );
    assert!(
        !s.claim_firing("r", &c, &w1, T0, minute).await.unwrap(),
        "the old message lost its mark"
    );
}

async fn an_outcome_is_kept_once_on_its_message_and_labels_add_up(b: Backend) {
    let s = &b.store;
    let m = inbound("wamid.AUTO1", "27820000503", T0, "help");
    s.record_inbound(&m).await.unwrap();
    let replied = Json::from_value(&json!({"rule_id": "r1", "outcome": "replied"}));
    s.set_automation(m.id, &replied).await.unwrap();
    let suppressed = Json::from_value(&json!({"rule_id": "r1", "outcome": "suppressed"}));
    s.set_automation(m.id, &suppressed).await.unwrap();
    let view = s.message(&MessageRef::Id(m.id)).await.unwrap().unwrap();
    assert_eq!(
        view.automation,
        Some(json!({"rule_id": "r1", "outcome": "replied"})),
        "the first stays"
    );
    let timeline = s
        .conversation_messages(&m.customer, &PageRequest { limit: 10, after: None })
        .await
        .unwrap();
    assert_eq!(timeline.data[0].automation, view.automation, "pages show it too");
    // A message not stored: nothing to do, and no error.
    let absent = MessageId::for_wamid(&Wamid::parse("wamid.AUTO-NONE").unwrap());
    s.set_automation(absent, &replied).await.unwrap();
    assert!(s.message(&MessageRef::Id(absent)).await.unwrap().is_none());

    s.label_conversation(&m.customer, "support", T0 + 2_000).await.unwrap();
    s.label_conversation(&m.customer, "billing", T0 + 1_000).await.unwrap();
    s.label_conversation(&m.customer, "support", T0 + 3_000).await.unwrap();
    let c = s.conversation(&m.customer, T0).await.unwrap().unwrap();
    assert_eq!(c.labels, ["billing", "support"]);
    assert_eq!(
        c.escalated_at,
        Some(T0 + 3_000),
        "the latest escalation, never an earlier one"
    );
    let unknown = CustomerKey::parse("27820000599").unwrap();
    s.label_conversation(&unknown, "support", T0).await.unwrap();
    assert!(
        s.conversation(&unknown, T0).await.unwrap().is_none(),
        "no conversation is made"
    );
}

fn flow() -> Flow {
    Flow::parse(
        &json!({"triggers": ["hi"], "start": "q", "steps": {
            "q": {"ask": "Name?", "save": "name", "next": "done"},
            "done": {"end": {"type": "text", "text": {"body": "bye"}}, "record": "signup"}}}),
        "f1",
    )
    .unwrap()
}

/// A session for `customer`, started by "hi" at `at_ms`.
fn session(customer: &str, pni: &str, at_ms: i64) -> Session {
    let seq = format!("{at_ms:015}");
    let wamid = format!("wamid.S{customer}{pni}");
    let m = Incoming {
        wamid: &wamid,
        seq: &seq,
        customer,
        wa_id: Some(customer),
        phone_number_id: pni,
        text: Some("hi"),
        reply_id: None,
        at_ms,
    };
    match decide(&[flow()], None, &m, at_ms) {
        Decision::Apply(s) => *s,
        other => panic!("{other:?}"),
    }
}

async fn flows_are_kept_and_sessions_move_only_over_the_version_read(b: Backend) {
    let s = &b.store;
    let v0 = s.rules_version().await.unwrap();
    assert_eq!(s.put_flow(&flow()).await.unwrap(), RuleWrite::Created);
    assert_eq!(s.put_flow(&flow()).await.unwrap(), RuleWrite::Replaced);
    assert!(s.rules_version().await.unwrap() > v0, "a flow write moves the version");
    assert_eq!(s.flows().await.unwrap(), [flow()]);
    assert_eq!(s.flow("f1").await.unwrap(), Some(flow()));

    let first = session("27820000601", PNI, T0);
    assert!(s.put_session(&first, None).await.unwrap());
    assert!(!s.put_session(&first, None).await.unwrap(), "created once");
    let stored = s.session("27820000601", PNI).await.unwrap().unwrap();
    assert_eq!(stored.version, 1);
    let mut moved = stored.clone();
    moved.step = "done".into();
    assert!(s.put_session(&moved, Some(1)).await.unwrap());
    assert!(
        !s.put_session(&moved, Some(1)).await.unwrap(),
        "a write over a stale read is refused"
    );
    let now = s.session("27820000601", PNI).await.unwrap().unwrap();
    assert_eq!((now.version, now.step.as_str()), (2, "done"));

    // The same customer with another number, and other customers, for the lists.
    assert!(
        s.put_session(&session("27820000601", "100000000000002", T0 + 5), None)
            .await
            .unwrap()
    );
    for i in 0..5 {
        assert!(
            s.put_session(&session(&format!("2782000070{i}"), PNI, T0), None)
                .await
                .unwrap()
        );
    }
    let of = s.sessions_of("27820000601").await.unwrap();
    assert_eq!(of.len(), 2);
    assert_eq!(of[0].phone_number_id, "100000000000002", "most recently updated first");

    let mut seen = Vec::new();
    let mut page = PageRequest { limit: 3, after: None };
    let all = SessionFilter {
        now_ms: T0,
        ..SessionFilter::default()
    };
    loop {
        let got = s.sessions(&all, &page).await.unwrap();
        seen.extend(got.data.iter().map(|x| (x.customer.clone(), x.phone_number_id.clone())));
        let Some(c) = got.next_cursor else { break };
        page = PageRequest::parse(Some("3"), Some(&c), "sessions").unwrap();
    }
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(seen, sorted, "by customer, then number");
    assert_eq!(seen.len(), 7);
    let expired = SessionFilter {
        status: Some(Status::Expired),
        now_ms: T0 + 86_400_000 + 10,
        ..SessionFilter::default()
    };
    let page = PageRequest { limit: 50, after: None };
    assert_eq!(s.sessions(&expired, &page).await.unwrap().data.len(), 7);
    let of_flow = SessionFilter {
        flow: Some("other".into()),
        now_ms: T0,
        ..SessionFilter::default()
    };
    assert!(s.sessions(&of_flow, &page).await.unwrap().data.is_empty());
}

async fn interactions_are_kept_once_and_listed_newest_first_by_kind_and_time(b: Backend) {
    let s = &b.store;
    let record = |id: &str, kind: &str, at: i64| Interaction {
        id: id.into(),
        flow: "f1".into(),
        kind: Some(kind.into()),
        wa_id: Some("27820000801".into()),
        session_id: id.into(),
        fields: [("name".to_owned(), id.to_owned())].into(),
        steps: Vec::new(),
        completed_at: wabridge::timefmt::rfc3339(at).unwrap(),
        completed_ms: at,
    };
    for i in 0..6 {
        let kind = if i % 2 == 0 { "reject" } else { "return" };
        s.record_interaction(&record(&format!("ses_{i}"), kind, T0 + i * 1000))
            .await
            .unwrap();
    }
    let mut changed = record("ses_0", "reject", T0);
    changed.fields.insert("name".into(), "rewritten".into());
    s.record_interaction(&changed).await.unwrap();
    let everything = InteractionFilter::default();
    let page = PageRequest { limit: 50, after: None };
    let all = s.interactions(&everything, &page).await.unwrap().data;
    let ids: Vec<&str> = all.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["ses_5", "ses_4", "ses_3", "ses_2", "ses_1", "ses_0"]);
    assert_eq!(all[5].fields["name"], "ses_0", "immutable once written");
    let rejects = InteractionFilter {
        kind: Some("reject".into()),
        from_ms: Some(T0 + 1000),
        to_ms: Some(T0 + 4000),
    };
    let got: Vec<String> = s
        .interactions(&rejects, &page)
        .await
        .unwrap()
        .data
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(got, ["ses_2"], "kind, from inclusive, to exclusive");
    let first = s
        .interactions(&everything, &PageRequest { limit: 4, after: None })
        .await
        .unwrap();
    let cursor = first.next_cursor.unwrap();
    let rest = s
        .interactions(
            &everything,
            &PageRequest::parse(Some("4"), Some(&cursor), "interactions").unwrap(),
        )
        .await
        .unwrap();
    let rest: Vec<&str> = rest.data.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(rest, ["ses_1", "ses_0"]);
}

on_both_backends!(
    flows_are_kept_and_sessions_move_only_over_the_version_read,
    interactions_are_kept_once_and_listed_newest_first_by_kind_and_time,
    rules_are_written_once_replaced_listed_and_deleted_each_moving_the_version,
    a_cooldown_admits_the_same_message_again_and_another_only_after_it,
    an_outcome_is_kept_once_on_its_message_and_labels_add_up,
);
