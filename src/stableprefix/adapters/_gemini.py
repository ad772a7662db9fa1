"""Google Gemini wire format, as the ``google-genai`` SDK takes it in dict form.

Approach: a request is ``contents`` (a list of ``{"role": "user"|"model",
"parts": [...]}``) plus a ``config`` holding ``system_instruction`` (the
static prompt only) and ``tools``; it is passed as
``client.models.generate_content(model=..., **request)``. Gemini caches
implicitly by prefix, so the work is keeping that prefix byte-stable:

- The dynamic context is a user-side text part, never part of the system
  instruction (changing the system instruction would miss the cache for
  everything after it).
- Gemini rejects two consecutive contents with the same role, but the core
  may hold them (a context note before the user's message, a summary before
  the first kept round). Adjacent same-role contents are therefore merged
  into one content when rendering. Committed history only grows at its end,
  so merging never changes an earlier content. The context placed at the
  tail joins the last user content (in a tool loop, the one holding the
  latest function responses) and leaves it again on the next request, so
  that content is re-read at full price each step. ``"before_recent"``
  joins it to the turn's first user content instead, and ``"append"`` keeps
  it in the history, where nothing ever moves: prefer ``"append"`` here.
- ``google-genai`` puts every function declaration into one tool placed after
  all other tools (``google_search``, ``code_execution``, ...). We render that
  layout ourselves, so the request we return is the request that is sent.
  A tool in ``PromptConfig.tools`` is either a function declaration (it has
  a ``name``) or a whole Gemini tool dict.

Tool call ids: a ``function_call`` part may carry an ``id``, and the
``function_response`` answering it must then carry the same ``id``. Without
ids Gemini pairs calls and responses by name and order, and so do we: the
k-th call named ``f`` in a model content has the id ``"f#k"``, answered by
the k-th response named ``f`` of the next user content, which must answer
all of the calls at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

from .._blocks import CacheBlock, FlatRequest
from .._errors import InvalidConfigError, InvalidMessageError, TransitionError
from .._json import canonical, sha256_hex
from ._base import Message, ProviderAdapter, RequestParts, TextCounter, check_token_counter
from ._usage_parse import gemini_usage

__all__ = ["GeminiAdapter"]

_ROLES = ("user", "model")
_DATA_KEYS = frozenset(
    {
        "text",
        "inline_data",
        "file_data",
        "function_call",
        "function_response",
        "executable_code",
        "code_execution_result",
        "tool_call",
        "tool_response",
    }
)
# REST spellings that google-genai also accepts; we read snake_case only.
_CAMEL = {
    "inlineData": "inline_data",
    "fileData": "file_data",
    "functionCall": "function_call",
    "functionResponse": "function_response",
    "executableCode": "executable_code",
    "codeExecutionResult": "code_execution_result",
    "thoughtSignature": "thought_signature",
    "functionDeclarations": "function_declarations",
    "parametersJsonSchema": "parameters_json_schema",
}
_ROLE_HINTS = {
    "assistant": "Gemini calls the assistant role 'model'",
    "system": "put fixed instructions in PromptConfig.static_system_prompt (the "
    "system_instruction) and changing ones in the dynamic context",
    "function": "function responses go in a 'user' content",
    "tool": "function responses go in a 'user' content",
}
_MESSAGE_OVERHEAD = 4
_CALL_OVERHEAD = 6
# Gemini bills an image (up to 384 px a side, or each 768 px tile) as 258 tokens.
_MEDIA_TOKENS = 258


def _fail(msg: str, index: int, role: str | None, path: str = "$") -> InvalidMessageError:
    return InvalidMessageError(msg, index=index, role=role, path=path)


def _parts(message: Message) -> list[Any]:
    parts = message.get("parts")
    return parts if isinstance(parts, list) else []


def _pair_ids(message: Message, key: str) -> tuple[str, ...]:
    """Ids of the ``key`` parts: their ``id``, else ``name#k`` by order of name."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for part in _parts(message):
        inner = part.get(key) if isinstance(part, dict) else None
        if not isinstance(inner, dict):
            continue
        name = str(inner.get("name", ""))
        k = seen.get(name, 0)
        seen[name] = k + 1
        given = inner.get("id")
        out.append(given if isinstance(given, str) and given else f"{name}#{k}")
    return tuple(out)


