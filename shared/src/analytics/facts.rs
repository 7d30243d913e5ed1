//! What each message and status counts for, as [`Fact`]s and [`Point`]s: pure functions of the
//! stored message joined with its statuses, so computing them again gives the same facts.

use crate::domain::{Direction, Json, StoredMessage};
use crate::ports::{Fact, Point, Tally};
use crate::read::MessageView;

use super::{SEP, campaign_metric, campaign_slot, histogram, metric, slot_of};

/// A day, in ms: the reply window and the "within 24 h" bound.
pub const DAY_MS: i64 = 24 * 3_600_000;

/// The customer a message belongs to, as counters name them: wa_id, else user_id.
pub fn customer_of(v: &MessageView) -> Option<&str> {
    v.wa_id.as_deref().or(v.user_id.as_deref())
}

fn fact(key: String, rank: i64, phone: &str, at_ms: i64, metrics: Vec<(String, i64)>) -> Fact {
    Fact {
        key,
        rank,
        phone: phone.to_owned(),
        slot: slot_of(at_ms),
        metrics,
    }
}

fn one(name: impl Into<String>) -> Vec<(String, i64)> {
    vec![(name.into(), 1)]
}

/// An outbound message's latest status as analytics shows it, and its rank: the send's own
/// progress until Meta reports, then Meta's statuses (read implies delivered implies sent).
/// A failure at send time ranks below Meta's statuses, so a send we gave up on that a status
/// later proves Meta had moves on; a failure Meta reports is final.
fn latest(v: &MessageView) -> (&'static str, i64) {
    let ts = &v.status_timestamps;
    if v.status == "failed" && ts.contains_key("failed") {
        ("failed", 9)
    } else if ts.contains_key("read") || ts.contains_key("played") {
        ("read", 5)
    } else if ts.contains_key("delivered") {
        ("delivered", 4)
    } else if ts.contains_key("sent") || ts.contains_key("deleted") {
        ("sent", 3)
    } else {
        match v.status.as_str() {
            "accepted" => ("accepted", 2),
            "failed" => ("failed", 1),
            _ => ("queued", 0),
        }
    }
}

/// A campaign recipient's state, from its message's latest status: `queued` until Meta reports
/// `sent` (accepted included), then `sent`, `delivered`, `read`, or `failed`.
pub fn campaign_state(v: &MessageView) -> &'static str {
    match latest(v).0 {
        "accepted" => "queued",
        other => other,
    }
}

/// A campaign's fact: counted once per message, in the campaign's hour.
fn campaign_fact(key: String, rank: i64, phone: &str, campaign: &str, what: &str) -> Fact {
    Fact {
        key,
        rank,
        phone: phone.to_owned(),
        slot: campaign_slot(campaign),
        metrics: one(campaign_metric(campaign, what)),
    }
}

/// When each status first happened, with read implying delivered: the earliest of the times
/// that prove it.
fn event_times(v: &MessageView) -> Vec<(&'static str, i64)> {
    let ts = &v.status_timestamps;
    let earliest = |keys: &[&str]| keys.iter().filter_map(|k| ts.get(*k).copied()).min();
    [
        ("sent", earliest(&["sent"])),
        ("delivered", earliest(&["delivered", "read", "played"])),
        ("read", earliest(&["read", "played"])),
        ("failed", earliest(&["failed"])),
    ]
    .into_iter()
    .filter_map(|(s, t)| t.map(|t| (s, t)))
    .collect()
}

/// A template send's name, language and category: from what the send recorded (`template` in
/// the message's extra fields), else from the template object itself (sends made while
/// templates were not checked have no category).
fn template_parts(
    recorded: Option<&serde_json::Value>,
    msg_type: &str,
    content: &Json,
) -> Option<(String, String, Option<String>)> {
    let s = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    if let Some(t) = recorded {
        return Some((s(t, "name")?, s(t, "language")?, s(t, "category")));
    }
    if msg_type != "template" {
        return None;
    }
    // Parsed only for template sends: the content of every other message stays text.
    let c = content.value();
    Some((s(&c, "name")?, s(c.get("language")?, "code")?, None))
}

/// A template send's name, language and category, as the message view shows it.
pub fn template_of(v: &MessageView) -> Option<(String, String, Option<String>)> {
    template_parts(v.template.as_ref(), v.msg_type.as_deref()?, &v.content)
}

/// A template figure's metric name.
pub fn template_metric(name: &str, language: &str, what: &str) -> String {
    format!("{}{SEP}{name}{SEP}{language}{SEP}{what}", metric::TEMPLATE)
}

