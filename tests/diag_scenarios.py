"""Cache-break scenarios in the four wire formats, shared by tests and benchmarks.

Each scenario is a pair of conversations written once in a neutral form and
rendered into the Anthropic Messages, OpenAI Chat Completions, OpenAI
Responses and Gemini request shapes, with the cause a correct diagnosis
names and where the first divergence is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

FORMATS = ("anthropic", "openai", "openai_responses", "gemini")
MODELS = {
    "anthropic": "claude-sonnet-4-6",
    "openai": "gpt-5",
    "openai_responses": "gpt-5",
    "gemini": "gemini-2.5-flash",
}
RULES = "".join(
    f"Rule {i}: answer precisely, cite the policy section and never guess. " for i in range(260)
)


def _params(order: str = "type_first") -> dict[str, Any]:
    props = {"city": {"type": "string", "description": "City name"}}
    if order == "type_first":
        return {"type": "object", "properties": props, "required": ["city"]}
    return {"properties": props, "required": ["city"], "type": "object"}


def _tool(name: str, description: str, order: str = "type_first") -> dict[str, Any]:
    return {"name": name, "description": description, "params": _params(order)}


TOOLS = [
    _tool("get_weather", "Current weather for a city."),
    _tool("get_time", "Local time in a city."),
    _tool("search_docs", "Search the policy documents."),
]


def _chat(rounds: int, start: int = 0) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for i in range(start, start + rounds):
        out.append(("user", f"Question {i}: what does section {i} of the policy say?"))
        out.append(("assistant", f"Answer {i}: section {i} says to keep records for {i} years."))
    return out


@dataclass(frozen=True)
class Conv:
    """One request in a neutral form."""

    system: str = "You are a support assistant.\n" + RULES
    tools: tuple[dict[str, Any], ...] = tuple(TOOLS)
    messages: tuple[tuple[str, str], ...] = (*_chat(3), ("user", "Question 3: and section 3?"))
    model: str | None = None
    tool_choice: str = "auto"
    thinking: bool = False
    markers: str = "default"  # default | none | system_only
    breakpoint: bool = False  # explicit GPT-5.6+ breakpoint at the end of the system part


def _anthropic(c: Conv, model: str) -> dict[str, Any]:
    mark = {"type": "ephemeral"}
    system: dict[str, Any] = {"type": "text", "text": c.system}
    if c.markers != "none":
        system["cache_control"] = mark
    messages: list[dict[str, Any]] = [
        {"role": r, "content": [{"type": "text", "text": t}]} for r, t in c.messages
    ]
    if c.markers == "default" and messages:
        messages[-1]["content"][-1]["cache_control"] = mark
    req: dict[str, Any] = {
        "model": model,
        "max_tokens": 1024,
        "tools": [
            {"name": t["name"], "description": t["description"], "input_schema": t["params"]}
            for t in c.tools
        ],
        "system": [system],
        "messages": messages,
        "tool_choice": {"type": "auto" if c.tool_choice == "auto" else "any"},
    }
    if c.thinking:
        req["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    return req


def _openai(c: Conv, model: str) -> dict[str, Any]:
    system: dict[str, Any] = {"type": "text", "text": c.system}
    if c.breakpoint:
        system["prompt_cache_breakpoint"] = {"mode": "explicit"}
    req: dict[str, Any] = {
        "model": model,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["params"],
                },
            }
            for t in c.tools
        ],
        "messages": [
            {"role": "system", "content": [system] if c.breakpoint else c.system},
            *({"role": r, "content": t} for r, t in c.messages),
        ],
        "tool_choice": "auto" if c.tool_choice == "auto" else "required",
    }
    if c.thinking:
        req["reasoning_effort"] = "high"
    return req


def _responses(c: Conv, model: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    req: dict[str, Any] = {"model": model}
    if c.breakpoint:
        block = {
            "type": "input_text",
            "text": c.system,
            "prompt_cache_breakpoint": {"mode": "explicit"},
        }
        items.append({"role": "developer", "content": [block]})
    else:
        req["instructions"] = c.system
    req["tools"] = [
        {
            "type": "function",
            "name": t["name"],
            "description": t["description"],
            "parameters": t["params"],
        }
        for t in c.tools
    ]
    items.extend({"role": r, "content": t} for r, t in c.messages)
    req["input"] = items
    req["tool_choice"] = "auto" if c.tool_choice == "auto" else "required"
    if c.thinking:
        req["reasoning"] = {"effort": "high"}
    return req


def _gemini(c: Conv, model: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "system_instruction": c.system,
        "tools": [
            {
                "function_declarations": [
                    {"name": t["name"], "description": t["description"], "parameters": t["params"]}
                    for t in c.tools
                ]
            }
        ],
        "tool_config": {"function_calling_config": {"mode": c.tool_choice.upper()}},
    }
    if c.thinking:
        config["thinking_config"] = {"thinking_budget": 2048}
    return {
        "model": model,
        "contents": [
            {"role": "model" if r == "assistant" else "user", "parts": [{"text": t}]}
            for r, t in c.messages
        ],
        "config": config,
    }


RENDER: dict[str, Callable[[Conv, str], dict[str, Any]]] = {
    "anthropic": _anthropic,
    "openai": _openai,
    "openai_responses": _responses,
    "gemini": _gemini,
}


def render(c: Conv, fmt: str) -> dict[str, Any]:
    """``c`` as a request of wire format ``fmt``."""
    return copy.deepcopy(RENDER[fmt](c, c.model or MODELS[fmt]))


def path_of(where: tuple[Any, ...], fmt: str, conv: Conv) -> str:
    """The request path of a neutral location in wire format ``fmt``."""
    area = where[0]
    if area == "model":
        return "$.model"
    if area == "settings":
        key = {
            "anthropic": ("tool_choice", "thinking"),
            "openai": ("tool_choice", "reasoning_effort"),
            "openai_responses": ("tool_choice", "reasoning"),
            "gemini": ("config.tool_config", "config.thinking_config"),
        }[fmt][where[1]]
        return "$." + key
    if area == "tools":
        if fmt == "gemini":
            return f"$.config.tools[0].function_declarations[{where[1]}]"
        return f"$.tools[{where[1]}]"
    if area == "system":
        return {
            "anthropic": "$.system[0]",
            "openai": "$.messages[0].content[0]",
            "openai_responses": "$.input[0].content[0]" if conv.breakpoint else "$.instructions",
            "gemini": "$.config.system_instruction.parts[0]",
        }[fmt]
    n = where[1]
    return {
        "anthropic": f"$.messages[{n}].content[0]",
        "openai": f"$.messages[{n + 1}].content[0]",
        "openai_responses": f"$.input[{n + (1 if conv.breakpoint else 0)}].content[0]",
        "gemini": f"$.contents[{n}].parts[0]",
    }[fmt]


@dataclass(frozen=True)
class Scenario:
    """Two requests and what a correct diagnosis says about them."""

    name: str
    previous: Conv
    current: Conv
    cause: str
    where: tuple[Any, ...] | None  # None: no divergence
    formats: tuple[str, ...] = FORMATS
    options: dict[str, Any] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)


BASE = Conv()
_NEXT = replace(
    BASE, messages=(*BASE.messages, ("assistant", "Answer 3: keep them."), ("user", "Thanks!"))
)


def _system(text: str) -> Conv:
    return replace(_NEXT, system=text + BASE.system)


def _sys_pair(before: str, after: str) -> tuple[Conv, Conv]:
    return replace(BASE, system=before + BASE.system), _system(after)


_T = list(TOOLS)
_GPT56 = {"openai": "gpt-5.6-terra", "openai_responses": "gpt-5.6-terra"}
_SHORT = Conv(system="Be brief.", tools=(), messages=(("user", "Hi"),))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("no_change_append", BASE, _NEXT, "no_change", None),
    Scenario(
        "timestamp_in_system",
        *_sys_pair("Current time: 2026-12-01T10:00:00Z\n", "Current time: 2026-12-01T10:05:00Z\n"),
        cause="volatile_value",
        where=("system",),
    ),
    Scenario(
        "date_in_system",
        *_sys_pair(
            "Today is Tuesday, December 1, 2026.\n", "Today is Wednesday, December 2, 2026.\n"
        ),
        cause="volatile_value",
        where=("system",),
    ),
    Scenario(
        "uuid_in_system",
        *_sys_pair(
            "Request 1b4e28ba-2fa1-11d2-883f-0016d3cca427.\n",
            "Request 6fa459ea-ee8a-3ca4-894e-db77e160355e.\n",
        ),
        cause="volatile_value",
        where=("system",),
    ),
    Scenario(
        "epoch_in_system",
        *_sys_pair("Session started at 1764583200.\n", "Session started at 1764583500.\n"),
        cause="volatile_value",
        where=("system",),
    ),
    Scenario(
        "request_id_in_system",
        *_sys_pair("Trace req_8f3a2b91c4d7.\n", "Trace req_1c9e77ab03f2.\n"),
        cause="volatile_value",
        where=("system",),
    ),
    Scenario(
        "system_edited",
        *_sys_pair("Tone: formal.\n", "Tone: friendly.\n"),
        cause="system_changed",
        where=("system",),
    ),
    Scenario(
        "tools_reordered",
        BASE,
        replace(_NEXT, tools=(_T[1], _T[0], _T[2])),
        "tools_reordered",
        ("tools", 0),
    ),
    Scenario(
        "tool_added",
        BASE,
        replace(_NEXT, tools=(*_T[:2], _tool("get_rate", "Exchange rate."), _T[2])),
        "tools_added",
        ("tools", 2),
    ),
    Scenario(
        "tool_removed", BASE, replace(_NEXT, tools=(_T[0], _T[2])), "tools_removed", ("tools", 1)
    ),
    Scenario(
        "tool_schema_changed",
        BASE,
        replace(_NEXT, tools=(_T[0], _tool("get_time", "Local time in any city."), _T[2])),
        "tool_schema_changed",
        ("tools", 1),
    ),
    Scenario(
        "tool_key_order",
        BASE,
        replace(
            _NEXT, tools=(_T[0], _tool("get_time", "Local time in a city.", "props_first"), _T[2])
        ),
        "tool_key_order",
        ("tools", 1),
    ),
    Scenario(
        "model_changed",
        BASE,
        replace(_NEXT, model="other-model"),
        "model_changed",
        ("model",),
    ),
    Scenario(
        "tool_choice_changed",
        BASE,
        replace(_NEXT, tool_choice="any"),
        "settings_changed",
        ("settings", 0),
    ),
    Scenario(
        "thinking_changed",
        BASE,
        replace(_NEXT, thinking=True),
        "settings_changed",
        ("settings", 1),
    ),
    Scenario(
        "history_rewritten",
        BASE,
        replace(
            _NEXT,
            messages=tuple(
                (r, "Answer 1: section 1 was amended.") if i == 3 else (r, t)
                for i, (r, t) in enumerate(_NEXT.messages)
            ),
        ),
        "history_rewritten",
        ("messages", 3),
    ),
    Scenario(
        "history_trimmed_front",
        replace(BASE, messages=(*_chat(6), ("user", "Question 6?"))),
        replace(
            BASE,
            messages=(
                *_chat(6)[2:],
                ("user", "Question 6?"),
                *_chat(1, 6)[1:],
                ("user", "Question 7?"),
            ),
        ),
        "history_trimmed",
        ("messages", 0),
    ),
    Scenario(
        "compaction",
        replace(BASE, messages=(*_chat(6), ("user", "Question 6?"))),
        replace(
            BASE,
            messages=(
                *_chat(6)[8:],
                ("user", "Question 6?"),
                *_chat(1, 6)[1:],
                ("user", "Question 7?"),
            ),
        ),
        "compaction",
        ("messages", 0),
    ),
    Scenario(
        "marker_missing",
        BASE,
        replace(_NEXT, markers="none"),
        "marker_missing",
        None,
        formats=("anthropic",),
    ),
    Scenario(
        "marker_moved",
        replace(BASE, system="Be exact.\n" + RULES[:200], messages=(*_chat(40), ("user", "Go"))),
        replace(
            BASE,
            system="Be exact.\n" + RULES[:200],
            messages=(*_chat(40), ("user", "Go"), ("assistant", "Done."), ("user", "More")),
            markers="system_only",
        ),
        "marker_moved",
        None,
        formats=("anthropic",),
    ),
    Scenario(
        "below_minimum",
        _SHORT,
        replace(_SHORT, messages=(("user", "Hi"), ("assistant", "Hello."), ("user", "Bye"))),
        "below_minimum",
        None,
    ),
    Scenario("ttl_expired", BASE, _NEXT, "ttl_expired", None, options={"gap_seconds": 3600.0 * 25}),
    Scenario(
        "beyond_lookback",
        BASE,
        replace(_NEXT, messages=(*BASE.messages, *_chat(12, 3), ("user", "Last"))),
        "beyond_lookback",
        None,
        formats=("anthropic",),
    ),
    Scenario(
        "parallel_requests", BASE, _NEXT, "parallel_requests", None, options={"concurrent": True}
    ),
    Scenario(
        "no_breakpoint_gpt56",
        replace(BASE, messages=(("user", "Context v1: ticket 17 is open.\nQuestion?"),)),
        replace(BASE, messages=(("user", "Context v2: ticket 17 is closed.\nQuestion?"),)),
        "no_breakpoint",
        ("messages", 0),
        formats=("openai", "openai_responses"),
        models=_GPT56,
    ),
)


def requests(s: Scenario, fmt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scenario's two requests in wire format ``fmt``."""
    model = s.models.get(fmt)
    prev = replace(s.previous, model=model or s.previous.model)
    cur = replace(s.current, model=model or s.current.model)
    if s.name == "model_changed":
        cur = replace(
            cur,
            model="gpt-4.1"
            if fmt.startswith("openai")
            else ("claude-opus-4-5" if fmt == "anthropic" else "gemini-2.5-pro"),
        )
    return render(prev, fmt), render(cur, fmt)


def cases() -> list[tuple[Scenario, str]]:
    """Every (scenario, format) pair the table covers."""
    return [(s, f) for s in SCENARIOS for f in s.formats]
