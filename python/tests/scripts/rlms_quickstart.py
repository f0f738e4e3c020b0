"""A script written for the official `rlms` package, as its README's quick
start goes, with a logger and its usage summary. `test_rlms_script.py` runs
it with only its import lines changed (`rlm` -> `rlm_sandbox`), and, where
`rlms` is installed, unchanged too, against the same mock server."""

import os

from rlm import RLM
from rlm.logger import RLMLogger

logger = RLMLogger(log_dir=os.environ.get("RLM_LOG_DIR", "./logs"))
rlm = RLM(
    backend="openai",
    backend_kwargs={"model_name": "gpt-5-nano", "api_key": os.getenv("OPENAI_API_KEY")},
    environment="local",
    max_depth=2,
    max_iterations=10,
    logger=logger,
    verbose=False,
)

context = "\n".join(f"line {i}: value={i * i}" for i in range(100))
result = rlm.completion(context, root_prompt="What is the value on line 7?")

usage = result.usage_summary
print("RESPONSE:", result.response)
print("MODEL:", result.root_model)
print("CALLS:", sum(s.total_calls for s in usage.model_usage_summaries.values()))
print("TOKENS:", usage.total_input_tokens, usage.total_output_tokens)
print("LOGGED:", logger.iteration_count)
