"""Shared fixtures: a mock model server the package talks to over real HTTP."""

from __future__ import annotations

from typing import Any, Callable, Iterator, List

import pytest

from rlm_sandbox import RLM
from rlm_sandbox.testing import MockServer, Reply, Request, repl


def is_root(request: Request) -> bool:
    """A call of a root run (not a sub-RLM, not an llm_query)."""
    return bool(request.system) and not request.system.startswith("You are a sub-RLM")


@pytest.fixture
def mock() -> Iterator[Callable[..., MockServer]]:
    """Starts mock servers; each is closed after the test."""
    servers: List[MockServer] = []

    def start(script: Any = (), responder: Any = None, latency: float = 0.0) -> MockServer:
        server = MockServer(script, responder, latency)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def rlm_for(server: MockServer, **kwargs: Any) -> RLM:
    """An RLM whose root model is the mock's OpenAI endpoint."""
    backend_kwargs = {"model_name": "mock-model", "base_url": server.openai_base_url, "api_key": "test-key"}
    backend_kwargs.update(kwargs.pop("backend_kwargs", {}))
    return RLM(backend="openai", backend_kwargs=backend_kwargs, **kwargs)


__all__ = ["is_root", "rlm_for", "repl", "Reply", "Request"]
