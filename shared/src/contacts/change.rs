//! What a contacts request asks to change, checked field by field, and how a change merges into what
//! the business already keeps. Both store adapters merge through [`ContactChange::apply`], so a
//! tag limit or an attribute rule cannot differ between them.

use serde_json::{Map, Value};

use crate::domain::{CustomerKey, Managed};
use crate::outbound::phone;
use crate::outbound::request::{Check, FieldError};

/// Tags one contact may carry.
pub const MAX_TAGS: usize = 50;
/// Longest tag.
pub const MAX_TAG_LEN: usize = 64;
/// Attributes one contact may carry.
pub const MAX_ATTRIBUTES: usize = 100;
/// Longest attribute name.
pub const MAX_ATTRIBUTE_NAME: usize = 64;
/// Longest attribute value, in characters.
pub const MAX_ATTRIBUTE_VALUE: usize = 1024;
/// Longest contact name, in characters.
pub const MAX_NAME: usize = 256;

/// A change to what the business keeps about one contact.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactChange {
    /// `Some(None)` clears the business's name (the profile name shows again).
    pub name: Option<Option<String>>,
    /// Tags to add (already normalised).
    pub add_tags: Vec<String>,
    /// Tags to remove.
    pub remove_tags: Vec<String>,
    /// Attributes to set (`Some`) or clear (`None`).
    pub attributes: Vec<(String, Option<String>)>,
    /// Opt the contact out of marketing, or back in.
    pub opted_out: Option<bool>,
    /// When the customer made that choice (a keyword's or Meta's timestamp): it applies only if
    /// no later choice has been applied, so choices redelivered out of order end as the newest
    /// says. `None` (the API) is a choice made now.
    pub opt_as_of: Option<i64>,
}

impl ContactChange {
    /// Merges the change into `m` at `now_ms`; `Ok(false)` when it changed nothing. A merge that
    /// would break a limit (more than [`MAX_TAGS`] tags) is refused and leaves `m` as it was.
    pub fn apply(&self, m: &mut Managed, now_ms: i64) -> Result<bool, FieldError> {
        let mut next = m.clone();
        if let Some(name) = &self.name {
            next.name.clone_from(name);
        }
        next.tags.retain(|t| !self.remove_tags.contains(t));
        next.tags.extend(self.add_tags.iter().cloned());
        next.tags.sort();
        next.tags.dedup();
        if next.tags.len() > MAX_TAGS {
            return Err(FieldError {
                field: "tags".into(),
                code: "too_many",
                reason: format!(
                    "a contact has at most {MAX_TAGS} tags; this change would give it {}",
                    next.tags.len()
                ),
            });
        }
        for (k, v) in &self.attributes {
            match v {
                Some(v) => next.attributes.insert(k.clone(), v.clone()),
                None => next.attributes.remove(k),
            };
        }
        if next.attributes.len() > MAX_ATTRIBUTES {
            return Err(FieldError {
                field: "attributes".into(),
                code: "too_many",
                reason: format!(
                    "a contact has at most {MAX_ATTRIBUTES} attributes; this change would give it {}",
                    next.attributes.len()
                ),
            });
        }
        let as_of = self.opt_as_of.unwrap_or(now_ms);
        if let Some(out) = self.opted_out
            && m.opt_changed_at.is_none_or(|last| last < as_of)
        {
            if out && !next.opted_out {
                next.opted_out_at = Some(as_of);
            }
            if !out {
                next.opted_out_at = None;
            }
            next.opted_out = out;
            next.opt_changed_at = Some(as_of);
        }
        if next == *m {
            return Ok(false);
        }
        next.updated_at = Some(now_ms);
        *m = next;
        Ok(true)
    }
}

/// A tag as stored: trimmed and lower-cased, then `[a-z0-9_-]{1,64}`.
pub fn tag(raw: &str) -> Result<String, String> {
    let t = raw.trim().to_ascii_lowercase();
    let ok = (1..=MAX_TAG_LEN).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(t)
    } else {
        Err(format!(
            "{raw:?} is not a tag: 1 to {MAX_TAG_LEN} of a-z, 0-9, '_' and '-'"
        ))
    }
}

