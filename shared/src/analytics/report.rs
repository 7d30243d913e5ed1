//! `GET /v1/analytics`: the query, its buckets in the caller's time zone, and the report summed
//! from hour counters and activity points.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::outbound::request::FieldError;
use crate::ports::{Counters, PortError, Sums};

use super::histogram::Histogram;
use super::{SEP, metric, slot_of};

/// Most buckets one report may have.
pub const MAX_BUCKETS: usize = 1_000;

/// How wide each bucket of the series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// Local hours.
    Hour,
    /// Local days (23 or 25 hours on DST days).
    Day,
    /// Local weeks, starting on Monday.
    Week,
    /// Local calendar months.
    Month,
}

impl Granularity {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hour" => Self::Hour,
            "day" => Self::Day,
            "week" => Self::Week,
            "month" => Self::Month,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }
}

/// A validated analytics query and its bucket edges.
#[derive(Debug, Clone)]
pub struct AnalyticsQuery {
    /// Series bucket width.
    pub granularity: Granularity,
    /// Zone the buckets line up with.
    pub tz: Tz,
    /// One business number, or all.
    pub phone_number_id: Option<String>,
    /// Bucket edges, Unix ms: `from`, every local boundary between, `to`.
    pub edges: Vec<i64>,
}

fn field(field: &str, code: &'static str, reason: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_owned(),
        code,
        reason: reason.into(),
    }
}

/// A date (midnight in `tz`) or an RFC 3339 time.
pub(crate) fn instant(name: &str, s: &str, tz: Tz) -> Result<i64, FieldError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_millis());
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| field(name, "invalid", "must be a date (2026-11-01) or an RFC 3339 time"))?;
    local_start(tz, date).ok_or_else(|| field(name, "invalid", "is not a time that exists in tz"))
}

/// When local day `date` starts in `tz` (the first valid time of it, on days that skip midnight).
fn local_start(tz: Tz, date: NaiveDate) -> Option<i64> {
    (0..3).find_map(|h| {
        let t = date.and_hms_opt(h, 0, 0)?;
        tz.from_local_datetime(&t).earliest().map(|t| t.timestamp_millis())
    })
}

/// The next bucket edge after `at` in `tz`.
fn next_edge(at: i64, g: Granularity, tz: Tz) -> Option<i64> {
    let local: NaiveDateTime = Utc.timestamp_millis_opt(at).single()?.with_timezone(&tz).naive_local();
    match g {
        // Hours advance in absolute time, so the repeated hour of a DST change is two buckets.
        Granularity::Hour => {
            let into = i64::from(local.minute()) * 60_000 + i64::from(local.second()) * 1000;
            Some(at - into - i64::from(local.and_utc().timestamp_subsec_millis()) + 3_600_000)
        }
        Granularity::Day => local_start(tz, local.date().checked_add_days(Days::new(1))?),
        Granularity::Week => {
            let back = u64::from(local.weekday().num_days_from_monday());
            let monday = local.date().checked_sub_days(Days::new(back))?;
            local_start(tz, monday.checked_add_days(Days::new(7))?)
        }
        Granularity::Month => {
            let first = local.date().with_day(1)?;
            local_start(tz, first.checked_add_months(Months::new(1))?)
        }
    }
}

impl AnalyticsQuery {
    /// Validates the query parameters, collecting every wrong one.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        granularity: Option<&str>,
        tz: Option<&str>,
        phone_number_id: Option<&str>,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let tz = match tz.unwrap_or("UTC").parse::<Tz>() {
            Ok(tz) => tz,
            Err(_) => {
                errors.push(field(
                    "tz",
                    "invalid",
                    "must be an IANA time zone such as Europe/London",
                ));
                Tz::UTC
            }
        };
        let granularity = match Granularity::parse(granularity.unwrap_or("day")) {
            Some(g) => g,
            None => {
                errors.push(field("granularity", "invalid", "must be hour, day, week or month"));
                Granularity::Day
            }
        };
        let mut bound = |name: &str, v: Option<&str>| match v {
            None => {
                errors.push(field(name, "required", "is required"));
                None
            }
            Some(s) => instant(name, s, tz).map_err(|e| errors.push(e)).ok(),
        };
        let (from, to) = (bound("from", from), bound("to", to));
        if let Some(p) = phone_number_id
            && (p.is_empty() || p.len() > 64 || !p.bytes().all(|b| b.is_ascii_digit()))
        {
            errors.push(field(
                "phone_number_id",
                "invalid",
                "must be a business phone number id (digits)",
            ));
        }
        let (Some(from), Some(to)) = (from, to) else {
            return Err(errors);
        };
        if from >= to {
            errors.push(field("to", "invalid", "must be after from"));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let mut edges = vec![from];
        let mut at = from;
        while at < to {
            let next = next_edge(at, granularity, tz).filter(|n| *n > at).unwrap_or(to).min(to);
            edges.push(next);
            at = next;
            if edges.len() > MAX_BUCKETS + 1 {
                return Err(vec![field(
                    "granularity",
                    "too_many_buckets",
                    format!(
                        "the range holds more than {MAX_BUCKETS} {} buckets",
                        granularity.as_str()
                    ),
                )]);
            }
        }
        Ok(Self {
            granularity,
            tz,
            phone_number_id: phone_number_id.map(str::to_owned),
            edges,
        })
    }

