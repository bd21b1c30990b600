#!/usr/bin/env python3
"""Drives the gateway with the official Anthropic Python SDK (tests/clients.rs runs it).

    python3 anthropic_sdk.py [--base-url URL] [--key KEY] [--prompt TEXT] CHECK:MODEL...

URL is the server's root, without /v1 as the Anthropic SDK wants it (default
$CODEXAPI_BASE_URL), KEY an API key (default $CODEXAPI_API_KEY). Each CHECK:MODEL runs one SDK
call against that model, e.g. `messages:claude-test messages_stream_helper:claude-test`; see
CHECKS below.

Prints a JSON summary on stdout, {"checks": [{"check", "model", "ok", "text", "error",
"status", "body", ...}]}, and exits 1 when any check did not get what it expects: an answer for
the normal checks, the named exception for the error checks.
"""

import argparse
import json
import os
import sys
import traceback

import anthropic

MAX_TOKENS = 64


def usage_of(usage):
    if usage is None:
        return None
    return usage.model_dump(exclude_none=True)


def text_of(message):
    return "".join(block.text for block in message.content if block.type == "text")


def messages(client, model, prompt):
    message = client.messages.create(
        model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": prompt}]
    )
    return {
        "text": text_of(message),
        "stop_reason": message.stop_reason,
        "usage": usage_of(message.usage),
    }


def messages_stream(client, model, prompt):
    """`messages.create(stream=True)`: the raw events."""
    stream = client.messages.create(
        model=model,
        max_tokens=MAX_TOKENS,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
    )
    text, types, start_usage, delta_usage, stop = "", [], None, None, None
    for event in stream:
        types.append(event.type)
        if event.type == "message_start":
            start_usage = event.message.usage
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            text += event.delta.text
        elif event.type == "message_delta":
            delta_usage = event.usage
            stop = event.delta.stop_reason
    if "message_stop" not in types:
        raise RuntimeError(f"no message_stop event; events: {types}")
    return {
        "text": text,
        "stop_reason": stop,
        "usage": {"start": usage_of(start_usage), "delta": usage_of(delta_usage)},
        "events": types,
    }


def messages_stream_helper(client, model, prompt):
    """The SDK's `messages.stream(...)` helper, its text stream and `get_final_message()`."""
    with client.messages.stream(
        model=model, max_tokens=MAX_TOKENS, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        deltas = "".join(stream.text_stream)
        final = stream.get_final_message()
    return {
        "text": text_of(final),
        "deltas": deltas,
        "stop_reason": final.stop_reason,
        "usage": usage_of(final.usage),
    }


def models(client, model, _prompt):
    ids = [m.id for m in client.models.list()]
    if model not in ids:
        raise RuntimeError(f"{model} is not among the listed models {ids}")
    return {"ids": ids}


def count_tokens(client, model, prompt):
    counted = client.messages.count_tokens(
        model=model, messages=[{"role": "user", "content": prompt}]
    )
    return {"text": str(counted.input_tokens), "input_tokens": counted.input_tokens}


def unknown_model(client, model, prompt):
    return messages(client, model, prompt)


def bad_key(client, model, prompt):
    wrong = client.with_options(api_key="sk-cx-" + "x" * 43)
    return messages(wrong, model, prompt)


# name -> (function, the exception class it must raise, or None for success)
CHECKS = {
    "messages": (messages, None),
    "messages_stream": (messages_stream, None),
    "messages_stream_helper": (messages_stream_helper, None),
    "models": (models, None),
    "count_tokens": (count_tokens, None),
    "unknown_model": (unknown_model, anthropic.NotFoundError),
    "bad_key": (bad_key, anthropic.AuthenticationError),
}


def run(client, name, model, prompt):
    func, expected = CHECKS[name]
    result = {"check": name, "model": model}
    try:
        result.update(func(client, model, prompt))
    except Exception as e:  # noqa: BLE001 - every failure goes into the summary
        result["error"] = type(e).__name__
        result["message"] = str(e)
        if isinstance(e, anthropic.APIStatusError):
            result["status"] = e.status_code
            result["body"] = e.body
            result["request"] = f"{e.request.method} {e.request.url}"
        elif not isinstance(e, anthropic.APIError):
            result["traceback"] = traceback.format_exc()
    if expected is None:
        result["ok"] = "error" not in result and bool(result.get("text") or result.get("ids"))
    else:
        result["ok"] = result.get("error") == expected.__name__
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=os.environ.get("CODEXAPI_BASE_URL"))
    parser.add_argument("--key", default=os.environ.get("CODEXAPI_API_KEY"))
    parser.add_argument("--prompt", default="Say hello")
    parser.add_argument("checks", nargs="+", metavar="CHECK:MODEL")
    args = parser.parse_args()
    if not args.base_url or not args.key:
        parser.error("a base URL and a key are needed (--base-url/--key or the environment)")
    client = anthropic.Anthropic(
        base_url=args.base_url.rstrip("/"),
        api_key=args.key,
        max_retries=0,
        timeout=30,
    )
    results = []
    for spec in args.checks:
        name, _, model = spec.partition(":")
        if name not in CHECKS or not model:
            parser.error(f"unknown check {spec!r}; checks: {', '.join(CHECKS)}")
        results.append(run(client, name, model, args.prompt))
    summary = {"sdk": "anthropic", "version": anthropic.__version__, "checks": results}
    json.dump(summary, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
