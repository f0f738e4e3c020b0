use std::path::Path;
use std::time::{Duration, Instant};

use rlm_mcp::McpServer;

use crate::{checks, servers};

async fn start() -> McpServer {
    McpServer::stdio(&servers::stdio_command()).await.unwrap()
}

#[tokio::test]
async fn tools_and_calls() {
    checks::tools_and_calls(&start().await).await;
}

#[tokio::test]
async fn tool_errors() {
    checks::tool_errors(&start().await).await;
}

#[tokio::test]
async fn calls_after_close() {
    checks::calls_after_close(start().await).await;
}

/// Waits until process `pid` is gone: exited and reaped (a zombie still has
/// its `/proc` entry).
async fn gone(pid: u32, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Path::new(&format!("/proc/{pid}")).exists() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test]
async fn dropping_the_server_ends_its_process() {
    let server = start().await;
    let pid = server.process_id().expect("a stdio server has a process");
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(server);
    // rmcp closes stdin, waits up to 3 s, then sends SIGTERM.
    assert!(gone(pid, Duration::from_secs(10)).await, "process {pid} still exists after the drop");
}

#[tokio::test]
async fn closing_the_server_waits_for_its_process() {
    let server = start().await;
    let pid = server.process_id().unwrap();
    server.close().await;
    assert!(gone(pid, Duration::ZERO).await, "process {pid} still exists after close");
}

#[tokio::test]
async fn a_quoted_command_line() {
    // One argument with a space in it, through `sh -c`.
    let command = format!("sh -c 'exec {}'", servers::stdio_command());
    let server = McpServer::stdio(&command).await.unwrap();
    assert_eq!(server.name(), command);
    checks::find(&server.tools().await.unwrap(), "echo");
}