    fn time(&self, ms: i64) -> String {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.with_timezone(&self.tz).to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default()
    }

    /// Hour slots of bucket edges: counters are per hour, so an edge inside an hour (zones with
    /// half-hour offsets) counts that hour in the bucket it starts in.
    fn slot_edges(&self) -> Vec<i64> {
        self.edges.iter().map(|e| slot_of(*e)).collect()
    }
}

/// First-response figures of one bucket.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BucketResponse {
    /// Waits that started in the bucket and were answered.
    pub count: i64,
    /// Median wait, seconds (within 2 %).
    pub median_s: Option<f64>,
    /// 90th percentile wait, seconds (within 2 %).
    pub p90_s: Option<f64>,
}

/// One bucket of the series.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bucket {
    /// Start, in the query's zone.
    pub start: String,
    /// Customer messages.
    pub inbound: i64,
    /// Our messages created.
    pub outbound: i64,
    /// `sent` status events.
    pub sent: i64,
    /// `delivered` events (a read without one counts as delivered at the read).
    pub delivered: i64,
    /// `read` events.
    pub read: i64,
    /// `failed` events.
    pub failed: i64,
    /// Customers whose first message ever came in the bucket.
    pub new_contacts: i64,
    /// Distinct customers who wrote in the bucket.
    pub active_contacts: i64,
    /// Waits for our first response that started in the bucket.
    pub first_response: BucketResponse,
}

/// Totals over the range.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Totals {
    /// Customer messages.
    pub inbound: i64,
    /// Our messages created.
    pub outbound: i64,
    /// Distinct customers with any message.
    pub conversations: i64,
    /// Customers whose first message ever came in the range.
    pub new_contacts: i64,
    /// Distinct customers who wrote.
    pub active_contacts: i64,
    /// Active and not new.
    pub returning_contacts: i64,
}

/// Latest status of the outbound messages created in the range.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatusMix {
    /// Not yet accepted by Meta.
    pub queued: i64,
    /// Accepted, no status yet.
    pub accepted: i64,
    /// Sent.
    pub sent: i64,
    /// Delivered.
    pub delivered: i64,
    /// Read.
    pub read: i64,
    /// Failed.
    pub failed: i64,
}

/// Shares, null when there is nothing to divide by.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rates {
    /// Delivered or read / accepted.
    pub delivery: Option<f64>,
    /// Read / accepted.
    pub read: Option<f64>,
    /// Failed / created.
    pub failure: Option<f64>,
    /// Customers who wrote within 24 h after one of our messages / customers we wrote to.
    pub reply: Option<f64>,
}

/// First-response figures over the range.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FirstResponse {
    /// Answered waits.
    pub count: i64,
    /// Median, seconds (within 2 %).
    pub median_s: Option<f64>,
    /// 90th percentile, seconds (within 2 %).
    pub p90_s: Option<f64>,
    /// Mean, seconds (exact).
    pub mean_s: Option<f64>,
    /// Answered within an hour.
    pub within_1h: i64,
    /// Answered within a day.
    pub within_24h: i64,
}

/// One template's sends created in the range.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct TemplateFigures {
    /// Template name.
    pub name: String,
    /// Language code.
    pub language: String,
    /// Category the sends had (the most common), if known.
    pub category: Option<String>,
    /// Sends Meta reported sent (or beyond).
    pub sent: i64,
    /// Delivered (or read).
    pub delivered: i64,
    /// Read.
    pub read: i64,
    /// Failed.
    pub failed: i64,
    /// The customer wrote within 24 h after.
    pub replied: i64,
}

/// One failure code.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Failure {
    /// Meta's error code (0 when none was given).
    pub code: i64,
    /// Meta's title.
    pub title: String,
    /// Failed messages with it.
    pub count: i64,
}

/// The analytics answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Start, in the zone.
    pub from: String,
    /// End (exclusive), in the zone.
    pub to: String,
    /// Bucket width.
    pub granularity: &'static str,
    /// The zone.
    pub tz: String,
    /// Totals.
    pub totals: Totals,
    /// One entry per bucket, empty ones included.
    pub series: Vec<Bucket>,
    /// Latest statuses.
    pub status: StatusMix,
    /// Rates.
    pub rates: Rates,
    /// Waits for our first response.
    pub first_response: FirstResponse,
    /// Template sends.
    pub templates: Vec<TemplateFigures>,
    /// Failure codes, most frequent first.
    pub failures: Vec<Failure>,
}

