//! The real MCP server the tests talk to: `@modelcontextprotocol/server-everything`
//! from npm, pinned in `crates/rlm-mcp/tests/servers/package-lock.json`.

use std::fs::{self, File};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where `package.json`, its lock file and the installed `node_modules` are.
const SERVERS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../rlm-mcp/tests/servers");

/// The everything server's entry point inside `node_modules`.
const EVERYTHING: &str = "node_modules/@modelcontextprotocol/server-everything/dist/index.js";

/// The everything server's `index.js`, installed with `npm ci` on first use.
///
/// Installs once per machine: a file lock keeps parallel test processes from
/// installing at the same time, and a stamp (a copy of the lock file it
/// installed) in `node_modules` skips the install while that is current.
pub fn everything() -> PathBuf {
    static INSTALLED: OnceLock<PathBuf> = OnceLock::new();
    INSTALLED.get_or_init(install).clone()
}

// How long the install took is worth a line in the test output.
#[allow(clippy::print_stderr)]
fn install() -> PathBuf {
    let dir = Path::new(SERVERS_DIR);
    let lock = File::create(dir.join(".install.lock")).expect("create the install lock file");
    lock.lock().expect("take the install lock");
    let wanted = fs::read(dir.join("package-lock.json")).expect("read rlm-mcp/tests/servers/package-lock.json");
    let stamp = dir.join("node_modules/.rlm-mcp-installed");
    let entry = dir.join(EVERYTHING);
    if fs::read(&stamp).is_ok_and(|installed| installed == wanted) && entry.is_file() {
        return entry;
    }
    let started = Instant::now();
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"])
        .current_dir(dir)
        .status()
        .expect("cannot run `npm`: the MCP tests need Node.js (20 or later) and npm on PATH");
    assert!(status.success(), "`npm ci` in {} failed: {status}", dir.display());
    assert!(entry.is_file(), "`npm ci` did not install {}", entry.display());
    fs::write(&stamp, &wanted).expect("write the install stamp");
    eprintln!("installed the MCP test servers with `npm ci` in {:.1?}", started.elapsed());
    entry
}

/// The everything server in streamable HTTP mode on a free port of
/// 127.0.0.1, killed on drop.
#[derive(Debug)]
pub struct HttpServer {
    child: Child,
    /// Its MCP endpoint.
    pub url: String,
}

impl HttpServer {
    /// Starts one and waits until it accepts connections.
    // A port lost to a race is worth a line in the test output.
    #[allow(clippy::print_stderr)]
    pub fn start() -> HttpServer {
        let entry = everything();
        let loopback = Path::new(SERVERS_DIR).join("loopback.cjs");
        // The port is free when asked for, but another process could take it
        // before node does: then node exits, and another port is tried.
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = Command::new("node")
                .arg("--require")
                .arg(&loopback)
                .arg(&entry)
                .arg("streamableHttp")
                .env("PORT", port.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("cannot run `node`");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return HttpServer { child, url: format!("http://127.0.0.1:{port}/mcp") };
                }
                if let Some(status) = child.try_wait().unwrap() {
                    eprintln!("the HTTP MCP server on port {port} exited before listening ({status})");
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the HTTP MCP server did not listen on port {port} within 30 s");
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("the HTTP MCP server could not start on any of 3 ports");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
