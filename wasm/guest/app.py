"""The REPL driver that runs inside the sandbox.

componentize-py runs this module's top level once, at build time, and
snapshots the interpreter; every sandbox starts from that snapshot. The host
drives it through the `repl` export (see `wasm/wit/sandbox.wit`): load the
contexts, run cells, read variables. Model code reaches the host only through
the scaffold functions defined here, which call the `subcalls` and `control`
imports.
"""

import ast
import asyncio
import asyncio.base_events
import asyncio.events
import builtins
import encodings
import gc
import importlib
import inspect
import io
import json
import linecache
import pkgutil
import random
import sys
import time
import traceback
import types

import preload
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import repl as wit
from wit_world.imports import control, subcalls


def _preload():
    for name in preload.MODULES:
        importlib.import_module(name)
    # Codec lookups import `encodings.<name>` lazily: load them all now.
    for info in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module("encodings." + info.name)
        except Exception:
            pass


_preload()

# Modules the stdlib pulled in that can only fail here (no network, no
# processes, no native code): refuse them by name rather than half-work.
BLOCKED_MODULES = frozenset(
    ("subprocess", "_posixsubprocess", "socket", "_socket", "ssl", "_ssl", "ctypes", "_ctypes", "multiprocessing", "mmap")
)
for _name in BLOCKED_MODULES:
    sys.modules.pop(_name, None)

AVAILABLE_MODULES = tuple(sorted((set(preload.MODULES) | set(sys.builtin_module_names)) - BLOCKED_MODULES))


class _UnavailableModuleFinder:
    """Last on `sys.meta_path`: turns a failed import into a clear error."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        raise ModuleNotFoundError(
            f"No module named {name!r}: the sandbox has no filesystem, so only these "
            f"modules can be imported: {', '.join(m for m in AVAILABLE_MODULES if not m.startswith('_'))}",
            name=name,
        )

    @staticmethod
    def invalidate_caches():
        pass


# The snapshot has no filesystem behind it: path-based finders can only fail.
class _BlockedModuleFinder:
    """First on `sys.meta_path`: refuses the blocked modules, even built-in ones."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED_MODULES:
            raise ModuleNotFoundError(
                f"No module named {name!r}: it is disabled in the sandbox, which has no network, "
                "no processes and no native code",
                name=name,
            )
        return None

    @staticmethod
    def invalidate_caches():
        pass


sys.meta_path = [f for f in sys.meta_path if getattr(f, "__name__", "") != "PathFinder"]
sys.meta_path.insert(0, _BlockedModuleFinder)
sys.meta_path.append(_UnavailableModuleFinder)

_DRIVER_FILES = {__file__, preload.__file__}


# --- limits the guest raises -------------------------------------------------


class SandboxLimitError(BaseException):
    """A sandbox limit ended the cell. A `BaseException`, so that a plain
    `except Exception` in model code does not swallow it."""


class OutputLimitExceeded(SandboxLimitError):
    """The cell wrote more than the output cap."""


class HostCallLimitExceeded(SandboxLimitError):
    """The cell made more `llm_query`/`rlm_query` calls than allowed."""


class CellTimeout(SandboxLimitError):
    """The cell's wall-clock deadline passed while it was waiting."""


class _FinalSignal(BaseException):
    """Raised by `FINAL` to end the cell at once."""


# --- output capture ----------------------------------------------------------


class _HostWriter(io.TextIOBase):
    """`sys.stdout` / `sys.stderr` during a cell: line-buffered, handing each
    finished line (or 8 KiB) to the host, so output printed before a hard stop
    survives it. The host enforces the cap; once it refuses, the cell ends
    with `OutputLimitExceeded`."""

    FLUSH_AT = 8192

    def __init__(self, which, name):
        self.name = name
        self._which = which
        self._parts = []
        self._size = 0
        self._refused = False

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self._parts.append(s)
        self._size += len(s)
        if self._size >= self.FLUSH_AT or "\n" in s:
            self.flush()
        return len(s)

    def flush(self):
        if not self._parts:
            return
        text = "".join(self._parts)
        self._parts, self._size = [], 0
        if self._refused:
            return
        if not control.write_output(self._which, text):
            self._refused = True
            raise OutputLimitExceeded(f"{self.name} passed its per-cell cap; the rest of the cell was not run")


# --- query functions and async batching --------------------------------------


def _as_text(value):
    return value if isinstance(value, str) else str(value)


def _to_json(value):
    value = _resolved(value)
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=repr)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(value), ensure_ascii=False)


def _raise_call_error(err):
    # `from None`: the binding's `Err` is plumbing, not part of the story.
    if isinstance(err, subcalls.CallError_LimitReached):
        raise HostCallLimitExceeded(err.value) from None
    if isinstance(err, subcalls.CallError_Deadline):
        raise CellTimeout(err.value) from None
    raise RuntimeError(err.value) from None


