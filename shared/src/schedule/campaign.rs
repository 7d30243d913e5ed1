//! Campaigns: one template to an audience of contacts, at a pace the number can carry.
//!
//! A campaign is a schedule (kind `campaign`) whose document holds its request and its progress;
//! its audience lives in the recipients store, resolved once when it starts. The tick then
//! releases recipients in wa_id order at the campaign's pace: each tick claims the next share
//! (what the pace allows up to one tick ahead), queues each recipient's message under an id
//! derived from the campaign and the wa_id, hidden on the queue until its turn, and moves the
//! cursor past them. A crash after the claim leaves it to be taken over once the lease runs out;
//! queueing again under the same ids stores nothing twice. Pause, resume and cancel are
//! revision-checked writes like the tick's, so a pause stops new sends from the next tick on.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::send::send_body;
use crate::analytics::{SEP, campaign_metric, metric};
use crate::contacts::tag;
use crate::outbound::phone;
use crate::outbound::request::{Check, FieldError, SendCommand, validate};
use crate::timefmt;

/// The kind of a campaign's schedule.
pub const CAMPAIGN: &str = "campaign";
/// Recipients one campaign takes at most (an import's size).
pub const MAX_RECIPIENTS: usize = 100_000;
/// Tags and wa_ids one audience names at most.
pub const MAX_AUDIENCE_LIST: usize = 100;
/// Longest campaign name.
pub const MAX_NAME: usize = 200;
/// The reason of a recipient skipped because the contact opted out.
pub const OPTED_OUT: &str = "opted_out";
/// The number a campaign's send is checked against before any recipient is known.
pub const CHECK_NUMBER: &str = "15550000000";
/// How long a campaign that could not start waits before trying again.
pub const BLOCKED_RETRY_MS: i64 = 60_000;

/// Where a campaign stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for `start_at` (or for its template to become sendable).
    Scheduled,
    /// Sending.
    Running,
    /// Paused by the caller: nothing new is queued until it resumes.
    Paused,
    /// Every recipient handled.
    Completed,
    /// Cancelled by the caller: the recipients not yet queued never are.
    Cancelled,
}

impl State {
    /// As the API shows it.
    pub fn shown(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// Who a campaign goes to: contacts carrying every one of `tags` and, if given, at least one of
/// `any_tags`, plus the numbers in `wa_ids`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    /// Every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// At least one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub any_tags: Vec<String>,
    /// These numbers, contacts or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wa_ids: Vec<String>,
}

impl Audience {
    /// Whether a contact's tags put it in the audience (the `wa_ids` aside).
    pub fn matches_tags(&self, tags: &[String]) -> bool {
        if self.tags.is_empty() && self.any_tags.is_empty() {
            return false;
        }
        self.tags.iter().all(|t| tags.contains(t))
            && (self.any_tags.is_empty() || self.any_tags.iter().any(|t| tags.contains(t)))
    }
}

/// A tick's hold on the next share of recipients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// When it was taken (a claim older than the lease is taken over).
    pub at_ms: i64,
    /// The last wa_id of the share.
    pub upto: String,
}

