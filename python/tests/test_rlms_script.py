"""A script written for `rlms` runs unchanged but for its import lines."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import repl

SCRIPT = Path(__file__).parent / "scripts" / "rlms_quickstart.py"


def respond(request):
    """Replies both engines take: `answer["ready"]` ends a run in each."""
    if not request.system:
        return "49"
    turns = sum(1 for role, text in request.messages if role == "assistant" and "```repl" in text)
    return [
        repl("lines = context.splitlines()\nprint(lines[7])"),
        repl("val = llm_query('Extract the number after value= in: ' + lines[7])\nprint(val)"),
        repl('answer["content"] = val.strip()\nanswer["ready"] = True'),
    ][min(turns, 2)]


def run_script(source: str, server, tmp_path: Path) -> str:
    env = dict(os.environ, OPENAI_BASE_URL=server.openai_base_url, OPENAI_API_KEY="test-key", RLM_LOG_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", source], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_the_rlms_quickstart_runs_with_only_its_imports_changed(mock, tmp_path):
    original = SCRIPT.read_text()
    ported = re.sub(r"^from rlm(\.| )", r"from rlm_sandbox\1", original, flags=re.M)
    changed = [(a, b) for a, b in zip(original.splitlines(), ported.splitlines()) if a != b]
    assert changed == [
        ("from rlm import RLM", "from rlm_sandbox import RLM"),
        ("from rlm.logger import RLMLogger", "from rlm_sandbox.logger import RLMLogger"),
    ]
    server = mock(responder=respond)
    ours = run_script(ported, server, tmp_path / "ours")
    assert "RESPONSE: 49\n" in ours and "MODEL: gpt-5-nano\n" in ours
    assert "CALLS: 4\n" in ours and "LOGGED: 3\n" in ours
    (log,) = (tmp_path / "ours").glob("rlm_*.jsonl")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line["type"] for line in lines] == ["metadata"] + ["iteration"] * 3
    assert lines[-1]["final_answer"] == "49"


@pytest.mark.skipif(importlib.util.find_spec("rlm") is None, reason="rlms is not installed in this environment")
def test_the_same_replies_drive_rlms_itself(mock, tmp_path):
    original = SCRIPT.read_text()
    server = mock(responder=respond)
    theirs = run_script(original, server, tmp_path / "theirs")
    assert "RESPONSE: 49\n" in theirs