_CALLS = {
    # kind: (single import, batched import, encode argument, decode reply)
    "llm": (subcalls.llm_query, subcalls.llm_query_batched, _as_text, lambda s: s),
    "rlm": (subcalls.rlm_query, subcalls.rlm_query_batched, _to_json, json.loads),
}


def _flush_output():
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, _HostWriter):
            stream.flush()


def _call_one(kind, arg, model):
    _flush_output()
    single, _, encode, decode = _CALLS[kind]
    try:
        return decode(single(encode(arg), model))
    except Err as e:
        _raise_call_error(e.value)


def _send_batch(kind, args, model):
    """One batched host call; each item is its decoded reply or its `Err`."""
    _flush_output()
    _, batched, encode, decode = _CALLS[kind]
    try:
        results = batched([encode(a) for a in args], model)
    except Err as e:
        _raise_call_error(e.value)
    return [r if isinstance(r, Err) else decode(r.value) for r in results]


def _as_item(result):
    """A batched call's item as model code sees it: a failure is a string."""
    return f"Error: {result.value}" if isinstance(result, Err) else result


def _call_many(kind, args, model):
    return [_as_item(r) for r in _send_batch(kind, args, model)]


class _PendingCall(asyncio.Future):
    """What a query function returns inside a running event loop.

    Awaiting it (directly or through `asyncio.gather`) lets the loop collect
    every call made before it next waits and send them to the host as one
    concurrent batch. Used without `await`, it behaves like its value: the
    pending batch is sent at once and the result is used.
    """

    def _value(self):
        if not self.done():
            _selector.flush()
        return self.result()

    def __getattr__(self, name):
        return getattr(self._value(), name)

    def __str__(self):
        return str(self._value())

    def __repr__(self):
        return repr(self._value())

    def __format__(self, spec):
        return format(self._value(), spec)

    def __add__(self, other):
        return self._value() + other

    def __radd__(self, other):
        return other + self._value()

    def __len__(self):
        return len(self._value())

    def __iter__(self):
        if not self.done():
            # `await` drives the iterator protocol of a Future; keep it working.
            return super().__iter__()
        return iter(self._value())

    def __contains__(self, item):
        return item in self._value()

    def __getitem__(self, key):
        return self._value()[key]

    def __bool__(self):
        return bool(self._value())


def _resolved(value):
    return value._value() if isinstance(value, _PendingCall) else value


class _HostSelector:
    """The selector of the sandbox's event loop.

    The loop calls `select` when it has nothing ready to run: the moment to
    send every query made since the last wait to the host in one batch.
    """

    def __init__(self):
        self.pending = []  # (kind, many, argument, model, future)

    def enqueue(self, kind, many, arg, model):
        fut = _PendingCall(loop=asyncio.get_running_loop())
        self.pending.append((kind, many, arg, model, fut))
        return fut

    def flush(self):
        pending, self.pending = self.pending, []
        groups = {}
        for kind, many, arg, model, fut in pending:
            groups.setdefault((kind, model), []).append((many, arg, fut))
        for (kind, model), items in groups.items():
            flat = []
            for many, arg, _ in items:
                flat.extend(arg if many else [arg])
            try:
                replies = _send_batch(kind, flat, model)
            except BaseException as exc:
                for _, _, fut in items:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            pos = 0
            for many, arg, fut in items:
                if many:
                    result, pos = [_as_item(r) for r in replies[pos : pos + len(arg)]], pos + len(arg)
                else:
                    result, pos = replies[pos], pos + 1
                if fut.done():
                    continue
                if isinstance(result, Err):
                    fut.set_exception(RuntimeError(result.value))
                else:
                    fut.set_result(result)

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


_selector = _HostSelector()


class _HostEventLoop(asyncio.base_events.BaseEventLoop):
    """An asyncio loop with no sockets: its only I/O is host calls."""

    def __init__(self):
        super().__init__()
        self._selector = _selector

    def _process_events(self, event_list):
        pass

    def _write_to_self(self):
        pass


def _new_event_loop():
    return _HostEventLoop()


asyncio.events.new_event_loop = _new_event_loop
asyncio.new_event_loop = _new_event_loop


def _in_event_loop():
    return asyncio.events._get_running_loop() is not None


def llm_query(prompt, model=None):
    """Ask the sub-model one question; returns its reply as a `str`."""
    if _in_event_loop():
        return _selector.enqueue("llm", False, _as_text(prompt), model)
    return _call_one("llm", prompt, model)