/// A campaign: its request and its progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    /// Its name.
    pub name: String,
    /// The template object, as a send takes it (`{{attr.<name>}}` filled per recipient).
    pub template: Value,
    /// Who it goes to.
    pub audience: Audience,
    /// When it starts (Unix ms).
    pub start_at_ms: i64,
    /// Messages a second the caller asked for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_mps: Option<f64>,
    /// The business number, if not the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number_id: Option<String>,
    /// Where it stands.
    pub state: State,
    /// Why it has not started though its time has come (its template is not sendable, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    /// When it last tried to start while blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_at_ms: Option<i64>,
    /// Recipients, skipped ones included (known once started).
    #[serde(default)]
    pub total: u64,
    /// Recipients skipped when the audience was resolved (opted out).
    #[serde(default)]
    pub skipped: u64,
    /// Recipients the cursor has passed (queued, refused or skipped).
    #[serde(default)]
    pub handled: u64,
    /// Recipients whose send was refused when their turn came (no message exists for them).
    #[serde(default)]
    pub refused: u64,
    /// Recipients whose turn has come (queued or refused): what the pace counts, so skipped
    /// recipients take none of it.
    #[serde(default)]
    pub released: u64,
    /// The last wa_id handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
    /// The pace runs from here: at `pace_from_ms`, `pace_from` recipients had been released.
    #[serde(default)]
    pub pace_from_ms: i64,
    /// See `pace_from_ms`.
    #[serde(default)]
    pub pace_from: u64,
    /// The share a tick is queueing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<Claim>,
    /// When it started sending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at_ms: Option<i64>,
    /// When the last recipient was handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at_ms: Option<i64>,
    /// When it was last paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_at_ms: Option<i64>,
    /// When it was cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at_ms: Option<i64>,
}

/// The counts of a campaign's recipients, by where each stands: `total` is the sum of all but
/// `replied` (a recipient who replied is also in its message's status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Every recipient.
    pub total: u64,
    /// Skipped when the audience was resolved (opted out).
    pub skipped: u64,
    /// Not queued yet.
    pub pending: u64,
    /// Never queued: the campaign was cancelled first.
    pub cancelled: u64,
    /// Queued or accepted by Meta, no `sent` status yet.
    pub queued: u64,
    /// Latest status `sent`.
    pub sent: u64,
    /// Latest status `delivered`.
    pub delivered: u64,
    /// Latest status `read`.
    pub read: u64,
    /// Failed: refused when its turn came, or the send failed.
    pub failed: u64,
    /// Wrote within 24 h after their campaign message.
    pub replied: u64,
}

impl Campaign {
    /// The effective pace: what the caller asked, at most the number's limit; by default
    /// `default_mps`.
    pub fn pace(&self, default_mps: f64, number_mps: f64) -> f64 {
        self.rate_mps.unwrap_or(default_mps).min(number_mps).max(0.1)
    }

    /// How many recipients the pace allows released by `at_ms`.
    pub fn allowed_by(&self, at_ms: i64, pace: f64) -> u64 {
        let elapsed_s = (at_ms - self.pace_from_ms).max(0) as f64 / 1000.0;
        self.pace_from + (elapsed_s * pace).floor() as u64
    }

    /// When the recipient released as number `index` (0-based) is due by the pace.
    pub fn due_of(&self, index: u64, pace: f64) -> i64 {
        let ahead = index.saturating_sub(self.pace_from) as f64;
        self.pace_from_ms + (ahead * 1000.0 / pace).ceil() as i64
    }

    /// Recipients left to handle.
    pub fn left(&self) -> u64 {
        self.total.saturating_sub(self.handled)
    }

    /// When the tick next has work: the start, a blocked start's retry, the next share (a tick
    /// ahead of its pace), or a claim's lease running out.
    pub fn next_due(&self, lease_ms: i64, horizon_ms: i64, pace: f64) -> Option<i64> {
        match self.state {
            State::Scheduled => Some(match self.blocked_at_ms {
                Some(at) => at + BLOCKED_RETRY_MS,
                None => self.start_at_ms,
            }),
            State::Running => match &self.claim {
                Some(c) => Some(c.at_ms.saturating_add(lease_ms)),
                None if self.left() > 0 => Some(self.due_of(self.released, pace) - horizon_ms),
                // Every recipient handled: the tick marks it completed.
                None => Some(self.pace_from_ms),
            },
            State::Paused | State::Completed | State::Cancelled => None,
        }
    }

    /// The send to one recipient.
    pub fn command(&self, wa_id: &str, campaign_id: &str) -> Result<SendCommand, Vec<FieldError>> {
        let body = send_body(
            wa_id,
            self.phone_number_id.as_deref(),
            json!({"type": "template", "template": self.template}),
        );
        validate(&body).map(|mut cmd| {
            cmd.campaign = Some(campaign_id.to_owned());
            cmd
        })
    }

