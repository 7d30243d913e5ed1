//! What each path costs in AWS requests, counted on moto through the SDK's interceptors. The
//! expectations are `wabridge::cost`'s, which `wabridge cost` prices: a change that adds a request
//! to a hot path fails here and has to update the model on purpose.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use wabridge::app::{App, Settings};
use wabridge::cost::{self, PathCost};
use wabridge::ports::SystemClock;
use wabridge::read::PageRequest;

use wabridge_infra::simulate;
use wabridge_tests::permissions::assert_allowed;
use wabridge_tests::{Backend, Pipeline, RequestCounter, settle_one_batch};

const PNI: &str = "100000000000001";

fn expected(path: &PathCost) -> BTreeMap<String, u32> {
    path.requests.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect()
}

/// The requests our code makes: the queue's receives and deletes are the Lambda event source's,
/// batched ten to a request, and priced as such by the model.
fn ours(counted: BTreeMap<String, u32>) -> BTreeMap<String, u32> {
    counted
        .into_iter()
        .filter(|(op, _)| op != "SQS.ReceiveMessage" && op != "SQS.DeleteMessage")
        .collect()
}

/// The deployed processor, with the deployed progress mark (at most every 10 s, not per batch as
/// in tests).
async fn pipeline() -> Pipeline {
    Pipeline::deployed(
        Backend::aws().await,
        Settings {
            inbound_lag: wabridge::inbound::lag::LagConfig::default(),
            ..Settings::for_tests()
        },
    )
}

fn counter(b: &Backend) -> RequestCounter {
    b.requests.clone().expect("AWS backends count their requests")
}

fn webhook(body: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(body).unwrap()
}

#[tokio::test]
async fn an_inbound_text_message_costs_what_the_model_says() {
    let p = pipeline().await;
    let requests = counter(&p.backend);
    // The first message of a customer creates the conversation and contact; count a later one.
    for (i, wamid) in ["wamid.COST1", "wamid.COST2"].into_iter().enumerate() {
        requests.take();
        let ts = 1_763_800_000 + i64::try_from(i).unwrap();
        let body = simulate::inbound(
            PNI,
            "27820000555",
            "Ann",
            wamid,
            ts,
            "text",
            serde_json::json!({"body": "hi"}),
        );
        assert_eq!(p.post_webhook(&webhook(&body)).await.status, 200);
        assert_eq!(p.settle_one_batch().await, 1);
    }
    assert_eq!(ours(requests.take()), expected(&cost::INBOUND_MESSAGE));
    assert_allowed("inbound-processor", &requests.take_accesses());
}

#[tokio::test]
async fn a_status_webhook_costs_what_the_model_says() {
    let p = pipeline().await;
    let requests = counter(&p.backend);
    // A status of our own send, after its `sent`: the first batch also writes the progress mark.
    let send = wabridge::domain::StoredMessage {
        id: wabridge::domain::MessageId::new(),
        wamid: Some(wabridge::domain::Wamid::parse("wamid.COSTSTATUS").unwrap()),
        phone_number_id: PNI.into(),
        customer: wabridge::domain::CustomerKey::parse("27820000556").unwrap(),
        wa_id: Some("27820000556".into()),
        user_id: None,
        direction: wabridge::domain::Direction::Outbound,
        msg_type: "text".into(),
        text: Some("hi".into()),
        content: serde_json::json!({"body": "hi"}).into(),
        context: None,
        referral: None,
        error: None,
        status: "accepted".into(),
        timestamp_ms: 1_763_800_000_000,
        opens_window: false,
        profile_name: None,
        extra: None,
    };
    p.backend.store.record_outbound(&send).await.unwrap();
    let first = simulate::status(PNI, "27820000556", "wamid.COSTSTATUS", "sent", 1_763_800_001);
    assert_eq!(p.post_webhook(&webhook(&first)).await.status, 200);
    assert_eq!(p.settle_one_batch().await, 1);
    requests.take();
    let body = simulate::status(PNI, "27820000556", "wamid.COSTSTATUS", "delivered", 1_763_800_002);
    assert_eq!(p.post_webhook(&webhook(&body)).await.status, 200);
    assert_eq!(p.settle_one_batch().await, 1);
    assert_eq!(ours(requests.take()), expected(&cost::STATUS_WEBHOOK));
    assert_allowed("inbound-processor", &requests.take_accesses());
}

