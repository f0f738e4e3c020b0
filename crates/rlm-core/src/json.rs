//! JSON values that crossed a trust boundary, kept as validated text.
//!
//! Answers, sub-RLM contexts and variables read from a sandbox come from
//! untrusted guest code. Parsing them into a [`serde_json::Value`] tree costs
//! 50–190 times their size in host memory, so they stay text: [`JsonText`] is
//! JSON that was checked once (size, syntax, nesting, duplicate keys) and is
//! passed on as it is. Text also keeps what a tree would lose: key order and
//! integers of any size (`2**64 + 1`, `10**400`).

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// How deeply arrays and objects may nest in a [`JsonText`]. Below
/// `serde_json`'s own recursion limit (128), so every checked value can also
/// become a [`Value`] and be dropped without exhausting the host's stack.
pub const MAX_JSON_DEPTH: usize = 100;

/// JSON text that passed [`JsonText::parse`]: well-formed, nested at most
/// [`MAX_JSON_DEPTH`] deep, without duplicate object keys. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct JsonText(Arc<str>);

/// Why a text is not an acceptable [`JsonText`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is longer than the cap.
    #[error("the value is {size} bytes of JSON; the limit is {limit} bytes")]
    TooLarge {
        /// Its size in bytes.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The bytes are not UTF-8.
    #[error("the value is not valid UTF-8")]
    NotUtf8,
    /// The text is not JSON, nests too deeply or repeats a key.
    #[error("{0}")]
    Invalid(String),
}

impl JsonText {
    /// Checks `text`: at most `max_bytes` long, valid JSON, nested at most
    /// [`MAX_JSON_DEPTH`] deep, and no object with the same key twice (a
    /// Python dict mixing `1` and `"1"` keys would otherwise lose one silently).
    pub fn parse(text: &str, max_bytes: usize) -> Result<JsonText, JsonError> {
        if text.len() > max_bytes {
            return Err(JsonError::TooLarge { size: text.len(), limit: max_bytes });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        Check { depth: 0 }.deserialize(&mut de).map_err(|e| JsonError::Invalid(e.to_string()))?;
        de.end().map_err(|e| JsonError::Invalid(e.to_string()))?;
        Ok(JsonText(Arc::from(text.trim())))
    }

    /// As [`JsonText::parse`], from bytes that should be UTF-8. The size is
    /// checked before anything else.
    pub fn parse_bytes(bytes: &[u8], max_bytes: usize) -> Result<JsonText, JsonError> {
        if bytes.len() > max_bytes {
            return Err(JsonError::TooLarge { size: bytes.len(), limit: max_bytes });
        }
        let text = std::str::from_utf8(bytes).map_err(|_| JsonError::NotUtf8)?;
        JsonText::parse(text, max_bytes)
    }

    /// The JSON text of a value the host built itself.
    pub fn from_value(value: &Value) -> JsonText {
        JsonText(Arc::from(value.to_string()))
    }

    /// A JSON string holding `text`.
    pub fn string(text: &str) -> JsonText {
        JsonText::from_value(&Value::String(text.to_owned()))
    }

    /// The JSON `null`.
    pub fn null() -> JsonText {
        JsonText(Arc::from("null"))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a tree. Integers beyond 64 bits become floats there; use
    /// the text when they matter.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.0).expect("a JsonText is valid JSON")
    }

    /// A JSON string's text; any other value as its JSON.
    pub fn as_text(&self) -> Cow<'_, str> {
        if self.0.starts_with('"')
            && let Ok(s) = serde_json::from_str::<String>(&self.0)
        {
            return Cow::Owned(s);
        }
        Cow::Borrowed(&self.0)
    }

    /// Whether the value is a JSON string.
    pub fn is_string(&self) -> bool {
        self.0.starts_with('"')
    }

    /// The value's type, named as Python names it (`str`, `int`, `list`, ...).
    pub fn python_type(&self) -> &'static str {
        match self.0.as_bytes().first() {
            Some(b'"') => "str",
            Some(b'[') => "list",
            Some(b'{') => "dict",
            Some(b't' | b'f') => "bool",
            Some(b'n') => "None",
            _ if self.0.contains(['.', 'e', 'E']) => "float",
            _ => "int",
        }
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonText({})", &self.0)
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        JsonText::from_value(value)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        JsonText::from_value(&value)
    }
}

impl PartialEq<Value> for JsonText {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

/// Serialised as the JSON value itself, not as a string holding it.
impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = serde_json::value::RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        JsonText::parse(raw.get(), usize::MAX).map_err(de::Error::custom)
    }
}

