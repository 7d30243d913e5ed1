//! Templates, end to end on both backends: create through `/v1/templates` → the sandbox reviews
//! it and posts Meta's status webhook → our copy shows APPROVED (or REJECTED) → sends are checked
//! against the copy before they are queued. Meta's template webhooks, delivered twice and out of
//! order, leave the copy right; a sync follows every page and marks what Meta dropped.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use std::sync::Arc;

use serde_json::{Value, json};
use wabridge::api::{self, ApiKeys};
use wabridge::app::{App, Settings};
use wabridge::ports::SystemClock;
use wabridge::templates::catalog::SendCheck;
use wabridge_infra::sandbox::Template;
use wabridge_tests::rig::{Rig, WABA, fast_config};
use wabridge_tests::secrecy::SecretString;
use wabridge_tests::{Backend, Kind, ManualClock, on_both_backends, on_both_kinds};

async fn rig(b: Backend) -> Rig {
    let rig = Rig::start(b, fast_config(), vec![]).await;
    rig.sandbox.review_templates_after(Duration::from_millis(100));
    rig
}

fn order_update(name: &str) -> Value {
    json!({"name": name, "language": "en_US", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Order {{1}}", "example": {"header_text": ["42"]}},
        {"type": "BODY", "text": "Hi {{1}}, your order {{2}} ships today.", "example": {"body_text": [["Ann", "42"]]}},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Track", "url": "https://shop.test/t/{{1}}", "example": ["https://shop.test/t/42"]}]}]})
}

fn send(to: &str, name: &str, components: Value) -> Value {
    json!({"to": to, "type": "template", "template": {"name": name, "language": {"code": "en_US"}, "components": components}})
}

/// Each `details` entry's `key` (`field` or `code`) of an error answer, in order.
fn detail(e: &Value, key: &str) -> Vec<String> {
    let entries = e["error"]["details"]
        .as_array()
        .unwrap_or_else(|| panic!("no details: {e}"));
    entries.iter().map(|d| d[key].as_str().unwrap().to_owned()).collect()
}

/// Asserts that every `(field, code)` in `want` is among an error answer's details.
fn assert_details(e: &Value, want: &[(&str, &str)]) {
    let got: Vec<(String, String)> = detail(e, "field").into_iter().zip(detail(e, "code")).collect();
    for (field, code) in want {
        assert!(
            got.iter().any(|(f, c)| f == field && c == code),
            "({field}, {code}) missing from {got:?}"
        );
    }
}

fn good_params() -> Value {
    json!([
        {"type": "header", "parameters": [{"type": "text", "text": "42"}]},
        {"type": "body", "parameters": [{"type": "text", "text": "Ann"}, {"type": "text", "text": "42"}]},
        {"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "42"}]}
    ])
}

async fn a_created_template_is_reviewed_then_sent_until_read(b: Backend) {
    let rig = rig(b).await;
    // Still in review while the first send is tried.
    rig.sandbox.hold_template_reviews();
    let (code, t) = rig.post("/v1/templates", &order_update("order_update"), None).await;
    assert_eq!(code, 201, "{t}");
    assert_eq!(
        (t["status"].as_str(), t["category"].as_str()),
        (Some("PENDING"), Some("UTILITY"))
    );
    assert!(t["id"].is_string(), "Meta's id: {t}");
    // Pending: not sendable yet.
    let (code, e) = rig
        .post(
            "/v1/messages",
            &send("27820003001", "order_update", good_params()),
            None,
        )
        .await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("template_not_sendable")),
        "{e}"
    );
    assert_eq!(e["error"]["details"]["status"], "PENDING");
    // Meta's webhook approves it.
    rig.sandbox.release_template_reviews();
    let t = rig
        .wait_for("/v1/templates/order_update/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    assert_eq!(t["rejected_reason"], Value::Null);
    let (code, sent) = rig
        .post(
            "/v1/messages",
            &send("27820003001", "order_update", good_params()),
            None,
        )
        .await;
    assert_eq!(code, 202, "{sent}");
    let m = rig
        .wait(sent["id"].as_str().unwrap(), |m| m["status"] == "read", 10)
        .await;
    assert_eq!(
        m["template"],
        json!({"name": "order_update", "language": "en_US", "category": "UTILITY"})
    );

    let (code, _) = rig.post("/v1/templates", &order_update("promo_reject"), None).await;
    assert_eq!(code, 201);
    let t = rig
        .wait_for("/v1/templates/promo_reject/en_US", |t| t["status"] == "REJECTED", 10)
        .await;
    assert_eq!(t["rejected_reason"], "INVALID_FORMAT");
    // Listed by name then language, filtered by status (after a sync brings Meta's hello_world).
    let (code, _) = rig.post("/v1/templates/sync", &json!({}), None).await;
    assert_eq!(code, 200);
    let (_, page) = rig.get("/v1/templates?status=APPROVED").await;
    let names: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hello_world", "order_update"]);
    let (_, all) = rig.get("/v1/templates/order_update").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1);
    // Deleted at Meta and here.
    let (code, _) = rig.delete("/v1/templates/promo_reject").await;
    assert_eq!(code, 204);
    let (_, t) = rig.get("/v1/templates/promo_reject/en_US").await;
    assert_eq!(t["status"], "DELETED");
    let (code, e) = rig.get("/v1/templates/never_made/en_US").await;
    assert_eq!((code, e["error"]["code"].as_str()), (404, Some("not_found")));
}

async fn every_create_rule_is_refused_with_its_details_and_duplicates_conflict(b: Backend) {
    let rig = rig(b).await;
    let bad = json!({"name": "Bad Name", "language": "en_US", "category": "PROMO", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "{{1}} and {{2}}", "example": {"header_text": ["a", "b"]}},
        {"type": "BODY", "text": "{{1}} then {{3}}"},
        {"type": "FOOTER", "text": "bye {{1}}"},
        {"type": "BUTTONS", "buttons": [
            {"type": "URL", "text": "Go", "url": "https://x.test/{{1}}/page"},
            {"type": "PHONE_NUMBER", "text": "Call"}]}]});
    let (code, e) = rig.post("/v1/templates", &bad, None).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (400, Some("validation_failed")),
        "{e}"
    );
    assert_details(
        &e,
        &[
            ("name", "invalid"),
            ("category", "invalid"),
            ("components[0].text", "too_many_parameters"),
            ("components[1].text", "parameter_gap"),
            ("components[1].text", "parameter_at_edge"),
            ("components[1].example", "example_required"),
            ("components[2].text", "invalid_parameter"),
            ("components[3].buttons[0].url", "invalid_parameter"),
            ("components[3].buttons[0].example", "example_required"),
            ("components[3].buttons[1].phone_number", "required"),
        ],
    );
    let too_long = json!({"name": "long", "language": "en", "category": "MARKETING",
        "components": [{"type": "BODY", "text": "x".repeat(1025)}, {"type": "BODY", "text": "again"}]});
    let (_, e) = rig.post("/v1/templates", &too_long, None).await;
    assert_details(
        &e,
        &[("components[0].text", "too_long"), ("components", "body_required")],
    );
    let named = json!({"name": "named", "language": "en", "category": "MARKETING", "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Hi {{First}}, see {{order_id}}!",
            "example": {"body_text_named_params": []}}]});
    let (_, e) = rig.post("/v1/templates", &named, None).await;
    assert_details(
        &e,
        &[
            ("components[0].text", "invalid_parameter"),
            ("components[0].example", "example_required"),
        ],
    );
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"type": "QUICK_REPLY", "text": format!("Option {i}")}))
        .collect();
    let crowded = json!({"category": "MARKETING", "components": [
        {"type": "HEADER", "format": "TEXT", "text": "h".repeat(61)},
        {"type": "HEADER", "format": "GIF"},
        {"type": "BODY", "text": "Hello there"},
        {"type": "FOOTER", "text": "f".repeat(61)},
        {"type": "BUTTONS", "buttons": eleven},
        {"type": "BUTTONS", "buttons": [
            {"type": "PHONE_NUMBER", "text": "A", "phone_number": "+1555"},
            {"type": "PHONE_NUMBER", "text": "B", "phone_number": "+1556"},
            {"type": "COPY_CODE"}]}]});
    let (_, e) = rig.post("/v1/templates", &crowded, None).await;
    assert_details(
        &e,
        &[
            ("name", "required"),
            ("language", "required"),
            ("components[0].text", "too_long"),
            ("components[1].format", "invalid"),
            ("components[3].text", "too_long"),
            ("components[4].buttons", "too_many"),
            ("components[5].buttons", "too_many"),
            ("components[5].buttons[2].example", "example_required"),
        ],
    );
    assert!(rig.sandbox.accepted().is_empty());

    let (code, _) = rig.post("/v1/templates", &order_update("twice"), None).await;
    assert_eq!(code, 201);
    let (code, e) = rig.post("/v1/templates", &order_update("twice"), None).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (409, Some("template_exists")),
        "{e}"
    );
}

