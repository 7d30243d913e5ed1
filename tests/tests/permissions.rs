//! Least privilege that still works: each function's IAM policy in `template.yaml` allows every
//! DynamoDB action its code takes, on the table (and index) it takes it on. The use case runs on
//! moto, which does not enforce IAM, so the SDK's interceptor notes each request's action and
//! table and the test holds them to the policy: a new read on a path (the opt-out check reading
//! the contacts table) that the template does not grant fails here, not in production.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use wabridge::app::{App, Numbers, Settings};
use wabridge::contacts::ContactChange;
use wabridge::domain::CustomerKey;
use wabridge::outbound::request::validate;
use wabridge::schedule::Action;
use wabridge::templates::Template;
use wabridge_tests::Access;
use wabridge_tests::permissions::assert_allowed;
use wabridge_tests::{Backend, Kind, ManualClock};

/// 2025-11-22 08:00 UTC.
const T0: i64 = 1_763_798_400_000;
const HOUR: i64 = 3_600_000;

struct World {
    clock: Arc<ManualClock>,
    backend: Backend,
    app: App,
    numbers: Numbers,
}

impl World {
    async fn new() -> Self {
        let clock = ManualClock::at(T0);
        let backend = Backend::at(Kind::Aws, clock.clone()).await;
        let app = App::new(Settings::for_tests(), clock.clone());
        let numbers = Numbers {
            phone_number_id: Some("100000000000001".into()),
            waba_id: Some("200000000000001".into()),
        };
        Self {
            clock,
            backend,
            app,
            numbers,
        }
    }

    /// An approved marketing template with one body parameter, in the templates copy.
    async fn marketing_template(&self) {
        let mut t = Template::new("promo", "en");
        t.category = Some("MARKETING".into());
        t.status = "APPROVED".into();
        t.components = json!([{"type": "BODY", "text": "Hi {{1}}"}]);
        assert!(self.backend.store.save_template(&t).await.unwrap());
    }

    async fn contact(&self, wa_id: &str, change: ContactChange) {
        let key = CustomerKey::parse(wa_id).unwrap();
        self.backend
            .store
            .change_contact(&key, &change, true, T0)
            .await
            .unwrap();
    }

    fn accesses(&self) -> BTreeSet<Access> {
        self.backend.requests.as_ref().unwrap().take_accesses()
    }
}

