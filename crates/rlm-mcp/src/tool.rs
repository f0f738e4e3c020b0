//! One MCP tool as an [`rlm_engine::Tool`]: its Python name, its argument
//! schema, and how a `tools/call` result becomes a Python value.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use futures::future::BoxFuture;
use rlm_core::{JsonText, ToolSpec};
use rlm_engine::{Tool, ToolCall};
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::{Peer, RoleClient};
use serde_json::{Map, Value, json};

use crate::error::{Error, chain};

/// The largest tool result model code gets, in bytes of JSON: 8 MiB. A larger
/// one raises an exception saying so rather than filling the sandbox.
pub const MAX_RESULT_BYTES: usize = 8 << 20;

/// The largest base64 payload (an image's or audio's `data`, a resource's
/// `blob`) kept in a result's content parts: 1 MiB. A larger one is left out
/// and a `note` says so; code in the sandbox can do little with a picture
/// anyway, and a few of them would pass [`MAX_RESULT_BYTES`].
pub const MAX_INLINE_DATA_BYTES: usize = 1 << 20;

/// The longest error message kept from an `isError` result, in bytes.
const MAX_ERROR_BYTES: usize = 64 << 10;

/// The largest input schema passed on as it is, in bytes of JSON; a larger
/// one is replaced by the permissive schema.
const MAX_SCHEMA_BYTES: usize = 1 << 20;

/// Python's keywords: identifiers that cannot name a function.
const KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
    "elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda", "nonlocal",
    "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// The host tools for the tools a server listed.
pub(crate) fn tools(server: &Arc<str>, peer: &Peer<RoleClient>, listed: Vec<rmcp::model::Tool>) -> Vec<Arc<dyn Tool>> {
    specs(server, &listed)
        .into_iter()
        .zip(listed)
        .map(|(spec, tool)| {
            let mcp_name = Arc::from(tool.name.as_ref());
            Arc::new(McpTool { spec, mcp_name, server: server.clone(), peer: peer.clone() }) as Arc<dyn Tool>
        })
        .collect()
}

/// What the engine knows of each listed tool.
fn specs(server: &str, listed: &[rmcp::model::Tool]) -> Vec<ToolSpec> {
    let names = python_names(listed.iter().map(|t| t.name.as_ref()));
    listed
        .iter()
        .zip(names)
        .map(|(tool, name)| {
            if name != tool.name {
                tracing::debug!(server, tool = %tool.name, python = %name, "MCP tool renamed for Python");
            }
            let description = tool.description.as_deref().or(tool.title.as_deref()).unwrap_or_default();
            ToolSpec::new(name, description, parameters(&tool.input_schema, &tool.name))
        })
        .collect()
}

/// A tool of an MCP server.
struct McpTool {
    spec: ToolSpec,
    /// The name the server knows it by, which calls use.
    mcp_name: Arc<str>,
    server: Arc<str>,
    peer: Peer<RoleClient>,
}

impl fmt::Debug for McpTool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpTool")
            .field("name", &self.spec.name)
            .field("mcp_name", &self.mcp_name)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Tool for McpTool {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: JsonText, _call: ToolCall) -> BoxFuture<'static, Result<JsonText, String>> {
        let peer = self.peer.clone();
        let tool = self.mcp_name.clone();
        let server = self.server.clone();
        Box::pin(async move {
            let arguments = match args.to_value() {
                Value::Object(map) => map,
                Value::Null => Map::new(),
                _ => {
                    return Err(format!(
                        "the arguments of an MCP tool must be a dict of keyword arguments, not {}",
                        args.python_type()
                    ));
                }
            };
            let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
            // Dropping this future (the run was cancelled or timed out) makes
            // rmcp send `notifications/cancelled` for the request.
            let result = peer
                .call_tool(params)
                .await
                .map_err(|source| chain(&Error::Call { server: server.to_string(), tool: tool.to_string(), source }))?;
            to_python(result)
        })
    }
}

/// The Python names of a server's tools, in order (see
/// [`McpServer::tools`](crate::McpServer::tools) for the rules).
fn python_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let names: Vec<&str> = names.into_iter().collect();
    let usable = |name: &str| is_identifier(name) && !KEYWORDS.contains(&name);
    // Names that need no change come first: a renamed tool must not take the
    // name of one the server gave that name itself.
    let reserved: HashSet<&str> = names.iter().copied().filter(|n| usable(n)).collect();
    let mut used: HashSet<String> = HashSet::new();
    names
        .iter()
        .map(|&name| {
            if usable(name) && used.insert(name.to_owned()) {
                return name.to_owned();
            }
            let base = python_name(name);
            let mut candidate = base.clone();
            let mut n = 2;
            while reserved.contains(candidate.as_str()) || used.contains(&candidate) {
                candidate = format!("{base}_{n}");
                n += 1;
            }
            used.insert(candidate.clone());
            candidate
        })
        .collect()
}

