"""Find what will bust the provider cache before a request is sent.

Approach: a ``PromptConfig`` is rendered into the request it produces for
one user message; a request is read as is. Its segments are then checked
for what makes every turn re-prefill the prefix: volatile values in the
static system prompt or the tools, tool JSON whose keys are not in one
canonical order, no cache marker (Anthropic) or no breakpoint at the end of
the static part (GPT-5.6+), and a prefix below the model's minimum. Each
finding is priced for the configured model: tokens re-prefilled per turn and
dollars per 1,000 turns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._config import PromptConfig
from .._errors import LintError
from ..adapters._base import ProviderAdapter, RequestParts
from ..models import ModelInfo
from ..pricing import ModelPrices
from ._causes import FIXES
from ._rules import CacheRules, resolve_adapter, rules_for
from ._segments import Segment, Segmented, segment_request
from ._volatile import find_volatile

__all__ = ["Finding", "lint"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One problem ``lint`` found, priced for the model.

    Attributes:
        code: ``"volatile_value"``, ``"tool_key_order"``, ``"marker_missing"``,
            ``"no_breakpoint"`` or ``"below_minimum"``.
        path: where, e.g. ``"$.system[0]"`` or ``"PromptConfig.static_system_prompt"``.
        detail: what is wrong.
        fix: what to do.
        tokens_per_turn: prompt tokens re-prefilled on every turn because of it.
        usd_per_1000_turns: what that costs beyond cache reads, per 1,000
            turns (``None`` when the model has no prices).

    >>> f = Finding(code="below_minimum", path="$", detail="short", fix="none",
    ...             tokens_per_turn=800, usd_per_1000_turns=2.4)
    >>> str(f)
    '$: short (≈800 tokens re-prefilled per turn, ≈$2.40 per 1,000 turns)'
    """

    code: str
    path: str
    detail: str
    fix: str
    tokens_per_turn: int
    usd_per_1000_turns: float | None

    def __str__(self) -> str:
        cost = (
            ""
            if self.usd_per_1000_turns is None
            else f", ≈${self.usd_per_1000_turns:,.2f} per 1,000 turns"
        )
        tokens = f"≈{self.tokens_per_turn:,} tokens re-prefilled per turn"
        return f"{self.path}: {self.detail} ({tokens}{cost})"


def _per_1000(tokens: int, prices: ModelPrices | None) -> float | None:
    if prices is None:
        return None
    paid = prices.write_price("5m") if prices.charges_writes else prices.input
    return round(tokens * (paid - prices.cache_read) / 1_000_000 * 1000, 6)


def guess_format(request: Mapping[str, Any]) -> str:
    """The wire format a request's shape suggests.

    >>> guess_format({"input": "Hi"}), guess_format({"system": "x", "messages": []})
    ('openai_responses', 'anthropic')
    """
    if "contents" in request:
        return "gemini"
    if "input" in request or "instructions" in request:
        return "openai_responses"
    if "system" in request or ("max_tokens" in request and "messages" in request):
        return "anthropic"
    return "openai"


def _static_end(segs: Sequence[Segment]) -> int:
    """Index of the last tools/system segment (-1 for none)."""
    return max((j for j, s in enumerate(segs) if s.area in ("tools", "system")), default=-1)


