//! Reading Meta's webhook body in one pass, borrowing from it.
//!
//! Every type here accepts any JSON where it expects an object, array or scalar, and keeps what it
//! did not expect (as a borrowed slice of the body, or a small value) instead of failing: one odd
//! item must not make the whole webhook unreadable, and nothing Meta sends may be dropped. Only the
//! fields the pipeline interprets are decoded; content, context, pricing and the rest stay borrowed
//! text until they are copied once into the stored record.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// An object key, borrowed unless it had escapes.
pub(super) struct Key<'a>(pub(super) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Builds the "anything else" arms of a visitor: each JSON shape the visitor did not ask for is
/// read whole into a `Value` and handed to `$other`.
macro_rules! other_shapes {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok($other(Value::Bool(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok($other(Value::from(v)))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok($other(Value::from(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok($other(Value::from(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok($other(Value::from(v)))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($other(Value::Null))
        }
    };
}

macro_rules! other_map {
    ($other:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            Value::deserialize(MapAccessDeserializer::new(map)).map($other)
        }
    };
}

macro_rules! other_seq {
    ($other:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            Value::deserialize(SeqAccessDeserializer::new(seq)).map($other)
        }
    };
}

/// A scalar field: a string (borrowed where possible), a number, or whatever else was there.
#[derive(Debug)]
pub(super) enum Scalar<'a> {
    Str(Cow<'a, str>),
    Num(Number),
    Other(Value),
}

impl<'a> Scalar<'a> {
    /// The text, when it was a string.
    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// An id, which Meta writes as a string and now and then as a number.
    pub(super) fn id_text(&self) -> Option<String> {
        match self {
            Self::Str(s) => Some(s.to_string()),
            Self::Num(n) => Some(n.to_string()),
            Self::Other(_) => None,
        }
    }

    /// A `timestamp` in Unix seconds, as a string (most payloads) or a number (some), in ms.
    pub(super) fn timestamp_ms(&self) -> Option<i64> {
        let secs = match self {
            Self::Str(s) => s.trim().parse::<i64>().ok()?,
            Self::Num(n) => n.as_i64()?,
            Self::Other(_) => return None,
        };
        secs.checked_mul(1000)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Scalar<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Num(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Num(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar<'a>, E> {
                Ok(Number::from_f64(v).map_or(Scalar::Other(Value::Null), Scalar::Num))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other(Value::Bool(v)))
            }
            fn visit_unit<E>(self) -> Result<Scalar<'a>, E> {
                Ok(Scalar::Other(Value::Null))
            }
            other_map!(Scalar::Other);
            other_seq!(Scalar::Other);
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// An array read item by item, or whatever else stood where the array was expected.
pub(super) enum Seq<T> {
    Items(Vec<T>),
    Other(Value),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Seq<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Seq<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Seq<T>, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Seq::Items(items))
            }
            other_shapes!(Seq::Other);
            other_map!(Seq::Other);
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<T> Seq<T> {
    /// The items; nothing when it was not an array.
    pub(super) fn into_items(self) -> Vec<T> {
        match self {
            Self::Items(items) => items,
            Self::Other(_) => Vec::new(),
        }
    }
}

/// An object read key by key into `Self`; anything that is not an object is handed to
/// [`Fields::other`] whole.
pub(super) trait Fields<'de>: Default {
    /// Reads the value of `key`. Unknown keys must still be read (or skipped) from `map`.
    fn field<A: MapAccess<'de>>(&mut self, key: Key<'de>, map: &mut A) -> Result<(), A::Error>;

    /// What to keep when a non-object stood here. Most places keep nothing.
    fn other(value: Value) -> Self {
        drop(value);
        Self::default()
    }
}

/// Deserializes a [`Fields`] type from any JSON.
pub(super) struct Obj<T>(pub(super) T);

impl<'de, T: Fields<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Fields<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Obj<T>, A::Error> {
                let mut t = T::default();
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    t.field(key, &mut map)?;
                }
                Ok(Obj(t))
            }
            other_shapes!(|v| Obj(T::other(v)));
            other_seq!(|v| Obj(T::other(v)));
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Skips a value the reader has no use for.
pub(super) fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(drop)
}

