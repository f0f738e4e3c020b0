"""The REPL's state: its namespace, the scaffold functions in it, and what a
cell changed.

Model code can reach everything here (`FINAL.__globals__`, `sys.modules`,
`gc.get_objects()`); nothing in one interpreter is private from code running
in it. So the driver keeps what it relies on where a casual patch does not
reach (references taken at build time, tuples instead of dicts), undoes the
interpreter-wide hooks a cell can leave behind, and leaves every decision that
matters (limit kinds, whether an answer counts) to the host, which checks what
it is told.
"""

import ast
import builtins
import collections
import functools
import gc
import inspect
import itertools
import linecache
import operator
import re
import reprlib
import sys
import traceback
import types

import hostio
import queries

# References taken before any model code runs.
_gc_collect = gc.collect
_isinstance = isinstance
_type = type
_id = id
_len = len
_sorted = sorted
_BUILTINS = tuple(vars(builtins).items())
_BUILTIN_NAMES = frozenset(name for name, _ in _BUILTINS)
# The same as a read-only mapping, so that checking the builtins after a cell
# is one `==` in C rather than a loop in Python.
_BUILTIN_COPY = types.MappingProxyType(dict(_BUILTINS))

DRIVER_FILES = frozenset(m.__file__ for m in (hostio, queries, sys.modules[__name__]))
# Files of the other driver modules register themselves here.
_driver_files = set(DRIVER_FILES)


def add_driver_file(path):
    _driver_files.add(path)


class _FinalSignal(BaseException):
    """Raised by `FINAL` to end the cell at once."""


class _State:
    def __init__(self):
        self.ns = {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}
        # Names restored before every cell if model code rebinds them.
        self.scaffold = {}
        # Names set only when absent: aliases a model may reuse for its own.
        self.soft = {}
        self.final_called = False
        self.armed = False
        self.cell_count = 0
        self.fingerprints = {}
        self.answer = None
        # Whether code not the driver's own may have run: a cell, or the
        # helpers `install` runs. Until then there is no garbage of it to
        # collect before a cell.
        self.foreign_code_ran = False
        # Whether a cell ended since the last collection (see `settle`).
        self.collect_pending = False
        # The namespace's keys and values as built, when it held no user
        # variable (see `user_vars`); and its size and the scaffold's then,
        # small (immortal) ints: reading them writes no reference count.
        self.built = ((), ())
        self.built_ns_size = 0
        self.built_scaffold_size = 0


_state = _State()


# --- scaffold functions ---------------------------------------------------------


def FINAL(value):
    """Record `value` as the final answer and end the cell."""
    if not _state.armed:
        raise RuntimeError("FINAL can only be called by a cell's own code")
    hostio.send_final(value)
    _state.final_called = True
    raise _FinalSignal()


def _unquoted(name):
    return name.strip().strip("'\"").strip()


def FINAL_VAR(name):
    """Record a variable as the final answer and end the cell. Takes the
    variable's name (`FINAL_VAR("answer")`) or the variable itself."""
    user = user_vars()
    if _isinstance(name, str) and _unquoted(name) in user:
        FINAL(user[_unquoted(name)])
    if any(v is name for v in user.values()):
        FINAL(name)
    shown = reprlib.repr(name)
    raise NameError(f"FINAL_VAR: no variable {shown}; available variables: {_names_preview(user)}")


def _names_preview(user, limit=50):
    names = _sorted(user)
    if not names:
        return "(none)"
    more = f" ... and {_len(names) - limit} more" if _len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def SHOW_VARS():
    """The user variables and their types, as a string."""
    user = user_vars()
    if not user:
        return "No variables created yet. Use ```repl``` blocks to create variables."
    return "Available variables: " + ", ".join(f"{k}: {_type(user[k]).__name__}" for k in _sorted(user))


def _new_answer():
    return {"content": "", "ready": False}


