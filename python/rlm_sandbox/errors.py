"""Exceptions: one class per way a run can stop, each with what it did.

Running out of iterations is not among them: ``RLM.completion`` returns the
model's last reply then (as ``rlms`` does, with ``stopped="max_iterations"``)
and ``run`` an ``[ERROR]`` answer (as the seed project does).

The ``rlms`` names (``BudgetExceededError``, ``TimeoutExceededError``,
``TokenLimitExceededError``, ``ErrorThresholdExceededError``,
``CancellationError``) keep their attributes (``spent``/``budget``,
``elapsed``/``timeout``, ...), so ``except`` clauses written for ``rlms``
work. Every run error also carries ``kind`` (the engine's name for it),
``partial_answer`` (the model's last reply), ``usage`` (a ``UsageSummary``)
and ``completion`` (everything the run did, as an ``RLMChatCompletion``).

Hierarchy::

    RLMError
    ├── BudgetError                  a budget ran out
    │   ├── TokenLimitExceededError      max_tokens
    │   ├── BudgetExceededError          max_budget (dollars)
    │   ├── TimeoutExceededError         max_timeout
    │   └── ErrorThresholdExceededError  max_errors
    ├── ModelError                   the model could not be called (after retries)
    ├── SandboxError                 the sandbox host failed
    │   └── SandboxLimitError            a cell hit a limit (Sandbox.run(check=True))
    ├── CancellationError            Ctrl-C (also a KeyboardInterrupt)
    ├── ConfigError                  a setting is invalid (also a ValueError)
    │   └── UnsupportedArgumentError     an rlms argument we do not support
    └── LogError                     the trajectory log cannot be written (also an OSError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .types import UsageSummary

if TYPE_CHECKING:
    from .sandbox import CellResult
    from .types import RLMChatCompletion


class RLMError(Exception):
    """A run that ended without an answer."""

    #: The engine's name for what stopped the run (``max_tokens``, ``model``, ...).
    kind: str = "error"

    def __init__(
        self,
        message: str,
        *,
        partial_answer: Optional[str] = None,
        usage: Optional[UsageSummary] = None,
        completion: Optional["RLMChatCompletion"] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        #: The model's last reply: the best answer there is.
        self.partial_answer = partial_answer
        #: What the run used.
        self.usage = usage if usage is not None else UsageSummary()
        #: Everything the run did (trajectory in ``metadata``).
        self.completion = completion


class BudgetError(RLMError):
    """A budget of the run ran out."""


class TokenLimitExceededError(BudgetError):
    """The token budget (``max_tokens``) was spent."""

    kind = "max_tokens"

    def __init__(self, message: str, *, tokens_used: int = 0, token_limit: int = 0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.tokens_used = tokens_used
        self.token_limit = token_limit


class BudgetExceededError(BudgetError):
    """The cost budget (``max_budget``, dollars) was spent."""

    kind = "max_cost"

    def __init__(self, message: str, *, spent: float = 0.0, budget: float = 0.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.spent = spent
        self.budget = budget


class TimeoutExceededError(BudgetError):
    """The wall-clock budget (``max_timeout``, seconds) was spent."""

    kind = "timeout"

    def __init__(self, message: str, *, elapsed: float = 0.0, timeout: float = 0.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.elapsed = elapsed
        self.timeout = timeout


class ErrorThresholdExceededError(BudgetError):
    """Too many iterations in a row ended in errors (``max_errors``), and
    the last request for an answer gave none."""

    kind = "error_streak"

    def __init__(
        self,
        message: str,
        *,
        error_count: int = 0,
        threshold: int = 0,
        last_error: Optional[str] = None,
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.error_count = error_count
        self.threshold = threshold
        self.last_error = last_error


class ModelError(RLMError):
    """The model could not be called, after retries."""

    kind = "model"


class SandboxError(RLMError):
    """The sandbox host failed (not a Python error in a cell: those go to
    the model)."""

    kind = "sandbox"


class SandboxLimitError(SandboxError):
    """A cell run with ``Sandbox.run(..., check=True)`` hit a limit or raised."""

    def __init__(self, message: str, *, result: "CellResult") -> None:
        super().__init__(message)
        #: The cell's result.
        self.result = result
        self.kind = result.error.kind if result.error else "error"


class CancellationError(RLMError, KeyboardInterrupt):
    """The run was cancelled with Ctrl-C. Also a ``KeyboardInterrupt``, so
    handlers of either catch it."""

    kind = "cancelled"


class ConfigError(RLMError, ValueError):
    """A setting is invalid; nothing ran."""

    kind = "config"


class UnsupportedArgumentError(ConfigError):
    """An ``rlms`` argument (or value) that rlm-sandbox does not support;
    the message says what to use instead."""


class LogError(RLMError, OSError):
    """The trajectory log could not be written; nothing ran."""

    kind = "log"


#: The class for each engine error kind.
BY_KIND = {
    "max_tokens": TokenLimitExceededError,
    "max_cost": BudgetExceededError,
    "timeout": TimeoutExceededError,
    "error_streak": ErrorThresholdExceededError,
    "model": ModelError,
    "sandbox": SandboxError,
    "cancelled": CancellationError,
    "config": ConfigError,
    "log": LogError,
}
