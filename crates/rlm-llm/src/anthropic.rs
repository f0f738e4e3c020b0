//! Anthropic Messages: request bodies and replies.

use rlm_core::{FinishReason, Message, ModelReply, Role, SamplingOptions, TokenUsage};
use serde_json::{Value, json};

use crate::error::Error;

/// The `anthropic-version` header value.
pub(crate) const API_VERSION: &str = "2023-06-01";

/// System messages go into `system`; consecutive messages of one role are
/// joined, since the API wants user and assistant turns to alternate.
pub(crate) fn request_body(model: &str, messages: &[Message], sampling: &SamplingOptions, max_tokens: u32) -> Value {
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
    let max_tokens = sampling.max_completion_tokens.unwrap_or(max_tokens);
    let mut body = json!({ "model": model, "max_tokens": max_tokens, "messages": turns });
    if !system.is_empty() {
        body["system"] = json!(system.join("\n\n"));
    }
    if let Some(t) = sampling.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = sampling.top_p {
        body["top_p"] = json!(p);
    }
    for (key, value) in &sampling.extra_body {
        body[key] = value.clone();
    }
    body
}

pub(crate) fn parse_reply(json: &Value, requested: &str) -> Result<ModelReply, Error> {
    let blocks = json
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Malformed { provider: "anthropic", message: "no `content` array".into() })?;
    let of_type = |kind: &str, field: &str| -> String {
        blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some(kind))
            .filter_map(|b| b.get(field).and_then(Value::as_str))
            .collect()
    };
    let thinking = of_type("thinking", "thinking");
    let tokens = |key: &str| json.pointer(&format!("/usage/{key}")).and_then(Value::as_u64).unwrap_or(0);
    let mut reply = ModelReply::new(
        of_type("text", "text"),
        json.get("model").and_then(Value::as_str).unwrap_or(requested),
        TokenUsage::new(tokens("input_tokens"), tokens("output_tokens")),
    );
    reply.reasoning = (!thinking.is_empty()).then_some(thinking);
    reply.finish_reason =
        json.get("stop_reason").and_then(Value::as_str).map_or(FinishReason::Stop, FinishReason::from_provider);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_is_lifted_and_turns_alternate() {
        let mut sampling = SamplingOptions::default();
        sampling.max_completion_tokens = Some(100);
        let body = request_body(
            "claude",
            &[Message::system("sys"), Message::user("a"), Message::user("b"), Message::assistant("c")],
            &sampling,
            8192,
        );
        assert_eq!(body["system"], "sys");
        assert_eq!(
            body["messages"],
            json!([{"role": "user", "content": "a\n\nb"}, {"role": "assistant", "content": "c"}])
        );
        assert_eq!(body["max_tokens"], 100);
    }

    #[test]
    fn reads_text_thinking_and_usage() {
        let reply = parse_reply(
            &json!({"content": [{"type": "text", "text": "he"}, {"type": "thinking", "thinking": "hm"}, {"type": "text", "text": "llo"}],
                    "stop_reason": "max_tokens", "usage": {"input_tokens": 7, "output_tokens": 3}}),
            "claude",
        )
        .unwrap();
        assert_eq!(reply.text, "hello");
        assert_eq!(reply.reasoning.as_deref(), Some("hm"));
        assert_eq!(reply.finish_reason, FinishReason::Length);
        assert_eq!(reply.usage.total(), 10);
    }
}
