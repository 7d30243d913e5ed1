//! Analytics: message volume, status mix, response times, template performance and engagement,
//! kept as counters that reactions bump exactly once, so a report reads hours, never messages.
//!
//! Every message and status turns into [`crate::ports::Fact`]s (see [`facts`]) keyed by what they
//! count, and into activity [`crate::ports::Point`]s. The [`Recorder`] derives them from the
//! stored message joined with its statuses, so running it again (a redelivered webhook, a crash
//! healed, a status that arrived before the send returned) adds nothing, and the counters after a
//! [`rebuild`] are the ones the live path keeps.

pub mod facts;
pub mod histogram;
pub mod rebuild;
pub mod record;
pub mod report;

pub use record::Recorder;
pub use report::{AnalyticsQuery, Granularity, Report};

/// Counters are kept per hour (UTC hours, which every zone's hours line up with except the few
/// with half- and quarter-hour offsets).
pub const SLOT_MS: i64 = 3_600_000;

/// The hour `ms` falls in.
pub fn slot_of(ms: i64) -> i64 {
    ms.div_euclid(SLOT_MS)
}

/// The hour a campaign's figures are counted in: one of the hours of the 1970s, which hold no
/// messages, so a campaign's counts are one read (its hour's counters) and never show up in a
/// report of real hours. Derived from the campaign id, so every fact of a campaign lands there.
pub fn campaign_slot(campaign: &str) -> i64 {
    // FNV-1a: stable across releases and platforms, unlike std's hasher.
    let hash = campaign.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    1 + i64::try_from(hash % CAMPAIGN_HOURS).unwrap_or(0)
}

/// How many hours campaign figures spread over (ten years').
const CAMPAIGN_HOURS: u64 = 87_600;

/// A campaign figure's metric name: `what` is a recipient's latest state (`queued`, `sent`,
/// `delivered`, `read`, `failed`) or `replied`.
pub fn campaign_metric(campaign: &str, what: &str) -> String {
    format!("{}{SEP}{campaign}{SEP}{what}", metric::CAMPAIGN)
}

/// Separates the parts of a composite metric name (template name, language, what).
pub const SEP: char = '\u{1f}';

/// Metric names.
pub mod metric {
    /// A customer message, by Meta's timestamp.
    pub const INBOUND: &str = "in";
    /// A customer's first message ever.
    pub const NEW_CONTACT: &str = "new";
    /// An outbound message Meta accepted (has a wamid), by its creation hour.
    pub const ACCEPTED: &str = "acc";
    /// Prefix of an outbound message's latest status, by its creation hour (`st.read`).
    pub const STATE: &str = "st.";
    /// Prefix of a status event, by the status's time (`ev.delivered`).
    pub const EVENT: &str = "ev.";
    /// Prefix of a failure code of a failed outbound message, by its creation hour.
    pub const FAILURE: &str = "fail";
    /// Prefix of a template send's figure, by its creation hour.
    pub const TEMPLATE: &str = "tpl";
    /// Prefix of a campaign's figure, in the campaign's own hour ([`super::campaign_slot`]).
    pub const CAMPAIGN: &str = "cmp";
    /// A finished wait for our first response, by the hour it started.
    pub const WAITS: &str = "fr.n";
    /// The waits' total length in ms (for the exact mean).
    pub const WAIT_MS: &str = "fr.ms";
    /// Waits answered within an hour.
    pub const WITHIN_1H: &str = "fr.1h";
    /// Waits answered within a day.
    pub const WITHIN_24H: &str = "fr.24h";
    /// Prefix of a wait-length histogram bin (`fr.b42`).
    pub const WAIT_BIN: &str = "fr.b";
}