def llm_query_batched(prompts, model=None):
    """Ask many questions at once; returns the replies in order. A failed
    prompt gives the string `"Error: ..."` in its place."""
    prompts = [_as_text(p) for p in prompts]
    if _in_event_loop():
        return _selector.enqueue("llm", True, prompts, model)
    return _call_many("llm", prompts, model)


def rlm_query(prompt_or_context, model=None):
    """Start a sub-RLM with its own fresh sandbox whose `context` is the given
    value; returns the child's `FINAL` value as a Python object."""
    if _in_event_loop():
        return _selector.enqueue("rlm", False, prompt_or_context, model)
    return _call_one("rlm", prompt_or_context, model)


def rlm_query_batched(prompts_or_contexts, model=None):
    """Start many sub-RLMs at once; returns their answers in order. A failed
    child gives the string `"Error: ..."` in its place."""
    items = list(prompts_or_contexts)
    if _in_event_loop():
        return _selector.enqueue("rlm", True, items, model)
    return _call_many("rlm", items, model)


def _sleep(seconds):
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    _flush_output()
    if not control.sleep(int(seconds * 1_000_000_000)):
        raise CellTimeout("the cell's wall-clock limit passed during time.sleep()")


time.sleep = _sleep


# --- the REPL state ----------------------------------------------------------

SCAFFOLD_NAMES = ("context", "llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched", "FINAL", "FINAL_VAR", "SHOW_VARS")

_ns = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}
_builtins = dict(vars(builtins))
_scaffold = {}
_final_called = False
_cell_count = 0
_runtime_ready = False


def _is_user_name(name, value):
    if name.startswith("__") and name.endswith("__"):
        return False
    if name in _scaffold and _scaffold[name] is value:
        return False
    return not inspect.ismodule(value)


def _user_vars():
    return {k: v for k, v in _ns.items() if _is_user_name(k, v)}


def FINAL(value):
    """Record `value` as the final answer and end the cell."""
    global _final_called
    _flush_output()
    control.final(_to_json(value))
    _final_called = True
    raise _FinalSignal()


def FINAL_VAR(name):
    """Record a variable as the final answer and end the cell. Takes the
    variable's name (`FINAL_VAR("answer")`) or the variable itself."""
    user = _user_vars()
    if isinstance(name, str) and name.strip().strip("'\"") in user:
        FINAL(user[name.strip().strip("'\"")])
    if any(v is name for v in user.values()):
        FINAL(name)
    shown = repr(name) if len(repr(name)) < 80 else repr(name)[:77] + "..."
    raise NameError(
        f"FINAL_VAR: no variable {shown}; available variables: {', '.join(sorted(user)) or '(none)'}"
    )


def SHOW_VARS():
    """Print the user variables and their types."""
    user = _user_vars()
    if not user:
        print("(no variables)")
    for k in sorted(user):
        print(f"{k}: {type(user[k]).__name__}")


for _fn in (llm_query, llm_query_batched, rlm_query, rlm_query_batched, FINAL, FINAL_VAR, SHOW_VARS):
    _scaffold[_fn.__name__] = _fn


def _runtime_init():
    """Work that must not be baked into the snapshot."""
    global _runtime_ready
    if not _runtime_ready:
        random.seed()
        _runtime_ready = True


def _restore_scaffold():
    for name, value in _scaffold.items():
        if _ns.get(name) is not value:
            _ns[name] = value
    if _ns.get("__builtins__") is not builtins:
        _ns["__builtins__"] = builtins
    if _cell_count == 0:
        # No model code has run yet, so the builtins are as built; checking
        # them would write a reference count into ~150 snapshot objects.
        return
    current = vars(builtins)
    for name, value in _builtins.items():
        if current.get(name) is not value:
            current[name] = value


def _fingerprint(value):
    try:
        size = len(value) if isinstance(value, (list, dict, set, bytearray)) else None
    except Exception:
        size = None
    return (id(value), size)


_MAX_TRACEBACK_FRAMES = 40