/// `name` made a Python identifier, without regard to other names.
fn python_name(name: &str) -> String {
    let mut out: String = name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Whether `name` is an ASCII Python identifier, as the engine requires.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The argument schema to hand the engine: the server's when it is an object
/// schema the REPL can read, else one that takes any keyword arguments.
fn parameters(schema: &Map<String, Value>, tool: &str) -> JsonText {
    let object = schema.get("type").and_then(Value::as_str) == Some("object")
        && schema.get("properties").is_none_or(Value::is_object);
    if object {
        // Checked like any JSON from outside (size, depth): the engine and
        // the sandbox read it again.
        let text = serde_json::to_string(schema).expect("a JSON map serializes");
        match JsonText::parse(&text, MAX_SCHEMA_BYTES) {
            Ok(json) => return json,
            Err(e) => tracing::warn!(tool, "the MCP tool's input schema is not usable ({e}); it takes any arguments"),
        }
    }
    JsonText::from_value(&json!({"type": "object", "properties": {}, "additionalProperties": true}))
}

/// A `tools/call` result as the value model code gets, or the text of the
/// exception it raises.
fn to_python(result: CallToolResult) -> Result<JsonText, String> {
    if result.is_error == Some(true) {
        return Err(error_text(&result.content));
    }
    let value = match result.structured_content {
        // An explicit `null` says nothing more than the content does.
        Some(value) if !value.is_null() => value,
        _ => content_value(&result.content),
    };
    let text = value.to_string();
    JsonText::parse(&text, MAX_RESULT_BYTES).map_err(|e| format!("the MCP tool's result cannot be passed on: {e}"))
}

/// The content parts as one value: no parts are `null`, text parts one string,
/// anything else a list of the parts.
fn content_value(content: &[ContentBlock]) -> Value {
    if content.is_empty() {
        return Value::Null;
    }
    match all_text(content) {
        Some(text) => Value::String(text),
        None => Value::Array(content.iter().map(part_value).collect()),
    }
}

/// The text of the parts joined with newlines, if every part is text.
fn all_text(content: &[ContentBlock]) -> Option<String> {
    let texts: Option<Vec<&str>> = content.iter().map(|part| part.as_text().map(|t| t.text.as_str())).collect();
    texts.map(|texts| texts.join("\n"))
}

/// A content part as its MCP JSON, with an oversized base64 payload left out.
fn part_value(part: &ContentBlock) -> Value {
    let mut value = serde_json::to_value(part).unwrap_or_else(|e| json!({"note": format!("unreadable content: {e}")}));
    let (holder, key) = match part {
        ContentBlock::Image(_) | ContentBlock::Audio(_) => (value.as_object_mut(), "data"),
        ContentBlock::Resource(_) => (value.get_mut("resource").and_then(Value::as_object_mut), "blob"),
        _ => (None, ""),
    };
    if let Some(holder) = holder
        && let Some(Value::String(data)) = holder.get(key)
        && data.len() > MAX_INLINE_DATA_BYTES
    {
        let note =
            format!("the {}-byte base64 `{key}` was left out: the limit is {MAX_INLINE_DATA_BYTES} bytes", data.len());
        holder.remove(key);
        holder.insert("note".to_owned(), Value::String(note));
    }
    value
}

/// The message of an `isError` result: its text, or its parts as JSON.
fn error_text(content: &[ContentBlock]) -> String {
    let mut text = match all_text(content) {
        Some(text) if !text.is_empty() => text,
        _ if content.is_empty() => return "the MCP tool failed and gave no message".to_owned(),
        _ => content_value(content).to_string(),
    };
    if text.len() > MAX_ERROR_BYTES {
        let cut = text.floor_char_boundary(MAX_ERROR_BYTES);
        let dropped = text.len() - cut;
        text.truncate(cut);
        text.push_str(&format!("... ({dropped} more bytes)"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(value: Value) -> CallToolResult {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn names_become_python_identifiers() {
        assert_eq!(python_name("get-weather"), "get_weather");
        assert_eq!(python_name("a.b"), "a_b");
        assert_eq!(python_name("2fa"), "_2fa");
        assert_eq!(python_name("import"), "import_");
        assert_eq!(python_name("données"), "donn_es");
        assert_eq!(python_name(""), "_");
        assert_eq!(
            python_names(["echo", "get-sum", "get_sum", "get.sum", "echo", "class"]),
            ["echo", "get_sum_2", "get_sum", "get_sum_3", "echo_2", "class_"]
        );
    }

    #[test]
    fn specs_keep_description_and_schema() {
        let listed: Vec<rmcp::model::Tool> = serde_json::from_value(json!([
            {
                "name": "get-weather",
                "description": "Weather",
                "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
            },
            {"name": "ping", "title": "Ping the server", "inputSchema": {"type": "object"}}
        ]))
        .unwrap();
        let specs = specs("test", &listed);
        assert_eq!(specs[0].name, "get_weather");
        assert_eq!(specs[0].description, "Weather");
        assert_eq!(specs[0].parameters.to_value()["required"], json!(["city"]));
        assert_eq!(specs[1].name, "ping");
        assert_eq!(specs[1].description, "Ping the server");
    }

    #[test]
    fn schemas_that_are_not_object_schemas_take_any_arguments() {
        let permissive = json!({"type": "object", "properties": {}, "additionalProperties": true});
        let schema = |v: Value| parameters(v.as_object().unwrap(), "t").to_value();
        assert_eq!(schema(json!({})), permissive);
        assert_eq!(schema(json!({"type": "string"})), permissive);
        assert_eq!(schema(json!({"type": "object", "properties": [1]})), permissive);
        let deep = (0..200).fold(json!({}), |inner, _| json!({"items": inner}));
        assert_eq!(schema(json!({"type": "object", "properties": {"x": deep}})), permissive);
        let ok = json!({"type": "object", "properties": {"a": {"type": "number"}}});
        assert_eq!(schema(ok.clone()), ok);
        assert_eq!(schema(json!({"type": "object"})), json!({"type": "object"}));
    }

    #[test]
    fn results_become_python_values() {
        let text = |v| to_python(result(v)).unwrap().to_value();
        assert_eq!(text(json!({"content": [{"type": "text", "text": "Echo: hi"}]})), json!("Echo: hi"));
        assert_eq!(
            text(json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]})),
            json!("a\nb")
        );
        assert_eq!(
            text(json!({"content": [{"type": "text", "text": "{}"}], "structuredContent": {"t": 33}})),
            json!({"t": 33})
        );
        assert_eq!(text(json!({"content": [{"type": "text", "text": "x"}], "structuredContent": null})), json!("x"));
        assert_eq!(text(json!({"content": []})), Value::Null);
        assert_eq!(
            text(json!({"content": [
                {"type": "text", "text": "here:"},
                {"type": "image", "data": "iVBOR", "mimeType": "image/png"}
            ]})),
            json!([{"type": "text", "text": "here:"}, {"type": "image", "data": "iVBOR", "mimeType": "image/png"}])
        );
    }

    #[test]
    fn huge_payloads_are_left_out_and_huge_results_refused() {
        let big = "A".repeat(MAX_INLINE_DATA_BYTES + 4);
        let value = to_python(result(json!({"content": [
            {"type": "image", "data": big, "mimeType": "image/png"},
            {"type": "resource", "resource": {"uri": "file:///x", "blob": big}}
        ]})))
        .unwrap()
        .to_value();
        assert_eq!(value[0]["mimeType"], "image/png");
        assert!(value[0].get("data").is_none());
        assert!(value[0]["note"].as_str().unwrap().contains("1048580-byte base64 `data` was left out"), "{value}");
        assert!(value[1]["resource"].get("blob").is_none());
        assert_eq!(value[1]["resource"]["uri"], "file:///x");

        let huge = "x".repeat(MAX_RESULT_BYTES);
        let err = to_python(result(json!({"content": [{"type": "text", "text": huge}]}))).unwrap_err();
        assert!(err.contains("bytes of JSON; the limit is 8388608 bytes"), "{err}");
    }

    #[test]
    fn error_results_raise_their_text() {
        let err = |v| to_python(result(v)).unwrap_err();
        assert_eq!(err(json!({"content": [{"type": "text", "text": "bad city"}], "isError": true})), "bad city");
        assert_eq!(err(json!({"content": [], "isError": true})), "the MCP tool failed and gave no message");
        let long = err(json!({"content": [{"type": "text", "text": "é".repeat(MAX_ERROR_BYTES)}], "isError": true}));
        assert!(long.len() < MAX_ERROR_BYTES + 40 && long.ends_with(&format!("({} more bytes)", MAX_ERROR_BYTES)));
    }
}