#[derive(Default)]
struct Figures {
    inbound: i64,
    outbound: i64,
    events: [i64; 4],
    new: i64,
    hist: Histogram,
}

#[derive(Default)]
struct Template {
    figures: TemplateFigures,
    categories: BTreeMap<String, i64>,
}

#[derive(Default)]
struct Whole {
    status: BTreeMap<String, i64>,
    accepted: i64,
    waits: i64,
    wait_ms: i64,
    within_1h: i64,
    within_24h: i64,
    templates: BTreeMap<(String, String), Template>,
    failures: BTreeMap<i64, BTreeMap<String, i64>>,
}

impl Whole {
    fn add(&mut self, name: &str, v: i64, b: &mut Figures) {
        const EVENTS: [&str; 4] = ["sent", "delivered", "read", "failed"];
        if name == metric::INBOUND {
            b.inbound += v;
        } else if name == metric::NEW_CONTACT {
            b.new += v;
        } else if name == metric::ACCEPTED {
            self.accepted += v;
        } else if let Some(s) = name.strip_prefix(metric::STATE) {
            b.outbound += v;
            *self.status.entry(s.to_owned()).or_default() += v;
        } else if let Some(s) = name.strip_prefix(metric::EVENT) {
            if let Some(i) = EVENTS.iter().position(|e| *e == s) {
                b.events[i] += v;
            }
        } else if let Some(bin) = name.strip_prefix(metric::WAIT_BIN) {
            if let Ok(bin) = bin.parse() {
                b.hist.add(bin, v);
            }
        } else if name == metric::WAITS {
            self.waits += v;
        } else if name == metric::WAIT_MS {
            self.wait_ms += v;
        } else if name == metric::WITHIN_1H {
            self.within_1h += v;
        } else if name == metric::WITHIN_24H {
            self.within_24h += v;
        } else if let Some(rest) = name.strip_prefix(metric::FAILURE).and_then(|r| r.strip_prefix(SEP)) {
            let mut parts = rest.splitn(2, SEP);
            let code = parts.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            let title = parts.next().unwrap_or_default().to_owned();
            *self.failures.entry(code).or_default().entry(title).or_default() += v;
        } else if let Some(rest) = name.strip_prefix(metric::TEMPLATE).and_then(|r| r.strip_prefix(SEP)) {
            let parts: Vec<&str> = rest.split(SEP).collect();
            let [tname, language, what, more @ ..] = parts.as_slice() else {
                return;
            };
            let t = self
                .templates
                .entry(((*tname).to_owned(), (*language).to_owned()))
                .or_default();
            let f = &mut t.figures;
            match *what {
                "sent" => f.sent += v,
                "delivered" => f.delivered += v,
                "read" => f.read += v,
                "failed" => f.failed += v,
                "replied" => f.replied += v,
                "category" => {
                    if let Some(c) = more.first() {
                        *t.categories.entry((*c).to_owned()).or_default() += v;
                    }
                }
                _ => {}
            }
        }
    }
}

