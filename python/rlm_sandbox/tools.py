"""Python callables as host tools, and plain values as REPL variables.

A tool runs on the host, in the caller's interpreter; model code in the
sandbox calls it like a function (positional or keyword arguments), and
gets its return value, which must be JSON-representable. An exception in
the tool reaches model code as an exception with its message. Each tool
also gets an ``<name>_async`` form for ``asyncio.gather`` in model code.
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any, Callable, Dict, List, Optional, Tuple

from .errors import ConfigError

#: The names ``rlms`` reserves (the REPL's own functions and variables).
RESERVED = frozenset({"llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched", "SHOW_VARS", "answer", "context", "history"})

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def _json_type(annotation: Any) -> Optional[str]:
    origin = typing.get_origin(annotation) or annotation
    return _JSON_TYPES.get(origin) if isinstance(origin, type) else None


def schema(fn: Callable[..., Any]) -> Dict[str, Any]:
    """A JSON Schema of ``fn``'s arguments, from its signature: each named
    parameter in order, typed from simple annotations, required when it has
    no default."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return {"type": "object", "properties": {}}
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations: untyped
        hints = {}
    properties: Dict[str, Any] = {}
    required: List[str] = []
    for name, param in signature.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ConfigError(f"tool {getattr(fn, '__name__', fn)!r}: positional-only parameter {name!r} cannot be passed by name")
        prop: Dict[str, Any] = {}
        kind = _json_type(hints.get(name, param.annotation))
        if kind:
            prop["type"] = kind
        properties[name] = prop
        if param.default is inspect.Parameter.empty:
            required.append(name)
    out: Dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        out["required"] = required
    return out


def description(fn: Callable[..., Any], given: Optional[str]) -> str:
    """The tool's line in the prompt: the given description, else the first
    paragraph of its docstring."""
    if given:
        return given
    doc = inspect.getdoc(fn) or ""
    return doc.split("\n\n")[0].strip() or "A custom function"


def split(custom: Optional[Dict[str, Any]]) -> Tuple[Dict[str, Tuple[Callable[..., Any], str]], Dict[str, Any]]:
    """``rlms``' ``custom_tools`` into tools (callables, with their
    description) and values. An entry is a value or ``{"tool": value,
    "description": "..."}``."""
    tools: Dict[str, Tuple[Callable[..., Any], str]] = {}
    values: Dict[str, Any] = {}
    for name, entry in (custom or {}).items():
        given = None
        if isinstance(entry, dict) and "tool" in entry:
            given = entry.get("description") if isinstance(entry.get("description"), str) else None
            entry = entry["tool"]
        if name in RESERVED:
            raise ConfigError(
                f"custom tools cannot override reserved REPL names: {name!r} (reserved: {', '.join(sorted(RESERVED))})"
            )
        if not name.isidentifier():
            raise ConfigError(f"custom tool name {name!r} is not a Python identifier")
        if callable(entry):
            tools[name] = (entry, description(entry, given))
        else:
            values[name] = entry
    return tools, values


def value_helper(name: str, value: Any) -> Dict[str, str]:
    """Helper code that binds ``name`` to ``value`` in the sandbox (values
    cross as JSON)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(
            f"custom tool {name!r} is neither callable nor JSON-representable ({type(value).__name__}): {e}; "
            "values cross into the sandbox as JSON"
        ) from None
    return {"name": f"custom_tools[{name}]", "code": f"import json as _j\n{name} = _j.loads({json.dumps(text)})\ndel _j\n"}
