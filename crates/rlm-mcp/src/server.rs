//! One MCP session: starting or reaching the server, the handshake, listing
//! its tools and shutting it down.

use std::collections::VecDeque;
use std::fmt;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rlm_engine::Tool;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{ClientInitializeError, RunningService};
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::ChildStderr;

use crate::error::Error;
use crate::tool;

/// How long a server gets to answer `initialize`. Generous because a command
/// such as `npx -y some-server` may first download the server.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a server gets to answer `tools/list` (all pages together).
pub const LIST_TIMEOUT: Duration = Duration::from_secs(60);

/// How many of a stdio server's last stderr lines are kept for
/// [`Error::Initialize`].
const STDERR_TAIL_LINES: usize = 5;

/// The longest stderr line kept or logged, in bytes; the rest of a longer one
/// is dropped so a server cannot fill the host's memory through its stderr.
const MAX_STDERR_LINE: usize = 2048;

/// A connected MCP server: a child process spoken to over stdin/stdout, or a
/// streamable HTTP endpoint.
///
/// Dropping it ends the session: a stdio server's stdin is closed, and if it
/// has not exited after a few seconds it gets `SIGTERM`, then `SIGKILL` (to
/// its whole process group, so `npx`'s children go too), and it is reaped.
/// That happens on the Tokio runtime in the background; [`McpServer::close`]
/// does the same and waits for it.
pub struct McpServer {
    /// The command line or URL, for messages.
    name: Arc<str>,
    service: RunningService<RoleClient, ClientConfig>,
    pid: Option<u32>,
}

impl McpServer {
    /// Starts the server `command_line` and initializes an MCP session with it
    /// over its stdin and stdout.
    ///
    /// The command line is split as a POSIX shell would split it (quotes and
    /// backslashes respected), but no shell runs it: no variables, globs or
    /// pipes. The program is looked up on `PATH`, and the server inherits this
    /// process's environment and working directory. Its stderr is logged
    /// through `tracing` (target `rlm_mcp::stderr`, level `debug`), and the last
    /// lines are kept for the error if the handshake fails.
    ///
    /// The server runs in its own process group, so a Ctrl-C in the terminal
    /// reaches this process only, which then shuts the server down.
    pub async fn stdio(command_line: &str) -> Result<McpServer, Error> {
        let bad = |reason| Error::CommandLine { command: command_line.to_owned(), reason };
        let argv = shlex::split(command_line).ok_or_else(|| bad("a quote is not closed or it ends in a backslash"))?;
        let Some((program, args)) = argv.split_first() else {
            return Err(bad("it names no program"));
        };
        let name: Arc<str> = Arc::from(command_line);

        let mut command = tokio::process::Command::new(program);
        command.args(args);
        let mut command = CommandWrap::from(command);
        // KillOnDrop is the last resort, when the runtime goes away before
        // rmcp's own cleanup task (close stdin, SIGTERM, kill, reap) has run.
        command.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
        let (transport, stderr) = TokioChildProcess::builder(command)
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| Error::Spawn { server: name.to_string(), source })?;
        let pid = transport.id();
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let reader = stderr.map(|stderr| tokio::spawn(drain_stderr(stderr, name.clone(), tail.clone())));