/// The field of Meta's template status webhooks.
const STATUS_UPDATE: &str = "message_template_status_update";

/// Meta's webhook of a change to template `name` (en_US), dated `time` (Unix s).
fn template_webhook(name: &str, field: &str, time: i64, value: Value) -> Value {
    let mut value = value;
    value["message_template_id"] = json!(777);
    value["message_template_name"] = json!(name);
    value["message_template_language"] = json!("en_US");
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "time": time,
        "changes": [{"field": field, "value": value}]}]})
}

async fn template_webhooks_twice_and_out_of_order_leave_the_copy_right(b: Backend) {
    let rig = rig(b).await;
    let t0 = 1_763_800_000;
    let events = [
        template_webhook(
            "flow_tpl",
            STATUS_UPDATE,
            t0 + 30,
            json!({"event": "PAUSED", "reason": "NONE"}),
        ),
        template_webhook(
            "flow_tpl",
            STATUS_UPDATE,
            t0 + 10,
            json!({"event": "APPROVED", "reason": "NONE", "message_template_category": "MARKETING"}),
        ),
        template_webhook(
            "flow_tpl",
            "template_category_update",
            t0 + 40,
            json!({"new_category": "UTILITY", "previous_category": "MARKETING"}),
        ),
        template_webhook(
            "flow_tpl",
            "template_category_update",
            t0 + 20,
            json!({"new_category": "AUTHENTICATION"}),
        ),
        template_webhook(
            "flow_tpl",
            "message_template_quality_update",
            t0 + 50,
            json!({"previous_quality_score": "GREEN", "new_quality_score": "RED"}),
        ),
        template_webhook(
            "flow_tpl",
            "message_template_quality_update",
            t0 + 15,
            json!({"new_quality_score": "GREEN"}),
        ),
        template_webhook(
            "flow_tpl",
            "message_template_components_update",
            t0 + 60,
            json!({"message_template_element": "New {{1}}", "message_template_footer": "bye"}),
        ),
        template_webhook(
            "flow_tpl",
            "message_template_components_update",
            t0 + 5,
            json!({"message_template_element": "Old {{1}}"}),
        ),
    ];
    // Newest first for each aspect, then everything again.
    for _ in 0..2 {
        for e in &events {
            rig.post_webhook(e).await;
        }
    }
    let t = rig
        .wait_for(
            "/v1/templates/flow_tpl/en_US",
            // Every aspect at its newest: waiting on some of them let a loaded machine see the
            // copy before the last webhook was applied.
            |t| {
                t["quality"] == "RED"
                    && t["components"][0]["text"] == "New {{1}}"
                    && t["category"] == "UTILITY"
                    && t["status"] == "PAUSED"
            },
            10,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, t2) = rig.get("/v1/templates/flow_tpl/en_US").await;
    assert_eq!(t, t2, "settled");
    assert_eq!(
        (
            t["id"].as_str(),
            t["status"].as_str(),
            t["category"].as_str(),
            t["previous_category"].as_str()
        ),
        (Some("777"), Some("PAUSED"), Some("UTILITY"), Some("MARKETING"))
    );
    assert_eq!(
        t["components"],
        json!([{"type": "BODY", "text": "New {{1}}"}, {"type": "FOOTER", "text": "bye"}])
    );
}

