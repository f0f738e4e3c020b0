//! Anthropic Messages: request bodies and replies.

use serde_json::{Value, json};

use crate::error::Error;
use crate::types::{Message, ModelReply, Role, TokenUsage};

/// The `anthropic-version` header value.
pub(crate) const API_VERSION: &str = "2023-06-01";

/// System messages go into `system`; consecutive messages of one role are
/// joined, since the API wants user and assistant turns to alternate.
pub(crate) fn request_body(model: &str, messages: &[Message], max_tokens: u32) -> Value {
    let system: Vec<&str> = messages.iter().filter(|m| m.role == Role::System).map(|m| m.content.as_str()).collect();
    let mut turns: Vec<(Role, String)> = Vec::new();
    for m in messages.iter().filter(|m| m.role != Role::System) {
        match turns.last_mut() {
            Some((role, text)) if *role == m.role => {
                text.push_str("\n\n");
                text.push_str(&m.content);
            }
            _ => turns.push((m.role, m.content.clone())),
        }
    }
    let turns: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({ "role": if role == Role::User { "user" } else { "assistant" }, "content": content }))
        .collect();
    let mut body = json!({ "model": model, "max_tokens": max_tokens, "messages": turns });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    body
}

pub(crate) fn parse_reply(json: &Value, requested: &str) -> Result<ModelReply, Error> {
    let blocks = json.get("content").and_then(Value::as_array).ok_or_else(|| Error::Malformed {
        provider: "anthropic",
        message: "no `content` array".into(),
    })?;
    let text: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let tokens = |key: &str| json.pointer(&format!("/usage/{key}")).and_then(Value::as_u64).unwrap_or(0);
    Ok(ModelReply {
        text,
        model: json.get("model").and_then(Value::as_str).unwrap_or(requested).to_owned(),
        usage: TokenUsage { input_tokens: tokens("input_tokens"), output_tokens: tokens("output_tokens") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_is_lifted_and_turns_alternate() {
        let body = request_body(
            "claude",
            &[Message::system("sys"), Message::user("a"), Message::user("b"), Message::assistant("c")],
            100,
        );
        assert_eq!(body["system"], "sys");
        assert_eq!(body["messages"], json!([{"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c"}]));
        assert_eq!(body["max_tokens"], 100);
    }

    #[test]
    fn reads_text_blocks_and_usage() {
        let reply = parse_reply(
            &json!({"content": [{"type": "text", "text": "he"}, {"type": "thinking"}, {"type": "text", "text": "llo"}],
                    "usage": {"input_tokens": 7, "output_tokens": 3}}),
            "claude",
        )
        .unwrap();
        assert_eq!(reply.text, "hello");
        assert_eq!(reply.usage.total(), 10);
    }
}
