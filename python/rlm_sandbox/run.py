"""``run``: the one-call form of the seed project (Ray0907/rlm).

>>> import rlm_sandbox
>>> result = rlm_sandbox.run(query="What is the sum of all ages?",
...                          context="Alice is 25. Bob is 30.",
...                          model="anthropic/claude-sonnet-4-5")   # doctest: +SKIP
>>> result.answer, result.iterations                               # doctest: +SKIP

Model strings follow LiteLLM's ``provider/model`` convention (see
``models.litellm_spec``); any OpenAI-compatible server works with
``model="openai/<name>", base_url=...``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import _native, events
from .errors import BY_KIND, RLMError, UnsupportedArgumentError
from .events import Event, Interrupted
from .models import litellm_spec
from .rlm import _DEFAULT, _native_call, context_arg, limits_spec
from .types import answer_text


@dataclass
class IterationEvent:
    """One step of a run, for ``on_iteration`` (the seed project's type)."""

    iteration: int
    #: ``llm_response``, ``code_execution``, ``sub_call`` or ``final``.
    event_type: str
    content: str
    code_block: Optional[str] = None
    output: Optional[str] = None
    has_error: bool = False
    tokens_used: int = 0


@dataclass
class RLMResult:
    """What ``run`` returns (the seed project's ``RLMResult``)."""

    answer: str
    iterations: int
    total_input_tokens: int = 0
    total_output_tokens: int = 0
    #: Code blocks run by the root.
    code_executions: int = 0
    #: ``llm_query``/``rlm_query``/tool calls at every depth.
    sub_calls: int = 0
    #: ``{"iteration", "role": "assistant" | "execution", "content"}`` entries.
    history: List[Dict[str, Any]] = field(default_factory=list)
    #: The answer as the Python value passed to ``FINAL`` (our addition).
    value: Any = None


def run(
    query: str,
    context: Any,
    model: str = "gpt-4o-mini",
    *,
    sub_model: Optional[str] = None,
    max_iterations: int = 20,
    max_output_chars: int = 30000,
    verbose: bool = False,
    iteration_delay: float = 0,
    on_iteration: Optional[Callable[[IterationEvent], Any]] = None,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    max_depth: int = 0,
    fuel: Any = _DEFAULT,
    memory_mb: Optional[int] = None,
    cell_timeout: Optional[float] = None,
) -> RLMResult:
    """Answers ``query`` about ``context`` and returns an ``RLMResult``.

    As in the seed project, ``llm_query`` sub-calls are plain model calls
    (``max_depth=0``; raise it for sub-RLMs), ``max_output_chars`` caps the
    output shown to the model, and a run that runs out of iterations
    returns an answer starting with ``[ERROR]``. Other failures (the model
    unreachable, Ctrl-C) raise the ``RLMError`` subclasses.
    """
    if iteration_delay:
        raise UnsupportedArgumentError(
            "iteration_delay is not supported: rate limits are handled by retrying 429 replies with backoff "
            "(honouring Retry-After); leave iteration_delay at 0"
        )
    models = [litellm_spec(model, base_url=base_url, api_key=api_key)]
    if sub_model and sub_model != model:
        models.append(litellm_spec(sub_model, base_url=base_url, api_key=api_key))
    spec = {
        "models": models,
        "root_model": model,
        "sub_model": sub_model if sub_model and sub_model != model else None,
        "max_iterations": max_iterations,
        "max_depth": max_depth,
        "max_output_chars": max_output_chars,
        "limits": limits_spec(fuel, memory_mb, cell_timeout),
    }
    engine = _native_call(_native.Engine, json.dumps({k: v for k, v in spec.items() if v is not None}))
    history: List[Dict[str, Any]] = []
    counts = {"code": 0}
    pending: Dict[int, str] = {}

    def observe(event: Event) -> None:
        if event.depth != 0:
            return
        d = event.data
        if event.kind == "model_reply":
            history.append({"iteration": d["iteration"], "role": "assistant", "content": d["text"]})
            pending.clear()
            emit(IterationEvent(d["iteration"], "llm_response", d["text"], tokens_used=d["usage"]["output_tokens"]))
        elif event.kind == "code_started":
            pending[d["block"]] = d["code"]
        elif event.kind == "code_finished":
            counts["code"] += 1
            output = d["stdout"] + d["stderr"]
            history.append({"iteration": d["iteration"], "role": "execution", "content": output})
            emit(
                IterationEvent(
                    d["iteration"],
                    "code_execution",
                    f"Code block {d['block']} executed",
                    code_block=pending.get(d["block"]),
                    output=output,
                    has_error=d.get("error") is not None,
                )
            )
        elif event.kind == "final_answer":
            emit(IterationEvent(len([h for h in history if h["role"] == "assistant"]), "final", answer_text(d["answer"])))
        if verbose:
            from .rlm import _verbose

            _verbose(event)

    def emit(item: IterationEvent) -> None:
        if on_iteration is not None:
            on_iteration(item)

    handle = _native_call(engine.start, [context_arg(context, "context")], query)
    try:
        result = events.wait(handle, None, observe)
    except Interrupted as e:
        raise BY_KIND["cancelled"]("the run was cancelled", partial_answer=e.result.get("last_reply")) from e.cause
    usage = (result.get("usage") or {}).get("total") or {}
    out = RLMResult(
        answer=answer_text(result["answer"]) if result.get("answer") is not None else "",
        iterations=result.get("iterations", 0),
        total_input_tokens=usage.get("input_tokens", 0),
        total_output_tokens=usage.get("output_tokens", 0),
        code_executions=counts["code"],
        sub_calls=result.get("sub_calls", 0),
        history=history,
        value=result.get("answer"),
    )
    error = result.get("error")
    if error is None:
        return out
    if error["kind"] == "max_iterations":
        # The seed project's way of saying so, as a result.
        out.answer = "[ERROR] Max iterations reached without finding an answer."
        return out
    cls = BY_KIND.get(error["kind"], RLMError)
    raise cls(error["message"], partial_answer=result.get("last_reply"))