/// The webhook: `{"object", "entry": [...]}`. `entry` is `None` when it is missing or not an array.
#[derive(Default)]
pub(super) struct Root<'a> {
    pub(super) entry: Option<Vec<Obj<Entry<'a>>>>,
}

impl<'de> Fields<'de> for Root<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Key<'de>, map: &mut A) -> Result<(), A::Error> {
        match &*key.0 {
            "entry" => {
                self.entry = match map.next_value::<Seq<Obj<Entry<'de>>>>()? {
                    Seq::Items(items) => Some(items),
                    Seq::Other(_) => None,
                }
            }
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// One `entry[]`: a WhatsApp Business Account and its changes.
#[derive(Default)]
pub(super) struct Entry<'a> {
    pub(super) id: Option<Scalar<'a>>,
    pub(super) time: Option<Scalar<'a>>,
    pub(super) changes: Vec<Obj<Change<'a>>>,
}

impl<'de> Fields<'de> for Entry<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Key<'de>, map: &mut A) -> Result<(), A::Error> {
        match &*key.0 {
            "id" => self.id = Some(map.next_value()?),
            "time" => self.time = Some(map.next_value()?),
            "changes" => self.changes = map.next_value::<Seq<_>>()?.into_items(),
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// One `changes[]`: a `field` and its `value`. The value usually comes first, so it is read in a
/// shape that serves both a `messages` change and any other one.
pub(super) struct Change<'a> {
    pub(super) field: Option<Scalar<'a>>,
    pub(super) value: Obj<ChangeValue<'a>>,
}

impl Default for Change<'_> {
    fn default() -> Self {
        // A change without a value carries JSON null, as a missing value reads.
        Self {
            field: None,
            value: Obj(ChangeValue::other(Value::Null)),
        }
    }
}

impl<'de> Fields<'de> for Change<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Key<'de>, map: &mut A) -> Result<(), A::Error> {
        match &*key.0 {
            "field" => self.field = Some(map.next_value()?),
            "value" => self.value = map.next_value()?,
            _ => skip(map)?,
        }
        Ok(())
    }
}

/// What a key of a change's value held: `messages` and `statuses` are read item by item, every
/// other key is kept as borrowed text.
pub(super) enum Part<'a> {
    Raw(&'a RawValue),
    Items(Seq<Obj<Item<'a>>>),
}

/// A change's `value`, key by key, or whatever else stood there.
#[derive(Default)]
pub(super) struct ChangeValue<'a> {
    pub(super) parts: Vec<(Cow<'a, str>, Part<'a>)>,
    pub(super) other: Option<Value>,
}

impl<'de> Fields<'de> for ChangeValue<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Key<'de>, map: &mut A) -> Result<(), A::Error> {
        let part = match &*key.0 {
            "messages" | "statuses" => Part::Items(map.next_value()?),
            _ => Part::Raw(map.next_value()?),
        };
        self.parts.push((key.0, part));
        Ok(())
    }

    fn other(value: Value) -> Self {
        Self {
            parts: Vec::new(),
            other: Some(value),
        }
    }
}

