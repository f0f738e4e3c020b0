//! rlm-mcp against a real MCP server, `@modelcontextprotocol/server-everything`
//! from npm, run by Node.js. The first test to need it installs it with
//! `npm ci` (see `servers.rs`), so these tests need `node` and `npm` on `PATH`
//! and the npm registry, and nothing else from the network.

// Test helpers report what they did on the harness's captured stderr.
#![allow(clippy::print_stderr)]

/// The checks every transport must pass, on a connected server.
mod checks;
/// The everything server over streamable HTTP, started by the test on
/// 127.0.0.1.
mod http;
/// Installing and starting the everything server.
mod servers;
/// The everything server over stdio, as a child process.
mod stdio;
