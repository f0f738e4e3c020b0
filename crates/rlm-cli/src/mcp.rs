//! `--mcp` and `--mcp-url`: Model Context Protocol servers whose tools model
//! code may call. They run on the host, with the user's consent given by the
//! flag; the sandbox stays closed.

use std::collections::HashSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use rlm_core::{JsonText, ToolSpec};
use rlm_engine::{Tool, ToolCall};
use rlm_mcp::McpServer;

use crate::args::{EngineArgs, UsageError};

/// The servers of a run (kept alive while it may call them) and their tools.
#[derive(Debug, Default)]
pub struct McpTools {
    servers: Vec<McpServer>,
    /// Every server's tools, under names the REPL can take.
    pub tools: Vec<Arc<dyn Tool>>,
}

impl McpTools {
    /// Starts or reaches every server the flags name and lists its tools. A
    /// tool whose name the REPL cannot take (`context`, `print`, a name used
    /// by an earlier server, ...) is offered as `mcp_<name>`, and a note on
    /// stderr says so.
    pub async fn connect(args: &EngineArgs) -> Result<McpTools, UsageError> {
        let mut out = McpTools::default();
        let mut taken: HashSet<String> = HashSet::new();
        let targets = args.mcp.iter().map(|c| (c, false)).chain(args.mcp_url.iter().map(|u| (u, true)));
        for (target, http) in targets {
            let server = if http { McpServer::http(target).await } else { McpServer::stdio(target).await };
            let server = server.map_err(|e| UsageError(format!("MCP server `{target}`: {}", chain(&e))))?;
            let tools =
                server.tools().await.map_err(|e| UsageError(format!("MCP server `{target}`: {}", chain(&e))))?;
            for tool in tools {
                let name = tool.spec().name.clone();
                let usable =
                    |n: &str, taken: &HashSet<String>| rlm_engine::tool_name_problem(n).is_none() && !taken.contains(n);
                let tool = if usable(&name, &taken) {
                    tool
                } else {
                    let base = format!("mcp_{name}");
                    let mut renamed = base.clone();
                    let mut n = 2;
                    while !usable(&renamed, &taken) {
                        renamed = format!("{base}_{n}");
                        n += 1;
                    }
                    eprintln!("rlm-sandbox: MCP tool `{name}` of `{}` is `{renamed}` in the REPL", server.name());
                    Arc::new(Renamed::new(tool, renamed)) as Arc<dyn Tool>
                };
                taken.insert(tool.spec().name.clone());
                out.tools.push(tool);
            }
            out.servers.push(server);
        }
        Ok(out)
    }

    /// Shuts every server down and waits for its process to end.
    pub async fn close(self) {
        for server in self.servers {
            server.close().await;
        }
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// A tool under another name.
struct Renamed {
    inner: Arc<dyn Tool>,
    spec: ToolSpec,
}

impl Renamed {
    fn new(inner: Arc<dyn Tool>, name: String) -> Self {
        let spec = inner.spec();
        let spec = ToolSpec::new(name, spec.description.clone(), spec.parameters.clone());
        Renamed { inner, spec }
    }
}

impl Tool for Renamed {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    fn call(&self, args: JsonText, call: ToolCall) -> BoxFuture<'static, Result<JsonText, String>> {
        self.inner.call(args, call)
    }
}
