"""`run`: the seed project's one-call form, with LiteLLM model strings."""

from __future__ import annotations

import pytest
from conftest import repl

import rlm_sandbox
from rlm_sandbox import RLMResult, UnsupportedArgumentError
from rlm_sandbox.models import litellm_spec


def test_run_returns_the_seed_result(mock):
    server = mock(
        responder=lambda r: "15"
        if not r.system
        else [repl("print(context.count('e'))"), repl("x = llm_query('sum?')"), repl("FINAL(x)")][r.assistant_turns]
    )
    events = []
    result = rlm_sandbox.run(
        query="How many e?",
        context="eee",
        model="openai/mock-model",
        base_url=server.openai_base_url,
        api_key="k",
        on_iteration=events.append,
    )
    assert isinstance(result, RLMResult)
    assert result.answer == "15" and result.iterations == 3
    assert result.total_input_tokens == 40 and result.total_output_tokens == 20
    assert result.code_executions == 3 and result.sub_calls == 1
    assert [h["role"] for h in result.history] == ["assistant", "execution"] * 3
    assert result.history[1]["content"] == "3\n"
    assert [e.event_type for e in events] == ["llm_response", "code_execution"] * 3 + ["final"]
    assert server.requests[0].model == "mock-model"


def test_run_out_of_iterations_answers_with_an_error_text(mock):
    server = mock(responder=lambda r: "no code")
    result = rlm_sandbox.run(query="q", context="c", model="openai/m", base_url=server.openai_base_url, max_iterations=2)
    assert result.answer.startswith("[ERROR] Max iterations")


def test_anthropic_model_strings_use_the_messages_api(mock):
    server = mock([repl("FINAL('hi')")])
    result = rlm_sandbox.run(query="q", context="c", model="anthropic/claude-sonnet-4-5", base_url=server.anthropic_base_url, api_key="k")
    assert result.answer == "hi"
    assert server.requests[0].path == "/v1/messages" and server.requests[0].model == "claude-sonnet-4-5"


def test_litellm_prefixes():
    assert litellm_spec("ollama/llama3")["base_url"] == "http://localhost:11434/v1"
    assert litellm_spec("ollama/llama3")["model"] == "llama3"
    spec = litellm_spec("openrouter/anthropic/claude-3", api_key="k")
    assert (spec["provider"], spec["model"], spec["base_url"]) == ("openai", "anthropic/claude-3", "https://openrouter.ai/api/v1")
    assert litellm_spec("claude-3-haiku", api_key="k")["provider"] == "anthropic"
    assert litellm_spec("gpt-4o-mini", api_key="k")["provider"] == "openai"
    with pytest.raises(UnsupportedArgumentError, match="openai/<model>"):
        litellm_spec("bedrock/x")
    with pytest.raises(UnsupportedArgumentError, match="iteration_delay"):
        rlm_sandbox.run(query="q", context="c", iteration_delay=1)