class GeminiAdapter(ProviderAdapter):
    """Adapter for Gemini's ``generate_content`` through ``google-genai``.

    Send a built request with
    ``client.models.generate_content(model=..., **request)``; to add
    generation settings, merge them into its config:
    ``config={**request["config"], "temperature": 0.2}``.

    Args:
        token_counter: an exact counter (e.g. one calling the API's
            ``count_tokens``); without one, tokens are estimated.

    Raises:
        TypeError: ``token_counter`` has no ``count_text`` method.

    >>> from stableprefix import PromptConfig, new_state
    >>> from stableprefix.functional import append_message, build_request
    >>> cfg = PromptConfig(static_system_prompt="Be brief.", adapter=GeminiAdapter())
    >>> s = append_message(new_state(), {"role": "user", "parts": [{"text": "Hi"}]}, cfg)
    >>> req = build_request(s, cfg)
    >>> req["contents"], req["config"]
    ([{'role': 'user', 'parts': [{'text': 'Hi'}]}], {'system_instruction': 'Be brief.'})
    """

    name: ClassVar[str] = "gemini"
    #: Reads this provider's usage report (see ``ProviderAdapter.parse_usage``).
    parse_usage = staticmethod(gemini_usage)
    #: SDK objects are dumped in JSON mode: a ``google.genai.types.Content``
    #: carries ``thought_signature`` and inline data as bytes, which JSON mode
    #: turns into the base64 strings the SDK accepts back, so a model turn
    #: round-trips unchanged.
    dump_options: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"mode": "json", "exclude_none": True}
    )
    system_in_messages: ClassVar[bool] = False
    results_all_at_once: ClassVar[bool] = True
    first_roles: ClassVar[frozenset[str]] = frozenset({"user"})
    token_family: ClassVar[str] = "gemini"

    __slots__ = ("token_counter",)

    def __init__(self, *, token_counter: TextCounter | None = None) -> None:
        check_token_counter(token_counter)
        self.token_counter = token_counter

    # ----------------------------------------------------------------- messages

    def validate_message(self, message: Message, *, index: int) -> None:
        role = message.get("role")
        if role not in _ROLES:
            hint = _ROLE_HINTS.get(role) if isinstance(role, str) else None
            raise _fail(
                f"role must be 'user' or 'model', got {role!r}" + (f"; {hint}" if hint else ""),
                index,
                role if isinstance(role, str) else None,
                "$.role",
            )
        if "content" in message:
            raise _fail(
                "a Gemini content has 'parts' (a list of {'text': ...} and other parts), "
                "not 'content'",
                index,
                role,
                "$.content",
            )
        parts = message.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _fail("parts must be a non-empty list", index, role, "$.parts")
        call_ids: set[str] = set()
        for i, part in enumerate(parts):
            self._validate_part(part, index, role, f"$.parts[{i}]")
            fc = part.get("function_call")
            if isinstance(fc, dict) and isinstance(fc.get("id"), str):
                if fc["id"] in call_ids:
                    raise _fail(
                        f"function call id {fc['id']!r} is used twice",
                        index,
                        role,
                        f"$.parts[{i}].function_call.id",
                    )
                call_ids.add(fc["id"])

    def _validate_part(self, part: Any, index: int, role: str, path: str) -> None:
        if not isinstance(part, dict):
            raise _fail(f"a part must be an object, got {type(part).__name__}", index, role, path)
        for key in part:
            if key in _CAMEL:
                raise _fail(
                    f"use google-genai's snake_case key {_CAMEL[key]!r}, not {key!r}",
                    index,
                    role,
                    f"{path}.{key}",
                )
        data = [k for k in part if k in _DATA_KEYS]
        if not data:
            raise _fail(f"a part needs one of {', '.join(sorted(_DATA_KEYS))}", index, role, path)
        if "text" in part and not isinstance(part["text"], str):
            raise _fail("text must be a string", index, role, path + ".text")
        sig = part.get("thought_signature")
        if sig is not None and not isinstance(sig, str):
            raise _fail(
                "thought_signature must be a base64 string (dump SDK objects with mode='json')",
                index,
                role,
                path + ".thought_signature",
            )
        if "function_call" in part:
            self._validate_call(part["function_call"], "function_call", "model", index, role, path)
        if "function_response" in part:
            self._validate_call(
                part["function_response"], "function_response", "user", index, role, path
            )
        blob = part.get("inline_data")
        if blob is not None and (
            not isinstance(blob, dict)
            or not isinstance(blob.get("mime_type"), str)
            or not isinstance(blob.get("data"), str)
        ):
            raise _fail(
                "inline_data needs a string 'mime_type' and base64 string 'data'",
                index,
                role,
                path + ".inline_data",
            )

    @staticmethod
    def _validate_call(inner: Any, key: str, owner: str, index: int, role: str, path: str) -> None:
        path = f"{path}.{key}"
        if role != owner:
            raise _fail(f"a {key} part belongs in a {owner!r} content", index, role, path)
        if not isinstance(inner, dict) or not isinstance(inner.get("name"), str):
            raise _fail(f"{key} needs a string 'name'", index, role, path)
        if not inner["name"]:
            raise _fail(f"{key} needs a non-empty 'name'", index, role, path + ".name")
        field = "args" if key == "function_call" else "response"
        value = inner.get(field)
        if (value is not None or field == "response") and not isinstance(value, dict):
            raise _fail(f"{key} needs an object {field!r}", index, role, f"{path}.{field}")
        cid = inner.get("id")
        if cid is not None and (not isinstance(cid, str) or not cid):
            raise _fail(f"{key} id must be a non-empty string", index, role, path + ".id")

    def validate_tools(self, tools: Sequence[Any]) -> None:
        super().validate_tools(tools)
        for i, tool in enumerate(tools):
            camel = [k for k in tool if k in _CAMEL]
            if camel:
                raise InvalidConfigError(
                    f"tools[{i}]: use google-genai's snake_case key {_CAMEL[camel[0]]!r}, "
                    f"not {camel[0]!r}",
                    field="tools",
                )
            if not tool:
                raise InvalidConfigError(f"tools[{i}] is empty", field="tools")
            declarations = [tool] if "name" in tool else tool.get("function_declarations", [])
            if not isinstance(declarations, list):
                raise InvalidConfigError(
                    f"tools[{i}].function_declarations must be a list", field="tools"
                )
            for decl in declarations:
                self._validate_declaration(decl, i)

    @staticmethod
    def _validate_declaration(decl: Any, i: int) -> None:
        if not isinstance(decl, dict) or not isinstance(decl.get("name"), str) or not decl["name"]:
            raise InvalidConfigError(
                f"tools[{i}]: a function declaration needs a non-empty string 'name'",
                field="tools",
            )
        if "parameters" in decl and "parameters_json_schema" in decl:
            raise InvalidConfigError(
                f"tools[{i}] ({decl['name']!r}) sets both 'parameters' and "
                "'parameters_json_schema'; Gemini accepts only one",
                field="tools",
            )

    def tool_call_ids(self, message: Message) -> tuple[str, ...]:
        if message.get("role") != "model":
            return ()
        return _pair_ids(message, "function_call")

    def tool_result_ids(self, message: Message) -> tuple[str, ...]:
        if message.get("role") != "user":
            return ()
        return _pair_ids(message, "function_response")

    def is_user_turn(self, message: Message) -> bool:
        return message.get("role") == "user" and not self.tool_result_ids(message)

    def is_final_answer(self, message: Message) -> bool:
        return message.get("role") == "model" and not self.tool_call_ids(message)

    # ------------------------------------------------------------------- tokens

    def _part_tokens(self, part: Any) -> int:
        if not isinstance(part, dict):
            return 0
        if isinstance(part.get("text"), str):
            return self.count_text_tokens(part["text"])
        for key, field in (("function_call", "args"), ("function_response", "response")):
            inner = part.get(key)
            if isinstance(inner, dict):
                return (
                    _CALL_OVERHEAD
                    + self.count_text_tokens(str(inner.get("name", "")))
                    + self.count_json_tokens(inner.get(field) or {})
                )
        if "inline_data" in part or "file_data" in part:
            return _MEDIA_TOKENS
        return self.count_json_tokens(part)

    def count_tokens(self, message: Message) -> int:
        return _MESSAGE_OVERHEAD + sum(self._part_tokens(p) for p in _parts(message))

    # ---------------------------------------------------------------- rendering

    def context_message(self, text: str) -> Message:
        return {"role": "user", "parts": [{"text": text}]}

    def summary_message(self, text: str) -> Message:
        return {"role": "user", "parts": [{"text": text}]}

    def instruction_message(self, text: str) -> Message:
        return {"role": "user", "parts": [{"text": text}]}

    def render_messages(self, parts: RequestParts) -> list[Message]:
        """The ``contents`` list, adjacent same-role contents merged."""
        return _merge_roles(self.layout(parts))

    def render_tools(self, tools: Sequence[Message]) -> list[Message]:
        """Gemini tools in the order google-genai sends them.

        Every other tool first, in the given order, then one tool holding
        all function declarations.

        >>> GeminiAdapter().render_tools([{"name": "f"}, {"google_search": {}}])
        [{'google_search': {}}, {'function_declarations': [{'name': 'f'}]}]
        """
        declarations: list[Message] = []
        others: list[Message] = []
        for tool in tools:
            if "name" in tool:
                declarations.append(tool)
                continue
            declarations.extend(tool.get("function_declarations") or [])
            rest = {k: v for k, v in tool.items() if k != "function_declarations"}
            if rest:
                others.append(rest)
        if declarations:
            others.append({"function_declarations": declarations})
        return others

    def render(self, parts: RequestParts) -> dict[str, Any]:
        contents = self.render_messages(parts)
        if not contents:
            raise TransitionError(
                "a Gemini request needs at least one content; append the user's message "
                "(or pass a dynamic context) before building"
            )
        config: dict[str, Any] = {}
        if parts.static_system:
            config["system_instruction"] = parts.static_system
        if parts.tools:
            config["tools"] = self.render_tools(parts.tools)
        return {"contents": contents, "config": config}

    def flatten(self, request: Mapping[str, Any]) -> FlatRequest:
        config = request.get("config") or {}
        blocks = self.tool_blocks(config.get("tools") or ())
        system = config.get("system_instruction")
        if system:
            text = system if isinstance(system, str) else canonical(system)
            blocks.append(
                CacheBlock(
                    key=sha256_hex("system:" + text),
                    tokens=_MESSAGE_OVERHEAD + self.count_text_tokens(_system_text(system)),
                    kind="system",
                    role="system",
                )
            )
        # One block per part, not per content: rendering merges adjacent
        # same-role contents (a tail context joins the last user turn), and
        # the tokens before the joined part are the same either way.
        for content in request.get("contents") or ():
            role = str(content.get("role", ""))
            for i, part in enumerate(_parts(content)):
                one = {"role": role, "parts": [part]}
                blocks.append(
                    CacheBlock(
                        key=sha256_hex(f"part:{role}:{i == 0}:" + canonical(part)),
                        tokens=self._part_tokens(part) + (_MESSAGE_OVERHEAD if i == 0 else 0),
                        kind=_block_kind(one),
                        role=role,
                    )
                )
        return FlatRequest(provider=self.name, blocks=tuple(blocks))


def _merge_roles(contents: list[Message]) -> list[Message]:
    """Join adjacent contents of one role; the inputs are never changed."""
    out: list[Message] = []
    for content in contents:
        if out and out[-1].get("role") == content.get("role"):
            out[-1] = {"role": content["role"], "parts": [*_parts(out[-1]), *_parts(content)]}
        else:
            out.append(content)
    return out


def _system_text(system: Any) -> str:
    if isinstance(system, str):
        return system
    parts = system.get("parts") if isinstance(system, dict) else None
    return "".join(str(p.get("text", "")) for p in parts or () if isinstance(p, dict))


def _block_kind(content: Mapping[str, Any]) -> str:
    keys = {k for p in content.get("parts") or () if isinstance(p, dict) for k in p}
    if "function_call" in keys:
        return "tool_use"
    if "function_response" in keys:
        return "tool_result"
    if keys & {"inline_data", "file_data"}:
        return "image"
    return "text"