    /// The counts, from the campaign's own progress and the counters of its messages (metric
    /// name to total, as [`crate::ports::Counters::sums`] gives the campaign's hour).
    pub fn counts(&self, id: &str, metrics: &[(String, i64)]) -> Counts {
        let of = |what: &str| {
            let name = campaign_metric(id, what);
            metrics
                .iter()
                .find(|(m, _)| *m == name)
                .map_or(0, |(_, v)| u64::try_from(*v).unwrap_or(0))
        };
        // Recipients to send to whose turn has not come: skipped ones are counted as skipped
        // wherever the cursor stands.
        let left = self.total.saturating_sub(self.skipped).saturating_sub(self.released);
        let (pending, cancelled) = if self.state == State::Cancelled {
            (0, left)
        } else {
            (left, 0)
        };
        // Queued by the tick but not yet counted (the count is written just after the message):
        // shown as queued, so the counts always add up.
        let sent_for = self.released.saturating_sub(self.refused);
        let (queued, sent, delivered, read, failed) =
            (of("queued"), of("sent"), of("delivered"), of("read"), of("failed"));
        let counted = queued + sent + delivered + read + failed;
        Counts {
            total: self.total,
            skipped: self.skipped,
            pending,
            cancelled,
            queued: queued + sent_for.saturating_sub(counted),
            sent,
            delivered,
            read,
            failed: failed + self.refused,
            replied: of("replied"),
        }
    }

    /// Its status as shown at `now_ms`: a campaign whose time has come shows as running while
    /// the next tick starts it (unless it is blocked).
    pub fn shown(&self, now_ms: i64) -> &'static str {
        match self.state {
            State::Scheduled if self.blocked.is_none() && self.start_at_ms <= now_ms => "running",
            other => other.shown(),
        }
    }

    /// How the API shows it at `now_ms`.
    pub fn view(&self, id: &str, created_at_ms: i64, now_ms: i64, pace: f64, counts: Counts) -> Value {
        let t = |ms: Option<i64>| ms.and_then(timefmt::rfc3339);
        json!({
            "id": id, "name": self.name, "status": self.shown(now_ms), "template": self.template,
            "audience": self.audience, "rate_mps": pace, "phone_number_id": self.phone_number_id,
            "start_at": t(Some(self.start_at_ms)), "created_at": t(Some(created_at_ms)),
            "started_at": t(self.started_at_ms), "completed_at": t(self.completed_at_ms),
            "paused_at": t(self.paused_at_ms), "cancelled_at": t(self.cancelled_at_ms),
            "blocked": self.blocked, "counts": counts,
        })
    }
}

