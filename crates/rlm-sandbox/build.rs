//! Builds the CPython guest component from `wasm/` with a pinned
//! componentize-py, so a fresh clone needs only Rust and `python3`.
//!
//! The venv and finished components are cached under `<target>/guest-build/`,
//! the component keyed by a hash of every input, so dev, test and release
//! builds share one build and unchanged inputs cost nothing.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().and_then(Path::parent).unwrap().to_path_buf();
    let wasm_dir = workspace.join("wasm");
    let wit_dir = wasm_dir.join("wit");
    let guest_dir = wasm_dir.join("guest");
    let requirements = guest_dir.join("requirements-build.txt");
    println!("cargo:rerun-if-changed={}", wasm_dir.display());
    println!("cargo:rerun-if-env-changed=RLM_SANDBOX_PYTHON");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");

    let mut inputs = Vec::new();
    collect(&wit_dir, &mut inputs);
    collect(&guest_dir, &mut inputs);
    for path in &inputs {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let key = hash_files(&workspace, inputs);

    // A relative `CARGO_TARGET_DIR` is relative to where cargo was run, which
    // a build script (run in the crate's directory) cannot see; the
    // workspace root is where the README's commands run.
    let target_dir =
        env::var_os("CARGO_TARGET_DIR").map(|dir| workspace.join(dir)).unwrap_or_else(|| workspace.join("target"));
    let tools = target_dir.join("guest-build");
    fs::create_dir_all(&tools).unwrap();
    let cached = tools.join(format!("guest-{}.wasm", &key[..16]));
    if !cached.exists() {
        let componentize = ensure_venv(&tools, &requirements);
        let partial = tools.join(format!("guest-{}.wasm.partial", &key[..16]));
        let status = Command::new(&componentize)
            .arg("-q")
            .arg("-d")
            .arg(&wit_dir)
            .args(["-w", "sandbox", "componentize", "-p"])
            .arg(&guest_dir)
            .arg("app")
            .arg("-o")
            .arg(&partial)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", componentize.display()));
        assert!(status.success(), "componentize-py failed to build the guest ({status})");
        fs::rename(&partial, &cached).unwrap();
    }
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("guest.wasm");
    let _ = fs::remove_file(&out);
    if fs::hard_link(&cached, &out).is_err() {
        fs::copy(&cached, &out).unwrap();
    }
    println!("cargo:rustc-env=RLM_GUEST_KEY={key}");

    // The vendored wasmtime compiles and serializes code differently from
    // the published crates of the same version, whose compatibility checks
    // cannot tell the two apart: the runtime tags its compiled code with a
    // hash of every vendored file (see `runtime.rs`).
    let vendor = workspace.join("vendor");
    println!("cargo:rerun-if-changed={}", vendor.display());
    let mut inputs = Vec::new();
    collect(&vendor, &mut inputs);
    println!("cargo:rustc-env=RLM_WASMTIME_KEY={}", hash_files(&workspace, inputs));
}

/// A hash of `inputs`' paths (relative to `workspace`) and contents, in
/// path order.
fn hash_files(workspace: &Path, mut inputs: Vec<PathBuf>) -> String {
    inputs.sort();
    let mut hasher = Sha256::new();
    for path in &inputs {
        hasher.update(path.strip_prefix(workspace).unwrap().to_string_lossy().as_bytes());
        hasher.update([0]);
        hasher.update(fs::read(path).unwrap());
        hasher.update([0]);
    }
    hex(&hasher.finalize())
}

/// Makes (once) a venv holding the pinned componentize-py; returns its binary.
fn ensure_venv(tools: &Path, requirements: &Path) -> PathBuf {
    let pins = fs::read(requirements).unwrap();
    let venv = tools.join(format!("venv-{}", &hex(&Sha256::digest(&pins))[..12]));
    let bin = venv.join("bin").join("componentize-py");
    if bin.exists() {
        return bin;
    }
    let python = env::var("RLM_SANDBOX_PYTHON").unwrap_or_else(|_| "python3".into());
    let _ = fs::remove_dir_all(&venv);
    run(Command::new(&python).args(["-m", "venv"]).arg(&venv));
    run(Command::new(venv.join("bin").join("python"))
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(requirements));
    assert!(bin.exists(), "pip did not install componentize-py into {}", venv.display());
    bin
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(status.success(), "{cmd:?} failed ({status})");
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "__pycache__" || name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