SCAFFOLD_FUNCTIONS = (
    queries.llm_query,
    queries.llm_query_batched,
    queries.rlm_query,
    queries.rlm_query_batched,
    queries.llm_query_async,
    queries.llm_query_batched_async,
    queries.rlm_query_async,
    queries.rlm_query_batched_async,
    queries.budget,
    FINAL,
    FINAL_VAR,
    SHOW_VARS,
)
for _fn in SCAFFOLD_FUNCTIONS:
    _state.scaffold[_fn.__name__] = _fn
# Spellings models write for FINAL; a model's own variable of that name wins.
_state.soft.update(Final=FINAL, final=FINAL, Final_Var=FINAL_VAR, final_var=FINAL_VAR, FinalVar=FINAL_VAR)


_MISSING = object()


def user_vars(_state=_state, _len=_len, _all=all, _map=map, _is=operator.is_, _iter=iter, _zip=zip):
    ns, scaffold = _state.ns, _state.scaffold
    # The usual case of a sub-RLM's only cell, ~15% of its wasm instructions
    # when every name is filtered: the namespace as built (compared by
    # identity: an `==` could run model code), then only names bound to
    # their scaffold values (the contexts). A namespace that grew by more
    # names than the scaffold did fails the first test, which costs next to
    # nothing (and touches no object of the snapshot); the others cost ~30k
    # instructions. `map` takes from `keys` and `values` first, so it stops
    # without taking a name or value of those.
    if _len(ns) - _state.built_ns_size == _len(scaffold) - _state.built_scaffold_size:
        keys, values = _state.built
        names, found = _iter(ns), _iter(ns.values())
        if _all(_map(_is, keys, names)) and _all(_map(_is, values, found)):
            for name, value in _zip(names, found):
                # Only an exact `str` is looked up: another key's `__hash__`
                # or `__eq__` would be model code.
                if _type(name) is not str or scaffold.get(name, _MISSING) is not value:
                    break
            else:
                return {}
    try:
        return _user_vars(ns)
    except Exception:
        # A key model code put into the namespace that is not a plain `str`
        # (`globals()[1] = 2`) names no variable: left out.
        return _user_vars({k: v for k, v in _state.ns.items() if _type(k) is str})


def _user_vars(ns):
    # Inlined checks: a namespace may hold hundreds of thousands of names.
    # Most names of a fresh namespace are the scaffold's: that check first.
    scaffold, soft, answer, module = _state.scaffold, _state.soft, _state.answer, types.ModuleType
    return {
        k: v
        for k, v in ns.items()
        if scaffold.get(k, _MISSING) is not v
        and not (k[:2] == "__" and k[-2:] == "__")
        and soft.get(k, _MISSING) is not v
        and not (v is answer and k == "answer")
        and _type(v) is not module
    }


# --- before and after a cell -----------------------------------------------------


# The driver's functions take what they rely on as defaults, bound when they
# are defined: rebinding a module global (`FINAL.__globals__['_run'] = ...`)
# does not redirect them. (Model code can still rewrite the defaults
# themselves; see "What is not a guarantee" in docs/security.md.)


def _restore(
    _builtins=_BUILTINS,
    _builtin_names=_BUILTIN_NAMES,
    _builtin_dict=vars(builtins),
    _builtins_module=builtins,
    _builtin_copy=_BUILTIN_COPY,
    _state=_state,
    _len=_len,
):
    ns = _state.ns
    for name, value in _state.scaffold.items():
        if ns.get(name, _MISSING) is not value:
            ns[name] = value
    for name, value in _state.soft.items():
        if name not in ns:
            ns[name] = value
    if _state.answer is None or "answer" not in ns:
        _state.answer = _new_answer()
        ns["answer"] = _state.answer
    if ns.get("__builtins__") is not _builtins_module:
        ns["__builtins__"] = _builtins_module
    if _state.cell_count == 0:
        # No model code has run yet, so the builtins are as built; checking
        # them would write a reference count into ~150 snapshot objects.
        return
    # The builtins module's dict, taken at build time: `vars` itself may be
    # patched by now.
    current = _builtin_dict
    # One comparison in C, about a fifth of the loop below. It compares by
    # identity first, so unchanged builtins run no model code; a replaced
    # one is compared with its `__eq__`, which model code can make lie or
    # raise (then the loop below restores everything).
    try:
        if current == _builtin_copy:
            return
    except BaseException:
        pass
    for name, value in _builtins:
        if current.get(name, _MISSING) is not value:
            current[name] = value
    if _len(current) != _len(_builtins):
        for name in [n for n in current if n not in _builtin_names]:
            del current[name]