fn promo(text: &str) -> serde_json::Value {
    json!({"name": "promo", "language": {"code": "en"}, "components": [
        {"type": "body", "parameters": [{"type": "text", "text": text}]}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_may_do_what_its_tick_and_sweep_do() {
    let w = World::new().await;
    w.marketing_template().await;
    let attrs = ContactChange {
        attributes: vec![("first_name".into(), Some("Thandi".into()))],
        ..ContactChange::default()
    };
    w.contact("27820000001", attrs).await;
    let api = w.app.scheduler(w.backend.store.clone(), None, &w.numbers);
    let reminder = json!({"to": "27820000001", "at": wabridge::timefmt::rfc3339(T0 + 3 * HOUR),
                          "offsets_s": [3600], "template": promo("{{attr.first_name}} at {{appointment.time}}")});
    api.create_reminder(&reminder).await.unwrap();
    let sequence = json!({"to": "27820000001", "steps": [{"delay_s": 60, "message": {"type": "template", "template": promo("later")}}]});
    api.create_sequence(&sequence).await.unwrap();
    let tagged = ContactChange {
        add_tags: vec!["vip".into()],
        ..ContactChange::default()
    };
    w.contact("27820000001", tagged).await;
    let campaign = json!({"name": "VIP", "audience": {"tags": ["vip"], "wa_ids": ["27820000009"]},
                          "template": promo("hi")});
    api.create_campaign(&campaign).await.unwrap();
    w.accesses();

    w.clock.set(T0 + 2 * HOUR);
    let tick = w
        .app
        .scheduler(w.backend.store.clone(), Some(w.backend.outbound.clone()), &w.numbers)
        .tick()
        .await
        .unwrap();
    assert_eq!(tick.queued, 2, "{tick:?}");
    // The campaign started in that tick; the next sends to its two recipients.
    w.clock.advance(Duration::from_secs(1));
    let tick = w
        .app
        .scheduler(w.backend.store.clone(), Some(w.backend.outbound.clone()), &w.numbers)
        .tick()
        .await
        .unwrap();
    assert_eq!(tick.queued, 2, "{tick:?}");
    w.clock.advance(Duration::from_secs(3600));
    w.app
        .sweeper(w.backend.store.clone(), w.backend.outbound.clone())
        .sweep()
        .await
        .unwrap();
    assert_allowed("scheduler", &w.accesses());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_api_may_read_what_a_checked_template_send_reads() {
    let w = World::new().await;
    w.marketing_template().await;
    let out = ContactChange {
        opted_out: Some(true),
        ..ContactChange::default()
    };
    w.contact("27820000002", out).await;
    let (_sandbox, graph, _serving) = wabridge_tests::rig::sandbox_on_loopback().await;
    let api = w.app.send_api(
        w.backend.store.clone(),
        w.backend.outbound.clone(),
        w.backend.blobs.clone(),
        graph,
        &w.numbers,
    );
    w.accesses();
    for (to, opted_out) in [("27820000002", true), ("27820000003", false)] {
        let cmd = validate(&json!({"to": to, "type": "template", "template": promo("x")})).unwrap();
        let sent = api.enqueuer.enqueue(&cmd).await;
        assert_eq!(sent.is_err(), opted_out, "{sent:?}");
    }
    assert_allowed("send-api", &w.accesses());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_api_may_do_what_its_routes_do() {
    let w = World::new().await;
    let contacts = w.app.contacts(w.backend.store.clone());
    contacts
        .create(&json!({"wa_id": "27820000004", "name": "Ayanda", "tags": ["vip"]}))
        .await
        .unwrap();
    contacts
        .patch(&CustomerKey::parse("27820000004").unwrap(), &json!({"opted_out": true}))
        .await
        .unwrap();
    let rows = wabridge::contacts::import::from_csv(b"phone,name,tags\n27820000005,Bo,gold\n").unwrap();
    contacts.import(rows).await.unwrap();
    let page = wabridge::read::PageRequest { limit: 10, after: None };
    for filter in [
        wabridge::ports::ContactFilter {
            tag: Some("vip".into()),
            opted_out: Some(true),
            name_prefix: Some("ay".into()),
            ..Default::default()
        },
        wabridge::ports::ContactFilter {
            number_prefix: Some("2782".into()),
            ..Default::default()
        },
    ] {
        contacts.find(&filter, &page).await.unwrap();
    }
    contacts.get(&CustomerKey::parse("27820000004").unwrap()).await.unwrap();
    assert_allowed("contacts-api", &w.accesses());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_api_may_do_what_its_routes_do() {
    let w = World::new().await;
    w.marketing_template().await;
    w.accesses();
    let api = w.app.scheduler(w.backend.store.clone(), None, &w.numbers);
    let reminder = json!({"to": "27820000006", "at": wabridge::timefmt::rfc3339(T0 + 48 * HOUR),
                          "offsets_s": [3600], "template": promo("x"), "external_id": "b-1"});
    let (view, _) = api.create_reminder(&reminder).await.unwrap();
    api.create_reminder(&reminder).await.unwrap();
    let id = view["id"].as_str().unwrap();
    api.reschedule_reminder(id, &json!({"at": wabridge::timefmt::rfc3339(T0 + 50 * HOUR)}))
        .await
        .unwrap();
    let page = wabridge::read::PageRequest { limit: 10, after: None };
    api.reminders(Some("scheduled"), &page).await.unwrap();
    api.reminder_by_external_id("b-1").await.unwrap();
    api.cancel_reminder(id).await.unwrap();
    let sequence = json!({"to": "27820000006", "steps": [{"delay_s": 60, "message": {"type": "template", "template": promo("x")}}]});
    let (seq, _) = api.create_sequence(&sequence).await.unwrap();
    api.cancel_sequence(seq["id"].as_str().unwrap()).await.unwrap();
    let campaign = json!({"name": "VIP", "audience": {"wa_ids": ["27820000006", "27820000007"]},
                          "template": promo("x"), "rate_mps": 0.5});
    let id = api.create_campaign(&campaign).await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The scheduler starts it and sends to the first recipient; then the API reads and acts.
    let scheduler = w
        .app
        .scheduler(w.backend.store.clone(), Some(w.backend.outbound.clone()), &w.numbers);
    scheduler.tick().await.unwrap();
    w.clock.advance(Duration::from_millis(1500));
    assert_eq!(scheduler.tick().await.unwrap().queued, 1);
    w.accesses();
    api.campaign(&id).await.unwrap().unwrap();
    let all = api.campaign_recipients(&id, None, &page).await.unwrap().unwrap();
    assert_eq!(all.data.len(), 2);
    api.campaign_recipients(&id, Some("queued"), &page)
        .await
        .unwrap()
        .unwrap();
    for action in [Action::Pause, Action::Resume, Action::Cancel] {
        api.campaign_action(&id, action).await.unwrap();
    }
    assert_allowed("schedule-api", &w.accesses());
}
