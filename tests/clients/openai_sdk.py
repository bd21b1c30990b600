#!/usr/bin/env python3
"""Drives the gateway with the official OpenAI Python SDK (tests/clients.rs runs it).

    python3 openai_sdk.py [--base-url URL] [--key KEY] [--prompt TEXT] CHECK:MODEL...

URL is the server's root without /v1 (default $CODEXAPI_BASE_URL), KEY an API key (default
$CODEXAPI_API_KEY). Each CHECK:MODEL runs one SDK call against that model, e.g.
`chat:chat-model responses_stream:gpt-test bad_key:chat-model`; see CHECKS below.

Prints a JSON summary on stdout, {"checks": [{"check", "model", "ok", "text", "error",
"status", "body", ...}]}, and exits 1 when any check did not get what it expects: an answer for
the normal checks, the named exception for the error checks.
"""

import argparse
import json
import os
import sys
import traceback

import openai


def usage_of(usage):
    """Token counts of an SDK usage object, as a plain dict."""
    if usage is None:
        return None
    return usage.model_dump(exclude_none=True)


def chat(client, model, prompt):
    completion = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}]
    )
    return {
        "text": completion.choices[0].message.content,
        "finish_reason": completion.choices[0].finish_reason,
        "usage": usage_of(completion.usage),
    }


def chat_stream(client, model, prompt):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        stream_options={"include_usage": True},
    )
    text, usage, finish, chunks = "", None, None, 0
    for chunk in stream:
        chunks += 1
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
    return {"text": text, "finish_reason": finish, "usage": usage_of(usage), "chunks": chunks}


def chat_stream_helper(client, model, prompt):
    """The SDK's `chat.completions.stream(...)` helper and its final completion."""
    with client.chat.completions.stream(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream_options={"include_usage": True},
    ) as stream:
        deltas = "".join(
            event.delta for event in stream if event.type == "content.delta"
        )
        final = stream.get_final_completion()
    return {
        "text": final.choices[0].message.content,
        "deltas": deltas,
        "usage": usage_of(final.usage),
    }


def responses(client, model, prompt):
    response = client.responses.create(model=model, input=prompt)
    return {
        "text": response.output_text,
        "status": response.status,
        "usage": usage_of(response.usage),
    }


def responses_stream(client, model, prompt):
    """`responses.create(stream=True)`: the raw events, ending in response.completed."""
    stream = client.responses.create(model=model, input=prompt, stream=True)
    deltas, final, types = "", None, []
    for event in stream:
        types.append(event.type)
        if event.type == "response.output_text.delta":
            deltas += event.delta
        elif event.type in ("response.completed", "response.incomplete", "response.failed"):
            final = event.response
    if final is None:
        raise RuntimeError(f"no final response event; events: {types}")
    return {
        "text": final.output_text,
        "deltas": deltas,
        "status": final.status,
        "usage": usage_of(final.usage),
        "events": types,
    }


def responses_stream_helper(client, model, prompt):
    """The SDK's `responses.stream(...)` helper and its final response."""
    with client.responses.stream(model=model, input=prompt) as stream:
        deltas = "".join(
            event.delta for event in stream if event.type == "response.output_text.delta"
        )
        final = stream.get_final_response()
    return {
        "text": final.output_text,
        "deltas": deltas,
        "status": final.status,
        "usage": usage_of(final.usage),
    }


def compact(client, model, prompt):
    """`responses.compact(...)`: the conversation so far, compacted by the provider."""
    compacted = client.responses.compact(model=model, input=prompt)
    kinds = [item.type for item in compacted.output]
    return {"text": ",".join(kinds), "id": compacted.id, "usage": usage_of(compacted.usage)}


def input_tokens(client, model, prompt):
    """`responses.input_tokens.count(...)`: what the input would cost in tokens."""
    counted = client.responses.input_tokens.count(model=model, input=prompt)
    return {"text": str(counted.input_tokens), "input_tokens": counted.input_tokens}


def models(client, model, _prompt):
    ids = [m.id for m in client.models.list()]
    if model not in ids:
        raise RuntimeError(f"{model} is not among the listed models {ids}")
    one = client.models.retrieve(model)
    return {"ids": ids, "retrieved": one.id}


def unknown_model(client, model, prompt):
    return chat(client, model, prompt)


def bad_key(client, model, prompt):
    wrong = client.with_options(api_key="sk-cx-" + "x" * 43)
    return chat(wrong, model, prompt)


# name -> (function, the exception class it must raise, or None for success)
CHECKS = {
    "chat": (chat, None),
    "chat_stream": (chat_stream, None),
    "chat_stream_helper": (chat_stream_helper, None),
    "responses": (responses, None),
    "responses_stream": (responses_stream, None),
    "responses_stream_helper": (responses_stream_helper, None),
    "compact": (compact, None),
    "input_tokens": (input_tokens, None),
    "models": (models, None),
    "unknown_model": (unknown_model, openai.NotFoundError),
    "bad_key": (bad_key, openai.AuthenticationError),
}


def run(client, name, model, prompt):
    func, expected = CHECKS[name]
    result = {"check": name, "model": model}
    try:
        result.update(func(client, model, prompt))
    except Exception as e:  # noqa: BLE001 - every failure goes into the summary
        result["error"] = type(e).__name__
        result["message"] = str(e)
        if isinstance(e, openai.APIStatusError):
            result["status"] = e.status_code
            result["body"] = e.body
            result["request"] = f"{e.request.method} {e.request.url}"
        elif not isinstance(e, openai.APIError):
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
    client = openai.OpenAI(
        base_url=args.base_url.rstrip("/") + "/v1",
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
    summary = {"sdk": "openai", "version": openai.__version__, "checks": results}
    json.dump(summary, sys.stdout, indent=1, default=str)
    sys.stdout.write("\n")
    sys.exit(0 if all(r["ok"] for r in results) else 1)


if __name__ == "__main__":
    main()