def _trim_traceback(exc):
    """Drops the driver's frames, and keeps the first and last frames of a
    very deep traceback, so that formatting it stays cheap."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename not in _DRIVER_FILES and "wit_world" not in filename:
            frames.append(tb)
        tb = tb.tb_next
    if len(frames) > _MAX_TRACEBACK_FRAMES:
        half = _MAX_TRACEBACK_FRAMES // 2
        omitted = len(frames) - 2 * half
        frames = frames[:half] + frames[-half:]
        try:
            exc.add_note(f"[{omitted} stack frames in the middle of this traceback are not shown]")
        except Exception:
            pass  # an exception class that refuses attributes
    trimmed = None
    for tb in reversed(frames):
        trimmed = types.TracebackType(trimmed, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    exc.with_traceback(trimmed)


def _format_exception(exc):
    try:
        return _format_trimmed(exc)
    except BaseException as failure:
        return f"{type(exc).__name__}: {exc!r}\n(the traceback could not be formatted: {failure!r})\n"


def _format_trimmed(exc):
    seen = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        _trim_traceback(e)
        todo.extend((e.__cause__, e.__context__, *getattr(e, "exceptions", ())))
    return "".join(traceback.format_exception(exc))


def _error_kind(exc):
    if isinstance(exc, OutputLimitExceeded):
        return wit.ErrorKind.OUTPUT_LIMIT
    if isinstance(exc, HostCallLimitExceeded):
        return wit.ErrorKind.HOST_CALL_LIMIT
    if isinstance(exc, CellTimeout):
        return wit.ErrorKind.TIMEOUT
    if isinstance(exc, MemoryError):
        return wit.ErrorKind.MEMORY_LIMIT
    return wit.ErrorKind.EXCEPTION


def _run_async(coro):
    loop = _HostEventLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        _selector.pending.clear()
        asyncio.events._set_running_loop(None)
        loop.close()


def _run(code):
    global _cell_count
    _cell_count += 1
    filename = f"<cell-{_cell_count}>"
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    compiled = compile(code, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    if compiled.co_flags & inspect.CO_COROUTINE:
        _run_async(eval(compiled, _ns))
    else:
        exec(compiled, _ns)


def _run_cell(code):
    global _final_called
    _runtime_init()
    _final_called = False
    _restore_scaffold()
    out = _HostWriter(control.OutputStream.STDOUT, "stdout")
    err = _HostWriter(control.OutputStream.STDERR, "stderr")
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    before = {k: _fingerprint(v) for k, v in _user_vars().items()}
    error = None
    try:
        try:
            _run(code)
        finally:
            _flush_output()
    except _FinalSignal:
        pass
    except BaseException as exc:
        error = wit.CellError(kind=_error_kind(exc), message=_format_exception(exc))
    finally:
        sys.stdout, sys.stderr = saved
        _selector.pending.clear()
    after = _user_vars()
    changed = sorted(k for k, v in after.items() if before.get(k) != _fingerprint(v))
    return wit.CellResult(error=error, changed_vars=changed, final_called=_final_called)


def _warm_up():
    """Runs the driver's own paths once at build time (no host calls), so the
    lazily built state they touch (parser, type caches, traceback and json
    machinery) is already in the snapshot instead of being written into every
    fresh sandbox's memory on its first cell."""
    global _cell_count
    ns = {"__name__": "__warmup__", "__builtins__": builtins}
    code = "import re, json\nx = [i * 2 for i in range(100)]\ny = json.loads(json.dumps({'k': x}))\nz = re.findall(r'\\d+', str(x))\n"
    exec(compile(code, "<cell-0>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True), ns)
    try:
        exec(compile("def f():\n    return 1 / 0\nf()", "<cell-0>", "exec"), ns)
    except ZeroDivisionError as exc:
        _format_exception(exc)
    {k: _fingerprint(v) for k, v in _user_vars().items()}
    sorted(_user_vars())
    _to_json({"a": [1, 2.5, None, "s"], "b": {1, 2}})
    linecache.cache.pop("<cell-0>", None)
    _cell_count = 0


_warm_up()

# Everything above is in the build-time snapshot. Freeze it out of the
# cyclic GC: a collection would otherwise walk, and so write to, every object
# of the snapshot, copying all of its pages into each sandbox.
gc.freeze()


class Repl(exports.Repl):
    def load_context(self, index, format, data):
        _runtime_init()
        try:
            value = json.loads(data) if format == wit.ContextFormat.JSON else data
        except ValueError as e:
            raise Err(f"context {index} is not valid JSON: {e}")
        _scaffold[f"context_{index}"] = value
        if index == 0:
            _scaffold["context"] = value
        _restore_scaffold()

    def run_cell(self, code):
        try:
            return _run_cell(code)
        except BaseException as exc:
            # Model code can damage the driver's own state (say, by patching
            # a module it uses); report that instead of trapping.
            message = f"the REPL driver failed: {exc!r}\n"
            return wit.CellResult(
                error=wit.CellError(kind=wit.ErrorKind.INTERNAL, message=message),
                changed_vars=[],
                final_called=_final_called,
            )

    def get_var(self, name):
        user = _user_vars()
        if name not in user:
            raise Err(f"no variable named {name!r}; available variables: {', '.join(sorted(user)) or '(none)'}")
        return _to_json(user[name])

    def list_vars(self):
        user = _user_vars()
        return [wit.VarInfo(name=k, type_name=type(user[k]).__name__) for k in sorted(user)]
