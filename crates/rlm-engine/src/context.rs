//! The context a run starts from, and how it is described to the model.

use rlm_sandbox::Context as SandboxContext;
use serde_json::Value;

/// The context of a completion: text, or any JSON value (a list of chunks,
/// a dict of documents, ...).
#[derive(Clone, Debug, PartialEq)]
pub enum ContextInput {
    /// Becomes a Python `str`.
    Text(String),
    /// Becomes the matching Python value.
    Json(Value),
}

impl From<String> for ContextInput {
    fn from(text: String) -> Self {
        ContextInput::Text(text)
    }
}

impl From<&str> for ContextInput {
    fn from(text: &str) -> Self {
        ContextInput::Text(text.to_owned())
    }
}

impl From<Value> for ContextInput {
    fn from(value: Value) -> Self {
        match value {
            Value::String(s) => ContextInput::Text(s),
            other => ContextInput::Json(other),
        }
    }
}

impl ContextInput {
    pub(crate) fn into_sandbox(self) -> SandboxContext {
        match self {
            ContextInput::Text(s) => SandboxContext::Text(s),
            ContextInput::Json(v) => SandboxContext::Json(v),
        }
    }

    /// The context as a JSON value (for logs and for `rlm_query` at the
    /// depth limit, where it becomes a prompt).
    pub(crate) fn as_prompt(&self) -> String {
        match self {
            ContextInput::Text(s) => s.clone(),
            ContextInput::Json(v) => v.to_string(),
        }
    }

    /// Describes the shape and size of the context without its content.
    pub(crate) fn describe(&self) -> String {
        match self {
            ContextInput::Text(s) => format!(
                "`context` is a str of {} characters in {} lines.",
                s.chars().count(),
                s.lines().count()
            ),
            ContextInput::Json(Value::Array(items)) => {
                let sizes: Vec<usize> = items.iter().map(chars).collect();
                let total: usize = sizes.iter().sum();
                let shown: Vec<String> = sizes.iter().take(20).map(usize::to_string).collect();
                let more = if sizes.len() > 20 { format!(", ... ({} more)", sizes.len() - 20) } else { String::new() };
                format!(
                    "`context` is a list of {} chunks, {} characters in total. Chunk sizes in characters: [{}{}].",
                    items.len(),
                    total,
                    shown.join(", "),
                    more
                )
            }
            ContextInput::Json(Value::Object(map)) => format!(
                "`context` is a dict with {} keys, {} characters in total as JSON.",
                map.len(),
                chars(&Value::Object(map.clone()))
            ),
            ContextInput::Json(v) => format!("`context` is a {} ({} characters as JSON).", json_type(v), chars(v)),
        }
    }
}

fn chars(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        other => other.to_string().chars().count(),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "None",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "int",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn descriptions_give_shape_not_content() {
        let text = ContextInput::from("secret one\nsecret two");
        assert_eq!(text.describe(), "`context` is a str of 21 characters in 2 lines.");
        let list = ContextInput::from(json!(["abc", "de", {"k": 1}]));
        assert_eq!(
            list.describe(),
            "`context` is a list of 3 chunks, 12 characters in total. Chunk sizes in characters: [3, 2, 7]."
        );
        assert!(!list.describe().contains("abc"));
        assert_eq!(ContextInput::from(json!({"a": 1})).describe(), "`context` is a dict with 1 keys, 7 characters in total as JSON.");
        assert_eq!(ContextInput::from(json!(3)).describe(), "`context` is a int (1 characters as JSON).");
    }
}