/// An attribute name: `[A-Za-z0-9_]{1,64}`, so it can be named in a template parameter
/// (`{{attr.first_name}}`).
fn attribute_name(k: &str) -> bool {
    (1..=MAX_ATTRIBUTE_NAME).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The body of `POST /v1/contacts` (and one row of an import): who, and what to set.
pub fn parse_create(body: &Value) -> Result<(CustomerKey, ContactChange), Vec<FieldError>> {
    let mut c = Check::default();
    let Some(o) = body.as_object() else {
        c.err("body", "invalid_type", "must be a JSON object");
        return Err(c.errors);
    };
    unknown_fields(
        &mut c,
        o,
        &["wa_id", "phone", "name", "tags", "attributes", "opted_out"],
    );
    let who = match (o.get("wa_id"), o.get("phone")) {
        (Some(Value::String(w)), None) => Some(("wa_id", w)),
        (None, Some(Value::String(p))) => Some(("phone", p)),
        (None, None) => {
            c.err("wa_id", "required", "give the contact's number as wa_id or phone");
            None
        }
        (Some(_), Some(_)) => {
            c.err("phone", "conflict", "give wa_id or phone, not both");
            None
        }
        (Some(_), None) | (None, Some(_)) => {
            c.err("wa_id", "invalid_type", "must be a string");
            None
        }
    };
    let key = who.and_then(|(field, raw)| match phone::normalize(raw) {
        Ok(w) => CustomerKey::parse(&w).ok(),
        Err(e) => {
            c.err(field, "invalid_phone_number", e.0);
            None
        }
    });
    let mut change = ContactChange::default();
    fields(&mut c, o, &mut change);
    match o.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => change.add_tags = tags(&mut c, "tags", list),
        Some(_) => c.err("tags", "invalid_type", "must be an array of tags"),
    }
    match key {
        Some(k) if c.errors.is_empty() => Ok((k, change)),
        _ => Err(c.errors),
    }
}

/// The body of `PATCH /v1/contacts/{wa_id}`.
pub fn parse_patch(body: &Value) -> Result<ContactChange, Vec<FieldError>> {
    let mut c = Check::default();
    let Some(o) = body.as_object() else {
        c.err("body", "invalid_type", "must be a JSON object");
        return Err(c.errors);
    };
    unknown_fields(&mut c, o, &["name", "tags", "attributes", "opted_out"]);
    let mut change = ContactChange::default();
    fields(&mut c, o, &mut change);
    match o.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Object(t)) => {
            unknown_fields_at(&mut c, "tags", t, &["add", "remove"]);
            for (key, out) in [("add", &mut change.add_tags), ("remove", &mut change.remove_tags)] {
                match t.get(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::Array(list)) => *out = tags(&mut c, &format!("tags.{key}"), list),
                    Some(_) => c.err(format!("tags.{key}"), "invalid_type", "must be an array of tags"),
                }
            }
        }
        Some(_) => c.err("tags", "invalid_type", "must be {\"add\": [...], \"remove\": [...]}"),
    }
    if c.errors.is_empty() { Ok(change) } else { Err(c.errors) }
}

fn unknown_fields(c: &mut Check, o: &Map<String, Value>, known: &[&str]) {
    for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
        c.err(
            k.clone(),
            "unknown_field",
            format!("is not a contact field (known: {})", known.join(", ")),
        );
    }
}

fn unknown_fields_at(c: &mut Check, at: &str, o: &Map<String, Value>, known: &[&str]) {
    for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
        c.err(
            format!("{at}.{k}"),
            "unknown_field",
            format!("use {}", known.join(" or ")),
        );
    }
}

/// `name`, `attributes` and `opted_out`, the same in both bodies.
fn fields(c: &mut Check, o: &Map<String, Value>, change: &mut ContactChange) {
    match o.get("name") {
        None => {}
        Some(Value::Null) => change.name = Some(None),
        Some(Value::String(s)) if s.trim().is_empty() => change.name = Some(None),
        Some(Value::String(s)) => {
            c.max_chars("name", s.trim(), MAX_NAME);
            change.name = Some(Some(s.trim().to_owned()));
        }
        Some(_) => c.err("name", "invalid_type", "must be a string or null"),
    }
    match o.get("attributes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(attrs)) => {
            for (k, v) in attrs {
                let field = format!("attributes.{k}");
                if !attribute_name(k) {
                    c.err(
                        field.clone(),
                        "invalid_name",
                        format!("an attribute name is 1 to {MAX_ATTRIBUTE_NAME} of A-Z, a-z, 0-9 and '_'"),
                    );
                }
                match v {
                    Value::Null => change.attributes.push((k.clone(), None)),
                    Value::String(s) => {
                        c.max_chars(&field, s, MAX_ATTRIBUTE_VALUE);
                        change.attributes.push((k.clone(), Some(s.clone())));
                    }
                    _ => c.err(field, "invalid_type", "an attribute value is a string (null clears it)"),
                }
            }
        }
        Some(_) => c.err("attributes", "invalid_type", "must be an object of strings"),
    }
    match o.get("opted_out") {
        None | Some(Value::Null) => {}
        Some(Value::Bool(b)) => change.opted_out = Some(*b),
        Some(_) => c.err("opted_out", "invalid_type", "must be true or false"),
    }
}

