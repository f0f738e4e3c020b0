//! Each hostile program is contained with a clear error, nothing of the host
//! leaks, and the sandbox keeps working afterwards.

use rlm_sandbox::{CellErrorKind, CellOutcome, Sandbox};
use rlm_tests::sandbox;

async fn run(sb: &mut Sandbox, code: &str) -> CellOutcome {
    let out = sb.run_cell(code).await.unwrap();
    let after = sb.run_cell("print('alive')").await.unwrap();
    assert_eq!(after.stdout, "alive\n", "the sandbox survives `{code}`: {after:?}");
    out
}

fn assert_raises(out: &CellOutcome, needle: &str) {
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(CellErrorKind::Exception), "{out:?}");
    assert!(out.stderr.contains(needle), "expected {needle:?} in:\n{}", out.stderr);
}

#[tokio::test]
async fn reading_host_files_fails() {
    let mut sb = sandbox().await;
    for path in ["/etc/passwd", "/proc/self/environ", "../../Cargo.toml", "Cargo.toml", "/root/.bashrc"] {
        let out = run(&mut sb, &format!("print(open({path:?}).read())")).await;
        assert!(out.stdout.is_empty(), "{path} leaked: {}", out.stdout);
        assert!(
            out.stderr.contains("FileNotFoundError")
                || out.stderr.contains("PermissionError")
                || out.stderr.contains("OSError"),
            "{path}: {}",
            out.stderr
        );
    }
    let out = run(&mut sb, "import io\nio.open('/etc/hostname', 'rb').read()").await;
    assert!(out.error.is_some());
}

#[tokio::test]
async fn writing_files_fails() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "open('/tmp/rlm-sandbox-escape', 'w').write('x')").await;
    assert!(out.error.is_some(), "{out:?}");
    assert!(!std::path::Path::new("/tmp/rlm-sandbox-escape").exists());
}

#[tokio::test]
async fn the_filesystem_is_empty() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "import os\nprint(os.listdir('/'))").await;
    if out.error.is_none() {
        assert_eq!(out.stdout, "[]\n");
    }
    let out = run(&mut sb, "import os\nprint(os.path.exists('/etc/passwd'), os.path.exists('/'))").await;
    assert!(out.stdout.starts_with("False"), "{}", out.stdout);
}

#[tokio::test]
async fn the_environment_is_empty() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "import os\nprint(dict(os.environ))\nprint(os.getenv('HOME'), os.getenv('PATH'))").await;
    assert_eq!(out.stdout, "{}\nNone None\n");
    let out = run(&mut sb, "import sys\nprint(sys.argv)").await;
    assert!(!out.stdout.contains("cargo") && !out.stdout.contains("/root"), "{}", out.stdout);
}

#[tokio::test]
async fn sockets_are_unavailable() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "import socket").await;
    assert_raises(&out, "ModuleNotFoundError");
    let out = run(&mut sb, "import _socket").await;
    assert_raises(&out, "disabled in the sandbox");
}

#[tokio::test]
async fn no_connection_reaches_a_listening_host_port() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut sb = sandbox().await;
    let out =
        run(&mut sb, &format!("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:{port}/', timeout=1)"))
            .await;
    assert!(out.error.is_some(), "{out:?}");
    let out = run(&mut sb, &format!("import asyncio\nawait asyncio.open_connection('127.0.0.1', {port})")).await;
    assert!(out.error.is_some(), "{out:?}");
    assert!(listener.accept().is_err(), "a connection reached the host");
}

#[tokio::test]
async fn processes_cannot_be_started() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "import subprocess").await;
    assert_raises(&out, "ModuleNotFoundError");
    let out = run(&mut sb, "import os\nos.system('touch /tmp/rlm-sandbox-pwned')").await;
    assert!(out.error.is_some(), "{out:?}");
    let out = run(&mut sb, "import os\nos.execv('/bin/sh', ['sh'])").await;
    assert!(out.error.is_some(), "{out:?}");
    let out = run(&mut sb, "import os\nos.fork()").await;
    assert!(out.error.is_some(), "{out:?}");
    assert!(!std::path::Path::new("/tmp/rlm-sandbox-pwned").exists());
}