/// Reads a `POST /v1/campaigns` body into a campaign created at `now_ms`.
pub fn parse(body: &Value, now_ms: i64) -> Result<Campaign, Vec<FieldError>> {
    let mut c = Check::default();
    let Some(o) = body.as_object() else {
        c.err("body", "invalid_type", "must be a JSON object");
        return Err(c.errors);
    };
    let known = [
        "name",
        "template",
        "audience",
        "start_at",
        "rate_mps",
        "phone_number_id",
    ];
    for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
        c.err(
            k.clone(),
            "unknown_field",
            format!("is not a campaign field (known: {})", known.join(", ")),
        );
    }
    let name = match o.get("name").and_then(Value::as_str).map(str::trim) {
        Some(n) if !n.is_empty() && n.chars().count() <= MAX_NAME => n.to_owned(),
        _ => {
            c.err(
                "name",
                "required",
                format!("give the campaign a name of 1 to {MAX_NAME} characters"),
            );
            String::new()
        }
    };
    let start_at_ms = match o.get("start_at") {
        None | Some(Value::Null) => now_ms,
        Some(v) => v
            .as_str()
            .and_then(|a| chrono::DateTime::parse_from_rfc3339(a).ok())
            .map(|t| t.timestamp_millis())
            .unwrap_or_else(|| {
                c.err("start_at", "invalid_time", "must be an RFC 3339 time with its offset");
                now_ms
            }),
    };
    let rate_mps = match o.get("rate_mps") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(r) if r > 0.0 && r.is_finite() => Some(r),
            _ => {
                c.err(
                    "rate_mps",
                    "out_of_range",
                    "must be a number of messages a second above 0",
                );
                None
            }
        },
    };
    let phone_number_id = match o.get("phone_number_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => Some(p.clone()),
        Some(_) => {
            c.err(
                "phone_number_id",
                "invalid",
                "must be the business number's id (digits)",
            );
            None
        }
    };
    let audience = audience(&mut c, o.get("audience"));
    let template = o.get("template").cloned().unwrap_or(Value::Null);
    let campaign = Campaign {
        name,
        template,
        audience,
        start_at_ms,
        rate_mps,
        phone_number_id,
        state: State::Scheduled,
        blocked: None,
        blocked_at_ms: None,
        total: 0,
        skipped: 0,
        handled: 0,
        refused: 0,
        released: 0,
        cursor: None,
        pace_from_ms: 0,
        pace_from: 0,
        claim: None,
        started_at_ms: None,
        completed_at_ms: None,
        paused_at_ms: None,
        cancelled_at_ms: None,
    };
    // The template is checked as a send of it to a placeholder number would be.
    if let Err(errors) = campaign.command(CHECK_NUMBER, "check") {
        c.errors.extend(errors.into_iter().filter(|e| e.field != "to"));
    }
    if c.errors.is_empty() {
        Ok(campaign)
    } else {
        Err(c.errors)
    }
}

fn audience(c: &mut Check, v: Option<&Value>) -> Audience {
    let Some(o) = v.and_then(Value::as_object) else {
        c.err(
            "audience",
            "required",
            "give the audience: {\"tags\"?:[...all of], \"any_tags\"?:[...], \"wa_ids\"?:[...]}",
        );
        return Audience::default();
    };
    for k in o
        .keys()
        .filter(|k| !["tags", "any_tags", "wa_ids"].contains(&k.as_str()))
    {
        c.err(
            format!("audience.{k}"),
            "unknown_field",
            "is not an audience field (known: tags, any_tags, wa_ids)",
        );
    }
    let mut list = |key: &str, read: &dyn Fn(&str) -> Result<String, String>| -> Vec<String> {
        let field = format!("audience.{key}");
        let items = match o.get(key) {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) if items.len() <= MAX_AUDIENCE_LIST => items,
            Some(_) => {
                c.err(
                    field,
                    "invalid",
                    format!("must be a list of at most {MAX_AUDIENCE_LIST}"),
                );
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item.as_str().map(read) {
                Some(Ok(x)) if !out.contains(&x) => out.push(x),
                Some(Ok(_)) => {}
                Some(Err(reason)) => c.err(format!("{field}[{i}]"), "invalid", reason),
                None => c.err(format!("{field}[{i}]"), "invalid_type", "must be a string"),
            }
        }
        out
    };
    let tags = list("tags", &tag);
    let any_tags = list("any_tags", &tag);
    let wa_ids = list("wa_ids", &|w| phone::normalize(w).map_err(|e| e.0));
    let a = Audience { tags, any_tags, wa_ids };
    if a.tags.is_empty() && a.any_tags.is_empty() && a.wa_ids.is_empty() {
        c.err("audience", "required", "name at least one tag, any_tag or wa_id");
    }
    a
}

