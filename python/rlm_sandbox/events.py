"""Run events, and the loop that waits for a run in the caller's thread.

A run executes in the background (Rust threads, no GIL). The thread that
started it waits for its messages with the GIL released: events go to the
caller's callback or iterator, host-tool calls are run in Python, and the
result ends the wait. Ctrl-C while waiting cancels the run and its
sub-calls, then raises ``CancellationError`` with what the run had done.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Generator, List, Optional

from . import _native

#: Seconds between checks for Ctrl-C while waiting for a run.
POLL_SECONDS = 0.1


@dataclass
class Event:
    """One thing that happened in a run.

    ``kind`` is one of ``run_started``, ``iteration_started``,
    ``model_reply``, ``code_started``, ``code_finished``,
    ``sub_call_started``, ``sub_call_finished``, ``usage``,
    ``final_answer``, ``error``, ``note``; ``data`` holds its fields (see
    the README), also readable as attributes (``event.iteration``).
    """

    kind: str
    #: The run it happened in: the root's id, or a sub-RLM's (``<root>.<n>``).
    run_id: str
    #: 0 for the root, 1 for its sub-RLMs, ...
    depth: int
    #: When, as RFC 3339 text.
    at: str
    data: Dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        data = self.__dict__.get("data") or {}
        if name in data:
            return data[name]
        raise AttributeError(f"event {self.__dict__.get('kind')!r} has no field {name!r}")

    @classmethod
    def _from_json(cls, text: str) -> "Event":
        raw = json.loads(text)
        kind = raw.pop("event")
        return cls(kind=kind, run_id=raw.pop("run_id"), depth=raw.pop("depth"), at=raw.pop("at"), data=raw)


@dataclass
class _Tool:
    """A Python callable that model code calls on the host."""

    name: str
    fn: Callable[..., Any]


def _call(fn: Callable[..., Any], args: Dict[str, Any]) -> Any:
    """Calls a tool, running a coroutine function to completion."""
    result = fn(**args)
    if inspect.isawaitable(result):
        return asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _encode(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"the tool returned a value that JSON cannot carry ({type(value).__name__}): {e}") from None


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Tools:
    """The host tools of a run, by name, for the root and for sub-RLMs."""

    def __init__(self, root: Optional[Dict[str, Callable[..., Any]]] = None, sub: Optional[Dict[str, Callable[..., Any]]] = None):
        self.root = dict(root or {})
        self.sub = dict(sub if sub is not None else self.root)
        self._pool: Optional[concurrent.futures.ThreadPoolExecutor] = None
        self._lock = threading.Lock()

    def find(self, name: str, depth: int) -> Optional[Callable[..., Any]]:
        return (self.root if depth == 0 else self.sub).get(name) or self.root.get(name) or self.sub.get(name)

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="rlm-tool")
            return self._pool

    def submit(self, run: "_native.Run", payload: str) -> None:
        """Runs a tool call on a worker thread; answers the run when done."""
        call = json.loads(payload)
        fn = self.find(call["name"], call["depth"])
        if fn is None:
            run.tool_result(call["id"], False, f"no host tool named {call['name']}")
            return

        def work() -> None:
            try:
                encoded = _encode(_call(fn, call["args"]))
            except BaseException as e:  # noqa: BLE001 - every failure goes to model code
                run.tool_result(call["id"], False, _failure(e))
            else:
                run.tool_result(call["id"], True, encoded)

        self._executor().submit(work)

    def submit_async(self, run: "_native.Run", payload: str, loop: asyncio.AbstractEventLoop) -> None:
        """Runs a tool call on the caller's event loop (coroutine functions)
        or its default executor (plain functions)."""
        call = json.loads(payload)
        fn = self.find(call["name"], call["depth"])
        if fn is None:
            run.tool_result(call["id"], False, f"no host tool named {call['name']}")
            return

        async def work() -> None:
            try:
                if inspect.iscoroutinefunction(fn):
                    value = await fn(**call["args"])
                else:
                    value = await loop.run_in_executor(None, lambda: _call(fn, call["args"]))
                encoded = _encode(value)
            except asyncio.CancelledError:
                run.tool_result(call["id"], False, "CancelledError: the tool was cancelled")
                raise
            except BaseException as e:  # noqa: BLE001
                run.tool_result(call["id"], False, _failure(e))
            else:
                run.tool_result(call["id"], True, encoded)

        loop.create_task(work())

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None


class Interrupted(Exception):
    """Raised by ``wait`` when the caller interrupted the run: carries the
    run's partial result and the exception that interrupted it."""

    def __init__(self, result: Dict[str, Any], cause: BaseException):
        super().__init__("the run was interrupted")
        self.result = result
        self.cause = cause