#[tokio::test]
async fn native_code_loading_is_unavailable() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "import ctypes").await;
    assert_raises(&out, "ModuleNotFoundError");
    let out = run(&mut sb, "import multiprocessing").await;
    assert_raises(&out, "ModuleNotFoundError");
    let out = run(&mut sb, "import threading\nthreading.Thread(target=print).start()").await;
    assert!(out.error.is_some(), "{out:?}");
}

#[tokio::test]
async fn printing_final_does_not_forge_an_answer() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "print('FINAL(42)')\nprint('FINAL_VAR(x)')").await;
    assert_eq!(out.final_value, None);
    assert!(out.error.is_none());
}

#[tokio::test]
async fn patching_driver_internals_cannot_break_the_next_cell() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "import sys\nsys.stdout = None\nsys.stderr = None\nsys.modules['json'] = None").await;
    assert!(out.error.is_none(), "{out:?}");
    let out = run(&mut sb, "import builtins\nbuiltins.print = lambda *a, **k: None").await;
    assert!(out.error.is_none(), "{out:?}");
}

#[tokio::test]
async fn exiting_the_interpreter_is_contained() {
    let mut sb = sandbox().await;
    let out = run(&mut sb, "import sys\nsys.exit(3)").await;
    assert_raises(&out, "SystemExit");
    let out = run(&mut sb, "raise KeyboardInterrupt").await;
    assert_raises(&out, "KeyboardInterrupt");
    let out = run(&mut sb, "import os\nos._exit(1)").await;
    assert!(out.error.is_some(), "{out:?}");
    let out = run(&mut sb, "import os\nos.abort()").await;
    assert!(out.error.is_some(), "{out:?}");
}

#[tokio::test]
async fn damaging_the_driver_replaces_the_instance() {
    let mut sb = sandbox().await;
    sb.run_cell("survivor = 1").await.unwrap();
    let out = sb.run_cell("import state\nstate._state = None").await.unwrap();
    assert_eq!(out.error.as_ref().map(|e| e.kind), Some(CellErrorKind::Trap), "{out:?}");
    assert!(out.error.as_ref().unwrap().message.contains("the REPL driver failed"), "{out:?}");
    assert!(out.state_lost);
    let out = sb.run_cell("print('survivor' in globals())").await.unwrap();
    assert_eq!(out.stdout, "False\n");
}

#[tokio::test]
async fn a_hostile_value_cannot_hang_or_crash_reading_a_variable() {
    let limits = rlm_sandbox::Limits::default().timeout(std::time::Duration::from_millis(300));
    let mut sb = rlm_tests::sandbox_with(limits, std::sync::Arc::new(rlm_sandbox::NoBackend)).await;
    // A set is sorted on its way out: its items' `__lt__` is model code.
    let code = "import select\nclass Blocks:\n    def __lt__(self, other):\n        select.select([], [], [], 30)\n        return True\n    def __hash__(self):\n        return id(self)\nclass Spins:\n    def __lt__(self, other):\n        while True:\n            pass\n    def __hash__(self):\n        return id(self)\nb = {Blocks(), Blocks()}\ns = {Spins(), Spins()}";
    assert!(sb.run_cell(code).await.unwrap().is_ok());
    for name in ["b", "s"] {
        let started = std::time::Instant::now();
        let err = sb.get_var(name).await.unwrap_err();
        assert!(matches!(err, rlm_sandbox::Error::Guest { .. }), "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "{name}: {:?}", started.elapsed());
        let out = sb.run_cell("print('back')").await.unwrap();
        assert_eq!(out.stdout, "back\n");
        assert!(out.state_lost, "the instance was replaced");
        assert!(sb.run_cell(code).await.unwrap().is_ok());
    }
}
