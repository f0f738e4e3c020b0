"""The functions model code calls to reach the host, and the event loop that
batches their async forms.

The contract is plain: `llm_query(...)` returns its value (a `str`), always.
Concurrency is opt-in and explicit: `await llm_query_async(...)`, or
`await asyncio.gather(*[llm_query_async(p) for p in prompts])`, which sends
every call gathered before the loop next waits to the host as one batch. An
async call that is never awaited is not sent, and the cell reports it.
"""

import asyncio
import asyncio.base_events
import asyncio.events
import inspect
import time
import weakref

import hostio

_MISSING = object()


def _text(value):
    return value if isinstance(value, str) else str(value)


def _model(model):
    if model is not None and not isinstance(model, str):
        raise TypeError(f"model must be a str or None, not {type(model).__name__}")
    return model


def _unwrap(result):
    ok, value = result
    if ok == "ok":
        return value
    raise RuntimeError(value)


def _as_item(result):
    """A batched call's item as model code sees it: a failure is a string."""
    ok, value = result
    return value if ok == "ok" else f"Error: {value}"


def _helper_sources(helpers):
    if helpers is None:
        return []
    sources = []
    for item in helpers:
        if isinstance(item, str):
            sources.append(item)
            continue
        if not (inspect.isfunction(item) or inspect.isclass(item)) or item.__name__ == "<lambda>":
            raise TypeError("helpers must be functions or classes defined with def/class, or their source as str")
        try:
            sources.append(inspect.getsource(item))
        except (OSError, TypeError) as exc:
            raise TypeError(f"the source of {item.__name__} is not available: {exc}") from None
    return sources


def _llm_call(prompt, model):
    return {"llm_query": {"prompt": _text(prompt), "model": _model(model)}}


def _rlm_call(context, model, max_iterations, system_prompt, helpers):
    if max_iterations is not None and (not isinstance(max_iterations, int) or max_iterations < 1):
        raise ValueError("max_iterations must be a positive int")
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise TypeError("system_prompt must be a str")
    return {
        "rlm_query": {
            "context": context,
            "model": _model(model),
            "max_iterations": max_iterations,
            "system_prompt": system_prompt,
            "helpers": _helper_sources(helpers),
        }
    }


# --- the plain, blocking functions ---------------------------------------------


def llm_query(prompt, model=None):
    """Ask the sub-model one question; returns its reply as a `str`."""
    return _unwrap(hostio.call([_llm_call(prompt, model)])[0])


def llm_query_batched(prompts, model=None):
    """Ask many questions at once (the host runs them concurrently); returns
    the replies in order. A failed prompt gives `"Error: ..."` in its place."""
    calls = [_llm_call(p, model) for p in prompts]
    return [_as_item(r) for r in hostio.call(calls)]


def rlm_query(prompt_or_context, model=None, max_iterations=None, system_prompt=None, helpers=None):
    """Start a sub-RLM in a fresh sandbox whose `context` is the given value;
    returns the child's `FINAL` value as a Python object. `helpers` lists
    functions (or their source) to define in the child's sandbox."""
    call = _rlm_call(prompt_or_context, model, max_iterations, system_prompt, helpers)
    return _unwrap(hostio.call([call])[0])


def rlm_query_batched(prompts_or_contexts, model=None, max_iterations=None, system_prompt=None, helpers=None):
    """Start many sub-RLMs at once; returns their answers in order. A failed
    child gives `"Error: ..."` in its place."""
    calls = [_rlm_call(c, model, max_iterations, system_prompt, helpers) for c in prompts_or_contexts]
    return [_as_item(r) for r in hostio.call(calls)]


def budget():
    """What is left of the run's budgets: a dict of tokens, dollars, seconds,
    iterations and host calls (None where there is no limit)."""
    return _unwrap(hostio.call([{"budget": {}}])[0])


# --- the async forms --------------------------------------------------------------


