//! JSON kept as text: the parts of Meta's payloads we store and serve but do not interpret.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A piece of JSON kept exactly as it was received (a message's content, its context, a status's
/// pricing): copied once from the webhook body, stored and served as text, parsed only when
/// something needs to look inside. Building a `serde_json::Value` tree for every field of every
/// webhook would cost more than verifying its signature.
#[derive(Clone)]
pub struct Json(Box<RawValue>);

impl Json {
    /// JSON `null`.
    pub fn null() -> Self {
        Self::from_raw(RawValue::NULL)
    }

    /// Copies already-validated JSON text.
    pub fn from_raw(raw: &RawValue) -> Self {
        Self(raw.to_owned())
    }

    /// Serializes a value tree. A `Value` always serializes, so this cannot fail.
    pub fn from_value(value: &Value) -> Self {
        match serde_json::value::to_raw_value(value) {
            Ok(raw) => Self(raw),
            Err(_) => Self::null(),
        }
    }

    /// The JSON text, exactly as received.
    pub fn text(&self) -> &str {
        self.0.get()
    }

    /// Whether this is JSON `null`.
    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }

    /// Parses the text into a value tree, for code that needs to look inside.
    pub fn value(&self) -> Value {
        serde_json::from_str(self.0.get()).unwrap_or(Value::Null)
    }
}

impl From<Value> for Json {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

/// Equal when the JSON means the same (key order and spacing aside).
impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text() || self.value() == other.value()
    }
}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keeps_the_text_as_received_and_compares_by_meaning() {
        let raw: Json = serde_json::from_str(r#"{"b": 1,"a":[true, null]}"#).unwrap();
        assert_eq!(raw.text(), r#"{"b": 1,"a":[true, null]}"#);
        assert_eq!(raw, Json::from_value(&json!({"a": [true, null], "b": 1})));
        assert_eq!(raw.value()["a"][0], json!(true));
        assert!(Json::null().is_null() && Json::null().value().is_null());
        let nested = serde_json::to_string(&json!({"x": raw})).unwrap();
        assert_eq!(nested, r#"{"x":{"a":[true,null],"b":1}}"#);
    }
}
