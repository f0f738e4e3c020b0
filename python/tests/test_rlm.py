"""`RLM`: the rlms constructor and completion, against the mock over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import threading

from conftest import is_root, repl, rlm_for

from rlm_sandbox import RLM, RLMChatCompletion, RLMLogger, UsageSummary


def test_completion_returns_the_rlms_fields(mock):
    server = mock([repl("n = len(context)\nprint(n)"), repl("FINAL(f'{n} chars')")])
    out = rlm_for(server).completion("hello world", root_prompt="How long is it?")
    assert isinstance(out, RLMChatCompletion)
    assert out.response == "11 chars"
    assert out.root_model == "mock-model"
    assert out.prompt == "hello world"
    assert out.execution_time > 0
    assert isinstance(out.usage_summary, UsageSummary)
    summary = out.usage_summary.model_usage_summaries["mock-model"]
    assert (summary.total_calls, summary.total_input_tokens, summary.total_output_tokens) == (2, 20, 10)
    assert out.usage_summary.to_dict()["model_usage_summaries"]["mock-model"]["total_calls"] == 2
    # The trajectory, in the rlms log format.
    iterations = out.metadata["iterations"]
    assert [i["type"] for i in iterations] == ["iteration", "iteration"]
    assert iterations[0]["code_blocks"][0]["result"]["stdout"] == "11\n"
    assert iterations[1]["final_answer"] == "11 chars"
    assert out.iterations == 2 and out.stopped is None and out.error is None
    # The query reached the model; the context did not.
    first = server.requests[0]
    assert "How long is it?" in first.last_user
    assert "hello world" not in json.dumps(first.body)
    assert first.headers["authorization"] == "Bearer test-key"


def test_answers_keep_their_python_value(mock):
    server = mock([repl("FINAL({'a': [1, 2], 'b': None})")])
    out = rlm_for(server).completion({"rows": [1, 2, 3]})
    assert out.answer == {"a": [1, 2], "b": None}
    assert json.loads(out.response) == {"a": [1, 2], "b": None}


def test_the_rlms_answer_protocol_ends_a_run(mock):
    server = mock([repl('answer["content"] = sum(context["rows"])\nanswer["ready"] = True')])
    out = rlm_for(server).completion({"rows": [1, 2, 3]}, root_prompt="sum")
    assert out.response == "6"


def test_llm_query_and_max_depth_follow_rlms(mock):
    def respond(r):
        if not r.system:
            return "sub answer"
        if r.system.startswith("You are a sub-RLM"):
            return repl("FINAL('child done')")
        if r.assistant_turns == 0:
            return repl("a = llm_query('hi')\nb = rlm_query('child context')\nprint(a, b)")
        return repl("FINAL(a + ' / ' + b)")

    # rlms counts the root as a level: max_depth=2 gives one level of sub-RLMs.
    server = mock(responder=respond)
    out = rlm_for(server, max_depth=2).completion("ctx")
    assert out.response == "sub answer / child done"
    assert any(r.system.startswith("You are a sub-RLM") for r in server.requests)
    sub_calls = out.metadata["iterations"][0]["code_blocks"][0]["result"]["rlm_calls"]
    assert [c["kind"] for c in sub_calls] == ["llm", "rlm"]
    assert sub_calls[1]["metadata"]["iterations"][0]["final_answer"] == "child done"
    assert out.sub_calls == 2

    # The default, max_depth=1: rlm_query is a plain model call, no child REPL.
    server = mock(responder=respond)
    out = rlm_for(server).completion("ctx")
    assert out.response == "sub answer / sub answer"
    assert not any(r.system.startswith("You are a sub-RLM") for r in server.requests)


def test_max_depth_zero_is_one_plain_call(mock):
    server = mock(["just text"])
    out = rlm_for(server, max_depth=0).completion("What is 2+2?")
    assert out.response == "just text"
    assert server.requests[0].messages == [("user", "What is 2+2?")]
    assert out.usage_summary.total_input_tokens == 10


def test_anthropic_backend_and_another_backend_for_sub_calls(mock):
    def respond(r):
        if r.path.endswith("/messages"):
            assert r.body["max_tokens"] == 1234
            return repl("FINAL(llm_query('q'))")
        return "from the sub backend"

    server = mock(responder=respond)
    rlm = RLM(
        backend="anthropic",
        backend_kwargs={"model_name": "claude-x", "api_key": "a-key", "base_url": server.anthropic_base_url, "max_tokens": 1234},
        other_backends=["openai"],
        other_backend_kwargs=[{"model_name": "small", "base_url": server.openai_base_url, "api_key": "o-key"}],
    )
    out = rlm.completion("ctx")
    assert out.response == "from the sub backend"
    anthropic, openai = server.requests
    assert anthropic.path == "/v1/messages" and anthropic.headers["x-api-key"] == "a-key"
    assert openai.model == "small"
    assert set(out.usage_summary.model_usage_summaries) == {"claude-x", "small"}


def test_sampling_args_and_custom_system_prompt_reach_the_request(mock):
    server = mock([repl("FINAL(1)")])
    rlm_for(
        server,
        sampling_args={"temperature": 0.25, "max_tokens": 77, "top_k": 5, "extra_body": {"x": 1}},
        custom_system_prompt="You are a careful RLM. {tools}",
    ).completion("c")
    body = server.requests[0].body
    assert body["temperature"] == 0.25 and body["max_completion_tokens"] == 77
    assert body["top_k"] == 5 and body["x"] == 1
    assert server.requests[0].system.startswith("You are a careful RLM.")


def test_running_out_of_iterations_returns_the_last_reply(mock):
    server = mock(responder=lambda r: "still thinking")
    out = rlm_for(server, max_iterations=2).completion("c")
    assert out.stopped == "max_iterations"
    assert out.response == "still thinking"
    assert out.iterations == 2


def test_persistent_keeps_the_repl_and_adds_contexts(mock):
    server = mock(
        [
            repl("total = len(context)\nFINAL(total)"),
            repl("FINAL([total, context_1])"),
        ]
    )
    with rlm_for(server, persistent=True) as rlm:
        assert rlm.completion("abcd").response == "4"
        assert rlm.completion("second").answer == [4, "second"]


def test_logger_writes_rlms_jsonl(mock, tmp_path):
    server = mock([repl("x = 1"), repl("FINAL(x)")])
    logger = RLMLogger(log_dir=str(tmp_path))
    out = rlm_for(server, logger=logger).completion("c")
    lines = [json.loads(line) for line in open(logger.log_file_path)]
    assert lines[0]["type"] == "metadata" and lines[0]["root_model"] == "mock-model"
    assert "api_key" not in lines[0]["backend_kwargs"]
    assert [line["iteration"] for line in lines[1:]] == [1, 2]
    assert lines[2]["final_answer"] == "1"
    assert logger.get_trajectory()["iterations"] == lines[1:]
    assert out.metadata["iterations"][1]["final_answer"] == "1"


def test_verbose_prints_the_run(mock, capsys):
    server = mock([repl("print('visible')"), repl("FINAL('ok')")])
    rlm_for(server, verbose=True).completion("c")
    err = capsys.readouterr().err
    assert "iteration 1/30" in err and "visible" in err and "[final answer] ok" in err


def test_callbacks_and_events(mock):
    def respond(r):
        if r.system.startswith("You are a sub-RLM"):
            return repl("FINAL('c')")
        if is_root(r) and r.assistant_turns == 0:
            return repl("x = rlm_query('a long prompt for the child')")
        return repl("FINAL(x)")

    server = mock(responder=respond)
    seen = []
    rlm = rlm_for(
        server,
        max_depth=2,
        on_iteration_start=lambda d, i: seen.append(("it_start", d, i)),
        on_iteration_complete=lambda d, i, t: seen.append(("it_done", d, i, t >= 0)),
        on_subcall_start=lambda d, m, p: seen.append(("sub_start", d, m, p)),
        on_subcall_complete=lambda d, m, t, e: seen.append(("sub_done", d, m, e)),
        on_event=lambda e: seen.append(e.kind),
    )
    assert rlm.completion("c").response == "c"
    assert ("sub_start", 1, "mock-model", "a long prompt for the child") in seen
    assert ("sub_done", 1, "mock-model", None) in seen
    assert ("it_start", 0, 1) in seen and ("it_done", 0, 1, True) in seen and ("it_done", 0, 2, True) in seen
    assert "final_answer" in seen and "model_reply" in seen


def test_stream_yields_events_then_the_completion(mock):
    server = mock([repl("print(1)"), repl("FINAL(2)")])
    stream = rlm_for(server).stream("c")
    kinds = [event.kind for event in stream]
    assert kinds[0] == "run_started" and "code_finished" in kinds and kinds[-1] == "final_answer"
    assert stream.completion.response == "2"


def test_acompletion_runs_concurrently_without_blocking_the_loop(mock):
    server = mock(responder=lambda r: repl("FINAL(context)"), latency=0.2)
    rlm = rlm_for(server)
    ticks = []

    async def ticker():
        for _ in range(10):
            ticks.append(1)
            await asyncio.sleep(0.02)

    async def main():
        results = await asyncio.gather(*(rlm.acompletion(f"ctx {i}") for i in range(4)), ticker())
        return [r.response for r in results[:4]]

    assert asyncio.run(main()) == [f"ctx {i}" for i in range(4)]
    assert len(ticks) == 10
    assert server.max_in_flight >= 2


def test_the_gil_is_released_while_a_run_waits(mock):
    server = mock(responder=lambda r: repl("FINAL(1)"), latency=0.3)
    count = {"n": 0}
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            count["n"] += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        rlm_for(server).completion("c")
    finally:
        stop.set()
        thread.join()
    assert count["n"] > 1000


def test_compaction_is_accepted_and_runs(mock):
    server = mock([repl("FINAL(3)")])
    assert rlm_for(server, compaction=True, compaction_threshold_pct=0.5).completion("c").response == "3"


def test_keys_come_from_the_environment_as_in_the_sdks(mock, monkeypatch):
    server = mock([repl("FINAL(1)")])
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    RLM(backend_kwargs={"model_name": "m"}).completion("c")
    assert server.requests[0].headers["authorization"] == "Bearer env-key"


def test_sandbox_limits_as_keywords(mock):
    server = mock([repl("while True: pass"), repl("FINAL('after')")])
    out = rlm_for(server, fuel=10_000_000, cell_timeout=20).completion("c")
    block = out.metadata["iterations"][0]["code_blocks"][0]["result"]
    assert block["error"]["kind"] == "fuel_exhausted"
    assert out.response == "after"


def test_model_code_cannot_reach_the_host(mock):
    server = mock([repl("import os\ntry:\n    r = open('/etc/passwd').read()\nexcept Exception as e:\n    r = type(e).__name__\nFINAL(r)")])
    out = rlm_for(server).completion("c")
    assert out.response != open("/etc/passwd").read() if os.path.exists("/etc/passwd") else True
    assert "Error" in out.response
