"""The llama.cpp cache model against the real server with several slots.

Three conversations sharing a static prompt are played interleaved (see
``stableprefix.benchmark._truth_slots``): several slots, one request at a
time or in flight together, the RAM prompt cache on and off, with and
without slot affinity. ``LlamaCppCache`` configured like the server must
predict every request's cached tokens within one token. Also here: the
engine setting of ``OpenAIAdapter`` end to end, and the server counter.
"""

from __future__ import annotations

from typing import Any

import pytest

import engine as E
from stableprefix import OpenAIAdapter, PromptConfig
from stableprefix.benchmark._truth_slots import SETUPS, SlotCheck, slot_truth_check
from stableprefix.tokens import LlamaCppServerCounter

pytestmark = pytest.mark.engine

# Each rule of the model is exercised by one setup: several slots and the
# similarity choice, requests in flight (busy slots skipped), the RAM cache
# off and on (save/restore), slot affinity (id_slot) while in flight.
_PLAYED = {
    "3 slots, RAM cache off",
    "1 slot, RAM cache on",
    "3 slots, RAM cache on, concurrent",
    "3 slots, RAM cache on, affinity, concurrent",
}


@pytest.fixture(scope="module")
def checks() -> dict[str, SlotCheck]:
    reason = E.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    played = [s for s in SETUPS if s.name in _PLAYED]
    # One slot needs a fourth round: only then has a conversation's earlier
    # prompt been saved to RAM (the slot keeps half of its tokens before).
    one = [s for s in played if s.slots == 1]
    checks = slot_truth_check(setups=[s for s in played if s.slots > 1], rounds=3)
    checks += slot_truth_check(setups=one, rounds=4)
    return {c.setup.name: c for c in checks}


def _table(check: SlotCheck) -> list[tuple[int, int, int, int | None]]:
    return [
        (s.conversation, s.cached_tokens, p, s.slot)
        for s, p in zip(check.sent, check.predicted, strict=True)
    ]


@pytest.mark.parametrize("name", sorted(_PLAYED))
def test_model_matches_the_engine_request_by_request(
    checks: dict[str, SlotCheck], name: str
) -> None:
    check = checks[name]
    assert len(check.sent) == (12 if check.setup.slots == 1 else 9)
    assert all(len(s.prompt_ids) == s.prompt_tokens for s in check.sent)
    assert check.agrees, _table(check)


def test_the_setups_exercise_what_they_claim(checks: dict[str, SlotCheck]) -> None:
    # Requests overlapped in the concurrent setups and not in the others.
    assert checks["3 slots, RAM cache on, concurrent"].overlapping >= 3
    assert checks["3 slots, RAM cache off"].overlapping == 0
    # The single slot serves three conversations in turn: only the RAM cache
    # brings a conversation back, so some request reuses more than the
    # shared static prompt.
    one = checks["1 slot, RAM cache on"]
    static = min(s.cached_tokens for s in one.sent[1:])
    assert max(s.cached_tokens for s in one.sent) > static
    # With affinity each conversation keeps its slot.
    pinned = checks["3 slots, RAM cache on, affinity, concurrent"]
    assert {(s.conversation, s.slot) for s in pinned.sent} == {(0, 0), (1, 1), (2, 2)}


def test_affinity_caches_more_than_the_server_choice(checks: dict[str, SlotCheck]) -> None:
    free = checks["3 slots, RAM cache on, concurrent"]
    pinned = checks["3 slots, RAM cache on, affinity, concurrent"]
    engine_share = [c.share([s.cached_tokens for s in c.sent]) for c in (free, pinned)]
    assert engine_share[1] > engine_share[0]


# ------------------------------------------------- the adapter and the counter


def test_llama_cpp_engine_setting_is_mostly_cached(llama_engine: Any) -> None:
    """OpenAIAdapter(engine="llama.cpp") and every other setting default."""
    config = PromptConfig(
        static_system_prompt=E.STATIC_SYSTEM_PROMPT, adapter=OpenAIAdapter(engine="llama.cpp")
    )
    turns = E.play_conversation(llama_engine, E.stableprefix_layout(config))
    assert len(turns) == 8 and turns[0].cached_tokens == 0
    share = E.cached_share(turns[1:])
    assert share >= 0.90, [(t.prompt_tokens, t.cached_tokens) for t in turns]


def test_server_counter_counts_what_the_engine_reports(llama_engine: Any) -> None:
    counter = LlamaCppServerCounter(llama_engine.base_url + "/v1")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How many books can I borrow at once?"},
    ]
    reply = llama_engine.openai_client().chat.completions.create(
        model=llama_engine.model, messages=messages, max_tokens=2, temperature=0
    )
    assert counter.count_prompt(messages) == reply.usage.prompt_tokens
    text = "Opening hours: Monday to Friday from nine to eight."
    plain = llama_engine.post("/tokenize", {"content": text})["tokens"]
    assert counter.count_text(text) == len(plain) > 5
