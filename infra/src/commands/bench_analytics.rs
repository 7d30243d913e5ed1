//! `wabridge bench-analytics`: seeds the embedded store with a year of a busy number (sessions of
//! customer messages answered by us, statuses, templates, failures) and times a year-by-day and a
//! month-by-hour report at each size, written as a report.
//!
//! Seeding is the documented bulk path: each message goes through the same fact functions the
//! processing path uses (`facts::of_view`, `facts::waited`, `facts::replied`) and into
//! `Counters::tally` in batches; only the pairing of a wait with its answer, and of a reply with
//! the message it answers, is known to the generator instead of read back from stored messages.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use wabridge::adapters::embedded::SqliteStore;
use wabridge::analytics::facts;
use wabridge::analytics::report::{self, AnalyticsQuery};
use wabridge::domain::{CustomerKey, Direction, ErrorInfo, Json, MessageId, StoredMessage};
use wabridge::ports::{Counters, Tally};
use wabridge::read::MessageView;

const PNI: &str = "100000000000001";
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// 2025-11-01T00:00:00Z: the year the data covers.
const START: i64 = 1_761_955_200_000;

/// A small deterministic generator (xorshift), so every run seeds the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n.max(1)) as i64
    }
}

fn stored(
    id: MessageId,
    customer: &str,
    direction: Direction,
    at: i64,
    template: bool,
) -> anyhow::Result<StoredMessage> {
    Ok(StoredMessage {
        id,
        wamid: None,
        phone_number_id: PNI.into(),
        customer: CustomerKey::parse(customer)?,
        wa_id: Some(customer.into()),
        user_id: None,
        direction,
        msg_type: if template { "template" } else { "text" }.into(),
        text: None,
        content: if template {
            Json::from_value(&json!({"name": "order_update", "language": {"code": "en_US"}}))
        } else {
            Json::null()
        },
        context: None,
        referral: None,
        error: None,
        status: "received".into(),
        timestamp_ms: at,
        opens_window: direction == Direction::Inbound,
        profile_name: None,
        extra: None,
    })
}

fn view(m: &StoredMessage, status: &str, timestamps: &[(&str, i64)], error: Option<ErrorInfo>) -> MessageView {
    let template =
        (m.msg_type == "template").then(|| json!({"name": "order_update", "language": "en_US", "category": "UTILITY"}));
    MessageView {
        automation: None,
        id: Some(m.id.to_string()),
        wamid: (m.direction == Direction::Outbound).then(|| format!("wamid.{}", m.id)),
        phone_number_id: Some(PNI.into()),
        wa_id: m.wa_id.clone(),
        user_id: None,
        direction: m.direction,
        msg_type: Some(m.msg_type.clone()),
        text: None,
        content: m.content.clone(),
        status: status.into(),
        error,
        timestamp: Some(m.timestamp_ms),
        status_timestamps: timestamps.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
        context: None,
        referral: None,
        pricing: None,
        biz_opaque_callback_data: None,
        media: None,
        template,
        campaign: None,
    }
}

/// Seeds `messages` messages over the year across `customers` customers.
async fn seed(store: &SqliteStore, messages: u64, customers: u64) -> anyhow::Result<()> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let (mut made, mut batch) = (0u64, Tally::default());
    while made < messages {
        let customer = format!("4477{:08}", rng.below(customers));
        let first = START + rng.below((365 * DAY) as u64);
        let mut at = first;
        let mut firsts = None;
        for _ in 0..1 + rng.below(3) {
            let m = stored(MessageId::new(), &customer, Direction::Inbound, at, false)?;
            batch.extend(facts::of_view(&view(&m, "received", &[], None)));
            firsts.get_or_insert(m);
            at += 30_000 + rng.below(300_000);
            made += 1;
        }
        let answer_at = at + 20_000 + rng.below(2 * HOUR as u64);
        let template = rng.below(5) == 0;
        let out = stored(MessageId::new(), &customer, Direction::Outbound, answer_at, template)?;
        let v = if rng.below(50) == 0 {
            let e = ErrorInfo {
                code: 131_026,
                title: "Message undeliverable".into(),
                details: None,
            };
            view(
                &out,
                "failed",
                &[("sent", answer_at + 1000), ("failed", answer_at + 9000)],
                Some(e),
            )
        } else {
            let ts = [
                ("sent", answer_at + 1000),
                ("delivered", answer_at + 3000),
                ("read", answer_at + 60_000 + rng.below(DAY as u64)),
            ];
            view(&out, "read", &ts, None)
        };
        batch.extend(facts::of_view(&v));
        if let Some(start) = &firsts {
            batch
                .facts
                .push(facts::waited(&customer, &out.id.to_string(), start, answer_at));
        }
        if rng.below(3) == 0 {
            batch.extend(facts::replied(&out, &customer));
        }
        made += 1;
        if batch.facts.len() >= 5_000 {
            store.tally(&std::mem::take(&mut batch)).await?;
        }
    }
    store.tally(&batch).await?;
    Ok(())
}

/// Median of `runs` timings of one report, ms.
async fn time(store: &SqliteStore, q: &AnalyticsQuery, runs: usize) -> anyhow::Result<f64> {
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let r = report::report(store, q).await?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(r);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[runs / 2])
}

fn query(from: &str, to: &str, granularity: &str) -> anyhow::Result<AnalyticsQuery> {
    AnalyticsQuery::parse(Some(from), Some(to), Some(granularity), Some("UTC"), None)
        .map_err(|e| anyhow::anyhow!("bad bench query: {e:?}"))
}

/// Seeds and times each size, and writes the report.
pub async fn run(sizes: &[u64], customers: u64, report: &Path) -> anyhow::Result<()> {
    let year = query("2025-11-01", "2026-11-01", "day")?;
    let month = query("2026-03-01", "2026-04-01", "hour")?;
    let mut rows = Vec::new();
    for &n in sizes {
        let dir = std::env::temp_dir().join(format!("wabridge-bench-analytics-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir)?;
        let store = Arc::new(SqliteStore::open(&dir.join("store.db"))?);
        let t = Instant::now();
        seed(&store, n, customers).await?;
        let seeded = t.elapsed().as_secs_f64();
        let (y, m) = (time(&store, &year, 7).await?, time(&store, &month, 7).await?);
        let check = report::report(store.as_ref(), &year).await?;
        println!(
            "{n} messages: seeded in {seeded:.1} s; year by day {y:.1} ms, month by hour {m:.1} ms ({} inbound, {} outbound counted)",
            check.totals.inbound, check.totals.outbound
        );
        rows.push(format!(
            "| {n} | {} | {} | {seeded:.1} | {y:.1} | {m:.1} |",
            check.totals.inbound + check.totals.outbound,
            check.totals.active_contacts
        ));
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let md = format!(
        "# Analytics report latency (embedded store)\n\n\
         `wabridge bench-analytics`: a year of sessions (1 to 3 customer messages answered by one of ours, \
         a fifth of them templates, 2 % failing) across {customers} customers, seeded through the analytics \
         fact functions; each report timed 7 times, median shown.\n\n\
         | messages | counted | active customers | seed s | year by day, ms | month by hour, ms |\n\
         |---:|---:|---:|---:|---:|---:|\n{}\n",
        rows.join("\n")
    );
    if let Some(parent) = report.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(report, &md)?;
    println!("{md}\nreport written to {}", report.display());
    Ok(())
}
