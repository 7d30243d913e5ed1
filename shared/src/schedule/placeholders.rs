//! `{{<namespace>.<name>}}` placeholders in a scheduled send's template parameters, filled when
//! the send goes: `{{appointment.time}}` from a reminder, `{{attr.first_name}}` from the contact.
//! A placeholder that nothing fills is an error naming it, never text sent to a customer.

use std::collections::BTreeMap;

use serde_json::Value;

/// Replaces every `{{namespace.<name>}}` in the strings of `v` with `lookup(name)`; the first
/// name `lookup` does not know is the error.
pub fn fill(v: &mut Value, namespace: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let open = format!("{{{{{namespace}.");
    match v {
        Value::String(s) if s.contains(&open) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find(&open) {
                out.push_str(&rest[..start]);
                let after = &rest[start + open.len()..];
                let Some(end) = after.find("}}") else {
                    break;
                };
                let name = &after[..end];
                out.push_str(&lookup(name).ok_or_else(|| name.to_owned())?);
                rest = &after[end + 2..];
            }
            out.push_str(rest);
            *s = out;
            Ok(())
        }
        Value::Array(items) => items.iter_mut().try_for_each(|i| fill(i, namespace, lookup)),
        Value::Object(o) => o.values_mut().try_for_each(|i| fill(i, namespace, lookup)),
        _ => Ok(()),
    }
}

/// Fills `{{attr.<name>}}` from the contact's attributes; a missing one is named.
pub fn fill_attributes(v: &mut Value, attributes: &BTreeMap<String, String>) -> Result<(), String> {
    fill(v, "attr", &|name| attributes.get(name).cloned())
        .map_err(|name| format!("the contact has no attribute {name:?} for {{{{attr.{name}}}}}"))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn attributes_fill_their_placeholders_and_a_missing_one_is_named() {
        let attrs = [
            ("first_name".to_owned(), "Thandi".to_owned()),
            ("city".to_owned(), "Durban".to_owned()),
        ]
        .into_iter()
        .collect();
        let mut v = json!({"components": [{"parameters": [
            {"type": "text", "text": "Hi {{attr.first_name}} from {{attr.city}}!"}, {"type": "text", "text": "plain"}]}]});
        fill_attributes(&mut v, &attrs).unwrap();
        assert_eq!(v["components"][0]["parameters"][0]["text"], "Hi Thandi from Durban!");
        assert_eq!(v["components"][0]["parameters"][1]["text"], "plain");
        let mut missing = json!(["{{attr.surname}}"]);
        let e = fill_attributes(&mut missing, &attrs).unwrap_err();
        assert!(e.contains("surname"), "{e}");
    }

    #[test]
    fn other_namespaces_are_left_for_their_own_filler() {
        let mut v = json!("{{appointment.time}} for {{attr.first_name}}");
        fill(&mut v, "appointment", &|n| (n == "time").then(|| "14:30".to_owned())).unwrap();
        assert_eq!(v, "14:30 for {{attr.first_name}}");
    }
}
