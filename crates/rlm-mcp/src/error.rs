//! What can go wrong talking to an MCP server.

use std::time::Duration;

/// Why an MCP server could not be started, reached or used. Each variant
/// names the server by its command line or URL (with any password in the URL
/// hidden).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stdio command line is empty or its quotes do not close.
    #[error("cannot parse the MCP server command line `{command}`: {reason}")]
    CommandLine {
        /// The command line as given.
        command: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The server's process could not be started.
    #[error("cannot start the MCP server `{server}`")]
    Spawn {
        /// The command line.
        server: String,
        /// Why the operating system refused.
        #[source]
        source: std::io::Error,
    },
    /// The MCP handshake (`initialize`) failed: the process exited, the URL
    /// is not an MCP endpoint, the protocol versions do not match, ...
    #[error("cannot initialize an MCP session with `{server}`{}", stderr_note(stderr))]
    Initialize {
        /// The command line or URL.
        server: String,
        /// The last lines the server wrote to its stderr (stdio servers only;
        /// empty if it wrote none). They usually say why it stopped.
        stderr: String,
        /// What the MCP client saw.
        #[source]
        source: Box<rmcp::service::ClientInitializeError>,
    },
    /// The server did not answer a setup request in time.
    #[error("the MCP server `{server}` did not answer `{request}` within {timeout:?}")]
    Timeout {
        /// The command line or URL.
        server: String,
        /// The MCP method: `initialize` or `tools/list`.
        request: &'static str,
        /// How long it was given.
        timeout: Duration,
    },
    /// `tools/list` failed.
    #[error("cannot list the tools of the MCP server `{server}`")]
    List {
        /// The command line or URL.
        server: String,
        /// What the MCP client saw.
        #[source]
        source: rmcp::ServiceError,
    },
    /// A `tools/call` failed in transport or protocol (not a tool's own
    /// `isError` result). The tools made by [`McpServer::tools`] hand its
    /// message, causes included, to model code as the exception's text.
    ///
    /// [`McpServer::tools`]: crate::McpServer::tools
    #[error("cannot call the tool `{tool}` of the MCP server `{server}`")]
    Call {
        /// The command line or URL.
        server: String,
        /// The tool's name as the server knows it.
        tool: String,
        /// What the MCP client saw.
        #[source]
        source: rmcp::ServiceError,
    },
}

/// The stderr tail as a suffix of the message: the last line or two are what
/// tells "npm ERR! 404" from a crash, and a user should not need `-v` for it.
fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        return String::new();
    }
    format!(" (its stderr ended with: {})", stderr.lines().collect::<Vec<_>>().join(" / "))
}

/// `error` and its causes on one line, as `anyhow`'s `{:#}` prints them: the
/// form model code sees in an exception.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut out = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cause = e.source();
    }
    out
}
