//! [Model Context Protocol](https://modelcontextprotocol.io) servers as host
//! tools: model code in the sandbox calls an MCP server's tools like Python
//! functions.
//!
//! [`McpServer`] starts a server and talks to it over its stdin and stdout
//! ([`McpServer::stdio`]), or reaches one over streamable HTTP
//! ([`McpServer::http`]), using the official Rust SDK, `rmcp`.
//! [`McpServer::tools`] lists the server's tools as
//! [`rlm_engine::Tool`]s, ready for
//! [`RlmBuilder::tool`](rlm_engine::RlmBuilder::tool). Its documentation says
//! how names that are not Python identifiers are mapped, and what a call
//! returns to model code.
//!
//! The tools use the session the `McpServer` holds, so keep it alive while a
//! run may call them. Dropping it shuts the server down; [`McpServer::close`]
//! does so and waits for the process to be gone.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), rlm_mcp::Error> {
//! use rlm_mcp::McpServer;
//!
//! let server = McpServer::stdio("npx -y @modelcontextprotocol/server-everything").await?;
//! for tool in server.tools().await? {
//!     // `get-sum` on the server is `get_sum` in Python.
//!     println!("{}: {}", tool.spec().name, tool.spec().description);
//! }
//! server.close().await;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod error;
mod server;
mod tool;

pub use error::Error;
pub use server::{INIT_TIMEOUT, LIST_TIMEOUT, McpServer};
pub use tool::{MAX_INLINE_DATA_BYTES, MAX_RESULT_BYTES};