fn ratio(a: i64, b: i64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// Sums the counters and activity of the query's range into the report.
pub async fn report(counters: &dyn Counters, q: &AnalyticsQuery) -> Result<Report, PortError> {
    let slots = q.slot_edges();
    let sums = counters.sums(q.phone_number_id.as_deref(), &slots).await?;
    Ok(assemble(q, &sums))
}

fn assemble(q: &AnalyticsQuery, sums: &Sums) -> Report {
    let n = q.edges.len() - 1;
    let mut buckets: Vec<Figures> = (0..n).map(|_| Figures::default()).collect();
    let mut whole = Whole::default();
    for (b, sum) in buckets.iter_mut().zip(&sums.buckets) {
        for (name, v) in &sum.metrics {
            whole.add(name, *v, b);
        }
    }
    let active: Vec<i64> = (0..n).map(|k| sums.buckets.get(k).map_or(0, |b| b.active)).collect();
    let reach = sums.reach;
    let mut hist = Histogram::default();
    let series = buckets
        .iter()
        .zip(&active)
        .enumerate()
        .map(|(k, (b, &active_contacts))| {
            hist.merge(&b.hist);
            Bucket {
                start: q.time(q.edges[k]),
                inbound: b.inbound,
                outbound: b.outbound,
                sent: b.events[0],
                delivered: b.events[1],
                read: b.events[2],
                failed: b.events[3],
                new_contacts: b.new,
                active_contacts,
                first_response: BucketResponse {
                    count: b.hist.count(),
                    median_s: b.hist.quantile_s(0.5),
                    p90_s: b.hist.quantile_s(0.9),
                },
            }
        })
        .collect();
    let st = |s: &str| whole.status.get(s).copied().unwrap_or(0);
    let status = StatusMix {
        queued: st("queued"),
        accepted: st("accepted"),
        sent: st("sent"),
        delivered: st("delivered"),
        read: st("read"),
        failed: st("failed"),
    };
    let inbound = buckets.iter().map(|b| b.inbound).sum();
    let outbound = buckets.iter().map(|b| b.outbound).sum();
    let new_contacts: i64 = buckets.iter().map(|b| b.new).sum();
    let active_contacts = reach.wrote;
    let mut templates: Vec<TemplateFigures> = whole
        .templates
        .into_iter()
        .map(|((name, language), t)| TemplateFigures {
            name,
            language,
            category: t.categories.iter().max_by_key(|(_, c)| **c).map(|(c, _)| c.clone()),
            ..t.figures
        })
        .collect();
    templates.sort_by(|a, b| {
        b.sent
            .cmp(&a.sent)
            .then_with(|| (&a.name, &a.language).cmp(&(&b.name, &b.language)))
    });
    let mut failures: Vec<Failure> = whole
        .failures
        .into_iter()
        .map(|(code, titles)| Failure {
            code,
            count: titles.values().sum(),
            title: titles
                .iter()
                .max_by_key(|(_, c)| **c)
                .map(|(t, _)| t.clone())
                .unwrap_or_default(),
        })
        .filter(|f| f.count > 0)
        .collect();
    failures.sort_by(|a, b| b.count.cmp(&a.count).then(a.code.cmp(&b.code)));
    Report {
        from: q.time(q.edges[0]),
        to: q.time(q.edges[n]),
        granularity: q.granularity.as_str(),
        tz: q.tz.name().to_owned(),
        totals: Totals {
            inbound,
            outbound,
            conversations: reach.any,
            new_contacts,
            active_contacts,
            returning_contacts: (active_contacts - new_contacts).max(0),
        },
        series,
        rates: Rates {
            delivery: ratio(status.delivered + status.read, whole.accepted),
            read: ratio(status.read, whole.accepted),
            failure: ratio(status.failed, outbound),
            reply: ratio(reach.replied, reach.messaged),
        },
        status,
        first_response: FirstResponse {
            count: whole.waits,
            median_s: hist.quantile_s(0.5),
            p90_s: hist.quantile_s(0.9),
            mean_s: ratio(whole.wait_ms, whole.waits).map(|ms| ms / 1000.0),
            within_1h: whole.within_1h,
            within_24h: whole.within_24h,
        },
        templates,
        failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::SLOT_MS;

    fn q(from: &str, to: &str, g: &str, tz: &str) -> AnalyticsQuery {
        match AnalyticsQuery::parse(Some(from), Some(to), Some(g), Some(tz), None) {
            Ok(q) => q,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn days_follow_the_zone_and_dst_days_have_23_or_25_hours() {
        let q = q("2026-10-24", "2026-10-27", "day", "Europe/London");
        let hours: Vec<i64> = q.edges.windows(2).map(|w| (w[1] - w[0]) / SLOT_MS).collect();
        assert_eq!(hours, vec![24, 25, 24]);
        assert_eq!(q.time(q.edges[0]), "2026-10-24T00:00:00+01:00");
        assert_eq!(q.time(q.edges[2]), "2026-10-26T00:00:00Z");
        let spring = self::q("2026-03-29", "2026-03-30", "hour", "Europe/London");
        assert_eq!(spring.edges.len() - 1, 23);
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        let w = q("2026-11-01", "2026-11-20", "week", "UTC");
        let starts: Vec<String> = w.edges.iter().map(|e| w.time(*e)).collect();
        assert_eq!(
            starts,
            [
                "2026-11-01T00:00:00Z",
                "2026-11-02T00:00:00Z",
                "2026-11-09T00:00:00Z",
                "2026-11-16T00:00:00Z",
                "2026-11-20T00:00:00Z"
            ]
        );
        let m = q("2026-01-15", "2026-04-01", "month", "Asia/Kolkata");
        assert_eq!(m.time(m.edges[1]), "2026-02-01T00:00:00+05:30");
        assert_eq!(m.edges.len(), 4);
    }

    #[test]
    fn every_wrong_parameter_is_named() {
        let e = AnalyticsQuery::parse(Some("x"), None, Some("year"), Some("Mars/Base"), Some("abc"))
            .err()
            .unwrap_or_default();
        let fields: Vec<&str> = e.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["tz", "granularity", "from", "to", "phone_number_id"]);
    }
}
