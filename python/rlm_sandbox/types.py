"""Result types, with the names and fields of the official ``rlms`` package.

``UsageSummary``, ``ModelUsageSummary`` and ``RLMChatCompletion`` mirror
``rlm.core.types`` of ``rlms`` 0.1.3 field for field (including ``to_dict``
and ``from_dict``); what we add comes after their fields, with defaults, so
code written for ``rlms`` reads them unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union


@dataclass
class ModelUsageSummary:
    """Calls and tokens of one model (``rlms``' ``ModelUsageSummary``)."""

    total_calls: int
    total_input_tokens: int
    total_output_tokens: int
    total_cost: Optional[float] = None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "total_calls": self.total_calls,
            "total_input_tokens": self.total_input_tokens,
            "total_output_tokens": self.total_output_tokens,
        }
        if self.total_cost is not None:
            out["total_cost"] = self.total_cost
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "ModelUsageSummary":
        return cls(
            total_calls=data.get("total_calls", 0),
            total_input_tokens=data.get("total_input_tokens", 0),
            total_output_tokens=data.get("total_output_tokens", 0),
            total_cost=data.get("total_cost"),
        )


@dataclass
class UsageSummary:
    """Usage of a whole completion, per model (``rlms``' ``UsageSummary``).

    Counts every call at every depth: the root's, ``llm_query``'s and every
    sub-RLM's.
    """

    model_usage_summaries: Dict[str, ModelUsageSummary] = field(default_factory=dict)

    @property
    def total_cost(self) -> Optional[float]:
        """Dollars across all models; ``None`` when no call had a known cost."""
        costs = [s.total_cost for s in self.model_usage_summaries.values() if s.total_cost is not None]
        return sum(costs) if costs else None

    @property
    def total_input_tokens(self) -> int:
        return sum(s.total_input_tokens for s in self.model_usage_summaries.values())

    @property
    def total_output_tokens(self) -> int:
        return sum(s.total_output_tokens for s in self.model_usage_summaries.values())

    @property
    def total_calls(self) -> int:
        """Model calls across all models (our addition)."""
        return sum(s.total_calls for s in self.model_usage_summaries.values())

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "model_usage_summaries": {m: s.to_dict() for m, s in self.model_usage_summaries.items()},
        }
        if self.total_cost is not None:
            out["total_cost"] = self.total_cost
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "UsageSummary":
        return cls(
            model_usage_summaries={
                m: ModelUsageSummary.from_dict(s) for m, s in (data.get("model_usage_summaries") or {}).items()
            }
        )

    @classmethod
    def _from_engine(cls, usage: Optional[Dict[str, Any]]) -> "UsageSummary":
        """Reads the engine's usage (``{total, by_model, by_depth, known_cost}``)."""
        by_model = (usage or {}).get("by_model") or {}
        return cls(
            model_usage_summaries={
                model: ModelUsageSummary(
                    total_calls=t.get("calls", 0),
                    total_input_tokens=t.get("input_tokens", 0),
                    total_output_tokens=t.get("output_tokens", 0),
                    total_cost=t.get("cost"),
                )
                for model, t in by_model.items()
            }
        )


def answer_text(value: Any) -> str:
    """An answer as ``rlms`` reports it: a string as it is, any other value
    as its JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@dataclass
class RLMChatCompletion:
    """The result of ``RLM.completion`` (``rlms``' ``RLMChatCompletion``).

    The first seven fields are ``rlms``'; the rest are ours.
    """

    root_model: str
    prompt: Union[str, Dict[str, Any], List[Any]]
    #: The final answer as a string (a non-string ``FINAL`` value as JSON).
    response: str
    usage_summary: UsageSummary
    #: Seconds.
    execution_time: float
    #: The trajectory, ``{"run_metadata": ..., "iterations": [...]}``, in the
    #: ``rlms`` log format; always set (``rlms`` sets it only with a logger).
    metadata: Optional[Dict[str, Any]] = None
    error: Optional[str] = None
    #: The answer as the Python value passed to ``FINAL`` (``None`` if the
    #: run gave none).
    answer: Any = None
    #: Root iterations used.
    iterations: int = 0
    #: ``llm_query``/``rlm_query``/tool calls at every depth.
    sub_calls: int = 0
    #: The run's id (names its log file).
    run_id: str = ""
    #: Where the engine wrote the JSONL trajectory, if it did.
    log_path: Optional[str] = None
    #: Why the run ended without a ``FINAL`` answer while still returning
    #: one, as ``rlms`` does when the iterations run out: ``"max_iterations"``
    #: (``response`` is then the model's last reply); ``None`` otherwise.
    stopped: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {
            "root_model": self.root_model,
            "prompt": self.prompt,
            "response": self.response,
            "usage_summary": self.usage_summary.to_dict(),
            "execution_time": self.execution_time,
        }
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.error is not None:
            out["error"] = self.error
        return out

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "RLMChatCompletion":
        return cls(
            root_model=data.get("root_model", ""),
            prompt=data.get("prompt", ""),
            response=data.get("response", ""),
            usage_summary=UsageSummary.from_dict(data.get("usage_summary") or {}),
            execution_time=data.get("execution_time", 0.0),
            metadata=data.get("metadata"),
            error=data.get("error"),
        )