/// Walks a JSON value without building it: checks nesting and duplicate keys.
struct Check {
    depth: usize,
}

impl Check {
    fn deeper<E: de::Error>(&self) -> Result<Check, E> {
        if self.depth >= MAX_JSON_DEPTH {
            return Err(E::custom(format_args!("the value nests deeper than {MAX_JSON_DEPTH} levels")));
        }
        Ok(Check { depth: self.depth + 1 })
    }
}

impl<'de> DeserializeSeed<'de> for Check {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.deeper()?;
        while seq.next_element_seed(Check { depth: inner.depth })?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys: HashSet<Cow<'de, str>> = HashSet::new();
        let mut inner = None;
        while let Some(key) = map.next_key::<CowKey<'de>>()? {
            // With `arbitrary_precision`, serde_json hands every number over
            // as a one-entry map under this key: a number, not an object.
            if keys.is_empty() && key.0 == NUMBER_TOKEN {
                map.next_value::<de::IgnoredAny>()?;
                return Ok(());
            }
            let depth = match &inner {
                Some(Check { depth }) => *depth,
                None => inner.insert(self.deeper()?).depth,
            };
            if keys.contains(key.0.as_ref()) {
                let shown: String = key.0.chars().take(80).collect();
                return Err(de::Error::custom(format_args!(
                    "the key {shown:?} appears twice in one object (a dict mixing keys such as 1 and \"1\"?)"
                )));
            }
            keys.insert(key.0);
            map.next_value_seed(Check { depth })?;
        }
        if inner.is_none() {
            self.deeper::<A::Error>()?;
        }
        Ok(())
    }
}

/// The key under which serde_json's `arbitrary_precision` passes numbers.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// An object key, borrowed from the text when it has no escapes.
struct CowKey<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for CowKey<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = CowKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<CowKey<'de>, E> {
                Ok(CowKey(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<CowKey<'de>, E> {
                Ok(CowKey(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_big_integers_and_key_order() {
        let text = JsonText::parse(r#"{"z": 18446744073709551617, "a": 1e400, "m": [1, 2]}"#, 1000).unwrap();
        assert_eq!(text.as_str(), r#"{"z": 18446744073709551617, "a": 1e400, "m": [1, 2]}"#);
        #[derive(Serialize)]
        struct Wrapper {
            answer: JsonText,
        }
        let out = serde_json::to_string(&Wrapper { answer: text.clone() }).unwrap();
        assert_eq!(out, r#"{"answer":{"z": 18446744073709551617, "a": 1e400, "m": [1, 2]}}"#);
        // Through a tree the same number survives too (arbitrary precision).
        assert_eq!(json!({"answer": text})["answer"]["z"].to_string(), "18446744073709551617");
    }

    #[test]
    fn refuses_what_cannot_be_represented() {
        assert!(matches!(JsonText::parse("[1, 2", 100), Err(JsonError::Invalid(_))));
        assert!(matches!(JsonText::parse("[1] [2]", 100), Err(JsonError::Invalid(_))));
        assert_eq!(JsonText::parse("\"abcdef\"", 4), Err(JsonError::TooLarge { size: 8, limit: 4 }));
        let dup = JsonText::parse(r#"{"1": "a", "1": "b"}"#, 100).unwrap_err();
        assert!(dup.to_string().contains("appears twice"), "{dup}");
        let deep = format!("{}{}", "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
        assert!(JsonText::parse(&deep, usize::MAX).unwrap_err().to_string().contains("nests deeper"));
        let ok = format!("{}{}", "[".repeat(MAX_JSON_DEPTH), "]".repeat(MAX_JSON_DEPTH));
        assert!(JsonText::parse(&ok, usize::MAX).unwrap().to_value().is_array());
        assert_eq!(JsonText::parse_bytes(b"\"\xff\"", 100), Err(JsonError::NotUtf8));
        assert!(JsonText::parse(r#""\udcff""#, 100).is_err(), "a lone surrogate escape is not text");
    }

    #[test]
    fn text_and_types() {
        assert_eq!(JsonText::string("a\"b").as_text(), "a\"b");
        assert_eq!(JsonText::parse("[1]", 10).unwrap().as_text(), "[1]");
        assert_eq!(JsonText::parse(" 2.5 ", 10).unwrap().python_type(), "float");
        assert_eq!(JsonText::parse("-3", 10).unwrap().python_type(), "int");
        let round: JsonText = serde_json::from_str(r#"{"a": [1]}"#).unwrap();
        assert_eq!(round, json!({"a": [1]}));
    }
}