def _result(run: "_native.Run") -> Dict[str, Any]:
    """The result of a run that has ended."""
    text = run.result()
    if text is None:
        raise RuntimeError("the run has not ended")
    result: Dict[str, Any] = json.loads(text)
    return result


def _drain(run: "_native.Run") -> Dict[str, Any]:
    """Waits for a cancelled run to end; its tool calls are refused."""
    while not run.finished:
        for kind, payload in run.next_batch(POLL_SECONDS):
            if kind == "tool":
                run.tool_result(json.loads(payload)["id"], False, "the run was cancelled")
    return _result(run)


def stream(run: "_native.Run", tools: Optional[Tools] = None) -> Generator[Event, None, Dict[str, Any]]:
    """Yields the run's events as they come, running its tool calls; the
    generator's return value is the result (JSON-decoded).

    Any exception while waiting (Ctrl-C, or one thrown in by the consumer)
    cancels the run; a ``KeyboardInterrupt`` becomes ``Interrupted`` with
    the partial result once the run has ended.
    """
    try:
        while True:
            batch = run.next_batch(POLL_SECONDS)
            for kind, payload in batch:
                if kind == "event":
                    yield Event._from_json(payload)
                elif tools is not None:
                    tools.submit(run, payload)
                else:
                    run.tool_result(json.loads(payload)["id"], False, "this run has no host tools")
            if not batch and run.finished:
                return _result(run)
    except KeyboardInterrupt as e:
        run.cancel()
        raise Interrupted(_drain(run), e) from e
    except BaseException:
        # The consumer stopped (an exception in a callback, `break`, ...).
        run.cancel()
        raise
    finally:
        if tools is not None:
            tools.close()


def wait(
    run: "_native.Run",
    tools: Optional[Tools] = None,
    on_event: Optional[Callable[[Event], Any]] = None,
) -> Dict[str, Any]:
    """Waits for the run, calling ``on_event`` for each event in this
    thread; returns the result. An exception raised by ``on_event`` cancels
    the run and is raised once it has ended."""
    events = stream(run, tools)
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            return done.value
        if on_event is not None:
            try:
                on_event(event)
            except BaseException as e:
                events.close()
                if not isinstance(e, KeyboardInterrupt):
                    _drain(run)
                    raise
                raise Interrupted(_drain(run), e) from e


async def await_run(
    run: "_native.Run",
    tools: Optional[Tools] = None,
    on_event: Optional[Callable[[Event], Any]] = None,
) -> Dict[str, Any]:
    """``wait`` for asyncio: waits on a worker thread, runs tools on the
    running loop, and cancels the run if the awaiting task is cancelled."""
    loop = asyncio.get_running_loop()
    try:
        while True:
            batch: List[Any] = await loop.run_in_executor(None, run.next_batch, POLL_SECONDS * 5)
            for kind, payload in batch:
                if kind == "event":
                    if on_event is not None:
                        result = on_event(Event._from_json(payload))
                        if inspect.isawaitable(result):
                            await result
                elif tools is not None:
                    tools.submit_async(run, payload, loop)
                else:
                    run.tool_result(json.loads(payload)["id"], False, "this run has no host tools")
            if not batch and run.finished:
                return _result(run)
    except BaseException:
        run.cancel()
        raise
