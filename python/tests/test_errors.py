"""One exception class per way a run stops, each with the partial result;
unsupported rlms arguments are refused with what to use instead."""

from __future__ import annotations

import pytest
from conftest import repl, rlm_for

from rlm_sandbox import (
    RLM,
    BudgetError,
    BudgetExceededError,
    ConfigError,
    ErrorThresholdExceededError,
    LogError,
    ModelError,
    RLMError,
    TimeoutExceededError,
    TokenLimitExceededError,
    UnsupportedArgumentError,
)


def test_token_budget(mock):
    server = mock(responder=lambda r: repl("print('working')"))
    with pytest.raises(TokenLimitExceededError) as info:
        rlm_for(server, max_tokens=40).completion("c")
    e = info.value
    assert isinstance(e, BudgetError) and e.kind == "max_tokens"
    assert e.token_limit == 40 and e.tokens_used >= 30
    assert e.partial_answer.startswith("```repl")
    assert e.usage.total_input_tokens > 0
    assert e.completion.metadata["iterations"]


def test_cost_budget_with_prices(mock):
    server = mock(responder=lambda r: repl("print('working')"))
    with pytest.raises(BudgetExceededError) as info:
        # 10 + 5 tokens a call at $1000/$1000 per million: $0.015 a call.
        rlm_for(server, max_budget=0.04, model_prices={"mock-model": (1000.0, 1000.0)}).completion("c")
    assert info.value.budget == 0.04 and info.value.spent >= 0.03


def test_cost_budget_needs_a_price(mock):
    server = mock([])
    with pytest.raises(ConfigError, match="price"):
        rlm_for(server, max_budget=1.0)


def test_timeout(mock):
    server = mock(responder=lambda r: {"hang": 5})
    with pytest.raises(TimeoutExceededError) as info:
        rlm_for(server, max_timeout=0.5).completion("c")
    assert info.value.timeout == 0.5 and 0.4 < info.value.elapsed < 4


def test_error_threshold(mock):
    server = mock(responder=lambda r: repl("1/0"))
    with pytest.raises(ErrorThresholdExceededError) as info:
        rlm_for(server, max_errors=2).completion("c")
    assert info.value.threshold == 2 and "ZeroDivisionError" in info.value.last_error


def test_model_failure(mock):
    server = mock(responder=lambda r: {"status": 401, "message": "bad key"})
    with pytest.raises(ModelError) as info:
        rlm_for(server).completion("c")
    assert "401" in str(info.value) or "bad key" in str(info.value)
    assert isinstance(info.value, RLMError)


def test_unwritable_log_dir(mock, tmp_path):
    server = mock([repl("FINAL(1)")])
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LogError):
        rlm_for(server, log_dir=str(blocker / "sub")).completion("c")


@pytest.mark.parametrize(
    "kwargs, hint",
    [
        ({"environment": "docker"}, "own WebAssembly sandbox"),
        ({"environment_kwargs": {"image": "x"}}, "setup_code"),
        ({"orchestrator": False}, "custom_system_prompt"),
        ({"user_prologue": "tips"}, "root_prompt"),
        ({"depth": 1}, "leave depth at 0"),
        ({"backend_kwargs": {"default_headers": {}}}, "default_headers"),
    ],
)
def test_unsupported_arguments_say_what_to_use(mock, kwargs, hint):
    server = mock([])
    with pytest.raises(UnsupportedArgumentError, match=hint):
        rlm_for(server, **kwargs)


@pytest.mark.parametrize("backend, hint", [("gemini", "generativelanguage"), ("azure_openai", "azure"), ("portkey", "gateway")])
def test_unsupported_backends_say_what_to_use(backend, hint):
    with pytest.raises(UnsupportedArgumentError, match=hint):
        RLM(backend=backend, backend_kwargs={"model_name": "m"})


def test_invalid_settings_are_value_errors(mock):
    server = mock([])
    with pytest.raises(ValueError):
        rlm_for(server, max_iterations=0)
    with pytest.raises(ConfigError, match="memory"):
        rlm_for(server, memory_mb=1)
    with pytest.raises(ValueError, match="one additional backend"):
        rlm_for(server, other_backends=["openai", "openai"], other_backend_kwargs=[{}, {}])
    with pytest.raises(ConfigError, match="reserved"):
        rlm_for(server, custom_tools={"llm_query": len})
