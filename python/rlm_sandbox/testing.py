"""A mock model server, to test code that uses ``rlm_sandbox`` offline.

``MockServer`` speaks the OpenAI Chat Completions and the Anthropic
Messages protocols on ``127.0.0.1`` (a free port), from a background
thread: it answers with the scripted replies in order, then asks the
``responder``. Every request is recorded.

>>> from rlm_sandbox import RLM
>>> from rlm_sandbox.testing import MockServer
>>> with MockServer(["```repl\\nFINAL(len(context))\\n```"]) as mock:
...     rlm = RLM(backend_kwargs={"model_name": "m", "base_url": mock.openai_base_url, "api_key": "k"})
...     rlm.completion("abc").response
'3'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _native

#: A reply: text, or a dict with one of ``text`` (and ``input_tokens``,
#: ``output_tokens``), ``status`` (and ``message``, ``retry_after``),
#: ``body`` (a raw 200 body), ``hang`` (seconds), ``malformed``, ``drop``.
Reply = Union[str, Dict[str, Any]]


def repl(code: str) -> str:
    """A reply with one ```` ```repl ```` block of ``code``."""
    return f"```repl\n{code}\n```"


@dataclass
class Request:
    """A request the server received."""

    path: str
    headers: Dict[str, str]
    body: Dict[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> List[Tuple[str, str]]:
        """``(role, content)`` of each message (OpenAI's system message
        included; Anthropic's ``system`` is in ``system``)."""
        out = []
        for m in self.body.get("messages") or []:
            content = m.get("content")
            if isinstance(content, list):
                content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
            out.append((str(m.get("role", "")), content or ""))
        return out

    @property
    def system(self) -> str:
        """The system prompt (either protocol)."""
        if isinstance(self.body.get("system"), str):
            return self.body["system"]
        return "\n".join(c for r, c in self.messages if r == "system")

    @property
    def last_user(self) -> str:
        return next((c for r, c in reversed(self.messages) if r == "user"), "")

    @property
    def assistant_turns(self) -> int:
        """How many replies of the model the conversation already holds."""
        return sum(1 for r, _ in self.messages if r == "assistant")


def _reply_json(reply: Reply) -> str:
    return json.dumps({"text": reply} if isinstance(reply, str) else reply)


class MockServer:
    """A mock OpenAI/Anthropic server (see the module docs). ``latency`` is
    seconds before each reply."""

    def __init__(
        self,
        script: Iterable[Reply] = (),
        responder: Optional[Callable[[Request], Reply]] = None,
        latency: float = 0.0,
    ) -> None:
        wrapped = None
        if responder is not None:

            def wrapped(raw: str) -> str:
                data = json.loads(raw)
                return _reply_json(responder(Request(data["path"], data["headers"], data["body"])))

        self._native = _native.MockServer([_reply_json(r) for r in script], wrapped, float(latency))

    @property
    def openai_base_url(self) -> str:
        """For OpenAI-compatible clients: ``http://127.0.0.1:PORT/v1``."""
        return self._native.openai_base_url

    @property
    def anthropic_base_url(self) -> str:
        """For Anthropic clients: ``http://127.0.0.1:PORT``."""
        return self._native.anthropic_base_url

    @property
    def requests(self) -> List[Request]:
        """Every request so far, in arrival order."""
        out = []
        for raw in self._native.requests():
            data = json.loads(raw)
            out.append(Request(data["path"], data["headers"], data["body"]))
        return out

    @property
    def max_in_flight(self) -> int:
        """The most requests that were in flight at once."""
        return self._native.max_in_flight()

    def close(self) -> None:
        """Stops the server."""
        self._native.close()

    def __enter__(self) -> "MockServer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
