"""Python callables as host tools: they run here, model code calls them."""

from __future__ import annotations

import asyncio
import threading

from conftest import is_root, repl, rlm_for


def test_tools_run_in_the_callers_interpreter(mock):
    calls = []

    def lookup(key: str, default: int = 0) -> dict:
        """Looks a key up on the host."""
        calls.append((key, default, threading.current_thread().name))
        return {"key": key, "value": 42 if key == "answer" else default}

    def broken() -> None:
        raise RuntimeError("the host says no")

    server = mock(
        [
            repl(
                "a = lookup('answer')\nb = lookup(key='other', default=7)\n"
                "try:\n    broken()\nexcept Exception as e:\n    err = str(e)\n"
                "FINAL([a, b, err, limit])"
            )
        ]
    )
    out = rlm_for(server, custom_tools={"lookup": lookup, "broken": {"tool": broken, "description": "Fails."}, "limit": 3}).completion("c")
    a, b, err, limit = out.answer
    assert a == {"key": "answer", "value": 42} and b == {"key": "other", "value": 7}
    assert "the host says no" in err and limit == 3
    assert [c[:2] for c in calls] == [("answer", 0), ("other", 7)]
    system = server.requests[0].system
    assert "lookup(key, default=None)" in system and "Looks a key up on the host." in system and "Fails." in system


def test_sub_tools_are_scoped(mock):
    def respond(r):
        if r.system.startswith("You are a sub-RLM"):
            return repl("FINAL([callable(globals().get('child_only')), 'root_only' in globals()])")
        if is_root(r):
            return repl("FINAL([rlm_query('x'), 'child_only' in globals()])")
        return "plain"

    server = mock(responder=respond)
    out = rlm_for(
        server, max_depth=2, custom_tools={"root_only": lambda: 1}, custom_sub_tools={"child_only": lambda: 2}
    ).completion("c")
    child, root_sees_child_tool = out.answer
    assert root_sees_child_tool is False
    assert child in ([True, False], "[true, false]")


def test_async_tools_run_on_the_callers_loop(mock):
    loops = []

    async def fetch(n: int) -> int:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0.01)
        return n * 10

    server = mock([repl("import asyncio\nasync def main():\n    return await asyncio.gather(*(fetch_async(i) for i in range(3)))\nFINAL(asyncio.run(main()))")])

    async def main():
        out = await rlm_for(server, custom_tools={"fetch": fetch}).acompletion("c")
        return out.answer, asyncio.get_running_loop()

    answer, loop = asyncio.run(main())
    assert answer == [0, 10, 20]
    assert loops and all(seen is loop for seen in loops)


def test_async_tool_in_a_sync_completion(mock):
    async def double(n: int) -> int:
        return n * 2

    server = mock([repl("FINAL(double(21))")])
    assert rlm_for(server, custom_tools={"double": double}).completion("c").answer == 42


def test_a_tool_result_json_cannot_carry_is_an_exception_in_the_cell(mock):
    server = mock([repl("try:\n    f()\nexcept Exception as e:\n    r = str(e)\nFINAL(r)")])
    out = rlm_for(server, custom_tools={"f": lambda: object()}).completion("c")
    assert "JSON" in out.response
