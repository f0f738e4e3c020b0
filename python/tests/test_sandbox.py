"""`Sandbox`: cells run directly, with limits, tools and variables."""

from __future__ import annotations

import asyncio

import pytest

from rlm_sandbox import CellResult, Sandbox, SandboxLimitError


def test_run_a_cell():
    out = Sandbox().run("print(1)")
    assert isinstance(out, CellResult)
    assert out.stdout == "1\n" and out.stderr == "" and out.error is None and out.ok
    assert out.elapsed > 0


def test_state_contexts_changed_vars_and_final():
    with Sandbox(context="a b c") as box:
        out = box.run("words = context.split()\nn = len(words)\nn")
        assert out.display == "3"
        assert out.changed_vars == {"words": "list", "n": "int"}
        assert box.get("words") == ["a", "b", "c"]
        assert box.vars() == {"n": "int", "words": "list"}
        assert box.load_context({"k": [1, 2]}) == 1
        out = box.run("FINAL(context_1['k'] + [n])")
        assert out.has_final and out.final == [1, 2, 3]
        with pytest.raises(KeyError):
            box.get("missing")


def test_exceptions_and_limits_have_their_kind():
    box = Sandbox(fuel=5_000_000, timeout=2, memory_mb=128, max_output_bytes=1000)
    out = box.run("1/0")
    assert out.error.kind == "exception" and "ZeroDivisionError" in out.stderr and not out.error.is_limit
    assert box.run("while True: pass").error.kind == "fuel_exhausted"
    assert box.run("print('x' * 5000)").error.kind == "output_limit"
    assert box.run("b = bytearray(512 * 1024 * 1024)").error.kind == "memory_limit"
    slow = Sandbox(fuel=None, timeout=0.3).run("while True: pass")
    assert slow.error.kind == "timeout"
    with pytest.raises(SandboxLimitError) as info:
        box.run("1/0", check=True)
    assert info.value.kind == "exception" and info.value.result.stderr


def test_no_host_access_and_no_model():
    code = "try:\n    import socket\n    socket.create_connection(('127.0.0.1', 22))\nexcept Exception as e:\n    print(type(e).__name__)"
    out = Sandbox().run(code)
    assert out.error is None and out.stdout.strip().endswith("Error")
    out = Sandbox().run("llm_query('hi')")
    assert out.error.kind == "exception" and "no model" in out.stderr


def test_tools_and_helpers():
    seen = []

    def record(item: str) -> int:
        seen.append(item)
        return len(seen)

    box = Sandbox(tools={"record": record}, helpers={"util": "def twice(x):\n    return 2 * x\n"})
    out = box.run("FINAL([record('a'), record(item='b'), twice(4)])")
    assert out.final == [1, 2, 8] and seen == ["a", "b"]


def test_arun():
    async def main():
        box, other = Sandbox(), Sandbox()
        await box.arun("x = 41")
        mine, theirs = await asyncio.gather(box.arun("print(x + 1)"), other.arun("print('x' in globals())"))
        return mine.stdout, theirs.stdout

    assert asyncio.run(main()) == ("42\n", "False\n")
