"""From ``rlms`` backends and LiteLLM model strings to model clients.

Two protocols are spoken natively (by the Rust clients): OpenAI Chat
Completions, which OpenAI, vLLM, OpenRouter, Vercel's gateway, Ollama,
llama.cpp and LiteLLM proxies all serve, and Anthropic Messages.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Tuple

from .errors import ConfigError, UnsupportedArgumentError

OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
VERCEL_BASE_URL = "https://ai-gateway.vercel.sh/v1"
OLLAMA_BASE_URL = "http://localhost:11434/v1"

#: ``rlms`` backends we do not speak, and what to use instead.
UNSUPPORTED_BACKENDS = {
    "gemini": "backend='openai' with backend_kwargs base_url="
    "'https://generativelanguage.googleapis.com/v1beta/openai/' (Gemini's OpenAI-compatible endpoint) "
    "and your Gemini key as api_key",
    "azure_openai": "backend='openai' with backend_kwargs base_url='https://<resource>.openai.azure.com/openai/v1/' "
    "(Azure's OpenAI-compatible v1 endpoint) and your Azure key as api_key",
    "portkey": "backend='openai' with backend_kwargs base_url set to your gateway's OpenAI-compatible URL "
    "(custom headers such as x-portkey-api-key are not supported)",
}

SUPPORTED_BACKENDS = ("openai", "vllm", "openrouter", "vercel", "anthropic")

#: Sampling arguments with a field of their own; any other goes into the
#: request body as it is.
_SAMPLING_FIELDS = ("temperature", "top_p", "seed", "max_completion_tokens", "reasoning_effort", "response_format")


def sampling(args: Optional[Dict[str, Any]], where: str = "sampling_args") -> Dict[str, Any]:
    """``rlms``' ``sampling_args`` as our sampling options: ``max_tokens``
    becomes ``max_completion_tokens`` (as ``rlms`` renames it), unknown keys
    are merged into the request body, ``extra_body`` too."""
    out: Dict[str, Any] = {}
    extra: Dict[str, Any] = {}
    for key, value in (args or {}).items():
        if value is None:
            continue
        if key == "max_tokens":
            key = "max_completion_tokens"
        if key == "extra_body":
            if not isinstance(value, dict):
                raise ConfigError(f"{where}['extra_body'] must be a dict")
            extra.update(value)
        elif key in _SAMPLING_FIELDS:
            out[key] = value
        else:
            extra[key] = value
    if extra:
        out["extra_body"] = extra
    return out


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value or None


def backend_spec(
    backend: str,
    kwargs: Optional[Dict[str, Any]],
    *,
    where: str = "backend_kwargs",
) -> Dict[str, Any]:
    """One model spec from an ``rlms`` backend and its ``backend_kwargs``,
    with the defaults of ``rlms``' clients: keys from ``OPENAI_API_KEY``
    (``OPENROUTER_API_KEY`` for OpenRouter, ``AI_GATEWAY_API_KEY`` for
    Vercel, ``ANTHROPIC_API_KEY``), base URLs from ``OPENAI_BASE_URL`` and
    ``ANTHROPIC_BASE_URL`` as the official SDKs read them."""
    if backend in UNSUPPORTED_BACKENDS:
        raise UnsupportedArgumentError(
            f"backend={backend!r} is not supported by rlm_sandbox; use {UNSUPPORTED_BACKENDS[backend]}"
        )
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"unknown backend {backend!r}; supported: {', '.join(SUPPORTED_BACKENDS)} "
            "(any other OpenAI-compatible server, a LiteLLM proxy included: backend='openai' with base_url)"
        )
    kw = dict(kwargs or {})
    model = kw.pop("model_name", None)
    if not model:
        raise ConfigError(f"{where} needs 'model_name'")
    api_key = kw.pop("api_key", None)
    base_url = kw.pop("base_url", None)
    spec: Dict[str, Any] = {"name": model, "model": model}
    samp = sampling(kw.pop("sampling_args", None), f"{where}['sampling_args']")
    if "extra_body" in kw:
        extra = kw.pop("extra_body")
        if not isinstance(extra, dict):
            raise ConfigError(f"{where}['extra_body'] must be a dict")
        samp.setdefault("extra_body", {}).update(extra)
    timeout = kw.pop("timeout", None)
    if timeout is not None:
        spec["request_timeout"] = float(timeout)
    retries = kw.pop("max_retries", None)
    if retries is not None:
        spec["max_retries"] = int(retries)
    if backend == "anthropic":
        max_tokens = kw.pop("max_tokens", None)
        if max_tokens is not None:
            samp.setdefault("max_completion_tokens", int(max_tokens))
        spec["provider"] = "anthropic"
        spec["api_key"] = api_key or _env("ANTHROPIC_API_KEY")
        spec["base_url"] = base_url or _env("ANTHROPIC_BASE_URL")
    else:
        spec["provider"] = "openai"
        if backend == "vllm" and not base_url:
            raise ConfigError("backend='vllm' needs base_url in backend_kwargs (the vLLM server's address)")
        if backend == "openrouter":
            base_url = base_url or OPENROUTER_BASE_URL
        elif backend == "vercel":
            base_url = base_url or VERCEL_BASE_URL
        base_url = base_url or _env("OPENAI_BASE_URL")
        if api_key is None:
            if base_url is None or base_url.rstrip("/") == "https://api.openai.com/v1":
                api_key = _env("OPENAI_API_KEY")
            elif base_url.rstrip("/") == OPENROUTER_BASE_URL:
                api_key = _env("OPENROUTER_API_KEY")
            elif base_url.rstrip("/") == VERCEL_BASE_URL:
                api_key = _env("AI_GATEWAY_API_KEY")
            # As the OpenAI SDK does when it is given no key.
            api_key = api_key or _env("OPENAI_API_KEY")
        spec["api_key"] = api_key
        spec["base_url"] = base_url
    if kw:
        raise UnsupportedArgumentError(
            f"{where} has keys rlm_sandbox does not support: {', '.join(sorted(kw))}; supported: model_name, "
            "api_key, base_url, sampling_args, extra_body, timeout, max_retries (and max_tokens for anthropic)"
        )
    spec["sampling"] = samp
    return {k: v for k, v in spec.items() if v is not None}


#: LiteLLM provider prefixes we serve: provider, default base URL, key variable.
LITELLM_PROVIDERS: Dict[str, Tuple[str, Optional[str], Optional[str]]] = {
    "openai": ("openai", None, "OPENAI_API_KEY"),
    "anthropic": ("anthropic", None, "ANTHROPIC_API_KEY"),
    "openrouter": ("openai", OPENROUTER_BASE_URL, "OPENROUTER_API_KEY"),
    "ollama": ("openai", OLLAMA_BASE_URL, None),
    "ollama_chat": ("openai", OLLAMA_BASE_URL, None),
    "hosted_vllm": ("openai", None, None),
    "litellm_proxy": ("openai", None, "LITELLM_PROXY_API_KEY"),
}


def litellm_spec(
    model: str,
    *,
    base_url: Optional[str] = None,
    api_key: Optional[str] = None,
    name: Optional[str] = None,
) -> Dict[str, Any]:
    """A model spec from a LiteLLM model string (``provider/model``).

    ``openai/``, ``anthropic/``, ``openrouter/``, ``ollama/`` (and
    ``ollama_chat/``), ``hosted_vllm/`` and ``litellm_proxy/``; a name
    without a prefix is OpenAI's (``claude-*`` Anthropic's), as LiteLLM
    guesses. Any OpenAI-compatible server: ``openai/<model>`` with
    ``base_url``.
    """
    prefix, _, rest = model.partition("/")
    if not rest:
        prefix, rest = ("anthropic" if model.startswith("claude") else "openai"), model
    if prefix not in LITELLM_PROVIDERS:
        raise UnsupportedArgumentError(
            f"model {model!r}: provider {prefix!r} is not supported; use one of "
            f"{', '.join(p + '/' for p in LITELLM_PROVIDERS)}, or 'openai/<model>' with base_url= for any "
            "OpenAI-compatible server"
        )
    provider, default_url, key_var = LITELLM_PROVIDERS[prefix]
    if prefix in ("hosted_vllm", "litellm_proxy") and not base_url:
        raise ConfigError(f"model {model!r} needs base_url= (the server's address)")
    url = base_url or default_url
    if url is None:
        url = _env("ANTHROPIC_BASE_URL" if provider == "anthropic" else "OPENAI_BASE_URL")
    key = api_key or (_env(key_var) if key_var else None)
    spec = {"name": name or model, "provider": provider, "model": rest, "base_url": url, "api_key": key}
    return {k: v for k, v in spec.items() if v is not None}
