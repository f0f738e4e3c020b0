"""``Sandbox``: run Python cells in the sandbox directly, without a model.

>>> from rlm_sandbox import Sandbox
>>> with Sandbox(context="a b c") as box:
...     box.run("words = context.split()\\nprint(len(words))").stdout
'3\\n'

Each cell runs under the limits (fuel, memory, wall clock, output, host
calls, value size); hitting one ends the cell with its own ``error.kind``,
and the next cell runs (in a fresh instance, with the contexts reloaded,
when the stop was a hard one: ``state_lost``). Host tools work as in a run;
``llm_query`` and ``rlm_query`` raise inside the cell, since there is no
model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import _native, events
from . import tools as _tools
from .errors import CancellationError, SandboxError, SandboxLimitError
from .rlm import _DEFAULT, _native_call, context_arg, limits_spec

_MISSING: Any = object()


@dataclass
class CellError:
    """Why a cell stopped early."""

    #: ``exception``, ``fuel_exhausted``, ``timeout``, ``memory_limit``,
    #: ``output_limit``, ``host_call_limit``, ``size_limit`` or ``trap``.
    kind: str
    #: The traceback for an exception; the host's explanation for a limit.
    message: str

    @property
    def is_limit(self) -> bool:
        """Whether a sandbox limit stopped the cell (not an exception)."""
        return self.kind != "exception"


@dataclass
class CellResult:
    """What one cell did."""

    stdout: str
    stderr: str
    #: Set when the cell stopped early.
    error: Optional[CellError]
    #: The value passed to ``FINAL``/``FINAL_VAR`` (or ``answer["ready"]``),
    #: as a Python value; ``None`` when the cell gave none (see ``has_final``).
    final: Any
    has_final: bool
    #: The ``repr`` of the cell's last expression, as the REPL shows it.
    display: Optional[str]
    #: Variables the cell added or changed: name -> type name.
    changed_vars: Dict[str, str] = field(default_factory=dict)
    #: What the host had to say (cut output, a restarted sandbox, ...).
    notices: List[str] = field(default_factory=list)
    #: Fuel used, when metered.
    fuel_used: Optional[int] = None
    #: Seconds.
    elapsed: float = 0.0
    #: The sandbox had to be restarted: every variable is gone.
    state_lost: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def _from_json(cls, raw: Dict[str, Any]) -> "CellResult":
        error = raw.get("error")
        return cls(
            stdout=raw.get("stdout", ""),
            stderr=raw.get("stderr", ""),
            error=CellError(error["kind"], error["message"]) if error else None,
            final=raw.get("final"),
            has_final=raw.get("final") is not None,
            display=raw.get("display"),
            changed_vars={v["name"]: v["type"] for v in raw.get("changed_vars") or []},
            notices=list(raw.get("notices") or []),
            fuel_used=raw.get("fuel_used"),
            elapsed=(raw.get("elapsed_ms") or 0.0) / 1000.0,
            state_lost=bool(raw.get("state_lost")),
        )

    def check(self) -> "CellResult":
        """Raises ``SandboxLimitError`` if the cell stopped early."""
        if self.error is not None:
            what = "raised" if self.error.kind == "exception" else f"hit a limit ({self.error.kind})"
            raise SandboxLimitError(f"the cell {what}: {self.error.message.strip()}", result=self)
        return self


class Sandbox:
    """One sandboxed CPython REPL (see the module docs).

    ``context`` is bound as ``context`` (text stays ``str``, other values
    cross as JSON). ``tools`` are Python callables the cells may call (they
    run here, on the host); ``helpers`` is code run before the first cell.
    Limits: ``fuel`` (instructions per cell; ``None`` meters none),
    ``memory_mb``, ``timeout`` (seconds per cell), ``max_output_bytes``,
    ``max_host_calls``, ``max_value_bytes``.
    """

    def __init__(
        self,
        context: Any = _MISSING,
        *,
        tools: Optional[Dict[str, Callable[..., Any]]] = None,
        helpers: Optional[Dict[str, str]] = None,
        fuel: Any = _DEFAULT,
        memory_mb: Optional[int] = None,
        timeout: Optional[float] = None,
        max_output_bytes: Optional[int] = None,
        max_host_calls: Optional[int] = None,
        max_value_bytes: Optional[int] = None,
    ) -> None:
        found, values = _tools.split(tools)
        if values:
            raise SandboxError(f"tools must be callables; not callable: {', '.join(sorted(values))}")
        spec = {
            "limits": limits_spec(fuel, memory_mb, timeout, max_output_bytes, max_host_calls, max_value_bytes),
            "tools": [[name, text, _tools.schema(fn)] for name, (fn, text) in found.items()],
            "helpers": [[name, code] for name, code in (helpers or {}).items()],
        }
        self._native = _native_call(_native.Sandbox, json.dumps(spec))
        self._tools = {name: fn for name, (fn, _) in found.items()}
        self._contexts = 0
        if context is not _MISSING:
            self.load_context(context)

    def load_context(self, value: Any, index: Optional[int] = None) -> int:
        """Binds ``value`` as the next ``context_N`` (``context`` first), or
        replaces ``index``; returns the index."""
        at = self._contexts if index is None else index
        _native_call(self._native.load_context, at, context_arg(value, "context"))
        self._contexts = max(self._contexts, at + 1)
        return at

    def run(self, code: str, *, check: bool = False) -> CellResult:
        """Runs ``code`` as one cell (GIL released; Ctrl-C stops the cell and
        raises ``CancellationError``, losing the sandbox's state). With
        ``check=True``, a cell that raised or hit a limit raises
        ``SandboxLimitError``."""
        run = self._native.start(code)
        try:
            raw = events.wait(run, events.Tools(self._tools))
        except events.Interrupted as e:
            raise CancellationError("the cell was cancelled; the sandbox's state is lost") from e.cause
        return self._result(raw, check)

    async def arun(self, code: str, *, check: bool = False) -> CellResult:
        """``run`` for asyncio; coroutine tools run on the running loop."""
        run = self._native.start(code)
        raw = await events.await_run(run, events.Tools(self._tools))
        return self._result(raw, check)

    @staticmethod
    def _result(raw: Dict[str, Any], check: bool) -> CellResult:
        if "error" in raw and isinstance(raw["error"], dict) and "stdout" not in raw:
            err = raw["error"]
            if err.get("kind") == "cancelled":
                raise CancellationError(err["message"])
            raise SandboxError(err["message"])
        result = CellResult._from_json(raw)
        return result.check() if check else result

    def get(self, name: str, default: Any = _MISSING) -> Any:
        """A variable's value (it crosses as JSON); ``KeyError`` (or
        ``default``) when there is none, ``ValueError`` when it cannot cross."""
        ok, payload = self._native.get(name)
        if ok:
            return json.loads(payload)
        if default is not _MISSING:
            return default
        if payload.startswith("no variable"):
            raise KeyError(name)
        raise ValueError(payload)

    def vars(self) -> Dict[str, str]:
        """The user variables: name -> type name."""
        return dict(self._native.vars())

    def reset(self) -> None:
        """Starts afresh on the next cell (the contexts are loaded again)."""
        self._native.reset()

    def close(self) -> None:
        """Frees the sandbox now (it is also freed when garbage-collected)."""
        self._native.reset()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
