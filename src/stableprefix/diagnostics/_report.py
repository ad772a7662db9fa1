"""The values an explanation is made of: divergence, causes, the report.

Approach: plain frozen records, so an explanation can be compared in a
golden test, logged, attached to an event or printed. Every cause carries
its kind (a *bust* the caller can fix, a *planned* rewrite such as a
compaction, an *expected* miss the provider's rules explain, or *info*) and
exactly one fix.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CAUSE_KINDS", "Cause", "Divergence", "Explanation", "ProviderDiagnosis"]

#: Kinds of causes, from most to least actionable.
CAUSE_KINDS = ("bust", "planned", "expected", "info")


@dataclass(frozen=True, slots=True, kw_only=True)
class Divergence:
    """Where two requests stop sharing a prefix.

    Attributes:
        path: the first differing part of the current request, e.g.
            ``"$.system[0]"`` (the previous request's path when the current
            one is shorter).
        area: ``"model"``, ``"settings"``, ``"tools"``, ``"system"`` or ``"messages"``.
        message: the message index, for a divergence inside the messages.
        token_offset: tokens of the current request before the first
            differing character.
        char_offset: the first differing character inside that part.
        before: the previous request's text where they differ (shortened).
        after: the current request's text where they differ (shortened).

    >>> Divergence(path="$.system[0]", area="system", message=None,
    ...            token_offset=3, char_offset=10, before="10:00", after="10:05").area
    'system'
    """

    path: str
    area: str
    message: int | None
    token_offset: int
    char_offset: int
    before: str
    after: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Cause:
    """Why (part of) a request could not be read from the cache.

    Attributes:
        code: a stable name, e.g. ``"volatile_value"`` or ``"ttl_expired"``.
        kind: ``"bust"``, ``"planned"``, ``"expected"`` or ``"info"``.
        detail: what happened, in one sentence.
        fix: what to do about it, in one sentence.

    >>> Cause(code="system_changed", kind="bust", detail="d", fix="f").kind
    'bust'
    """

    code: str
    kind: str
    detail: str
    fix: str

    def __post_init__(self) -> None:
        if self.kind not in CAUSE_KINDS:
            raise ValueError(f"Cause.kind must be one of {', '.join(CAUSE_KINDS)}")


# Provider reason -> the request parts it can mean, in our area names.
_AREAS: dict[str, frozenset[str]] = {
    "model_changed": frozenset({"model"}),
    "system_changed": frozenset({"system"}),
    "tools_changed": frozenset({"tools"}),
    "messages_changed": frozenset({"messages", "settings"}),
    "input_changed": frozenset({"system", "messages"}),
    "instructions_changed": frozenset({"system"}),
    "service_tier_changed": frozenset({"settings"}),
    "text_format_changed": frozenset({"settings"}),
    "reasoning_effort_changed": frozenset({"settings"}),
    "verbosity_changed": frozenset({"settings"}),
    "context_compacted": frozenset({"messages"}),
    "prompt_cache_key_changed": frozenset({"routing"}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderDiagnosis:
    """What a provider's own diagnostics said about one request.

    Attributes:
        provider: ``"anthropic"`` or ``"openai"``.
        status: ``"miss"`` (a change was found), ``"hit"``, ``"pending"``
            (the comparison had not finished), ``"not_found"`` (the
            earlier response is unknown to the provider) or ``"unavailable"``.
        reason: the provider's reason code, e.g. ``"system_changed"``.
        missed_tokens: the provider's estimate of the tokens after the change.

    >>> ProviderDiagnosis(provider="anthropic", status="miss", reason="tools_changed",
    ...                   missed_tokens=900).areas
    frozenset({'tools'})
    """

    provider: str
    status: str
    reason: str | None = None
    missed_tokens: int | None = None

    @property
    def areas(self) -> frozenset[str]:
        """The parts of the request the reason can point at."""
        return _AREAS.get(self.reason or "", frozenset())


@dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    """Why one request did (not) reuse what the previous one cached.

    Attributes:
        provider: the wire format's provider name.
        model: the model of the current request.
        verdict: ``"no_change"`` (the cached prefix is intact), ``"bust"``
            (the caller changed the prefix), ``"planned"`` (a compaction or
            another deliberate rewrite) or ``"expected_miss"`` (the prefix is
            intact but the provider's rules make it a miss).
        divergence: where the requests first differ (``None``: the current
            request repeats or extends the previous one).
        causes: every cause found, the main one first.
        total_tokens: prompt tokens of the current request.
        cached_before: tokens the previous request left in the cache.
        reusable_tokens: tokens of the current request readable from it.
        reprefilled_tokens: cached tokens the current request processes again.
        miss_cost_usd: what re-prefilling costs beyond a cache read, in USD
            (``None`` when the model has no prices in the table).
        provider_diagnosis: the provider's own diagnosis, once reconciled.
        agreement: ``"agree"``, ``"disagree"``, ``"pending"``,
            ``"unavailable"`` or ``"not_found"`` once reconciled, else ``None``.

    >>> e = Explanation(provider="openai", model="gpt-5", verdict="no_change",
    ...                 divergence=None, causes=(), total_tokens=10, cached_before=0,
    ...                 reusable_tokens=0, reprefilled_tokens=0, miss_cost_usd=0.0)
    >>> e.cause, e.is_bust
    ('no_change', False)
    """

    provider: str
    model: str
    verdict: str
    divergence: Divergence | None
    causes: tuple[Cause, ...]
    total_tokens: int
    cached_before: int
    reusable_tokens: int
    reprefilled_tokens: int
    miss_cost_usd: float | None
    provider_diagnosis: ProviderDiagnosis | None = None
    agreement: str | None = None

    @property
    def cause(self) -> str:
        """The main cause's code (``"no_change"`` when there is none)."""
        return self.causes[0].code if self.causes else "no_change"

    @property
    def codes(self) -> tuple[str, ...]:
        """Every cause's code, main one first."""
        return tuple(c.code for c in self.causes)

    @property
    def is_bust(self) -> bool:
        """Whether the caller broke the cached prefix."""
        return self.verdict == "bust"

    def text(self) -> str:
        """A short human-readable report.

        >>> from stableprefix.diagnostics import explain
        >>> req = {"model": "gpt-5", "messages": [{"role": "user", "content": "Hi"}]}
        >>> print(explain(req, req, adapter="openai").text())
        expected_miss: the cached prefix is intact (0 of 0 cached tokens reusable)
          [expected] below_minimum: the cacheable prefix is below the model's minimum of 1024 tokens
            fix: the prefix is shorter than the model's minimum cacheable length; ...
        """
        lines = [
            f"{self.verdict}: "
            + (
                "the cached prefix is intact"
                if self.divergence is None
                else f"first divergence at {self.divergence.path}"
                + (
                    f" (message {self.divergence.message})"
                    if self.divergence.message is not None
                    else ""
                )
                + f", token {self.divergence.token_offset}"
            )
            + f" ({self.reusable_tokens} of {self.cached_before} cached tokens reusable)"
        ]
        if self.divergence is not None and (self.divergence.before or self.divergence.after):
            lines.append(f"  changed: {self.divergence.before!r} -> {self.divergence.after!r}")
        if self.reprefilled_tokens:
            cost = "" if self.miss_cost_usd is None else f", ${self.miss_cost_usd:.6f}"
            lines.append(f"  re-prefilled: {self.reprefilled_tokens} tokens{cost}")
        for c in self.causes:
            lines.append(f"  [{c.kind}] {c.code}: {c.detail}")
            lines.append(f"    fix: {c.fix}")
        d = self.provider_diagnosis
        if d is not None:
            missed = "" if d.missed_tokens is None else f", {d.missed_tokens} tokens missed"
            lines.append(f"  {d.provider} says: {d.reason or d.status}{missed} ({self.agreement})")
        return "\n".join(lines)