async fn sends_are_checked_against_the_copy_before_they_are_queued(b: Backend) {
    let rig = rig(b).await;
    // Known at Meta only: the first send syncs on demand and finds it.
    rig.sandbox.add_template(
        "two_params",
        "en_US",
        Template {
            status: "APPROVED".into(),
            body_params: 2,
        },
    );
    let two = json!([{"type": "body", "parameters": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]);
    let (code, sent) = rig
        .post("/v1/messages", &send("27820003101", "two_params", two.clone()), None)
        .await;
    assert_eq!(code, 202, "{sent}");
    let (code, e) = rig
        .post("/v1/messages", &send("27820003101", "missing", json!([])), None)
        .await;
    assert_eq!((code, e["error"]["code"].as_str()), (422, Some("template_not_found")));
    // Paused at Meta and told by its webhook.
    let paused = json!({"event": "PAUSED"});
    rig.post_webhook(&template_webhook("two_params", STATUS_UPDATE, 4_000_000_000, paused))
        .await;
    rig.wait_for("/v1/templates/two_params/en_US", |t| t["status"] == "PAUSED", 10)
        .await;
    let (code, e) = rig
        .post("/v1/messages", &send("27820003101", "two_params", two), None)
        .await;
    assert_eq!(
        (code, e["error"]["details"]["status"].as_str()),
        (422, Some("PAUSED")),
        "{e}"
    );

    // Header text, body count and URL button, each named.
    rig.post("/v1/templates", &order_update("checked"), None).await;
    rig.wait_for("/v1/templates/checked/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    let wrong = json!([
        {"type": "body", "parameters": [{"type": "text", "text": "Ann"}]},
        {"type": "button", "sub_type": "url", "index": "1", "parameters": [{"type": "text", "text": "42"}]}
    ]);
    let (code, e) = rig
        .post("/v1/messages", &send("27820003102", "checked", wrong), None)
        .await;
    assert_eq!(code, 400, "{e}");
    assert_eq!(
        detail(&e, "field"),
        [
            "template.components.body",
            "template.components.header",
            "template.components.buttons[0]",
            "template.components.buttons[1]"
        ]
    );

    // A media header takes a parameter of its format.
    let doc = json!({"name": "with_doc", "language": "en_US", "category": "UTILITY", "components": [
        {"type": "HEADER", "format": "DOCUMENT", "example": {"header_handle": ["4::aW"]}},
        {"type": "BODY", "text": "Your invoice is attached."}]});
    rig.post("/v1/templates", &doc, None).await;
    rig.wait_for("/v1/templates/with_doc/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    let image =
        json!([{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x.test/a.png"}}]}]);
    let (code, e) = rig
        .post("/v1/messages", &send("27820003103", "with_doc", image), None)
        .await;
    assert_eq!(
        (code, e["error"]["details"][0]["code"].as_str()),
        (400, Some("parameter_format")),
        "{e}"
    );
    let document =
        json!([{"type": "header", "parameters": [{"type": "document", "document": {"link": "https://x.test/a.pdf"}}]}]);
    let (code, e) = rig
        .post("/v1/messages", &send("27820003103", "with_doc", document), None)
        .await;
    assert_eq!(code, 202, "{e}");

    // Named parameters go by name.
    let named = json!({"name": "named_tpl", "language": "en_US", "category": "UTILITY", "parameter_format": "NAMED",
        "components": [{"type": "BODY", "text": "Hi {{first_name}}, order {{order_id}} is ready.",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ann"},
                                                   {"param_name": "order_id", "example": "7"}]}}]});
    let (code, e) = rig.post("/v1/templates", &named, None).await;
    assert_eq!(code, 201, "{e}");
    rig.wait_for("/v1/templates/named_tpl/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    let by_name = |names: &[&str]| {
        let ps: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "text", "parameter_name": n, "text": "x"}))
            .collect();
        json!([{"type": "body", "parameters": ps}])
    };
    let (code, e) = rig
        .post(
            "/v1/messages",
            &send("27820003104", "named_tpl", by_name(&["first_name", "orderid"])),
            None,
        )
        .await;
    assert_eq!(code, 400, "{e}");
    assert_eq!(detail(&e, "code"), ["parameter_missing", "parameter_unknown"]);
    let (code, e) = rig
        .post(
            "/v1/messages",
            &send("27820003104", "named_tpl", by_name(&["order_id", "first_name"])),
            None,
        )
        .await;
    assert_eq!(code, 202, "{e}");
}