/// The part of `metrics` that belongs to campaign `id`.
pub fn own_metrics(id: &str, metrics: Vec<(String, i64)>) -> Vec<(String, i64)> {
    let prefix = format!("{}{SEP}{id}{SEP}", metric::CAMPAIGN);
    metrics.into_iter().filter(|(m, _)| m.starts_with(&prefix)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> Value {
        json!({"name": "Black Friday", "audience": {"tags": ["vip"]},
               "template": {"name": "promo", "language": {"code": "en"}}})
    }

    #[test]
    fn a_campaign_is_read_with_every_wrong_field_named() {
        let c = parse(&body(), 1_000).unwrap();
        assert_eq!(
            (c.state, c.start_at_ms, c.audience.tags.clone()),
            (State::Scheduled, 1_000, vec!["vip".to_owned()])
        );
        let bad = json!({"name": "", "audience": {"tags": ["Not A Tag!"], "wa_ids": ["12"]}, "rate_mps": 0,
                         "template": {"language": {"code": "en"}}, "colour": "red"});
        let fields: Vec<String> = parse(&bad, 0).unwrap_err().into_iter().map(|e| e.field).collect();
        for f in [
            "name",
            "audience.tags[0]",
            "audience.wa_ids[0]",
            "rate_mps",
            "colour",
            "template.name",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
        let empty = json!({"name": "x", "audience": {}, "template": {"name": "t", "language": {"code": "en"}}});
        assert!(parse(&empty, 0).unwrap_err().iter().any(|e| e.field == "audience"));
    }

    #[test]
    fn the_pace_releases_recipients_at_the_rate_from_its_anchor() {
        let mut c = parse(&body(), 0).unwrap();
        c.pace_from_ms = 10_000;
        c.pace_from = 100;
        assert_eq!(c.allowed_by(10_000, 50.0), 100);
        assert_eq!(c.allowed_by(11_000, 50.0), 150);
        assert_eq!(c.allowed_by(9_000, 50.0), 100, "nothing before the anchor");
        assert_eq!(c.due_of(150, 50.0), 11_000);
        assert_eq!(c.due_of(125, 50.0), 10_500);
        assert_eq!(c.pace(900.0, 1000.0), 900.0);
        c.rate_mps = Some(5000.0);
        assert_eq!(c.pace(900.0, 1000.0), 1000.0, "never above the number's limit");
    }

    #[test]
    fn tags_match_all_of_and_any_of() {
        let a = Audience {
            tags: vec!["vip".into(), "za".into()],
            any_tags: vec!["shoes".into(), "bags".into()],
            wa_ids: vec![],
        };
        let t = |x: &[&str]| x.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(a.matches_tags(&t(&["vip", "za", "bags"])));
        assert!(!a.matches_tags(&t(&["vip", "bags"])), "all of tags");
        assert!(!a.matches_tags(&t(&["vip", "za"])), "one of any_tags");
        assert!(
            !Audience::default().matches_tags(&t(&["vip"])),
            "no tag condition matches no contact"
        );
    }

    #[test]
    fn counts_add_up_to_the_total() {
        let mut c = parse(&body(), 0).unwrap();
        c.state = State::Running;
        c.total = 10;
        c.skipped = 2;
        c.handled = 7; // 1 of the 2 skipped passed, 1 refused, 5 queued
        c.released = 6;
        c.refused = 1;
        let m = |w: &str, v: i64| (campaign_metric("cmp_1", w), v);
        let counts = c.counts(
            "cmp_1",
            &[m("sent", 1), m("delivered", 2), m("read", 1), m("replied", 1)],
        );
        assert_eq!(counts.queued, 1, "queued but not yet counted shows as queued");
        let sum = counts.skipped
            + counts.pending
            + counts.cancelled
            + counts.queued
            + counts.sent
            + counts.delivered
            + counts.read
            + counts.failed;
        assert_eq!((sum, counts.pending, counts.failed, counts.replied), (10, 2, 1, 1));
        c.state = State::Cancelled;
        let counts = c.counts("cmp_1", &[]);
        assert_eq!((counts.pending, counts.cancelled), (0, 2));
    }
}
