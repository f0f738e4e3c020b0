use rlm_mcp::{Error, McpServer};

use crate::checks;
use crate::servers::HttpServer;

#[tokio::test]
async fn tools_and_calls() {
    let http = HttpServer::start();
    checks::tools_and_calls(&McpServer::http(&http.url).await.unwrap()).await;
}

#[tokio::test]
async fn tool_errors() {
    let http = HttpServer::start();
    checks::tool_errors(&McpServer::http(&http.url).await.unwrap()).await;
}

#[tokio::test]
async fn calls_after_close() {
    let http = HttpServer::start();
    let server = McpServer::http(&http.url).await.unwrap();
    assert_eq!(server.process_id(), None);
    checks::calls_after_close(server).await;
}

#[tokio::test]
async fn a_url_that_is_not_an_mcp_endpoint() {
    let http = HttpServer::start();
    let url = http.url.replace("/mcp", "/not-mcp");
    let err = McpServer::http(&url).await.unwrap_err();
    assert!(matches!(err, Error::Initialize { .. }), "{err:?}");
    assert_eq!(err.to_string(), format!("cannot initialize an MCP session with `{url}`"));
}