async fn a_sync_follows_every_page_and_marks_what_meta_dropped(b: Backend) {
    let rig = rig(b).await;
    for i in 0..230 {
        rig.sandbox.add_template(
            &format!("bulk_{i:03}"),
            "en_US",
            Template {
                status: "APPROVED".into(),
                body_params: 0,
            },
        );
    }
    let (code, done) = rig.post("/v1/templates/sync", &json!({}), None).await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(
        done,
        json!({"synced": 231, "deleted": 0}),
        "230 and hello_world, over 3 pages"
    );
    rig.sandbox.forget_template("bulk_007", "en_US");
    let (_, done) = rig.post("/v1/templates/sync", &json!({}), None).await;
    assert_eq!(done, json!({"synced": 230, "deleted": 1}));
    let (_, t) = rig.get("/v1/templates/bulk_007/en_US").await;
    assert_eq!(t["status"], "DELETED");
    // Our list pages through all of them.
    let (mut seen, mut cursor) = (0, String::new());
    loop {
        let (code, page) = rig.get(&format!("/v1/templates?limit=100&cursor={cursor}")).await;
        assert_eq!(code, 200, "{page}");
        seen += page["data"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, 231);
}

/// A webhook about a template we have never seen creates it from the webhook's facts (no
/// components), marked for sync: the next template send syncs before checking, so it is checked
/// against the whole template.
async fn a_template_known_only_from_a_webhook_is_synced_before_a_send_is_checked(b: Backend) {
    let rig = rig(b).await;
    rig.sandbox.add_template(
        "from_hook",
        "en_US",
        Template {
            status: "APPROVED".into(),
            body_params: 1,
        },
    );
    let now = chrono::Utc::now().timestamp();
    rig.post_webhook(&template_webhook(
        "from_hook",
        STATUS_UPDATE,
        now,
        json!({"event": "APPROVED"}),
    ))
    .await;
    let t = rig
        .wait_for("/v1/templates/from_hook/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    assert_eq!(t["components"], json!([]), "only what the webhook said");
    // Without the sync, the copy would say the body takes no parameters: a 400.
    let one = json!([{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]);
    let (code, sent) = rig
        .post("/v1/messages", &send("27820003201", "from_hook", one), None)
        .await;
    assert_eq!(code, 202, "{sent}");
    let (_, t) = rig.get("/v1/templates/from_hook/en_US").await;
    assert_eq!(t["components"][0]["type"], "BODY", "{t}");
}

/// A send naming a template we do not know pulls the list from Meta, but at most once a minute:
/// a burst of sends of a misspelt name costs Meta one list, not one each.
async fn an_unknown_template_syncs_at_most_once_a_minute(kind: Kind) {
    let clock = ManualClock::at(1_763_800_000_000);
    let b = Backend::at(kind, clock.clone()).await;
    let (sandbox, graph, serving) = wabridge_tests::rig::sandbox_on_loopback().await;
    let app = App::new(Settings::for_tests(), clock.clone());
    let catalog = app.catalog(b.store.clone(), Some((graph, WABA.into())));
    let late = json!({"name": "late", "language": {"code": "en_US"}});
    let not_found = |r: &Result<_, SendCheck>| matches!(r, Err(SendCheck::NotFound { .. }));
    assert!(not_found(&catalog.check_send(&late).await));
    sandbox.add_template(
        "late",
        "en_US",
        Template {
            status: "APPROVED".into(),
            body_params: 0,
        },
    );
    clock.advance(Duration::from_secs(59));
    assert!(
        not_found(&catalog.check_send(&late).await),
        "no second sync within the minute"
    );
    clock.advance(Duration::from_secs(1));
    let used = catalog.check_send(&late).await.unwrap();
    assert_eq!(
        (used.name.as_str(), used.category.as_deref()),
        ("late", Some("UTILITY"))
    );
    serving.abort();
}

on_both_kinds!(an_unknown_template_syncs_at_most_once_a_minute,);

/// Every template webhook Meta and SDKs publish, applied to the copy.
async fn metas_own_template_webhooks_update_the_copy(b: Backend) {
    let Some(root) = wabridge_tests::meta_samples() else {
        return;
    };
    let dir = root.join("webhooks");
    let rig = rig(b).await;
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("template_"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "{files:?}");
    for f in &files {
        let body: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        rig.post_webhook(&body).await;
    }
    let expect = [
        ("order_confirmation", "en_US", "status", "APPROVED"),
        ("abandoned_cart", "en", "rejected_reason", "INVALID_FORMAT"),
        ("schedule_confirmation4", "pt_BR", "rejected_reason", "SCAM"),
        ("My%20message%20template", "en-US", "status", "FLAGGED"),
        ("welcome_template", "en_US", "quality", "YELLOW"),
        ("welcome_template", "en-US", "category", "UTILITY"),
        ("my_message_template", "he", "category", "MARKETING"),
    ];
    for (name, lang, field, value) in expect {
        rig.wait_for(&format!("/v1/templates/{name}/{lang}"), |t| t[field] == value, 10)
            .await;
    }
    let t = rig
        .wait_for(
            "/v1/templates/my_message_template/he",
            |t| t["components"].as_array().is_some_and(|c| !c.is_empty()),
            10,
        )
        .await;
    assert_eq!(t["components"][0]["text"], "Hi {{1}}! Welcome to our service.");
}

/// Without `WHATSAPP_BUSINESS_ACCOUNT_ID` every template route says what to set.
#[tokio::test]
async fn without_the_waba_id_the_template_routes_answer_503_naming_it() {
    let b = Backend::embedded().await;
    let app = App::new(Settings::for_tests(), Arc::new(SystemClock));
    let keys = ApiKeys::new(vec![SecretString::from(wabridge_tests::API_KEY)]);
    let router = api::finish(api::templates_router(app.catalog(b.store.clone(), None), keys));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/v1/templates"),
        (reqwest::Method::GET, "/v1/templates/hello_world/en_US"),
        (reqwest::Method::POST, "/v1/templates/sync"),
        (reqwest::Method::DELETE, "/v1/templates/hello_world"),
    ] {
        let res = http
            .request(method.clone(), format!("{base}{path}"))
            .bearer_auth(wabridge_tests::API_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 503, "{method} {path}");
        let e: Value = res.json().await.unwrap();
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .contains("WHATSAPP_BUSINESS_ACCOUNT_ID"),
            "{e}"
        );
    }
    serving.abort();
}

/// A contact who opted out gets no marketing template (422 `opted_out`, nothing stored), still
/// gets utility templates, and gets marketing again once opted back in.
async fn an_opted_out_contact_gets_no_marketing_template(b: Backend) {
    let rig = rig(b).await;
    let promo = json!({"name": "spring_sale", "language": "en_US", "category": "MARKETING",
                       "components": [{"type": "BODY", "text": "Spring sale: 20% off everything this week."}]});
    let (code, t) = rig.post("/v1/templates", &promo, None).await;
    assert_eq!(code, 201, "{t}");
    rig.post("/v1/templates", &order_update("order_update"), None).await;
    rig.wait_for("/v1/templates/spring_sale/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    rig.wait_for("/v1/templates/order_update/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    let (code, _) = rig
        .post(
            "/v1/contacts",
            &json!({"wa_id": "27820000031", "opted_out": true}),
            None,
        )
        .await;
    assert_eq!(code, 201);
    let sale = send("27820000031", "spring_sale", json!([]));
    let (code, e) = rig.post("/v1/messages", &sale, None).await;
    assert_eq!((code, e["error"]["code"].as_str()), (422, Some("opted_out")), "{e}");
    let (code, sent) = rig
        .post(
            "/v1/messages",
            &send("27820000031", "order_update", good_params()),
            None,
        )
        .await;
    assert_eq!(code, 202, "utility still goes: {sent}");
    let (code, _) = rig
        .patch("/v1/contacts/27820000031", &json!({"opted_out": false}))
        .await;
    assert_eq!(code, 200);
    let (code, sent) = rig.post("/v1/messages", &sale, None).await;
    assert_eq!(code, 202, "opted back in: {sent}");
}

/// A reminder or sequence naming a template the copy does not have (or has with other
/// parameters) is refused when it is scheduled, not when its first send fails days later.
async fn schedules_are_checked_against_the_templates_when_created(b: Backend) {
    let rig = rig(b).await;
    rig.post("/v1/templates", &order_update("order_update"), None).await;
    rig.wait_for("/v1/templates/order_update/en_US", |t| t["status"] == "APPROVED", 10)
        .await;
    let at = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let reminder = |name: &str, components: Value| {
        json!({"to": "27820000041", "at": at, "offsets_s": [3600],
               "template": {"name": name, "language": {"code": "en_US"}, "components": components}})
    };
    let (code, e) = rig.post("/v1/reminders", &reminder("no_such", json!([])), None).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("template_not_found")),
        "{e}"
    );
    let (code, e) = rig
        .post("/v1/reminders", &reminder("order_update", json!([])), None)
        .await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (400, Some("validation_failed")),
        "{e}"
    );
    let (code, r) = rig
        .post("/v1/reminders", &reminder("order_update", good_params()), None)
        .await;
    assert_eq!(code, 201, "{r}");
    let seq = json!({"to": "27820000041", "steps": [
        {"delay_s": 60, "message": {"type": "template", "template": {"name": "no_such", "language": {"code": "en_US"}}}}]});
    let (code, e) = rig.post("/v1/sequences", &seq, None).await;
    assert_eq!(
        (code, e["error"]["code"].as_str()),
        (422, Some("template_not_found")),
        "{e}"
    );
}

on_both_backends!(
    schedules_are_checked_against_the_templates_when_created,
    an_opted_out_contact_gets_no_marketing_template,
    a_created_template_is_reviewed_then_sent_until_read,
    every_create_rule_is_refused_with_its_details_and_duplicates_conflict,
    template_webhooks_twice_and_out_of_order_leave_the_copy_right,
    sends_are_checked_against_the_copy_before_they_are_queued,
    a_sync_follows_every_page_and_marks_what_meta_dropped,
    metas_own_template_webhooks_update_the_copy,
    a_template_known_only_from_a_webhook_is_synced_before_a_send_is_checked,
);
