"""Ctrl-C cancels a run and its sub-calls; an asyncio cancel does too."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

import pytest
from conftest import repl, rlm_for

from rlm_sandbox import CancellationError, Sandbox


def interrupt_after(seconds: float) -> threading.Timer:
    timer = threading.Timer(seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_cancels_a_completion(mock):
    # The root's code waits on a sub-call that hangs.
    server = mock(responder=lambda r: {"hang": 30} if not r.system else repl("x = llm_query('slow')"))
    started = time.monotonic()
    interrupt_after(0.8)
    with pytest.raises(CancellationError) as info:
        rlm_for(server).completion("c")
    assert time.monotonic() - started < 5
    e = info.value
    assert isinstance(e, KeyboardInterrupt)
    # The root's call (10 input tokens), and the sub-call cut off mid-flight,
    # billed at its input estimate: a provider charges for what it was sent.
    assert e.kind == "cancelled" and e.usage.model_usage_summaries["mock-model"].total_calls == 2
    assert e.usage.total_input_tokens > 10
    assert e.completion is not None and e.completion.error.startswith("cancelled")


def test_ctrl_c_stops_a_sandbox_cell_and_the_sandbox_starts_afresh():
    box = Sandbox(timeout=60, fuel=None)
    box.run("x = 1")
    interrupt_after(0.5)
    started = time.monotonic()
    with pytest.raises(CancellationError):
        box.run("while True: pass")
    assert time.monotonic() - started < 5
    out = box.run("print('x' in globals())")
    assert out.stdout == "False\n"


def test_cancelling_the_task_cancels_the_run(mock):
    server = mock(responder=lambda r: repl("import time\nwhile True: time.sleep(0.01)"))

    async def main():
        task = asyncio.ensure_future(rlm_for(server, cell_timeout=60).acompletion("c"))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    count = len(server.requests)
    time.sleep(0.3)
    assert len(server.requests) == count == 1


def test_leaving_a_stream_early_cancels_the_run(mock):
    server = mock(responder=lambda r: repl("print(1)"))
    for event in rlm_for(server, max_iterations=1000).stream("c"):
        if event.kind == "code_finished":
            break
    count = len(server.requests)
    time.sleep(0.3)
    assert len(server.requests) <= count + 1


def test_an_exception_in_a_callback_cancels_the_run_and_propagates(mock):
    server = mock(responder=lambda r: repl("print(1)"))

    def stop(event):
        if event.kind == "code_finished":
            raise LookupError("stop here")

    with pytest.raises(LookupError, match="stop here"):
        rlm_for(server, on_event=stop, max_iterations=1000).completion("c")
    count = len(server.requests)
    time.sleep(0.3)
    assert len(server.requests) == count
