//! A throwaway PostgreSQL server for the tests: `initdb` into a temporary
//! directory, `postgres` on 127.0.0.1 with a free port and its socket in
//! that directory, stopped and deleted on drop.
//!
//! It uses Debian's server binaries, `/usr/lib/postgresql/<version>/bin/`,
//! which `crates/rlm-store/tests/setup-postgres.sh` installs. PostgreSQL refuses to run as
//! root, so when the tests run as root, `initdb` and `postgres` run as the
//! `postgres` user that the package creates (set as the child's uid and gid
//! before it starts, so the server is our direct child and `Drop` can stop
//! it).

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tempfile::TempDir;

pub use rlm_core::env::SKIP_POSTGRES_TESTS;

/// Where Debian installs each PostgreSQL version's server binaries.
const DEBIAN_POSTGRES_DIR: &str = "/usr/lib/postgresql";

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Dropping it stops the server and deletes its data.
#[derive(Debug)]
pub struct PostgresServer {
    bin: PathBuf,
    /// Who runs the server: `None` for the current user.
    user: Option<(u32, u32)>,
    server: Option<Child>,
    port: u16,
    // Dropped last: the server must stop before its data goes.
    dir: TempDir,
}

/// Whether the PostgreSQL tests are to be skipped.
pub fn skip() -> bool {
    std::env::var_os(SKIP_POSTGRES_TESTS).is_some_and(|v| v == "1")
}

impl PostgresServer {
    /// Starts a server, or panics saying why.
    pub async fn start() -> PostgresServer {
        let bin = binaries();
        let user = server_user();
        let dir = tempfile::Builder::new().prefix("rlm-store-pg").tempdir().expect("a temporary directory");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the temporary directory");
        }
        let data = dir.path().join("data");
        let socket_dir = dir.path().join("socket");
        std::fs::create_dir(&socket_dir).expect("the socket directory");
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(&socket_dir, Some(uid), Some(gid)).expect("chown the socket directory");
        }

        let initdb_log = dir.path().join("initdb.log");
        let status = command(&bin.join("initdb"), user, dir.path())
            .arg("--pgdata")
            .arg(&data)
            .args(["--username=postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .stdout(log_file(&initdb_log))
            .stderr(log_file(&initdb_log))
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed ({status}):\n{}", read(&initdb_log));

        let port = free_port();
        let log = dir.path().join("postgres.log");
        let server = command(&bin.join("postgres"), user, dir.path())
            .arg("-D")
            .arg(&data)
            .arg("-k")
            .arg(&socket_dir)
            .arg("-p")
            .arg(port.to_string())
            // Loopback only; durability is pointless for a throwaway cluster
            // and costs time. Every behaviour runs at once on its own
            // database, each with a pool of up to ten connections.
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"])
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .stdin(Stdio::null())
            .stdout(log_file(&log))
            .stderr(log_file(&log))
            .spawn()
            .expect("start postgres");
        let mut server = PostgresServer { bin, user, server: Some(server), port, dir };
        server.wait_until_ready().await;
        server
    }

    /// A URL for `database` as the superuser, with a password to check
    /// redaction against (trust authentication ignores it).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres:hunter2@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        let mut admin = PgConnection::connect(&self.url("postgres")).await.expect("connect as the superuser");
        sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).await.expect("create a database");
        admin.close().await.ok();
        self.url(name)
    }

    async fn wait_until_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.server.as_mut().and_then(|s| s.try_wait().transpose()) {
                panic!("postgres exited ({status:?}) before accepting connections:\n{}", self.log());
            }
            match PgConnection::connect(&self.url("postgres")).await {
                Ok(conn) => {
                    conn.close().await.ok();
                    return;
                }
                Err(err) if started.elapsed() > START_TIMEOUT => {
                    panic!("postgres did not accept connections within {START_TIMEOUT:?}: {err}\n{}", self.log())
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        read(&self.dir.path().join("postgres.log"))
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let Some(mut server) = self.server.take() else { return };
        // An immediate shutdown: the cluster is deleted next, so nothing is
        // worth flushing. `pg_ctl` signals the postmaster, which stops its
        // backends; killing only the postmaster would leave them behind.
        let stopped = command(&self.bin.join("pg_ctl"), self.user, self.dir.path())
            .arg("stop")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "-t", "10"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !stopped {
            server.kill().ok();
        }
        server.wait().ok();
    }
}

/// The server binaries, installed first with the setup script when they
/// are missing (once per process; the script does nothing when they are
/// there).
fn binaries() -> PathBuf {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    let root = Path::new(DEBIAN_POSTGRES_DIR);
    let present = || std::fs::read_dir(root).is_ok_and(|mut d| d.next().is_some());
    if !present() {
        INSTALLED.call_once(|| {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rlm-store/tests/setup-postgres.sh");
            let _ = Command::new("bash").arg(script).status();
        });
    }
    find_binaries(root)
}

/// The newest `<root>/<version>/bin` with `initdb`, `postgres` and `pg_ctl`
/// (`root` is `/usr/lib/postgresql` but in tests), or a panic that says
/// how to install them.
pub fn find_binaries(root: &Path) -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.split('.').next()?.parse().ok()?;
            let bin = entry.path().join("bin");
            ["initdb", "postgres", "pg_ctl"].iter().all(|b| bin.join(b).is_file()).then_some((version, bin))
        })
        .collect();
    found.sort();
    match found.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL's server binaries are missing (no {}/*/bin/initdb): run \
             `bash crates/rlm-store/tests/setup-postgres.sh` to install them, or set {SKIP_POSTGRES_TESTS}=1 \
             to skip the PostgreSQL tests",
            root.display()
        ),
    }
}

/// `None` to run the server as ourselves; the `postgres` user's uid and gid
/// when we are root, which PostgreSQL refuses to run as.
fn server_user() -> Option<(u32, u32)> {
    if id(&["-u"]) != Some(0) {
        return None;
    }
    match (id(&["-u", "postgres"]), id(&["-g", "postgres"])) {
        (Some(uid), Some(gid)) => Some((uid, gid)),
        _ => panic!(
            "the tests run as root, which PostgreSQL refuses, and there is no `postgres` user to run it as: \
             run `bash crates/rlm-store/tests/setup-postgres.sh`, whose package creates it"
        ),
    }
}

/// What `id ARGS` prints, as a number.
fn id(args: &[&str]) -> Option<u32> {
    let out = Command::new("id").args(args).stderr(Stdio::null()).output().ok()?;
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// A command run as `user`, from `dir` (one the user can enter: initdb
/// fails when it cannot read its working directory).
fn command(program: &Path, user: Option<(u32, u32)>, dir: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    cmd
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

fn log_file(path: &Path) -> File {
    File::options().create(true).append(true).open(path).expect("a log file")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| format!("(cannot read {}: {err})", path.display()))
}
