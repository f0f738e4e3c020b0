"""The Python side-by-side figure of BENCHMARKS.md: the three scripted scenarios of figure 7
(`crates/rlm-bench/src/rlms.rs`), driven from Python through this package
and through the official `rlms` package in the same run, against one mock
server with a fixed latency.

    python python/bench/side_by_side.py [--runs 3] [--latency-ms 10]

Ours runs in this process (`rlm_sandbox.RLM`, the same arguments as the
`rlms` driver); `rlms` runs in a subprocess with its own venv (made once
under `target/bench-venv/rlms-0.1.3`, as `rlm-bench rlms` does), both
timed around `completion()`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from rlm_sandbox import RLM
from rlm_sandbox.testing import MockServer, Request, repl

RLMS_VERSION = "0.1.3"
ROOT_TOKEN = "ROOT-QUERY-TOKEN"
SCENARIOS = [
    ("plain", "(a) 10 plain iterations"),
    ("batched", "(b) one llm_query_batched over 100 prompts"),
    ("children", "(c) 20 rlm_query children, one after another"),
]

# The rlms side: the same driver as crates/rlm-bench/src/rlms.rs.
DRIVER = r"""
import json, sys, time
from rlm import RLM

base_url, scenario, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
times = []
for _ in range(runs):
    rlm = RLM(
        backend="openai",
        backend_kwargs={"model_name": "mock-model", "base_url": base_url, "api_key": "bench"},
        environment="local",
        max_depth=2,
        max_iterations=30,
        max_concurrent_subcalls=16,
    )
    t = time.perf_counter()
    out = rlm.completion("bench context", root_prompt=f"ROOT-QUERY-TOKEN {scenario}")
    times.append(time.perf_counter() - t)
    if "done" not in str(out.response):
        sys.exit(f"unexpected answer: {out.response!r}")
print(json.dumps(times))
"""


def finish(rlms: bool, value: str) -> str:
    if rlms:
        return repl(f'answer["content"] = {json.dumps(value)}\nanswer["ready"] = True')
    return repl(f"FINAL({json.dumps(value)})")


def respond(r: Request) -> str:
    """The scripted replies of rlm-bench's figure 7, for both engines."""
    if not r.system:
        return "a"
    rlms = 'answer["ready"]' in r.system
    scenario = next((c.split(ROOT_TOKEN, 1)[1].strip() for _, c in r.messages if ROOT_TOKEN in c), None)
    if scenario is None:
        return finish(rlms, "child done")
    n = r.assistant_turns
    name = scenario.split()[0] if scenario else ""
    if name == "plain" and n < 9:
        return repl(f"x{n} = {n} * 2\nprint(x{n})")
    if name == "batched" and n == 0:
        return repl("rs = llm_query_batched([f'q{i}' for i in range(100)])\nprint(len(rs))")
    if name == "children" and n == 0:
        return repl("rs = [rlm_query(f'child task {i}') for i in range(20)]\nprint(len(rs))")
    return finish(rlms, "done")


def rlms_python(root: Path) -> Path:
    target = Path(os.environ.get("CARGO_TARGET_DIR", root / "target"))
    venv = target / "bench-venv" / f"rlms-{RLMS_VERSION}"
    python = venv / "bin" / "python"
    if python.exists() and subprocess.run([python, "-c", "import rlm"]).returncode == 0:
        return python
    print(f"installing rlms=={RLMS_VERSION} into {venv}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"rlms=={RLMS_VERSION}"], check=True
    )
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[2]
    python = rlms_python(root)
    server = MockServer(responder=respond, latency=args.latency_ms / 1000)
    rlm = RLM(
        backend="openai",
        backend_kwargs={"model_name": "mock-model", "base_url": server.openai_base_url, "api_key": "bench"},
        max_depth=2,
        max_iterations=30,
        max_concurrent_subcalls=16,
    )
    rlm.completion("warm up", root_prompt=f"{ROOT_TOKEN} plain")
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}; {args.latency_ms:g} ms mock latency; median of {args.runs}\n")
    print("| scenario | ours (Python package) | rlms | ratio | model calls per run (ours / rlms) |")
    print("| --- | --- | --- | --- | --- |")
    for scenario, title in SCENARIOS:
        before = len(server.requests)
        ours: List[float] = []
        for _ in range(args.runs):
            t = time.perf_counter()
            out = rlm.completion("bench context", root_prompt=f"{ROOT_TOKEN} {scenario}")
            ours.append(time.perf_counter() - t)
            assert out.response == "done", out.response
        calls_ours = (len(server.requests) - before) // args.runs
        before = len(server.requests)
        done = subprocess.run(
            [python, "-c", DRIVER, server.openai_base_url, scenario, str(args.runs)], capture_output=True, text=True
        )
        if done.returncode != 0:
            sys.exit(f"rlms failed on {scenario}: {done.stderr}")
        theirs = json.loads(done.stdout)
        calls_theirs = (len(server.requests) - before) // args.runs
        a, b = statistics.median(ours) * 1000, statistics.median(theirs) * 1000
        print(f"| {title} | {a:.0f} ms | {b:.0f} ms | {a / b:.2f}x | {calls_ours} / {calls_theirs} |")
    server.close()


if __name__ == "__main__":
    main()
