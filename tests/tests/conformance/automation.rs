//! The automation role: rules are created once, replaced, listed and deleted, each write moving
//! the version; a cooldown lets the same message claim again and another only after it; what
//! automation did with a message is kept once and shown on the message; escalation labels add up
//! on the conversation and `escalated_at` never goes back.

use super::*;
use wabridge::automation::rules::Rule;
use wabridge::domain::Json;
use wabridge::ports::RuleWrite;

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

on_both_backends!(
    rules_are_written_once_replaced_listed_and_deleted_each_moving_the_version,
    a_cooldown_admits_the_same_message_again_and_another_only_after_it,
    an_outcome_is_kept_once_on_its_message_and_labels_add_up,
);
