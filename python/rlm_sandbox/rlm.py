"""``RLM``: the constructor and ``completion`` of the official ``rlms``
package, running model code in our sandbox.

Every ``rlms`` 0.1.3 argument is accepted under its own name, with its
default and meaning, or refused with an ``UnsupportedArgumentError`` that
says what to use instead; see ``python/README.md`` for the table of
differences. Our own settings (sandbox limits, prices, events, ...) are
keyword-only and come after them.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from . import _native, events, tools as _tools
from .errors import (
    BY_KIND,
    ConfigError,
    ErrorThresholdExceededError,
    RLMError,
    UnsupportedArgumentError,
)
from .events import Event, Interrupted, Tools
from .logger import RLMLogger
from .models import backend_spec, sampling
from .types import RLMChatCompletion, UsageSummary, answer_text

Prompt = Union[str, Dict[str, Any], List[Any]]

#: The query when ``completion`` is given no ``root_prompt``: the task is in
#: the context itself, as ``rlms`` has it.
DEFAULT_QUERY = "Answer the prompt that is stored in `context`."

#: Environments ``rlms`` offers and what rlm_sandbox runs instead.
_ENVIRONMENTS = ("local", "ipython", "docker", "modal", "prime", "daytona", "e2b")

_DEFAULT: Any = object()

#: ``max_errors=None`` (no limit) as the engine's error-streak limit.
_NO_LIMIT = 2**32 - 1


def context_arg(value: Any, what: str = "prompt") -> Tuple[str, str]:
    """A context as the native layer takes it: text stays text, anything
    else crosses as JSON (lists and dicts become Python lists and dicts)."""
    if isinstance(value, str):
        return ("text", value)
    try:
        return ("json", json.dumps(value, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"the {what} must be a str or JSON-representable ({type(value).__name__}): {e}") from None


def limits_spec(
    fuel: Any = _DEFAULT,
    memory_mb: Optional[int] = None,
    timeout: Optional[float] = None,
    max_output_bytes: Optional[int] = None,
    max_host_calls: Optional[int] = None,
    max_value_bytes: Optional[int] = None,
) -> Dict[str, Any]:
    """Sandbox limits as the native layer takes them; ``fuel=None`` turns
    fuel metering off."""
    spec: Dict[str, Any] = {}
    if fuel is None:
        spec["fuel_off"] = True
    elif fuel is not _DEFAULT:
        spec["fuel"] = int(fuel)
    for key, value in (
        ("memory_mb", memory_mb),
        ("timeout", timeout),
        ("max_output_bytes", max_output_bytes),
        ("max_host_calls", max_host_calls),
        ("max_value_bytes", max_value_bytes),
    ):
        if value is not None:
            spec[key] = value
    return spec


def _native_call(fn: Callable[..., Any], *args: Any) -> Any:
    """Calls into the native layer, raising its setting errors as ours."""
    try:
        return fn(*args)
    except ValueError as e:
        raise ConfigError(str(e)) from None


class RLM:
    """A Recursive Language Model, as ``rlms``' ``RLM``, with model code in
    a WebAssembly sandbox instead of ``exec`` in this process.

    Each ``completion`` gets a fresh sandbox (or, with ``persistent=True``,
    reuses one across calls). The model reaches the context as ``context``,
    calls ``llm_query``/``rlm_query`` (and the ``_batched``/``_async``
    forms), the ``custom_tools``, and answers with ``FINAL(value)``,
    ``FINAL_VAR(name)`` or ``answer["content"] = ...; answer["ready"] = True``.
    """

    def __init__(
        self,
        backend: str = "openai",
        backend_kwargs: Optional[Dict[str, Any]] = None,
        environment: str = "local",
        environment_kwargs: Optional[Dict[str, Any]] = None,
        depth: int = 0,
        max_depth: int = 1,
        max_iterations: int = 30,
        max_budget: Optional[float] = None,
        max_timeout: Optional[float] = None,
        max_tokens: Optional[int] = None,
        max_errors: Optional[int] = None,
        custom_system_prompt: Optional[str] = None,
        other_backends: Optional[List[str]] = None,
        other_backend_kwargs: Optional[List[Dict[str, Any]]] = None,
        logger: Optional[RLMLogger] = None,
        verbose: bool = False,
        persistent: bool = False,
        custom_tools: Optional[Dict[str, Any]] = None,
        custom_sub_tools: Optional[Dict[str, Any]] = None,
        compaction: bool = False,
        compaction_threshold_pct: float = 0.85,
        max_concurrent_subcalls: Optional[int] = None,
        on_subcall_start: Optional[Callable[[int, str, str], None]] = None,
        on_subcall_complete: Optional[Callable[[int, str, float, Optional[str]], None]] = None,
        on_iteration_start: Optional[Callable[[int, int], None]] = None,
        on_iteration_complete: Optional[Callable[[int, int, float], None]] = None,
        sampling_args: Optional[Dict[str, Any]] = None,
        sub_sampling_args: Optional[Dict[str, Any]] = None,
        orchestrator: bool = True,
        user_prologue: Optional[str] = None,
        *,
        fuel: Any = _DEFAULT,
        memory_mb: Optional[int] = None,
        cell_timeout: Optional[float] = None,
        max_output_bytes: Optional[int] = None,
        max_host_calls: Optional[int] = None,
        max_value_bytes: Optional[int] = None,
        child_max_iterations: Optional[int] = None,
        child_system_prompt: Optional[str] = None,
        max_output_chars: Optional[int] = None,
        sub_context_chars: Optional[int] = None,
        max_live_sandboxes: Optional[int] = None,
        max_total_memory_mb: Optional[int] = None,
        model_prices: Optional[Dict[str, Tuple[float, float]]] = None,
        helpers: Optional[Dict[str, str]] = None,
        log_dir: Optional[str] = None,
        on_event: Optional[Callable[[Event], Any]] = None,
    ) -> None:
        """See ``rlms``' ``RLM`` for the arguments up to ``user_prologue``.
        Ours, keyword-only:

        - ``fuel`` (instructions per cell; ``None`` turns metering off),
          ``memory_mb``, ``cell_timeout`` (seconds), ``max_output_bytes``,
          ``max_host_calls``, ``max_value_bytes``: sandbox limits per cell.
        - ``child_max_iterations``, ``child_system_prompt``: sub-RLMs'.
        - ``max_output_chars``: output shown to the model per block.
        - ``sub_context_chars``: the longest ``llm_query`` prompt.
        - ``max_live_sandboxes``, ``max_total_memory_mb``: run-wide caps.
        - ``model_prices``: ``{model_name: (input, output)}`` dollars per
          million tokens, for ``max_budget`` with providers that do not
          report cost.
        - ``helpers``: ``{name: python_code}`` run in every sandbox first.
        - ``log_dir``: the engine's own JSONL log, one file per run.
        - ``on_event``: called with every ``Event`` of a run.
        """
        if depth != 0:
            raise UnsupportedArgumentError(
                f"depth={depth!r}: rlm_sandbox runs sub-RLMs itself (rlm_query); an RLM you create is always the "
                "root, so leave depth at 0"
            )
        if environment != "local":
            known = environment in _ENVIRONMENTS
            raise UnsupportedArgumentError(
                f"environment={environment!r} is {'not supported' if known else 'unknown'}: rlm_sandbox always runs "
                "model code in its own WebAssembly sandbox (CPython on WASI, no files, network or processes); leave "
                "environment unset (or 'local') and set limits with fuel=, memory_mb=, cell_timeout=, ..."
            )
        env_kwargs = dict(environment_kwargs or {})
        setup_code = env_kwargs.pop("setup_code", None)
        if env_kwargs:
            raise UnsupportedArgumentError(
                f"environment_kwargs keys {sorted(env_kwargs)} are not supported; only 'setup_code' is (it runs in "
                "every sandbox before the first cell); for limits use fuel=, memory_mb=, cell_timeout=, ..."
            )
        if not orchestrator:
            raise UnsupportedArgumentError(
                "orchestrator=False selects a variant of rlms' own system prompt; rlm_sandbox has its own prompts "
                "(prompts/root.txt): to change the prompt, pass custom_system_prompt"
            )
        if user_prologue is not None:
            raise UnsupportedArgumentError(
                "user_prologue is not supported: put the text into root_prompt (of completion) or into "
                "custom_system_prompt"
            )
        if other_backends is not None and len(other_backends) != 1:
            raise ValueError(
                "We currently only support one additional backend for the recursive sub-calls! "
                "This model will be the model used for recursive sub-calls (as in rlms)"
            )
        if max_depth < 0:
            raise ConfigError("max_depth must be at least 0")
        if max_iterations < 1:
            raise ConfigError("max_iterations must be at least 1")

        self.backend = backend
        self.backend_kwargs = backend_kwargs
        self.environment_type = environment
        self.environment_kwargs = dict(environment_kwargs or {})
        self.depth = depth
        self.max_depth = max_depth
        self.max_iterations = max_iterations
        self.max_budget = max_budget
        self.max_timeout = max_timeout
        self.max_tokens = max_tokens
        self.max_errors = max_errors
        self.system_prompt = custom_system_prompt
        self.other_backends = other_backends
        self.other_backend_kwargs = other_backend_kwargs
        self.logger = logger
        self.verbose = verbose
        self.persistent = persistent
        self.custom_tools = custom_tools
        self.custom_sub_tools = custom_sub_tools if custom_sub_tools is not None else custom_tools
        self.compaction = compaction
        self.compaction_threshold_pct = compaction_threshold_pct
        self.max_concurrent_subcalls = max_concurrent_subcalls
        self.on_subcall_start = on_subcall_start
        self.on_subcall_complete = on_subcall_complete
        self.on_iteration_start = on_iteration_start
        self.on_iteration_complete = on_iteration_complete
        self.on_event = on_event

        root = backend_spec(backend, backend_kwargs)
        root["sampling"] = {**root["sampling"], **sampling(sampling_args)}
        models = [root]
        sub_name: Optional[str] = None
        if other_backends is not None or sub_sampling_args is not None:
            if other_backends is not None:
                kwargs = (other_backend_kwargs or [{}])[0]
                sub = backend_spec(other_backends[0], kwargs, where="other_backend_kwargs[0]")
            else:
                # As rlms: sub-call sampling without another backend mirrors the root's.
                sub = dict(root)
            if sub_sampling_args is not None:
                sub["sampling"] = {**sub["sampling"], **sampling(sub_sampling_args, "sub_sampling_args")}
            if sub["name"] == root["name"] and sub != root:
                # One name, two settings: the registry needs two names.
                sub["name"] = f"{root['name']} (sub)"
            if sub["name"] != root["name"]:
                models.append(sub)
                sub_name = sub["name"]
        self._root_model: str = root["name"]
        for name, price in (model_prices or {}).items():
            matches = [m for m in models if m["model"] == name or m["name"] == name]
            if not matches:
                raise ConfigError(
                    f"model_prices names {name!r}, which this RLM does not use (models: "
                    f"{', '.join(m['name'] for m in models)})"
                )
            for m in matches:
                m["price"] = [float(price[0]), float(price[1])]

        root_tools, root_values = _tools.split(custom_tools)
        sub_tools, sub_values = _tools.split(self.custom_sub_tools)
        declarations = []
        for name in sorted(set(root_tools) | set(sub_tools)):
            in_root, in_sub = root_tools.get(name), sub_tools.get(name)
            same = in_root is not None and in_sub is not None and in_root[0] is in_sub[0]
            for scope, entry in (("both", in_root),) if same else (("root", in_root), ("sub", in_sub)):
                if entry is not None:
                    fn, text = entry
                    declarations.append(
                        {"name": name, "description": text, "parameters": _tools.schema(fn), "scope": scope}
                    )
        self._tools = ({n: e[0] for n, e in root_tools.items()}, {n: e[0] for n, e in sub_tools.items()})
        helper_list = [_tools.value_helper(n, v) for n, v in {**sub_values, **root_values}.items()]
        if setup_code:
            helper_list.append({"name": "setup_code", "code": setup_code})
        for name, code in (helpers or {}).items():
            helper_list.append({"name": name, "code": code})

        spec: Dict[str, Any] = {
            "models": models,
            "root_model": root["name"],
            "sub_model": sub_name,
            "max_iterations": max_iterations,
            # rlms counts the root as a level: max_depth=1 means no sub-RLMs.
            "max_depth": max(max_depth - 1, 0),
            "max_concurrency": max_concurrent_subcalls,
            "max_tokens": max_tokens,
            "max_cost": max_budget,
            "max_wall_time": max_timeout,
            "max_error_streak": _NO_LIMIT if max_errors is None else max_errors,
            "child_max_iterations": child_max_iterations,
            "max_output_chars": max_output_chars,
            "sub_context_chars": sub_context_chars,
            "limits": limits_spec(fuel, memory_mb, cell_timeout, max_output_bytes, max_host_calls, max_value_bytes),
            "root_prompt": custom_system_prompt,
            # rlms hands its children the same system prompt.
            "child_prompt": child_system_prompt or custom_system_prompt,
            "log_dir": log_dir,
            "helpers": helper_list,
            "tools": declarations,
            "max_live_sandboxes": max_live_sandboxes,
            "max_sandbox_memory_mb": max_total_memory_mb,
            "compact_share": compaction_threshold_pct if compaction else None,
        }
        spec = {k: v for k, v in spec.items() if v is not None}
        self._engine = _native_call(_native.Engine, json.dumps(spec))
        self._session: Optional[_native.Session] = None

        if logger is not None or verbose:
            metadata = {
                "root_model": root["name"],
                "max_depth": max_depth,
                "max_iterations": max_iterations,
                "backend": backend,
                "backend_kwargs": {k: v for k, v in (backend_kwargs or {}).items() if "key" not in k.lower()},
                "environment_type": "wasm-sandbox",
                "environment_kwargs": {k: v for k, v in (environment_kwargs or {}).items()},
                "other_backends": other_backends,
            }
            if logger is not None:
                logger.log_metadata(metadata)
            if verbose:
                _print(f"RLM {root['name']} (backend {backend}, max_depth {max_depth}, max_iterations {max_iterations})")

    # --- running ------------------------------------------------------------------

    def _start(self, prompt: Prompt, root_prompt: Optional[str]) -> Tuple[Any, Callable[[], None]]:
        """Starts a run; returns it and what to do once it has ended."""
        query = root_prompt if root_prompt is not None else DEFAULT_QUERY
        context = context_arg(prompt)
        if self.persistent:
            if self._session is None:
                self._session = _native_call(self._engine.session, context)
                return _native_call(self._session.start, query, None), lambda: None
            return _native_call(self._session.start, query, context), lambda: None
        if self.compaction:
            session = _native_call(self._engine.session, context)
            return _native_call(session.start, query, None), session.close
        return _native_call(self._engine.start, [context], query), lambda: None

    def _tool_runner(self) -> Tools:
        return Tools(self._tools[0], self._tools[1])

    def completion(self, prompt: Prompt, root_prompt: Optional[str] = None) -> RLMChatCompletion:
        """Answers ``root_prompt`` about ``prompt`` (bound as ``context``).

        Releases the GIL while it runs; host tools and callbacks run in
        this thread. Ctrl-C cancels the run and its sub-calls and raises
        ``CancellationError``. A run stopped by a budget, the model or the
        sandbox raises the matching ``RLMError`` subclass, carrying the
        partial answer and usage. When the iterations run out, the model's
        last reply is returned, as ``rlms`` does.
        """
        started = time.perf_counter()
        if self.max_depth == 0:
            return self._plain(prompt, started)
        run, done = self._start(prompt, root_prompt)
        try:
            result = events.wait(run, self._tool_runner(), self._observer())
        except Interrupted as e:
            raise self._error(e.result, prompt) from e.cause
        finally:
            done()
        return self._finish(result, prompt)

    async def acompletion(self, prompt: Prompt, root_prompt: Optional[str] = None) -> RLMChatCompletion:
        """``completion`` for asyncio: awaits the run without blocking the
        event loop; coroutine tools run on this loop. Cancelling the task
        cancels the run."""
        if self.max_depth == 0:
            return await _to_thread(self._plain, prompt, time.perf_counter())
        run, done = self._start(prompt, root_prompt)
        try:
            result = await events.await_run(run, self._tool_runner(), self._observer())
        finally:
            done()
        return self._finish(result, prompt)

    def stream(self, prompt: Prompt, root_prompt: Optional[str] = None) -> "CompletionStream":
        """The run's events as an iterator; the result is in the stream's
        ``completion`` once it is exhausted (or its error is raised then).
        Breaking out of the loop cancels the run."""
        if self.max_depth == 0:
            raise UnsupportedArgumentError("stream() needs max_depth >= 1 (max_depth=0 is one plain model call)")
        run, done = self._start(prompt, root_prompt)
        return CompletionStream(self, run, done, prompt)

    def close(self) -> None:
        """Frees the persistent sandbox (``persistent=True``)."""
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> "RLM":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- results ------------------------------------------------------------------

    def _plain(self, prompt: Prompt, started: float) -> RLMChatCompletion:
        """``max_depth=0``: one plain model call, as ``rlms`` falls back to."""
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        elif isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
            messages = [{"role": m["role"], "content": str(m.get("content", ""))} for m in prompt]
        else:
            messages = [{"role": "user", "content": context_arg(prompt)[1]}]
        run = _native_call(self._engine.start_plain, json.dumps(messages))
        try:
            result = events.wait(run)
        except Interrupted as e:
            raise BY_KIND["cancelled"]("the call was cancelled") from e.cause
        if "error" in result:
            cls = BY_KIND.get(result["error"]["kind"], RLMError)
            raise cls(result["error"]["message"])
        usage = UsageSummary.from_dict(
            {
                "model_usage_summaries": {
                    result["model"]: {
                        "total_calls": 1,
                        "total_input_tokens": result["input_tokens"],
                        "total_output_tokens": result["output_tokens"],
                        "total_cost": result.get("cost"),
                    }
                }
            }
        )
        return RLMChatCompletion(
            root_model=self._root_model,
            prompt=prompt,
            response=result["text"],
            usage_summary=usage,
            execution_time=time.perf_counter() - started,
            answer=result["text"],
        )

    def _completion(self, result: Dict[str, Any], prompt: Prompt) -> RLMChatCompletion:
        trajectory = result.get("trajectory") or {}
        answer = result.get("answer")
        error = result.get("error")
        response = answer_text(answer) if answer is not None else (result.get("last_reply") or "")
        completion = RLMChatCompletion(
            root_model=self._root_model,
            prompt=prompt,
            response=response,
            usage_summary=UsageSummary._from_engine(result.get("usage")),
            execution_time=(result.get("elapsed_ms") or 0.0) / 1000.0,
            metadata={"run_metadata": trajectory.get("run_metadata"), "iterations": trajectory.get("iterations", [])},
            error=f"{error['kind']}: {error['message']}" if error else None,
            answer=answer,
            iterations=result.get("iterations", 0),
            sub_calls=result.get("sub_calls", 0),
            run_id=result.get("run_id", ""),
            log_path=result.get("log"),
        )
        if self.logger is not None:
            self.logger.clear_iterations()
            for iteration in completion.metadata["iterations"] if completion.metadata else []:
                self.logger.log(iteration)
        return completion

    def _finish(self, result: Dict[str, Any], prompt: Prompt) -> RLMChatCompletion:
        completion = self._completion(result, prompt)
        error = result.get("error")
        if error is None:
            return completion
        if error["kind"] == "max_iterations":
            completion.stopped = "max_iterations"
            completion.error = None
            return completion
        raise self._error(result, prompt, completion)

    def _error(self, result: Dict[str, Any], prompt: Prompt, completion: Optional[RLMChatCompletion] = None) -> RLMError:
        completion = completion or self._completion(result, prompt)
        error = result.get("error") or {"kind": "cancelled", "message": "the run was cancelled"}
        kind, message = error["kind"], error["message"]
        common: Dict[str, Any] = {
            "partial_answer": result.get("last_reply"),
            "usage": completion.usage_summary,
            "completion": completion,
        }
        usage = result.get("usage") or {}
        total = usage.get("total") or {}
        if kind == "max_tokens":
            tokens = total.get("input_tokens", 0) + total.get("output_tokens", 0)
            return BY_KIND[kind](message, tokens_used=tokens, token_limit=self.max_tokens or 0, **common)
        if kind == "max_cost":
            return BY_KIND[kind](message, spent=usage.get("known_cost", 0.0), budget=self.max_budget or 0.0, **common)
        if kind == "timeout":
            return BY_KIND[kind](
                message, elapsed=completion.execution_time, timeout=self.max_timeout or 0.0, **common
            )
        if kind == "error_streak":
            return ErrorThresholdExceededError(
                message,
                error_count=self.max_errors or 0,
                threshold=self.max_errors or 0,
                last_error=_last_stderr(completion.metadata),
                **common,
            )
        return BY_KIND.get(kind, RLMError)(message, **common)

    # --- events -------------------------------------------------------------------

    def _observer(self) -> Optional[Callable[[Event], None]]:
        """One callback for every event consumer this RLM has: ``on_event``,
        the ``rlms`` callbacks, ``verbose``."""
        hooks = [self.on_subcall_start, self.on_subcall_complete, self.on_iteration_start, self.on_iteration_complete]
        if self.on_event is None and not self.verbose and not any(hooks):
            return None
        started: Dict[Tuple[str, int], float] = {}

        def rlms_hook(fn: Optional[Callable[..., Any]], *args: Any) -> None:
            if fn is None:
                return
            try:
                fn(*args)
            except Exception as e:  # noqa: BLE001 - as rlms: a callback never breaks a run
                _print(f"rlm_sandbox: a callback raised {type(e).__name__}: {e}")

        def end_iteration(run: str) -> None:
            for key in [k for k in started if k[0] == run]:
                rlms_hook(self.on_iteration_complete, 0, key[1], time.perf_counter() - started.pop(key))

        def observe(event: Event) -> None:
            d = event.data
            if event.depth == 0:
                if event.kind == "iteration_started":
                    end_iteration(event.run_id)
                    started[(event.run_id, d["iteration"])] = time.perf_counter()
                    rlms_hook(self.on_iteration_start, 0, d["iteration"])
                elif event.kind in ("final_answer", "error"):
                    end_iteration(event.run_id)
            if event.kind == "sub_call_started" and d.get("kind") == "rlm":
                rlms_hook(self.on_subcall_start, event.depth + 1, d["name"], d.get("preview", ""))
            elif event.kind == "sub_call_finished" and d.get("kind") == "rlm":
                rlms_hook(self.on_subcall_complete, event.depth + 1, d["name"], d["seconds"], d.get("error"))
            if self.verbose:
                _verbose(event)
            if self.on_event is not None:
                self.on_event(event)

        return observe


class CompletionStream:
    """The events of one run, as an iterator (see ``RLM.stream``)."""

    def __init__(self, rlm: RLM, run: Any, done: Callable[[], None], prompt: Prompt) -> None:
        self._rlm, self._run, self._done, self._prompt = rlm, run, done, prompt
        #: The result, once the iteration is over.
        self.completion: Optional[RLMChatCompletion] = None
        self._consumed = False

    def __iter__(self) -> Iterator[Event]:
        if self._consumed:
            raise RuntimeError("a stream can be iterated once")
        self._consumed = True
        observe = self._rlm._observer()
        gen = events.stream(self._run, self._rlm._tool_runner())
        try:
            while True:
                try:
                    event = next(gen)
                except StopIteration as end:
                    self.completion = self._rlm._finish(end.value, self._prompt)
                    return
                if observe is not None:
                    observe(event)
                yield event
        except Interrupted as e:
            raise self._rlm._error(e.result, self._prompt) from e.cause
        finally:
            gen.close()
            self._done()


def _last_stderr(metadata: Optional[Dict[str, Any]]) -> Optional[str]:
    for iteration in reversed((metadata or {}).get("iterations") or []):
        for block in reversed(iteration.get("code_blocks") or []):
            stderr = (block.get("result") or {}).get("stderr")
            if stderr:
                return stderr
    return None


async def _to_thread(fn: Callable[..., Any], *args: Any) -> Any:
    import asyncio

    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


def _print(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _short(text: str, limit: int = 400) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else text[:limit] + f" ... [{len(text) - limit} more characters]"


def _verbose(event: Event) -> None:
    """``verbose=True``: what the run does, on stderr."""
    d, pad = event.data, "  " * event.depth
    if event.kind == "iteration_started":
        _print(f"{pad}--- iteration {d['iteration']}/{d['max_iterations']} (depth {event.depth}) ---")
    elif event.kind == "model_reply":
        _print(f"{pad}[model] {_short(d['text'])}")
    elif event.kind == "code_finished":
        if d.get("stdout"):
            _print(f"{pad}[stdout] {_short(d['stdout'])}")
        if d.get("stderr"):
            _print(f"{pad}[stderr] {_short(d['stderr'])}")
        if d.get("error"):
            _print(f"{pad}[cell stopped: {d['error']}]")
    elif event.kind == "sub_call_started":
        _print(f"{pad}[{d['kind']}_query -> {d['name']}] {_short(d.get('preview', ''), 80)}")
    elif event.kind == "final_answer":
        _print(f"{pad}[final answer] {_short(answer_text(d['answer']))}")
    elif event.kind == "error":
        _print(f"{pad}[stopped: {d['kind']}] {d['message']}")
    elif event.kind == "note":
        _print(f"{pad}[note] {_short(d['text'])}")