/// The facts and points of one message as it stands.
pub fn of_view(v: &MessageView) -> Tally {
    let mut t = Tally::default();
    let (Some(id), Some(phone), Some(at)) = (v.id.as_deref(), v.phone_number_id.as_deref(), v.timestamp) else {
        // A status whose message we never stored: nothing to count it against.
        return t;
    };
    let customer = customer_of(v);
    match v.direction {
        Direction::Inbound => {
            t.facts
                .push(fact(format!("in:{id}"), 0, phone, at, one(metric::INBOUND)));
            if let Some(c) = customer {
                // The earliest message wins, whatever order they are processed in.
                t.facts
                    .push(fact(format!("new:{c}"), -at, phone, at, one(metric::NEW_CONTACT)));
                t.points.push(point(phone, at, c, Point::WROTE));
            }
        }
        Direction::Outbound => {
            if let Some(c) = customer {
                t.points.push(point(phone, at, c, Point::MESSAGED));
            }
            let (state, rank) = latest(v);
            if let Some(campaign) = &v.campaign {
                let key = format!("cst:{id}");
                t.facts
                    .push(campaign_fact(key, rank, phone, campaign, campaign_state(v)));
            }
            t.facts.push(fact(
                format!("state:{id}"),
                rank,
                phone,
                at,
                one(format!("{}{state}", metric::STATE)),
            ));
            if v.wamid.is_some() || !v.status_timestamps.is_empty() {
                t.facts
                    .push(fact(format!("acc:{id}"), 0, phone, at, one(metric::ACCEPTED)));
            }
            let events = event_times(v);
            for (status, when) in &events {
                t.facts.push(fact(
                    format!("ev:{id}:{status}"),
                    -when,
                    phone,
                    *when,
                    one(format!("{}{status}", metric::EVENT)),
                ));
            }
            if state == "failed" {
                let (code, title) = v.error.as_ref().map_or((0, "unknown"), |e| (e.code, e.title.as_str()));
                let name = format!("{}{SEP}{code}{SEP}{title}", metric::FAILURE);
                t.facts.push(fact(format!("fail:{id}"), 0, phone, at, one(name)));
            }
            if let Some((name, language, category)) = template_of(v) {
                let mut reached: Vec<&str> = events.iter().map(|(s, _)| *s).filter(|s| *s != "failed").collect();
                if !reached.contains(&"sent") && !reached.is_empty() {
                    reached.push("sent");
                }
                if state == "failed" {
                    reached.push("failed");
                }
                if let Some(cat) = category {
                    let m = template_metric(&name, &language, &format!("category{SEP}{cat}"));
                    t.facts.push(fact(format!("tpl:{id}:category"), 0, phone, at, one(m)));
                }
                for what in reached {
                    let m = template_metric(&name, &language, what);
                    t.facts.push(fact(format!("tpl:{id}:{what}"), 0, phone, at, one(m)));
                }
            }
        }
    }
    t
}

fn point(phone: &str, at: i64, customer: &str, kinds: u8) -> Point {
    Point {
        phone: phone.to_owned(),
        slot: slot_of(at),
        customer: customer.to_owned(),
        kinds,
    }
}

/// That the customer answered our message `sent` (wrote within 24 h after it): its point, and
/// for a template send its `replied` figure, counted once per message in the hour it was created.
/// (The reply rate counts customers from the points; only templates count replies per message.)
pub fn replied(sent: &StoredMessage, customer: &str) -> Tally {
    let at = sent.timestamp_ms;
    let extra = sent.extra.as_ref().map(Json::value);
    let recorded = extra.as_ref().and_then(|e| e.get("template"));
    let mut facts: Vec<Fact> = template_parts(recorded, &sent.msg_type, &sent.content)
        .map(|(name, language, _)| {
            let m = one(template_metric(&name, &language, "replied"));
            fact(format!("rep:{}", sent.id), 0, &sent.phone_number_id, at, m)
        })
        .into_iter()
        .collect();
    if let Some(campaign) = extra.as_ref().and_then(|e| e.get("campaign")).and_then(|c| c.as_str()) {
        let key = format!("crep:{}", sent.id);
        facts.push(campaign_fact(key, 0, &sent.phone_number_id, campaign, "replied"));
    }
    Tally {
        facts,
        points: vec![point(&sent.phone_number_id, at, customer, Point::REPLIED)],
    }
}

/// A wait for our first response: it started with the customer's message `start` (the first
/// since `epoch`, our previous message to them, or ever) and ended at `end_ms` with our next
/// message. Counted in the hour it started; an earlier start found later replaces it.
pub fn waited(customer: &str, epoch: &str, start: &StoredMessage, end_ms: i64) -> Fact {
    let ms = (end_ms - start.timestamp_ms).max(0);
    let mut metrics = vec![
        (metric::WAITS.to_owned(), 1),
        (metric::WAIT_MS.to_owned(), ms),
        (format!("{}{}", metric::WAIT_BIN, histogram::bin(ms)), 1),
    ];
    if ms <= 3_600_000 {
        metrics.push((metric::WITHIN_1H.to_owned(), 1));
    }
    if ms <= DAY_MS {
        metrics.push((metric::WITHIN_24H.to_owned(), 1));
    }
    fact(
        format!("wait:{customer}:{epoch}"),
        -start.timestamp_ms,
        &start.phone_number_id,
        start.timestamp_ms,
        metrics,
    )
}