class _HostSelector:
    """The selector of the sandbox's event loop.

    The loop calls `select` when it has nothing ready to run: the moment to
    send every call made since the last wait to the host in one batch.
    """

    def __init__(self):
        self.pending = []  # (calls, many, future)

    def enqueue(self, calls, many):
        future = asyncio.get_running_loop().create_future()
        self.pending.append((calls, many, future))
        return future

    def flush(self):
        pending, self.pending = self.pending, []
        flat = [c for calls, _, _ in pending for c in calls]
        try:
            results = hostio.call(flat) if flat else []
        except BaseException as exc:
            for _, _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        pos = 0
        for calls, many, future in pending:
            mine, pos = results[pos : pos + len(calls)], pos + len(calls)
            if future.done():
                continue
            if many:
                future.set_result([_as_item(r) for r in mine])
            elif mine[0][0] == "ok":
                future.set_result(mine[0][1])
            else:
                future.set_exception(RuntimeError(mine[0][1]))

    def select(self, timeout):
        if self.pending:
            self.flush()
        elif timeout is None:
            raise RuntimeError("the event loop is waiting for something that can never happen (no pending calls or timers)")
        elif timeout > 0:
            time.sleep(timeout)
        return []

    def close(self):
        pass


selector = _HostSelector()


class HostEventLoop(asyncio.base_events.BaseEventLoop):
    """An asyncio loop with no sockets: its only I/O is host calls."""

    def __init__(self):
        super().__init__()
        self._selector = selector

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass


def _new_event_loop():
    return HostEventLoop()


asyncio.events.new_event_loop = _new_event_loop
asyncio.new_event_loop = _new_event_loop

# Async calls made during the current cell, to find the ones never awaited.
_created = weakref.WeakSet()


def _track(coro):
    _created.add(coro)
    return coro


def unawaited_calls():
    """How many async calls of this cell were never awaited (and so never
    sent); closes them so Python does not warn again."""
    # Most cells make none: `list` of a WeakSet and its `clear` cost ~19k
    # wasm instructions. Its set of references, not its `len`: `WeakSet`'s
    # Python code looks `len` up in the builtins, which the cell may have
    # replaced.
    if not _created.data:
        return 0
    count = 0
    for coro in list(_created):
        if inspect.getcoroutinestate(coro) == inspect.CORO_CREATED:
            count += 1
            coro.close()
    _created.clear()
    return count


async def _await(calls, many):
    return await selector.enqueue(calls, many)


def llm_query_async(prompt, model=None):
    """`llm_query` for async code: `await` it, or gather many."""
    return _track(_await([_llm_call(prompt, model)], False))


def llm_query_batched_async(prompts, model=None):
    """`llm_query_batched` for async code."""
    return _track(_await([_llm_call(p, model) for p in prompts], True))


def rlm_query_async(prompt_or_context, model=None, max_iterations=None, system_prompt=None, helpers=None):
    """`rlm_query` for async code."""
    return _track(_await([_rlm_call(prompt_or_context, model, max_iterations, system_prompt, helpers)], False))


def rlm_query_batched_async(prompts_or_contexts, model=None, max_iterations=None, system_prompt=None, helpers=None):
    """`rlm_query_batched` for async code."""
    calls = [_rlm_call(c, model, max_iterations, system_prompt, helpers) for c in prompts_or_contexts]
    return _track(_await(calls, True))


def run_async(coro):
    loop = HostEventLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        selector.pending.clear()
        asyncio.events._set_running_loop(None)
        loop.close()


# --- host tools --------------------------------------------------------------------


def make_tool(spec):
    """The Python functions (plain and `_async`) of a host tool, from its
    spec: parameters from the schema's `properties`, in order; those not in
    `required` default to "not given"."""
    name = spec["name"]
    schema = spec.get("parameters") or {}
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    params = []
    for pname in properties:
        if not pname.isidentifier():
            continue
        default = inspect.Parameter.empty if pname in required else None
        params.append((pname in required, pname, default))
    # Required parameters first, as Python wants them.
    params.sort(key=lambda p: not p[0])
    signature = inspect.Signature(
        [inspect.Parameter(p, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=d) for _, p, d in params]
        + [inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)]
    )

    def arguments(args, kwargs):
        bound = signature.bind(*args, **kwargs)
        values = dict(bound.arguments)
        extra = values.pop("kwargs", {})
        values = {k: v for k, v in values.items() if not (v is None and k not in required)}
        values.update(extra)
        return {"tool": {"name": name, "args": values}}

    def tool(*args, **kwargs):
        return _unwrap(hostio.call([arguments(args, kwargs)])[0])

    def tool_async(*args, **kwargs):
        return _track(_await([arguments(args, kwargs)], False))

    doc = spec.get("description") or ""
    for fn, fname in ((tool, name), (tool_async, name + "_async")):
        fn.__name__ = fn.__qualname__ = fname
        fn.__signature__ = signature
        fn.__doc__ = doc
    return tool, tool_async


# Built before any model code can patch the modules they come from.
sleep = hostio.sleep
time.sleep = sleep
