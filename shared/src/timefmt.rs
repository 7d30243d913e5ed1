//! Timestamps: the store keeps Unix milliseconds; the API speaks RFC 3339 UTC.

use chrono::{DateTime, SecondsFormat, Utc};

/// Renders Unix milliseconds as RFC 3339 UTC (`2023-10-11T16:58:29Z`), or `None` when out of range.
pub fn rfc3339(ms: i64) -> Option<String> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Serialises an `i64` of Unix milliseconds as RFC 3339.
pub fn ser_ms<S: serde::Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    match rfc3339(*ms) {
        Some(t) => s.serialize_str(&t),
        None => s.serialize_none(),
    }
}

/// Serialises an `Option<i64>` of Unix milliseconds as RFC 3339 or null.
pub fn ser_opt_ms<S: serde::Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match ms.and_then(rfc3339) {
        Some(t) => s.serialize_str(&t),
        None => s.serialize_none(),
    }
}

/// Serialises a map of status name to Unix milliseconds as a map of RFC 3339 strings.
pub fn ser_ms_map<S: serde::Serializer>(m: &std::collections::BTreeMap<String, i64>, s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut out = s.serialize_map(Some(m.len()))?;
    for (k, v) in m {
        out.serialize_entry(k, &rfc3339(*v))?;
    }
    out.end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_seconds_render_without_fraction() {
        assert_eq!(rfc3339(1_697_043_223_000).as_deref(), Some("2023-10-11T16:53:43Z"));
    }
}
