#!/usr/bin/env python3
"""Renders chat templates with Python's Jinja2 as Hugging Face's
apply_chat_template does, writing fixtures.json for chat_test.go.

Run from the repository root:

    python3 chat/testdata/gen_fixtures.py

Templates: the built-in ones in chat/templates/, and the models' own ones read
from shared/ (Llama 3's tokenizer_config.json, Phi-3's vocab-only GGUF) and
from the Qwen3 tokenizer package .ci/run fetches (if present). Only the
rendered outputs are written, never the models' templates.
"""
import json
import os
import struct
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("THINKV_SHARED") or os.path.join(os.path.dirname(ROOT), "shared")
QWEN = os.environ.get("THINKV_QWEN_TOKENIZER") or os.path.expanduser(
    "~/.cache/thinkv/tokenizer-qwen3-3.7.2/package/models/tokenizer.json")


def environment():
    # As transformers' chat template utilities set it up.
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def gguf_string(path, key):
    """Returns a string value from a GGUF file's metadata (found by its key)."""
    data = open(path, "rb").read()
    k = key.encode()
    i = data.find(struct.pack("<Q", len(k)) + k)
    if i < 0:
        return None
    i += 8 + len(k)
    typ, n = struct.unpack_from("<IQ", data, i)
    assert typ == 8, typ
    return data[i + 12:i + 12 + n].decode()


def token_text(v):
    if isinstance(v, dict):
        return v.get("content")
    return v


def hf_template(config):
    c = json.load(open(config))
    return c["chat_template"], token_text(c.get("bos_token")), token_text(c.get("eos_token"))


def builtin(name):
    return open(os.path.join(ROOT, "chat", "templates", name + ".jinja")).read()


TEMPLATES = [
    # name, source, bos_token, eos_token (None: undefined, as in Hugging Face)
    ("chatml", lambda: (builtin("chatml"), None, "<|im_end|>")),
    ("qwen2", lambda: (builtin("qwen2"), None, "<|im_end|>")),
    ("llama3", lambda: (builtin("llama3"), "<|begin_of_text|>", "<|eot_id|>")),
    ("mistral", lambda: (builtin("mistral"), "<s>", "</s>")),
    ("phi3", lambda: (builtin("phi3"), "<s>", "<|endoftext|>")),
    ("plain", lambda: (builtin("plain"), None, None)),
    ("hf:llama3-bpe", lambda: hf_template(os.path.join(SHARED, "tokenizers/llama3-bpe/tokenizer_config.json"))),
    ("gguf:phi-3", lambda: (gguf_string(os.path.join(SHARED, "tokenizers/llama-cpp-vocab/ggml-vocab-phi-3.gguf"),
                                        "tokenizer.chat_template"), "<s>", "<|endoftext|>")),
    ("hf:qwen3", lambda: hf_template(os.path.join(os.path.dirname(QWEN), "tokenizer_config.json"))),
]

SYS = {"role": "system", "content": "You are a helpful assistant."}
CONVERSATIONS = {
    "user": [{"role": "user", "content": "Hello!"}],
    "system-user": [SYS, {"role": "user", "content": "What is the capital of France?"}],
    "multi-turn": [
        {"role": "user", "content": "Hi, who are you?"},
        {"role": "assistant", "content": "I am an assistant."},
        {"role": "user", "content": "Tell me a joke."},
    ],
    "system-multi-turn": [
        SYS,
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
        {"role": "assistant", "content": "6"},
    ],
    "whitespace-unicode": [
        {"role": "user", "content": "  héllo 世界 🙂\n\n"},
        {"role": "assistant", "content": "\n  ¡Hola!  "},
        {"role": "user", "content": "\tTabs\tand \"quotes\" and {{ braces }} {% raw %}"},
    ],
    "special-in-content": [
        {"role": "user", "content": "Say <|eot_id|> and <|im_end|> and </s> and <|end|> please"},
    ],
    "thinking": [
        {"role": "user", "content": "Think first."},
        {"role": "assistant", "content": "<think>\nSome reasoning.\n</think>\n\nThe answer."},
        {"role": "user", "content": "Again?"},
    ],
    "empty": [{"role": "user", "content": ""}],
}


def main():
    env = environment()
    cases = []
    for name, load in TEMPLATES:
        try:
            src, bos, eos = load()
        except (OSError, KeyError) as e:
            print(f"skipping {name}: {e}", file=sys.stderr)
            continue
        if src is None:
            print(f"skipping {name}: no template", file=sys.stderr)
            continue
        tmpl = env.from_string(src)
        for conv, messages in CONVERSATIONS.items():
            for agp in (False, True):
                ctx = {"messages": messages, "add_generation_prompt": agp}
                if bos is not None:
                    ctx["bos_token"] = bos
                if eos is not None:
                    ctx["eos_token"] = eos
                case = {"template": name, "conversation": conv, "add_generation_prompt": agp}
                try:
                    case["output"] = tmpl.render(**ctx)
                except jinja2.exceptions.TemplateError as e:
                    case["error"] = str(e)
                cases.append(case)
    out = {"jinja2": jinja2.__version__, "conversations": CONVERSATIONS, "cases": cases}
    path = os.path.join(ROOT, "chat", "testdata", "fixtures.json")
    with open(path, "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(cases)} cases to {path}")


if __name__ == "__main__":
    main()
