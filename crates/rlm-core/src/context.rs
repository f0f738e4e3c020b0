//! The context of a run: what the REPL binds as `context` (or `context_N`).

use std::fmt;
use std::sync::Arc;

use serde::Deserializer;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::json::JsonText;

/// A value to bind as `context`: text becomes a Python `str`, JSON becomes
/// the matching Python value (a list of chunks, a dict of documents, ...).
/// Cheap to clone: the data is shared.
#[derive(Clone, PartialEq, Eq)]
pub enum Context {
    /// A Python `str`.
    Text(Arc<str>),
    /// A Python value parsed from JSON.
    Json(JsonText),
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, len) = match self {
            Context::Text(s) => ("Text", s.len()),
            Context::Json(j) => ("Json", j.as_str().len()),
        };
        write!(f, "Context::{kind}({len} bytes)")
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::Text(Arc::from(""))
    }
}

impl From<String> for Context {
    fn from(text: String) -> Self {
        Context::Text(Arc::from(text))
    }
}

impl From<&str> for Context {
    fn from(text: &str) -> Self {
        Context::Text(Arc::from(text))
    }
}

impl From<JsonText> for Context {
    /// A JSON string becomes text; any other value stays JSON.
    fn from(json: JsonText) -> Self {
        if json.is_string() { Context::Text(Arc::from(json.as_text().as_ref())) } else { Context::Json(json) }
    }
}

impl From<Value> for Context {
    fn from(value: Value) -> Self {
        match value {
            Value::String(s) => Context::from(s),
            other => Context::Json(JsonText::from_value(&other)),
        }
    }
}

impl Context {
    /// The context as one prompt, for when it is handed to a plain model call:
    /// text as it is, any other value as its JSON.
    pub fn as_prompt(&self) -> &str {
        match self {
            Context::Text(s) => s,
            Context::Json(j) => j.as_str(),
        }
    }

    /// The context as JSON (text becomes a JSON string).
    pub fn to_json(&self) -> JsonText {
        match self {
            Context::Text(s) => JsonText::string(s),
            Context::Json(j) => j.clone(),
        }
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.as_prompt().len()
    }

    /// Whether it is empty text.
    pub fn is_empty(&self) -> bool {
        matches!(self, Context::Text(s) if s.is_empty())
    }

    /// Describes the context's shape and size for the model, never its
    /// content: `name` is the variable it is bound to.
    pub fn describe(&self, name: &str) -> String {
        match self {
            Context::Text(s) => {
                format!("`{name}` is a str of {} characters in {} lines.", s.chars().count(), s.lines().count())
            }
            Context::Json(j) => {
                let shape = shape(j.as_str());
                match shape {
                    Shape::List { items, total, first } => {
                        let shown: Vec<String> = first.iter().map(usize::to_string).collect();
                        let more = if items > first.len() {
                            format!(", ... ({} more)", items - first.len())
                        } else {
                            String::new()
                        };
                        format!(
                            "`{name}` is a list of {items} chunks, {total} characters in total. Chunk sizes in characters: [{}{more}].",
                            shown.join(", ")
                        )
                    }
                    Shape::Dict { keys } => {
                        format!(
                            "`{name}` is a dict with {keys} keys, {} characters in total as JSON.",
                            j.as_str().chars().count()
                        )
                    }
                    Shape::Scalar => format!(
                        "`{name}` is a {} ({} characters as JSON).",
                        j.python_type(),
                        j.as_str().chars().count()
                    ),
                }
            }
        }
    }
}

/// How many chunk sizes a description lists.
const DESCRIBED_CHUNKS: usize = 20;

enum Shape {
    List { items: usize, total: usize, first: Vec<usize> },
    Dict { keys: usize },
    Scalar,
}

/// The top-level shape of valid JSON text, read without building the value.
fn shape(text: &str) -> Shape {
    struct ShapeVisitor;
    impl<'de> Visitor<'de> for ShapeVisitor {
        type Value = Shape;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
            let (mut items, mut total, mut first) = (0, 0, Vec::new());
            while let Some(raw) = seq.next_element::<&'de RawValue>()? {
                let size = chunk_chars(raw.get());
                items += 1;
                total += size;
                if first.len() < DESCRIBED_CHUNKS {
                    first.push(size);
                }
            }
            Ok(Shape::List { items, total, first })
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
            let mut keys = 0;
            while map.next_key::<IgnoredAny>()?.is_some() {
                map.next_value::<IgnoredAny>()?;
                keys += 1;
            }
            Ok(Shape::Dict { keys })
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Shape, E> {
            Ok(Shape::Scalar)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Shape, E> {
            Ok(Shape::Scalar)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Shape, E> {
            Ok(Shape::Scalar)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Shape, E> {
            Ok(Shape::Scalar)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Shape, E> {
            Ok(Shape::Scalar)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
            Ok(Shape::Scalar)
        }
    }
    let trimmed = text.trim_start();
    if !(trimmed.starts_with('[') || trimmed.starts_with('{')) {
        return Shape::Scalar;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(ShapeVisitor).unwrap_or(Shape::Scalar)
}

/// A chunk's size in characters: a string's own text, anything else its JSON.
fn chunk_chars(raw: &str) -> usize {
    if raw.starts_with('"')
        && let Ok(s) = serde_json::from_str::<std::borrow::Cow<'_, str>>(raw)
    {
        return s.chars().count();
    }
    raw.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn descriptions_give_shape_not_content() {
        let text = Context::from("secret one\nsecret two");
        assert_eq!(text.describe("context"), "`context` is a str of 21 characters in 2 lines.");
        let list = Context::from(json!(["abc", "de", {"k": 1}]));
        assert_eq!(
            list.describe("context"),
            "`context` is a list of 3 chunks, 12 characters in total. Chunk sizes in characters: [3, 2, 7]."
        );
        assert!(!list.describe("context").contains("abc"));
        assert_eq!(
            Context::from(json!({"a": 1})).describe("context_1"),
            "`context_1` is a dict with 1 keys, 7 characters in total as JSON."
        );
        assert_eq!(Context::from(json!(3)).describe("context"), "`context` is a int (1 characters as JSON).");
        let many = Context::from(Value::Array((0..25).map(|_| json!("x")).collect()));
        assert!(many.describe("context").ends_with("1, 1, ... (5 more)]."), "{}", many.describe("context"));
    }

    #[test]
    fn a_json_string_becomes_text() {
        assert_eq!(Context::from(JsonText::string("hi")), Context::from("hi"));
        assert_eq!(Context::from(json!("hi")).as_prompt(), "hi");
        assert_eq!(Context::from(json!([1])).as_prompt(), "[1]");
    }
}