        match initialize(&name, transport).await {
            Ok(service) => Ok(McpServer { name, service, pid }),
            Err(Failed::Timeout(e)) => Err(e),
            Err(Failed::Init(source)) => {
                // The process is being killed; its last words may still be in
                // the pipe.
                if let Some(reader) = reader {
                    let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
                }
                let stderr = tail.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect::<Vec<_>>();
                Err(Error::Initialize { server: name.to_string(), stderr: stderr.join("\n"), source })
            }
        }
    }

    /// Initializes an MCP session with the streamable HTTP endpoint at `url`
    /// (such as `http://127.0.0.1:3001/mcp`).
    ///
    /// HTTPS uses rustls with the platform's certificate verifier. If the
    /// process has not installed a rustls `CryptoProvider`, this installs
    /// *ring*'s as the process default (the provider the rest of the workspace
    /// uses); one the application installed first is kept.
    pub async fn http(url: &str) -> Result<McpServer, Error> {
        // rmcp's reqwest is built without a provider of its own, so that this
        // crate does not bring a second crypto library (aws-lc) next to ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let name: Arc<str> = Arc::from(redact_url(url));
        let transport = StreamableHttpClientTransport::from_uri(url);
        match initialize(&name, transport).await {
            Ok(service) => Ok(McpServer { name, service, pid: None }),
            Err(Failed::Timeout(e)) => Err(e),
            Err(Failed::Init(source)) => {
                Err(Error::Initialize { server: name.to_string(), stderr: String::new(), source })
            }
        }
    }

    /// Every tool the server lists (all pages of `tools/list`), as host tools
    /// for an [`Rlm`](rlm_engine::Rlm).
    ///
    /// Each keeps the server's description (or its title when it has no
    /// description) and its `inputSchema`. A schema that is not an object
    /// schema (`"type": "object"` with object `properties`), or is too large or
    /// deep to pass on, is replaced by one that takes any keyword arguments:
    /// `{"type": "object", "properties": {}, "additionalProperties": true}`.
    ///
    /// # Names
    ///
    /// A tool's Python name is its MCP name when that is a Python identifier
    /// (ASCII letters, digits and `_`, not starting with a digit) and not a
    /// keyword. Otherwise every other character becomes `_`, a leading digit
    /// gets a `_` in front and a keyword a `_` after: `get-weather` is
    /// `get_weather`, `a.b` is `a_b`, `2fa` is `_2fa`, `import` is `import_`. A
    /// mapped name that another tool already has gets `_2`, `_3`, ... appended.
    /// Calls still use the MCP name. Names that are valid but taken by the
    /// REPL itself (such as `print` or `context`, or any ending in `_async`)
    /// are kept, and [`RlmBuilder`](rlm_engine::RlmBuilder) refuses them.
    ///
    /// # Calls
    ///
    /// A call sends the keyword arguments as the MCP `arguments` object. Model
    /// code gets the result's `structuredContent` if it has one; else, if every
    /// content part is text, the text (parts joined with newlines); else the
    /// list of content parts as JSON objects (`{"type": "image", "data": ...,
    /// "mimeType": ...}` and so on), base64 data over
    /// [`MAX_INLINE_DATA_BYTES`](crate::MAX_INLINE_DATA_BYTES) left out with a
    /// note; no content at all is `None`. A result with `isError` raises an
    /// exception with the tool's text, and so does a result over
    /// [`MAX_RESULT_BYTES`](crate::MAX_RESULT_BYTES) of JSON or a failed call
    /// (message from [`Error::Call`]).
    ///
    /// The tools hold a handle to this session, not the session itself: once
    /// the `McpServer` is dropped or closed, calling them raises an exception.
    pub async fn tools(&self) -> Result<Vec<Arc<dyn Tool>>, Error> {
        let listed = tokio::time::timeout(LIST_TIMEOUT, self.service.peer().list_all_tools())
            .await
            .map_err(|_| Error::Timeout {
                server: self.name.to_string(),
                request: "tools/list",
                timeout: LIST_TIMEOUT,
            })?
            .map_err(|source| Error::List { server: self.name.to_string(), source })?;
        Ok(tool::tools(&self.name, self.service.peer(), listed))
    }

    /// The command line or URL it was started with (a password in the URL
    /// shown as `****`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id of a stdio server (the process group has the same id).
    /// `None` for an HTTP server.
    pub fn process_id(&self) -> Option<u32> {
        self.pid
    }

    /// Ends the session and waits until it is over: a stdio server has exited
    /// (or been killed) and been reaped; an HTTP session has been deleted.
    pub async fn close(mut self) {
        if let Err(e) = self.service.close().await {
            tracing::warn!(server = %self.name, "the MCP session's task failed while closing: {e}");
        }
    }
}