def _clear_hooks(
    _hooks=tuple(
        functools.partial(f, *args)
        for f, args in (
            (sys.settrace, (None,)),
            (sys.setprofile, (None,)),
            # `free_tool_id` also clears the tool's events and callbacks
            # (CPython 3.14), and does nothing to an id not in use.
            *((sys.monitoring.free_tool_id, (tool,)) for tool in range(6)),
            (gc.callbacks.clear, ()),
        )
    ),
    _call=operator.call,
    _consume=collections.deque,
    _map=map,
):
    """Undoes what a cell can leave behind that would act on later cells."""
    # Every step bound at build time, and all of them in one line that runs
    # in C: a cell cannot redirect one by replacing `sys.monitoring.get_tool`
    # or `builtins.range`, and a line callback or trace function it left
    # running gets no Python line between two steps in which to re-arm a
    # hook already cleared.
    _consume(_map(_call, _hooks), 0)


def _collect():
    """Runs finalizers now, while `FINAL` is disarmed, so garbage of one cell
    cannot speak during the next."""
    _state.armed = False
    _state.collect_pending = False
    _gc_collect()


def settle(_state=_state, _collect=_collect, _clear_hooks=_clear_hooks):
    """Collects what the last cell left behind, before any other call runs
    code in the sandbox. A cell's own collection waits for the sandbox's next
    call (this, or the next cell's start) instead of ending the cell: a
    sandbox that ends with its last cell, like every sub-RLM's, never pays
    for it. Its finalizers run then, and their effects show in the next
    cell's changed variables."""
    if _state.collect_pending:
        _collect()
        # Its finalizers are model code: what they set does not outlive them.
        _clear_hooks()


# --- what a cell changed --------------------------------------------------------------

# Containers up to this many items are fingerprinted by the identity of
# every item (a hash of their ids: a few milliseconds for the largest); longer
# ones by their length and a sample of items, so the check stays bounded for
# huge values. The prompts say that an in-place change inside a longer one
# can go unseen.
_FULL_FINGERPRINT = 100_000
# The same for the items of a variable (two levels deep): at most 200 of them.
_FULL_INNER = 2000
_SAMPLE = 128


def _ids(items, _hash=hash, _tuple=tuple, _map=map, _id=_id):
    return _hash(_tuple(_map(_id, items)))


