//! The real MCP server the tests talk to (see `rlm_test_support::mcp`).

pub use rlm_test_support::mcp::HttpServer;

/// The command line that runs the everything server over stdio.
pub fn stdio_command() -> String {
    let entry = rlm_test_support::mcp::everything();
    let entry = shlex::try_quote(entry.to_str().expect("a UTF-8 path")).expect("a quotable path").into_owned();
    format!("node {entry} stdio")
}