impl fmt::Debug for McpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpServer").field("name", &self.name).field("pid", &self.pid).finish_non_exhaustive()
    }
}

/// How the handshake went wrong.
enum Failed {
    Init(Box<ClientInitializeError>),
    Timeout(Error),
}

/// The MCP handshake over `transport`, introducing ourselves as `rlm-sandbox`.
async fn initialize<T, E, A>(name: &str, transport: T) -> Result<RunningService<RoleClient, ClientConfig>, Failed>
where
    T: rmcp::transport::IntoTransport<RoleClient, E, A>,
    E: std::error::Error + Send + Sync + 'static,
{
    let info =
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("rlm-sandbox", env!("CARGO_PKG_VERSION")));
    let service = tokio::time::timeout(INIT_TIMEOUT, info.serve(transport))
        .await
        .map_err(|_| {
            Failed::Timeout(Error::Timeout { server: name.to_owned(), request: "initialize", timeout: INIT_TIMEOUT })
        })?
        .map_err(|e| Failed::Init(Box::new(e)))?;
    if let Some(peer) = service.peer_info() {
        let (server, version) = peer.server_info.as_ref().map_or(("?", "?"), |i| (i.name.as_str(), i.version.as_str()));
        tracing::debug!(name, server, version, protocol = %peer.protocol_version, "MCP session initialized");
    }
    Ok(service)
}

/// Reads a stdio server's stderr to its end, logging each line and keeping
/// the last few. It must keep reading whatever comes: a server blocked on a
/// full stderr pipe would stop answering.
async fn drain_stderr(stderr: ChildStderr, name: Arc<str>, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    let emit = |line: &mut Vec<u8>| {
        let text = String::from_utf8_lossy(line).trim_end().to_owned();
        line.clear();
        if text.is_empty() {
            return;
        }
        tracing::debug!(target: "rlm_mcp::stderr", server = %name, "{text}");
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(text);
    };
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => buf,
        };
        let (used, ends_line) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = MAX_STDERR_LINE.saturating_sub(line.len());
        line.extend_from_slice(&buf[..used.min(room)]);
        reader.consume(used);
        if ends_line {
            emit(&mut line);
        }
    }
    emit(&mut line);
}

/// `url` with the password of its user info, if any, replaced by `****`, for
/// messages and logs.
fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let authority = &url[scheme_end..authority_end];
    match authority.rfind('@') {
        Some(at) => format!("{}****{}", &url[..scheme_end], &url[scheme_end + at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_user_info() {
        assert_eq!(redact_url("https://me:secret@example.com/mcp"), "https://****@example.com/mcp");
        assert_eq!(redact_url("http://127.0.0.1:3001/mcp?x=a@b"), "http://127.0.0.1:3001/mcp?x=a@b");
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[tokio::test]
    async fn bad_command_lines_are_refused_before_spawning() {
        let err = McpServer::stdio("node 'unclosed").await.unwrap_err();
        assert!(matches!(err, Error::CommandLine { .. }), "{err:?}");
        let err = McpServer::stdio("   ").await.unwrap_err();
        assert_eq!(err.to_string(), "cannot parse the MCP server command line `   `: it names no program");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let err = McpServer::stdio("rlm-mcp-no-such-program --stdio").await.unwrap_err();
        assert!(matches!(err, Error::Spawn { .. }), "{err:?}");
        assert_eq!(err.to_string(), "cannot start the MCP server `rlm-mcp-no-such-program --stdio`");
        assert!(std::error::Error::source(&err).is_some());
    }

    #[tokio::test]
    async fn a_server_that_exits_is_an_initialize_error_with_its_stderr() {
        let err = McpServer::stdio("sh -c 'echo \"npm ERR! 404 not found\" >&2; exit 1'").await.unwrap_err();
        assert!(matches!(err, Error::Initialize { .. }), "{err:?}");
        assert!(err.to_string().contains("its stderr ended with: npm ERR! 404 not found"), "{err}");
    }
}