def _shallow(
    value,
    full=_FULL_FINGERPRINT,
    _hash=hash,
    _frozenset=frozenset,
    _map=map,
    _bytes=bytes,
    _reversed=reversed,
    _islice=itertools.islice,
    _chain=itertools.chain,
):
    # Runs after the cell and before the builtins are restored: everything
    # it calls is bound here, not looked up where the cell could patch it.
    t = _type(value)
    if t is list or t is tuple:
        n = _len(value)
        items = value if n <= full else value[:_SAMPLE] + value[n // 2 : n // 2 + _SAMPLE] + value[-_SAMPLE:]
        return (n, _ids(items))
    if t is dict:
        n = _len(value)
        if n <= full:
            return (n, _ids(value), _ids(value.values()))
        first = _islice(value.items(), _SAMPLE)
        last = _islice(_reversed(value.items()), _SAMPLE)
        return (n, _ids(_chain.from_iterable(_chain(first, last))))
    if t is set or t is frozenset:
        n = _len(value)
        return (n, _hash(_frozenset(_map(_id, value))) if n <= full else None)
    if t is bytearray:
        return (_len(value), _hash(_bytes(value)) if _len(value) <= 1 << 16 else None)
    return None


def _fingerprint(value):
    """Identity, plus enough of the content of containers (two levels deep,
    bounded) to notice `items.append(x)`, `d[k] = v` or `s.add(x)`."""
    shallow = _shallow(value)
    if shallow is None:
        return _id(value)
    t = _type(value)
    inner = ()
    if (t is list or t is dict) and _len(value) <= 200:
        children = value.values() if t is dict else value
        inner = tuple(_shallow(c, _FULL_INNER) for c in children)
    return (_id(value), shallow, inner)


_ATOMIC = frozenset((int, float, str, bytes, bool, type(None), complex, range, types.FunctionType, type))


def _changed(user):
    before = _state.fingerprints
    after = {}
    atomic = _ATOMIC
    for name, value in user.items():
        if _type(value) in atomic:
            # Immutable (or identity is all that matters): rebinding is the change.
            fp = _id(value)
        else:
            try:
                fp = _fingerprint(value)
            except Exception:
                fp = _id(value)
        after[name] = fp
    _state.fingerprints = after
    changed = [name for name, fp in after.items() if before.get(name, _MISSING) != fp]
    changed.sort()
    return changed


MAX_CHANGED_VARS = 1000


def _line(name, value):
    # One `name<TAB>type` line; a name may hold any character.
    name = name.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")
    return f"{name}\t{_type(value).__name__}\n"


def _var_lines(user, names):
    """The report format of variables: the number left out on the first
    line, then one `name<TAB>type` line each. Line-based, so the host can
    keep a prefix of it and count the rest."""
    shown = names[:MAX_CHANGED_VARS]
    return f"{_len(names) - _len(shown)}\n" + "".join(_line(n, user[n]) for n in shown)


def _report_changed(user):
    if not user and not _state.fingerprints:
        return
    changed = _changed(user)
    # No report means that nothing changed, to the host: a host call spared.
    if changed:
        hostio.report(hostio.Report.CHANGED_VARS, _var_lines(user, changed))


# --- tracebacks ---------------------------------------------------------------------

_MAX_TRACEBACK_FRAMES = 40


def _trim_traceback(exc):
    """Drops the driver's frames, and keeps the first and last frames of a
    very deep traceback, so that formatting it stays cheap."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename not in _driver_files and "wit_world" not in filename:
            frames.append(tb)
        tb = tb.tb_next
    if _len(frames) > _MAX_TRACEBACK_FRAMES:
        half = _MAX_TRACEBACK_FRAMES // 2
        omitted = _len(frames) - 2 * half
        frames = frames[:half] + frames[-half:]
        try:
            exc.add_note(f"[{omitted} stack frames in the middle of this traceback are not shown]")
        except Exception:
            pass  # an exception class that refuses attributes
    trimmed = None
    for tb in reversed(frames):
        trimmed = types.TracebackType(trimmed, tb.tb_frame, tb.tb_lasti, tb.tb_lineno)
    exc.with_traceback(trimmed)


def _hint(exc):
    if _isinstance(exc, TypeError) and ("can't be awaited" in str(exc) or "'await' expression" in str(exc)):
        return (
            "llm_query, rlm_query and the tools return their value directly; to run calls concurrently, "
            "await their _async forms (await llm_query_async(p), asyncio.gather(*[llm_query_async(p) for p in ps]))"
        )
    if _isinstance(exc, NameError) and getattr(exc, "name", None) in ("final", "Final", "final_var", "FinalVar"):
        return "end the run with FINAL(value) or FINAL_VAR(name), in capitals"
    return None


def format_exception(exc):
    try:
        seen = set()
        todo = [exc]
        while todo:
            e = todo.pop()
            if e is None or _id(e) in seen:
                continue
            seen.add(_id(e))
            _trim_traceback(e)
            todo.extend((e.__cause__, e.__context__, *getattr(e, "exceptions", ())))
        hint = _hint(exc)
        if hint is not None:
            try:
                exc.add_note("Hint: " + hint)
            except Exception:
                pass
        return "".join(traceback.format_exception(exc))
    except BaseException as failure:
        try:
            return f"{_type(exc).__name__}: {exc!r}\n(the traceback could not be formatted: {failure!r})\n"
        except BaseException:
            return f"{_type(exc).__name__} (neither the exception nor its traceback could be formatted)\n"


# --- running a cell -----------------------------------------------------------------

_display_repr = reprlib.Repr(maxlevel=4, maxtuple=50, maxlist=50, maxarray=50, maxdict=50, maxset=50,
                             maxfrozenset=50, maxdeque=50, maxstring=2000, maxlong=400, maxother=2000)
_DISPLAY_NAME = "__rlm_display__"


# A cell's last statement starts on its last line that begins at column 0
# (not blank, not a comment), unless that line continues a string, a bracket
# or a backslash of the lines before; then the lines before do not compile on
# their own. A line starting with one of these words, or with an assignment,
# is a statement, not an expression: those cells take the AST path at once.
_STATEMENT_WORDS = frozenset(
    "assert async break class continue def del elif else except finally for from global if import nonlocal pass "
    "raise return try while with".split()
)
_ASSIGNMENT = re.compile(r"[\w.]+(?:\s*,\s*[\w.]+)*\s*(?:\[[^\n]*?\])?\s*(?:[-+*/%&|^@]|//|\*\*|>>|<<)?=(?!=)")


def _last_line_start(code):
    """Where the last line that starts at column 0 with code begins, or -1.
    `code` has `\n` line ends only."""
    end = _len(code)
    while end > 0:
        start = code.rfind("\n", 0, end) + 1
        first = code[start : start + 1]
        # `isspace`, not a fixed set: a line of U+00A0 or U+3000 is not code.
        if first and not first.isspace() and first != "#":
            return start
        end = start - 1
    return -1


def _split_compile(code, filename):
    """The cell as the code before its trailing expression statement (or
    None) and an `eval` of that expression; None when that split cannot be
    shown to be the cell's own. Compiling the source twice costs less than
    once through Python AST objects, which `_compile` otherwise builds."""
    # A cell that awaits runs in one event loop from start to end (a task
    # started before the last line may be awaited in it), and one that
    # rebinds `__builtins__` changes them for the statements after: both
    # need one code object.
    if "await" in code or "async" in code or "__builtins__" in code:
        return None
    start = _last_line_start(code)
    if start < 0:
        return None
    tail = code[start:]
    word = tail.split(None, 1)[0].split("(", 1)[0].split(":", 1)[0]
    # The pattern ends in `=`: a tail without one cannot match it (a match
    # attempt costs ~28k wasm instructions, a tenth of a short cell).
    if word in _STATEMENT_WORDS or word[:1] == "@" or ("=" in tail and _ASSIGNMENT.match(tail)):
        return None
    head = code[:start]
    # Compiled without top-level `await`, so neither part can be a coroutine:
    # the compiler refuses what the words above missed.
    try:
        # Leading newlines keep the tail's line numbers those of the cell.
        last = compile("\n" * head.count("\n") + tail, filename, "eval", dont_inherit=True)
        # The head compiles on its own only if the tail starts a statement.
        first = compile(head, filename, "exec", dont_inherit=True) if head else None
    except (SyntaxError, ValueError):
        return None
    return first, last


def _compile(code, filename):
    """The cell as one code object that binds its trailing expression
    statement's value to `_DISPLAY_NAME`."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    tree = compile(code, filename, "exec", flags=flags | ast.PyCF_ONLY_AST, dont_inherit=True)
    if tree.body and _isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        # The new nodes take their locations as they are made:
        # `ast.fix_missing_locations` walks the whole tree in Python, which
        # cost more than the compile itself.
        at = {
            "lineno": last.lineno,
            "col_offset": last.col_offset,
            "end_lineno": last.end_lineno,
            "end_col_offset": last.end_col_offset,
        }
        target = ast.Name(id=_DISPLAY_NAME, ctx=ast.Store(), **at)
        tree.body[-1] = ast.Assign(targets=[target], value=last.value, **at)
    return compile(tree, filename, "exec", flags=flags, dont_inherit=True)


def _run(code, _exec=exec, _eval=eval):
    """Runs a cell, leaving the value of its trailing expression statement,
    if it has one, in the namespace as `_DISPLAY_NAME`."""
    _state.cell_count += 1
    filename = f"<cell-{_state.cell_count}>"
    # The compiler reads `\r\n` and `\r` as `\n`, everywhere; so do the line
    # numbers below and the traceback's source lines, which `splitlines`
    # would also break at characters Python does not (U+2028, form feed).
    code = code.replace("\r\n", "\n").replace("\r", "\n")
    lines = [line + "\n" for line in code.split("\n")]
    linecache.cache[filename] = (_len(code), None, lines, filename)
    ns = _state.ns
    split = _split_compile(code, filename)
    if split is not None:
        first, last = split
        if first is not None:
            _exec(first, ns)
        ns[_DISPLAY_NAME] = _eval(last, ns)
        return
    compiled = _compile(code, filename)
    if compiled.co_flags & inspect.CO_COROUTINE:
        queries.run_async(_eval(compiled, ns))
    else:
        _exec(compiled, ns)


def _answer_protocol():
    """`answer["content"] = ...; answer["ready"] = True` (the protocol of
    `rlms` 0.1.2 and later) ends the run like `FINAL(content)`."""
    answer = _state.ns.get("answer")
    if _type(answer) is dict and answer.get("ready"):
        content = answer.get("content", "")
        _state.answer = _new_answer()
        _state.ns["answer"] = _state.answer
        hostio.send_final(content)
        _state.final_called = True


def run_cell(
    code,
    _run=_run,
    _clear_hooks=_clear_hooks,
    _collect=_collect,
    _restore=_restore,
    _answer_protocol=_answer_protocol,
    _report_changed=_report_changed,
    _format_exception=format_exception,
    _new_writers=hostio.new_writers,
    _state=_state,
):
    """Runs one cell; returns "ok" or "raised"."""
    # Until a cell or helper code has run, only the driver has, on a snapshot
    # that was collected and frozen when it was built: a fresh sandbox has no
    # hook to clear, no garbage to collect (a collection costs about as much
    # as compiling a short cell) and a namespace as built (loading a context
    # binds only the driver's own names).
    if _state.foreign_code_ran:
        _clear_hooks()
        # Two collections before a cell that follows one, as when the last
        # cell collected as it ended: a finalizer that plants finalizable
        # garbage once does not outlive them (see docs/security.md for one
        # that keeps planting).
        if _state.collect_pending:
            _collect()
        _collect()
        _restore()
        out, err = _new_writers()
        # The finalizers those collections ran, a replaced builtin's `__eq__`
        # in `_restore` and a patched writer's attributes in `_new_writers`
        # are model code: clear what they may have set.
        _clear_hooks()
    else:
        out, err = _new_writers()
    _state.foreign_code_ran = True
    # Set now, so that every way out of this cell leaves it set.
    _state.collect_pending = True
    _state.final_called = False
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    status = "ok"
    try:
        _state.armed = True
        try:
            _run(code)
            if not _state.final_called:
                _answer_protocol()
        finally:
            _state.armed = False
            hostio.flush_output()
    except _FinalSignal:
        pass
    except BaseException as exc:
        status = "raised"
        hostio.report(hostio.Report.TRACEBACK, _format_exception(exc))
    finally:
        _state.armed = False
        sys.stdout, sys.stderr = saved
        queries.selector.pending.clear()
    _clear_hooks()
    display = _state.ns.pop(_DISPLAY_NAME, _MISSING)
    unawaited = queries.unawaited_calls()
    if unawaited and status == "ok":
        status = "raised"
        hostio.report(
            hostio.Report.TRACEBACK,
            f"TypeError: {unawaited} async call(s) (llm_query_async, rlm_query_async or a tool's _async form) were "
            "never awaited, so they were not sent; await them, or pass them to asyncio.gather\n",
        )
    if status == "ok" and display is not _MISSING and display is not None:
        try:
            hostio.report(hostio.Report.DISPLAY, _display_repr.repr(display))
        except Exception as exc:
            hostio.report(hostio.Report.DISPLAY, f"<repr failed: {_type(exc).__name__}>")
    _report_changed(user_vars())
    return status


# --- other calls from the host -------------------------------------------------------------


def load_context(index, value, _state=_state):
    # Bound straight into the namespace: the rest of the scaffold is there
    # since build time (`warm_up`), and every cell restores it first anyway.
    for name in (f"context_{index}", "context") if index == 0 else (f"context_{index}",):
        _state.scaffold[name] = value
        _state.ns[name] = value


def get_var(name):
    """Reports a variable's value; `False` and a message when it cannot."""
    user = user_vars()
    if name not in user:
        hostio.report(hostio.Report.MESSAGE, f"no variable named {name!r}; available variables: {_names_preview(user)}")
        return False
    try:
        text = hostio.to_json(user[name])
    except (TypeError, ValueError) as exc:
        hostio.report(hostio.Report.MESSAGE, f"the value of {name!r} cannot be returned: {exc}")
        return False
    hostio.report(hostio.Report.VALUE, text)
    return True


def list_vars():
    user = user_vars()
    hostio.report(hostio.Report.VARS, _var_lines(user, _sorted(user)))
    return True


def _function_info(name, fn):
    try:
        signature = str(inspect.signature(fn))
    except (TypeError, ValueError):
        signature = "(...)"
    doc = (inspect.getdoc(fn) or "").split("\n\n")[0].strip()
    return {"name": name, "signature": signature, "doc": doc}


def install(tools, helpers):
    """Defines the tools and runs the helpers; reports the functions."""
    _state.foreign_code_ran = True
    functions = []
    for spec in tools:
        tool, tool_async = queries.make_tool(spec)
        _state.scaffold[tool.__name__] = tool
        _state.scaffold[tool_async.__name__] = tool_async
        functions.append(_function_info(tool.__name__, tool))
    _restore()
    for helper in helpers:
        filename = f"<helper:{helper['name']}>"
        code = helper["code"]
        linecache.cache[filename] = (_len(code), None, code.splitlines(True), filename)
        before = dict(_state.ns)
        try:
            exec(compile(code, filename, "exec", dont_inherit=True), _state.ns)
        except BaseException as exc:
            hostio.report(hostio.Report.MESSAGE, f"helper {helper['name']} failed:\n{format_exception(exc)}")
            return False
        for name, value in list(_state.ns.items()):
            if before.get(name, _MISSING) is value or name.startswith("__"):
                continue
            _state.scaffold[name] = value
            if callable(value) and not _isinstance(value, types.ModuleType):
                functions.append(_function_info(name, value))
    hostio.report(hostio.Report.FUNCTIONS, hostio.to_json(functions))
    return True


def warm_up():
    """Runs the driver's own paths once at build time (no host calls), so the
    lazily built state they touch (parser, type caches, traceback and json
    machinery) is already in the snapshot instead of being written into every
    fresh sandbox's memory on its first cell."""
    ns = {"__name__": "__warmup__", "__builtins__": builtins}
    code = "import re, json\nx = [i * 2 for i in range(100)]\ny = json.loads(json.dumps({'k': x}))\nz = re.findall(r'\\d+', str(x))\nx\n"
    exec(_compile(code, "<cell-0>"), ns)
    try:
        exec(compile("def f():\n    return 1 / 0\nf()", "<cell-0>", "exec"), ns)
    except ZeroDivisionError as exc:
        format_exception(exc)
    _display_repr.repr(ns)
    _changed(user_vars())
    _state.fingerprints = {}
    sorted(user_vars())
    hostio.to_json({"a": [1, 2.5, None, "s"], "b": {1, 2}})
    linecache.cache.pop("<cell-0>", None)
    # The namespace a fresh sandbox starts with, scaffold and all, so that
    # neither loading a context nor the first cell has to build it.
    _restore()
    if _user_vars(_state.ns):
        raise RuntimeError("the namespace as built holds user variables")
    _state.built = (tuple(_state.ns), tuple(_state.ns.values()))
    _state.built_ns_size, _state.built_scaffold_size = _len(_state.ns), _len(_state.scaffold)
    if _state.built_ns_size > 256 or _state.built_scaffold_size > 256:
        raise RuntimeError("the namespace's sizes are no longer small ints (see `_State.built`)")
