"""Drives the service with the official `openai` package: one plain and one
streamed chat completion. Prints one JSON object with what it got."""

import json
import sys

import openai

base_url, key = sys.argv[1], sys.argv[2]
client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)

plain = client.chat.completions.create(
    model="fast",
    messages=[{"role": "user", "content": "<<FINAL('plain answer')>>"}],
)

chunks = client.chat.completions.create(
    model="fast",
    messages=[{"role": "user", "content": "<<FINAL('streamed answer')>>"}],
    stream=True,
    stream_options={"include_usage": True},
)
streamed, finish, usage = "", None, None
for chunk in chunks:
    if chunk.choices:
        streamed += chunk.choices[0].delta.content or ""
        finish = chunk.choices[0].finish_reason or finish
    if chunk.usage:
        usage = chunk.usage.total_tokens

try:
    client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "q"}])
    error = None
except openai.NotFoundError as e:
    error = {"status": e.status_code, "message": e.message}

models = [m.id for m in client.models.list()]

print(json.dumps({
    "version": openai.__version__,
    "plain": plain.choices[0].message.content,
    "plain_finish": plain.choices[0].finish_reason,
    "plain_tokens": plain.usage.total_tokens,
    "streamed": streamed,
    "streamed_finish": finish,
    "streamed_tokens": usage,
    "error": error,
    "models": models,
}))
