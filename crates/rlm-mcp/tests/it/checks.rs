//! What the everything server's tools give model code, whatever the
//! transport.

use std::sync::Arc;

use rlm_core::{JsonText, RequestMeta};
use rlm_engine::{Tool, ToolCall};
use rlm_mcp::McpServer;
use serde_json::{Value, json};

/// Calls `tool` as the engine would, with `args` as its keyword arguments.
pub async fn call(tool: &Arc<dyn Tool>, args: Value) -> Result<Value, String> {
    let call = ToolCall::new(0, Arc::new(RequestMeta::default()));
    tool.call(JsonText::from_value(&args), call).await.map(|result| result.to_value())
}

/// The tool named `name` in Python.
pub fn find<'a>(tools: &'a [Arc<dyn Tool>], name: &str) -> &'a Arc<dyn Tool> {
    let names: Vec<&str> = tools.iter().map(|t| t.spec().name.as_str()).collect();
    tools.iter().find(|t| t.spec().name == name).unwrap_or_else(|| panic!("no tool {name} in {names:?}"))
}

/// Lists the tools and calls those whose answers are known.
pub async fn tools_and_calls(server: &McpServer) {
    let tools = server.tools().await.unwrap();

    let echo = find(&tools, "echo");
    assert_eq!(echo.spec().description, "Echoes back the input string");
    let schema = echo.spec().parameters.to_value();
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["properties"]["message"]["type"], "string");
    assert_eq!(schema["required"], json!(["message"]));
    assert_eq!(call(echo, json!({"message": "hello, MCP"})).await, Ok(json!("Echo: hello, MCP")));

    // `get-sum` on the server: not a Python identifier.
    assert!(tools.iter().all(|t| !t.spec().name.contains('-')), "every name is an identifier");
    let sum = find(&tools, "get_sum");
    assert_eq!(call(sum, json!({"a": 2, "b": 40.5})).await, Ok(json!("The sum of 2 and 40.5 is 42.5.")));

    let weather = find(&tools, "get_structured_content");
    assert_eq!(
        call(weather, json!({"location": "Chicago"})).await,
        Ok(json!({"temperature": 36, "conditions": "Light rain / drizzle", "humidity": 82}))
    );

    let image = call(find(&tools, "get_tiny_image"), json!({})).await.unwrap();
    let parts = image.as_array().unwrap_or_else(|| panic!("a list of parts, not {image}"));
    assert_eq!(parts.len(), 3, "{image}");
    assert_eq!(parts[0], json!({"type": "text", "text": "Here's the image you requested:"}));
    assert_eq!(parts[1]["type"], "image");
    assert_eq!(parts[1]["mimeType"], "image/png");
    assert!(parts[1]["data"].as_str().is_some_and(|d| d.starts_with("iVBOR")), "base64 PNG data: {}", parts[1]);
}

/// Bad arguments are the tool's error, raised in model code.
pub async fn tool_errors(server: &McpServer) {
    let tools = server.tools().await.unwrap();
    let sum = find(&tools, "get_sum");
    // The server's own message (an `isError` result), not a failed call.
    let err = call(sum, json!({"a": "two", "b": 1})).await.unwrap_err();
    assert!(err.contains("Invalid arguments for tool get-sum") && err.contains("expected number"), "{err}");
    let err = call(find(&tools, "echo"), json!({})).await.unwrap_err();
    assert!(err.contains("Invalid arguments for tool echo") && err.contains("message"), "{err}");
}

/// Once the server is closed its tools raise instead of hanging.
pub async fn calls_after_close(server: McpServer) {
    let tools = server.tools().await.unwrap();
    server.close().await;
    let err = call(find(&tools, "echo"), json!({"message": "anyone?"})).await.unwrap_err();
    assert!(err.starts_with("cannot call the tool `echo` of the MCP server `"), "{err}");
}