fn tags(c: &mut Check, field: &str, list: &[Value]) -> Vec<String> {
    if list.len() > MAX_TAGS {
        c.err(field, "too_many", format!("a contact has at most {MAX_TAGS} tags"));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        match v.as_str().map(tag) {
            Some(Ok(t)) => out.push(t),
            Some(Err(reason)) => c.err(format!("{field}[{i}]"), "invalid_tag", reason),
            None => c.err(format!("{field}[{i}]"), "invalid_type", "must be a string"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn opt(out: bool, as_of: Option<i64>) -> ContactChange {
        ContactChange {
            opted_out: Some(out),
            opt_as_of: as_of,
            ..ContactChange::default()
        }
    }

    #[test]
    fn opt_choices_apply_in_the_order_they_were_made() {
        let mut m = Managed::default();
        assert!(opt(false, Some(200)).apply(&mut m, 1_000).unwrap(), "START at 200");
        assert!(
            !opt(true, Some(100)).apply(&mut m, 1_000).unwrap(),
            "a STOP from 100 arrives late"
        );
        assert!(!m.opted_out);
        assert!(opt(true, Some(300)).apply(&mut m, 1_000).unwrap());
        assert_eq!(
            (m.opted_out, m.opted_out_at, m.opt_changed_at),
            (true, Some(300), Some(300))
        );
        // The API's change is made now, after every keyword so far.
        assert!(opt(false, None).apply(&mut m, 1_000).unwrap());
        assert_eq!(
            (m.opted_out, m.opted_out_at, m.opt_changed_at),
            (false, None, Some(1_000))
        );
        assert!(
            !opt(true, Some(900)).apply(&mut m, 2_000).unwrap(),
            "older than the API's change"
        );
    }

    fn fields_of(e: &[FieldError]) -> Vec<(&str, &str)> {
        e.iter().map(|e| (e.field.as_str(), e.code)).collect()
    }

    #[test]
    fn a_create_body_normalises_the_number_and_the_tags() {
        let (k, ch) = parse_create(&json!({
            "phone": "+27 82 000 0001", "name": " Thandi ", "tags": ["VIP", " gold-2 "],
            "attributes": {"first_name": "Thandi", "old": null}
        }))
        .unwrap();
        assert_eq!(k.as_str(), "27820000001");
        assert_eq!(ch.name, Some(Some("Thandi".into())));
        assert_eq!(ch.add_tags, ["vip", "gold-2"]);
        assert_eq!(
            ch.attributes,
            [("first_name".into(), Some("Thandi".into())), ("old".into(), None)]
        );
    }

    #[test]
    fn every_wrong_field_is_named() {
        let e = parse_create(&json!({
            "phone": "12", "tags": ["ok", "no spaces", 3], "attributes": {"bad-name": "x", "n": 1},
            "opted_out": "yes", "colour": "red"
        }))
        .unwrap_err();
        assert_eq!(
            fields_of(&e),
            [
                ("colour", "unknown_field"),
                ("phone", "invalid_phone_number"),
                ("attributes.bad-name", "invalid_name"),
                ("attributes.n", "invalid_type"),
                ("opted_out", "invalid_type"),
                ("tags[1]", "invalid_tag"),
                ("tags[2]", "invalid_type"),
            ]
        );
        let e = parse_create(&json!({"name": "x"})).unwrap_err();
        assert_eq!(fields_of(&e), [("wa_id", "required")]);
        let e = parse_patch(&json!({"tags": ["replace"]})).unwrap_err();
        assert_eq!(fields_of(&e), [("tags", "invalid_type")]);
    }

    #[test]
    fn a_merge_adds_and_removes_tags_and_keeps_the_limit() {
        let mut m = Managed::default();
        let add = |tags: &[&str]| ContactChange {
            add_tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..ContactChange::default()
        };
        assert!(add(&["b", "a", "b"]).apply(&mut m, 10).unwrap());
        assert_eq!(m.tags, ["a", "b"]);
        assert_eq!(m.updated_at, Some(10));
        assert!(!add(&["a"]).apply(&mut m, 20).unwrap(), "nothing new: unchanged");
        assert_eq!(m.updated_at, Some(10));
        let many: Vec<String> = (0..MAX_TAGS).map(|i| format!("t{i}")).collect();
        let before = m.clone();
        let e = add(&many.iter().map(String::as_str).collect::<Vec<_>>())
            .apply(&mut m, 30)
            .unwrap_err();
        assert_eq!(e.code, "too_many");
        assert_eq!(m, before, "a refused merge changes nothing");
        let swap = ContactChange {
            remove_tags: vec!["a".into(), "b".into()],
            ..add(&many.iter().map(String::as_str).collect::<Vec<_>>())
        };
        assert!(swap.apply(&mut m, 40).unwrap(), "removals count before the limit");
        assert_eq!(m.tags.len(), MAX_TAGS);
    }

    #[test]
    fn opting_out_is_stamped_and_opting_in_clears_the_stamp() {
        let mut m = Managed::default();
        let out = |b| ContactChange {
            opted_out: Some(b),
            ..ContactChange::default()
        };
        out(true).apply(&mut m, 5).unwrap();
        out(true).apply(&mut m, 9).unwrap();
        assert_eq!(
            (m.opted_out, m.opted_out_at),
            (true, Some(5)),
            "the first opt-out time stays"
        );
        out(false).apply(&mut m, 12).unwrap();
        assert_eq!((m.opted_out, m.opted_out_at), (false, None));
    }
}