impl<'a> ChangeValue<'a> {
    /// The raw text of a key that is kept as text.
    pub(super) fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.parts.iter().rev().find_map(|(k, p)| match p {
            Part::Raw(raw) if k == key => Some(*raw),
            _ => None,
        })
    }

    /// Takes the items of `messages` or `statuses`; nothing when absent or not an array.
    pub(super) fn take_items(&mut self, key: &str) -> Vec<Obj<Item<'a>>> {
        let found = self.parts.iter_mut().rev().find_map(|(k, p)| match p {
            Part::Items(items) if k == key => Some(std::mem::replace(items, Seq::Items(Vec::new()))),
            _ => None,
        });
        found.map(Seq::into_items).unwrap_or_default()
    }

    /// The value as it was received.
    pub(super) fn to_value(&self) -> Value {
        if let Some(v) = &self.other {
            return v.clone();
        }
        let mut obj = Map::new();
        for (k, part) in &self.parts {
            let v = match part {
                Part::Raw(raw) => raw_value(raw),
                Part::Items(Seq::Items(items)) => Value::Array(items.iter().map(|i| i.0.to_value()).collect()),
                Part::Items(Seq::Other(v)) => v.clone(),
            };
            obj.insert(k.clone().into_owned(), v);
        }
        Value::Object(obj)
    }
}

/// Parses borrowed text already known to be JSON.
pub(super) fn raw_value(raw: &RawValue) -> Value {
    serde_json::from_str(raw.get()).unwrap_or(Value::Null)
}

/// One item of `messages[]` or `statuses[]`: every key kept as borrowed text, in order. Items have
/// a handful of keys, so finding one by a linear walk beats building a map.
pub(super) struct Item<'a> {
    pub(super) fields: Vec<(Cow<'a, str>, &'a RawValue)>,
    pub(super) other: Option<Value>,
}

impl Default for Item<'_> {
    fn default() -> Self {
        // Meta's items carry five to ten keys: one allocation for most of them.
        Self {
            fields: Vec::with_capacity(8),
            other: None,
        }
    }
}

impl<'de> Fields<'de> for Item<'de> {
    fn field<A: MapAccess<'de>>(&mut self, key: Key<'de>, map: &mut A) -> Result<(), A::Error> {
        self.fields.push((key.0, map.next_value()?));
        Ok(())
    }

    fn other(value: Value) -> Self {
        Self {
            fields: Vec::new(),
            other: Some(value),
        }
    }
}

impl<'a> Item<'a> {
    /// The text of a key (the last one, as a JSON parser would keep), left in place.
    pub(super) fn raw(&self, key: &str) -> Option<&'a RawValue> {
        self.fields.iter().rev().find(|(k, _)| k == key).map(|(_, r)| *r)
    }

    /// Removes and returns the text of a key.
    pub(super) fn take(&mut self, key: &str) -> Option<&'a RawValue> {
        let i = self.fields.iter().rposition(|(k, _)| k == key)?;
        Some(self.fields.remove(i).1)
    }

    /// A scalar field.
    pub(super) fn scalar(&self, key: &str) -> Option<Scalar<'a>> {
        self.raw(key).map(scalar)
    }

    /// A field that is a string, borrowed from the body where it can be.
    pub(super) fn str(&self, key: &str) -> Option<Cow<'a, str>> {
        match self.scalar(key)? {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The item as it was received, but for the keys in `skip`.
    pub(super) fn to_value_without(&self, skip: &[&str]) -> Value {
        if let Some(v) = &self.other {
            return v.clone();
        }
        let obj: Map<String, Value> = self
            .fields
            .iter()
            .filter(|(k, _)| !skip.contains(&&**k))
            .map(|(k, raw)| (k.clone().into_owned(), raw_value(raw)))
            .collect();
        Value::Object(obj)
    }

    /// The item as it was received.
    pub(super) fn to_value(&self) -> Value {
        self.to_value_without(&[])
    }
}

/// Reads a scalar kept as text. A string without escapes (nearly all of Meta's ids, numbers and
/// timestamps) is borrowed straight from the text without running the parser.
pub(super) fn scalar(raw: &RawValue) -> Scalar<'_> {
    let text = raw.get();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && !inner.contains('\\')
    {
        return Scalar::Str(Cow::Borrowed(inner));
    }
    serde_json::from_str(text).unwrap_or(Scalar::Other(Value::Null))
}
