"""rlm-sandbox for Python: Recursive Language Models whose model-written code
runs in a WebAssembly sandbox (CPython on WASI, in wasmtime), driven by a
Rust engine.

- ``RLM``: the API of the official ``rlms`` package (``from rlm import
  RLM``), same arguments and results; change the import line.
- ``run``: the one-call form of the seed project (Ray0907/rlm).
- ``Sandbox``: run Python cells in the sandbox directly.
- ``RLMLogger``: ``rlms``' trajectory logger (JSONL in the ``rlms`` format).
- The exceptions of ``rlms`` and ours (``errors``); ``Event`` for run events;
  ``testing.MockServer`` for offline tests.
"""

import json as _json
from typing import Any as _Any
from typing import Dict as _Dict

from ._native import __version__, warm_up
from ._native import defaults as _native_defaults
from .errors import (
    BudgetError,
    BudgetExceededError,
    CancellationError,
    ConfigError,
    ErrorThresholdExceededError,
    LogError,
    ModelError,
    RLMError,
    SandboxError,
    SandboxLimitError,
    TimeoutExceededError,
    TokenLimitExceededError,
    UnsupportedArgumentError,
)
from .events import Event
from .logger import RLMLogger
from .rlm import RLM, CompletionStream
from .run import IterationEvent, RLMResult, run
from .sandbox import CellError, CellResult, Sandbox
from .types import ModelUsageSummary, RLMChatCompletion, UsageSummary



def defaults() -> _Dict[str, _Any]:
    """The engine's and the sandbox's defaults (``fuel``, ``memory_mb``,
    ``cell_timeout``, ``max_concurrency``, ...), as the native layer has them."""
    return _json.loads(_native_defaults())

__all__ = [
    "defaults",
    "RLM",
    "CompletionStream",
    "RLMChatCompletion",
    "UsageSummary",
    "ModelUsageSummary",
    "RLMLogger",
    "run",
    "RLMResult",
    "IterationEvent",
    "Sandbox",
    "CellResult",
    "CellError",
    "Event",
    "RLMError",
    "BudgetError",
    "BudgetExceededError",
    "TimeoutExceededError",
    "TokenLimitExceededError",
    "ErrorThresholdExceededError",
    "CancellationError",
    "ModelError",
    "SandboxError",
    "SandboxLimitError",
    "ConfigError",
    "UnsupportedArgumentError",
    "LogError",
    "warm_up",
    "__version__",
]