class _Linter:
    def __init__(self, req: Segmented, rules: CacheRules, names: dict[str, str]) -> None:
        self.req = req
        self.rules = rules
        self.names = names
        self.found: list[Finding] = []
        cum, total = [], 0
        for s in req.segments:
            cum.append(total)
            total += s.tokens
        self.before = cum
        self.total = total

    def add(self, code: str, path: str, detail: str, tokens: int) -> None:
        self.found.append(
            Finding(
                code=code,
                path=self.names.get(path, path),
                detail=detail,
                fix=FIXES[code][1],
                tokens_per_turn=tokens,
                usd_per_1000_turns=_per_1000(tokens, self.rules.prices),
            )
        )

    def volatile(self) -> None:
        for j, seg in enumerate(self.req.segments):
            if seg.area not in ("tools", "system"):
                continue
            values = find_volatile(seg.body if seg.body is not None else seg.text)
            if values:
                shown = ", ".join(f"{v.kind} {v.value!r}" for v in values[:3])
                lost = self.total - self.before[j]
                self.add("volatile_value", seg.path, f"changes every request: {shown}", lost)

    def key_order(self) -> None:
        loose = [
            (j, seg)
            for j, seg in enumerate(self.req.segments)
            if seg.area == "tools" and seg.text != seg.canonical
        ]
        if loose:
            j, first = loose[0]
            names = ", ".join(repr(seg.name) for _j, seg in loose)
            detail = (
                f"tool JSON not in canonical (sorted) key order: {names}; any code path "
                "that rebuilds these dicts in another order busts the cache"
            )
            self.add("tool_key_order", first.path, detail, self.total - self.before[j])

    def markers(self) -> None:
        segs = self.req.segments
        if (
            self.rules.mode == "markers"
            and not self.req.auto_marker
            and not any(s.marker for s in segs)
        ):
            detail = "no cache_control anywhere: nothing is cached"
            self.add("marker_missing", "$", detail, self.total)
        if self.rules.mode == "breakpoints":
            end = _static_end(segs)
            static = self.before[end] + segs[end].tokens if end >= 0 else 0
            if static >= self.rules.min_tokens and not any(s.marker for s in segs[: end + 1]):
                detail = (
                    f"no prompt_cache_breakpoint at the end of the static part ({static} tokens); "
                    "GPT-5.6+ reuses it only where a breakpoint wrote it"
                )
                self.add("no_breakpoint", segs[end].path, detail, static)

    def minimum(self) -> None:
        if self.total < self.rules.min_tokens:
            detail = (
                f"the prompt is {self.total} tokens, below the minimum of "
                f"{self.rules.min_tokens} for this model: nothing is cached yet"
            )
            self.add("below_minimum", "$", detail, self.total)


def _from_config(config: PromptConfig) -> tuple[dict[str, Any], ProviderAdapter, dict[str, str]]:
    adapter = config.adapter
    parts = RequestParts(
        tools=tuple(config.tools),
        static_system=config.static_system_prompt,
        history=[],
        recent=[adapter.instruction_message("(the user's message)")],
    )
    request = adapter.render(parts)
    req = segment_request(request, adapter)
    names: dict[str, str] = {}
    tool = 0
    for seg in req.segments:
        if seg.area == "system":
            names[seg.path] = "PromptConfig.static_system_prompt"
        elif seg.area == "tools":
            names[seg.path] = f"PromptConfig.tools[{tool}]"
            tool += 1
    return request, adapter, names


def lint(
    target: PromptConfig | Mapping[str, Any],
    *,
    adapter: Any = None,
    model: str | None = None,
    strict: bool = False,
    table: Mapping[str, ModelInfo] | None = None,
) -> list[Finding]:
    """Find what will make every turn re-prefill the cached prefix.

    Args:
        target: a ``PromptConfig`` (its static prompt and tools are checked
            in the request it renders) or a request as sent.
        adapter: the wire format of a request (an adapter or a provider
            name); guessed from the request's shape when omitted. A config
            uses its own adapter.
        model: the model whose minimum and prices apply (default: the
            request's ``model``; needed for prices with a config).
        strict: raise ``LintError`` when anything is found (for CI).
        table: a model registry (default ``stableprefix.models.MODELS``).

    Returns:
        The findings, the most expensive first.

    Raises:
        TypeError: ``target`` is neither a config nor a dict.
        DiagnosticsError: the request is malformed for its wire format.
        LintError: ``strict`` is set and something was found.

    >>> from stableprefix import PromptConfig
    >>> conf = PromptConfig(static_system_prompt="Today is 2026-12-01. " + "Be exact. " * 400)
    >>> [f.code for f in lint(conf, model="gpt-5")]
    ['volatile_value']
    >>> print(lint(conf, model="gpt-5")[0])  # doctest: +ELLIPSIS
    PromptConfig.static_system_prompt: changes every request: date '2026-12-01' (≈1,...)
    """
    if isinstance(target, PromptConfig):
        request, ad, names = _from_config(target)
    elif isinstance(target, Mapping):
        request, names = dict(target), {}
        ad = resolve_adapter(adapter if adapter is not None else guess_format(target))
    else:
        raise TypeError(
            f"lint() takes a PromptConfig or a request dict, got {type(target).__name__}"
        )
    req = segment_request(request, ad)
    rules = rules_for(ad.name, model if model is not None else req.model, table=table)
    linter = _Linter(req, rules, names)
    linter.volatile()
    linter.key_order()
    linter.markers()
    linter.minimum()
    found = sorted(linter.found, key=lambda f: -f.tokens_per_turn)
    if strict and found:
        lines = "\n".join(f"  {f}" for f in found)
        raise LintError(
            f"{len(found)} cache problem(s) found:\n{lines}\nfix them or lint without strict=True",
            findings=found,
        )
    return found
