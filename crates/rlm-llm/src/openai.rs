//! OpenAI Chat Completions: request bodies and replies, as OpenAI-compatible
//! servers (vLLM, llama.cpp, Ollama, OpenRouter) send them.

use rlm_core::{FinishReason, Message, ModelReply, Role, SamplingOptions, TokenUsage};
use serde_json::{Value, json};

use crate::error::Error;

/// The request body. Consecutive messages of one role are joined: some
/// servers (llama.cpp's among them) reject two user messages in a row.
pub(crate) fn request_body(model: &str, messages: &[Message], sampling: &SamplingOptions) -> Value {
    let mut merged: Vec<(Role, String)> = Vec::with_capacity(messages.len());
    for m in messages {
        match merged.last_mut() {
            Some((role, text)) if *role == m.role => {
                text.push_str("\n\n");
                text.push_str(&m.content);
            }
            _ => merged.push((m.role, m.content.clone())),
        }
    }
    let messages: Vec<Value> =
        merged.into_iter().map(|(role, content)| json!({ "role": role_name(role), "content": content })).collect();
    let mut body = json!({ "model": model, "messages": messages });
    let s = sampling;
    if let Some(t) = s.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(p) = s.top_p {
        body["top_p"] = json!(p);
    }
    if let Some(seed) = s.seed {
        body["seed"] = json!(seed);
    }
    if let Some(max) = s.max_completion_tokens {
        body["max_completion_tokens"] = json!(max);
        // Servers that predate `max_completion_tokens` read `max_tokens`.
        body["max_tokens"] = json!(max);
    }
    if let Some(effort) = &s.reasoning_effort {
        body["reasoning_effort"] = json!(effort);
    }
    if let Some(format) = &s.response_format {
        body["response_format"] = format.clone();
    }
    for (key, value) in &s.extra_body {
        body[key] = value.clone();
    }
    body
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
    }
}

/// Reads a reply. `content` may be text, `null` (a reply of tool calls only)
/// or a list of parts; reasoning may come as `reasoning_content` or
/// `reasoning`; OpenRouter reports the cost in `usage.cost`.
pub(crate) fn parse_reply(json: &Value, requested: &str) -> Result<ModelReply, Error> {
    let malformed = |message: &str| Error::Malformed { provider: "openai", message: message.to_owned() };
    let choice = json.pointer("/choices/0").ok_or_else(|| malformed("no `choices[0]`"))?;
    let message = choice.get("message").ok_or_else(|| malformed("no `choices[0].message`"))?;
    let text = match message.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                other => other.get("text").and_then(Value::as_str),
            })
            .collect(),
        Some(_) => return Err(malformed("`choices[0].message.content` is neither text nor a list of parts")),
    };
    let reasoning = ["reasoning_content", "reasoning"]
        .iter()
        .find_map(|k| message.get(*k).and_then(Value::as_str))
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    let finish_reason = choice.get("finish_reason").and_then(Value::as_str).map_or_else(
        || {
            if message.get("tool_calls").is_some_and(|t| t.as_array().is_some_and(|a| !a.is_empty())) {
                FinishReason::ToolCalls
            } else {
                FinishReason::Stop
            }
        },
        FinishReason::from_provider,
    );
    let tokens = |key: &str| json.pointer(&format!("/usage/{key}")).and_then(Value::as_u64).unwrap_or(0);
    let mut reply = ModelReply::new(
        text,
        json.get("model").and_then(Value::as_str).unwrap_or(requested),
        TokenUsage::new(tokens("prompt_tokens"), tokens("completion_tokens")),
    );
    reply.reasoning = reasoning;
    reply.finish_reason = finish_reason;
    reply.cost = json.pointer("/usage/cost").and_then(Value::as_f64);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_usage_and_cost() {
        let reply = parse_reply(
            &json!({"model": "m-1", "choices": [{"message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "cost": 0.0012}}),
            "m",
        )
        .unwrap();
        assert_eq!(reply.text, "hi");
        assert_eq!(reply.model, "m-1");
        assert_eq!(reply.usage, TokenUsage::new(5, 2));
        assert_eq!(reply.finish_reason, FinishReason::Length);
        assert_eq!(reply.cost, Some(0.0012));
    }

    #[test]
    fn null_content_parts_and_reasoning() {
        let tools = parse_reply(
            &json!({"choices": [{"message": {"content": null, "tool_calls": [{"id": "1"}]}, "finish_reason": "tool_calls"}]}),
            "m",
        )
        .unwrap();
        assert_eq!(tools.text, "");
        assert_eq!(tools.finish_reason, FinishReason::ToolCalls);
        let parts = parse_reply(
            &json!({"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                     "reasoning_content": "thinking"}}]}),
            "m",
        )
        .unwrap();
        assert_eq!(parts.text, "ab");
        assert_eq!(parts.reasoning.as_deref(), Some("thinking"));
        let err = parse_reply(&json!({"choices": []}), "m").unwrap_err();
        assert!(err.to_string().contains("choices[0]"), "{err}");
    }

    #[test]
    fn body_merges_roles_and_passes_options() {
        let mut sampling = SamplingOptions::default();
        sampling.temperature = Some(0.2);
        sampling.seed = Some(7);
        sampling.max_completion_tokens = Some(100);
        sampling.extra_body.insert("chat_template_kwargs".into(), json!({"enable_thinking": false}));
        let body = request_body("m", &[Message::system("s"), Message::user("a"), Message::user("b")], &sampling);
        assert_eq!(
            body["messages"],
            json!([{"role": "system", "content": "s"}, {"role": "user", "content": "a\n\nb"}])
        );
        assert_eq!(body["temperature"], json!(0.2));
        assert_eq!(body["seed"], json!(7));
        assert_eq!(body["max_completion_tokens"], json!(100));
        assert_eq!(body["chat_template_kwargs"], json!({"enable_thinking": false}));
    }
}