#[tokio::test]
async fn queueing_a_send_and_reading_a_page_cost_what_the_model_says() {
    let b = Backend::aws().await;
    let requests = counter(&b);
    let app = App::new(Settings::for_tests(), Arc::new(SystemClock));
    // As the send API does: the new message is counted in the analytics.
    let enqueuer = app
        .enqueuer(b.store.clone(), b.store.clone(), b.outbound.clone(), Some(PNI.into()))
        .counting(app.recorder(b.store.clone()));
    let cmd = wabridge::outbound::request::validate(&serde_json::json!({
        "to": "27820000557", "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}
    }))
    .unwrap();
    // The first send of a process registers the number with the counters; count a later one.
    enqueuer.enqueue(&cmd).await.unwrap();
    requests.take();
    enqueuer.enqueue(&cmd).await.unwrap();
    assert_eq!(requests.take(), expected(&cost::QUEUE_SEND));
    assert_allowed("send-api", &requests.take_accesses());

    let page = PageRequest { limit: 50, after: None };
    let customer = wabridge::domain::CustomerKey::parse("27820000557").unwrap();
    b.store.conversation_messages(&customer, &page).await.unwrap();
    assert_eq!(requests.take(), expected(&cost::MESSAGES_PAGE));
    b.store.conversations(&page, 0).await.unwrap();
    // The test backend spreads the lists over 10 shards.
    let queries = BTreeMap::from([("DynamoDB.Query".to_owned(), cost::list_page_queries(10))]);
    assert_eq!(requests.take(), queries);
}

#[tokio::test]
async fn sending_at_graph_costs_what_the_model_says() {
    let b = Backend::aws().await;
    let requests = counter(&b);
    // Meta, played by the sandbox; no statuses come back, so only the send itself is counted.
    let (sandbox, graph, serving) = wabridge_tests::rig::sandbox_on_loopback().await;
    // A number at Meta's top tier, so the whole batch is granted.
    let settings = Settings {
        sender: wabridge_tests::rig::fast_config(),
        ..Settings::for_tests()
    };
    let app = App::new(settings, Arc::new(SystemClock));
    let enqueuer = app.enqueuer(b.store.clone(), b.store.clone(), b.outbound.clone(), Some(PNI.into()));
    // As deployed: the sender watches the inbound processor's lag before any resend, and counts
    // each accepted send in the analytics.
    let sender = app
        .sender(b.store.clone(), b.limiter.clone(), graph)
        .watching(app.lag_watch(b.store.clone(), b.queue.clone()))
        .counting(app.recorder(b.store.clone()));
    let send = |to: String| {
        let enqueuer = &enqueuer;
        async move {
            let cmd = wabridge::outbound::request::validate(&serde_json::json!({
                "to": to, "type": "template",
                "template": {"name": "hello_world", "language": {"code": "en_US"}}
            }))
            .unwrap();
            enqueuer.enqueue(&cmd).await.unwrap();
        }
    };
    // The first batch creates the number's bucket; count a later one of ten customers.
    send("27820000550".into()).await;
    assert_eq!(settle_one_batch(b.kind, &sender, b.outbound.as_ref()).await, 1);
    for i in 0..10 {
        send(format!("2782000056{i}")).await;
    }
    requests.take();
    requests.take_accesses();
    assert_eq!(settle_one_batch(b.kind, &sender, b.outbound.as_ref()).await, 10);
    assert_eq!(sandbox.accepted().len(), 11, "every send reached Graph");
    assert_eq!(ours(requests.take()), expected(&cost::SEND_BATCH_AT_GRAPH));
    assert_allowed("outbound-sender", &requests.take_accesses());
    serving.abort();
}

#[tokio::test]
async fn a_report_reads_hours_whatever_the_number_of_messages() {
    use wabridge::analytics::report::{AnalyticsQuery, report};
    let p = pipeline().await;
    let requests = counter(&p.backend);
    let post = |i: i64| {
        let p = &p;
        async move {
            let body = simulate::inbound(
                PNI,
                &format!("2782100{i:04}"),
                "Ann",
                &format!("wamid.REPORT{i}"),
                1_763_800_000 + i * 600,
                "text",
                serde_json::json!({"body": "hi"}),
            );
            assert_eq!(p.post_webhook(&webhook(&body)).await.status, 200);
            assert_eq!(p.settle_one_batch().await, 1);
        }
    };
    let year = |phone| AnalyticsQuery::parse(Some("2025-11-01"), Some("2026-11-01"), Some("day"), None, phone).unwrap();
    let (every_number, one_number) = (year(None), year(Some(PNI)));
    let store = p.backend.store.clone();
    let cost_of = |q: &AnalyticsQuery| {
        let (store, q, requests) = (store.clone(), q.clone(), requests.clone());
        async move {
            requests.take();
            requests.take_accesses();
            let r = report(store.as_ref(), &q).await.unwrap();
            assert_allowed("analytics-api", &requests.take_accesses());
            (r.totals.inbound, ours(requests.take()))
        }
    };
    post(0).await;
    let (inbound, few) = cost_of(&every_number).await;
    assert_eq!(inbound, 1);
    assert_eq!(few.keys().collect::<Vec<_>>(), ["DynamoDB.Query"], "{few:?}");
    let (_, filtered) = cost_of(&one_number).await;
    assert_eq!(
        few["DynamoDB.Query"],
        filtered["DynamoDB.Query"] + 1,
        "every number costs one read of the numbers registry more than one number"
    );
    for i in 1..20 {
        post(i).await;
    }
    let (inbound, many) = cost_of(&every_number).await;
    assert_eq!(inbound, 20);
    assert_eq!(many, few, "a report's requests do not grow with the messages it counts");
}
