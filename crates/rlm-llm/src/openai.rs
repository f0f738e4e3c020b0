//! OpenAI Chat Completions: request bodies and replies.

use serde_json::{Value, json};

use crate::error::Error;
use crate::types::{Message, ModelReply, TokenUsage};

pub(crate) fn request_body(model: &str, messages: &[Message], max_tokens: Option<u32>) -> Value {
    let mut body = json!({ "model": model, "messages": messages });
    if let Some(max) = max_tokens {
        body["max_tokens"] = json!(max);
    }
    body
}

pub(crate) fn parse_reply(json: &Value, requested: &str) -> Result<ModelReply, Error> {
    let malformed = |message: &str| Error::Malformed { provider: "openai", message: message.to_owned() };
    let text = json
        .pointer("/choices/0/message/content")
        .ok_or_else(|| malformed("no `choices[0].message.content`"))?;
    let text = text.as_str().ok_or_else(|| malformed("`choices[0].message.content` is not text"))?;
    let tokens = |key: &str| json.pointer(&format!("/usage/{key}")).and_then(Value::as_u64).unwrap_or(0);
    Ok(ModelReply {
        text: text.to_owned(),
        model: json.get("model").and_then(Value::as_str).unwrap_or(requested).to_owned(),
        usage: TokenUsage { input_tokens: tokens("prompt_tokens"), output_tokens: tokens("completion_tokens") },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_and_usage() {
        let reply = parse_reply(
            &json!({"model": "m-1", "choices": [{"message": {"role": "assistant", "content": "hi"}}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 2}}),
            "m",
        )
        .unwrap();
        assert_eq!(reply.text, "hi");
        assert_eq!(reply.model, "m-1");
        assert_eq!(reply.usage, TokenUsage { input_tokens: 5, output_tokens: 2 });
    }

    #[test]
    fn refuses_a_reply_without_text() {
        let err = parse_reply(&json!({"choices": []}), "m").unwrap_err();
        assert!(err.to_string().contains("choices[0].message.content"), "{err}");
    }
}
