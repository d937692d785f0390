"""Routing speed: 100, 1,000 and 10,000 generated rules deciding 10,000 complaint texts.

    .venv/bin/python -m bench.routing [--texts 10000] [--sizes 100,1000,10000] [--repeats 2]
                                      [--seed S] [--no-save]

For each size, a generated rule file (see `bench.routing_workload`) is loaded with
`routing.load_rules` (YAML parse and validation of every condition) and compiled into
`CompiledRules`, each timed on its own; the compilation is repeated under tracemalloc for its
peak memory. Then every text is decided once, cold (the stemming cache emptied before the
load, as in a fresh process). Then come the warm passes, each `decide(text, channel)` timed
alone: every size and its floor take turns every CHUNK texts, so that a shared machine's
load hits them alike. The floor is the text work no router can skip: the complaint's words
normalised as the matcher does it (`CompiledRules.normalised`, with its cache of words
already seen), without matching.
Prints the tables and the aims; saves `bench/results/routing.json` and the "Routing"
section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import yaml

from bench import report
from bench import routing_workload as workload
from routing import CompiledRules, RuleSet, load_rules
from routing.text import canonical, stem, tokens, words

SIZES = (100, 1_000, 10_000)
TEXTS = 10_000
# Every size and its floor take turns, this many texts each, so a shared machine's load
# hits all of them alike.
CHUNK = 500
# Warm passes; their per-call times are pooled, the totals averaged.
REPEATS = 2
AIM_P99_US = 1_000.0
AIM_SCALING = 3.0
MIB = 1024 * 1024

T = TypeVar("T")


# --- figures -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spread:
    """Per-call times over the texts, in microseconds; the total for one pass, in seconds."""

    p50_us: float
    p99_us: float
    max_us: float
    mean_us: float
    total_s: float

    @classmethod
    def of(cls, nanoseconds: Sequence[int], passes: int = 1) -> Spread:
        """Percentiles over every call; the total is one pass's (the mean of `passes`)."""
        ordered = sorted(nanoseconds)
        return cls(
            p50_us=round(_rank(ordered, 0.50) / 1e3, 1),
            p99_us=round(_rank(ordered, 0.99) / 1e3, 1),
            max_us=round(ordered[-1] / 1e3, 1),
            mean_us=round(sum(ordered) / len(ordered) / 1e3, 1),
            total_s=round(sum(ordered) / passes / 1e9, 4),
        )


def _rank(ordered: Sequence[int], quantile: float) -> int:
    """The nearest-rank percentile of an ascending sequence."""
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


@dataclass(slots=True)
class SizeResult:
    """Everything measured for one rule-set size."""

    rules: int
    term_slots: int
    distinct_terms: int
    vocabulary_words: int
    rule_file_kib: float
    load_s: float
    compile_s: float
    compile_peak_mib: float
    compile_retained_mib: float
    compile_rss_delta_mib: float
    cold: Spread
    ours: Spread
    floor: Spread
    by_length: dict[str, dict[str, Spread]] = field(default_factory=dict)
    fallback_share: float = 0.0
    winning_rules: int = 0

    @property
    def ratio(self) -> float:
        """Ours ÷ floor as throughput (the floor's warm total time ÷ ours): 1.0 would mean
        matching costs nothing on top of normalising the text."""
        return throughput_ratio(self.ours.total_s, self.floor.total_s)


def throughput_ratio(ours_s: float, floor_s: float) -> float:
    """Texts per second, ours ÷ the floor's, from the time each took for the same texts."""
    return floor_s / ours_s


# --- measuring -----------------------------------------------------------------------------


def rss_mib() -> float:
    """The process's resident memory now (not its peak), from /proc; 0 where unavailable."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * resource.getpagesize() / MIB


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """Seconds `work` took, and what it returned."""
    start = time.perf_counter()
    value = work()
    return time.perf_counter() - start, value


def traced_compile(rule_set: RuleSet) -> tuple[float, float]:
    """Peak and retained Python memory (MiB) of compiling `rule_set`, by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    try:
        compiled = CompiledRules(rule_set)
        retained, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del compiled
    return peak / MIB, retained / MIB


def vocabulary_of(rule_set: RuleSet) -> frozenset[str]:
    """The canonical words of every term and area name, as `CompiledRules` builds them."""
    names = [name for area in rule_set.areas for name in (area.name, *area.aliases)]
    texts = [term for rule in rule_set.rules for term in rule.terms] + names
    return frozenset(canonical(word) for text in texts for word in words(text))


Call = Callable[[str, str], object]


def time_each(call: Call, texts: Sequence[workload.Complaint], out: list[int]) -> list[object]:
    """Call `call(text, channel)` for each text, appending each call's ns to `out`."""
    clock = time.perf_counter_ns
    results = []
    for complaint in texts:
        text, channel = complaint.text, complaint.channel
        start = clock()
        result = call(text, channel)
        out.append(clock() - start)
        results.append(result)
    return results


def floor_call(compiled: CompiledRules) -> Call:
    """The floor: the complaint's canonical words joined, as the matcher's scan starts."""

    def normalise_only(text: str, _channel: str) -> str:
        return " ".join(compiled.normalised(text))

    return normalise_only


@dataclass(slots=True)
class Prepared:
    """One size loaded, compiled and run cold, ready for the warm passes."""

    rule_file: str
    rule_set: RuleSet
    compiled: CompiledRules
    vocabulary: frozenset[str]
    load_s: float
    compile_s: float
    compile_rss_delta_mib: float
    compile_peak_mib: float
    compile_retained_mib: float
    cold_ns: list[int]
    cold_decisions: list[Any]
    ours_ns: list[int] = field(default_factory=list)
    floor_ns: list[int] = field(default_factory=list)
    decisions: list[Any] = field(default_factory=list)


def prepare(rule_file: str, texts: Sequence[workload.Complaint]) -> Prepared:
    """Load and compile `rule_file` (timed, with memory), then decide every text cold."""
    stem.cache_clear()  # a fresh process: only what the load itself stems is cached
    gc.collect()
    load_s, loaded = timed(lambda: load_rules(rule_file, agencies=None, lint=False))
    rule_set = loaded.rules
    gc.collect()
    rss_before = rss_mib()
    compile_s, compiled = timed(lambda: CompiledRules(rule_set))
    rss_delta = rss_mib() - rss_before
    peak, retained = traced_compile(rule_set)
    cold_ns: list[int] = []
    gc.collect()
    cold_decisions = time_each(compiled.decide, texts, cold_ns)
    return Prepared(
        rule_file=rule_file,
        rule_set=rule_set,
        compiled=compiled,
        vocabulary=vocabulary_of(rule_set),
        load_s=load_s,
        compile_s=compile_s,
        compile_rss_delta_mib=rss_delta,
        compile_peak_mib=peak,
        compile_retained_mib=retained,
        cold_ns=cold_ns,
        cold_decisions=cold_decisions,
    )


def warm_passes(
    prepared: Sequence[Prepared], texts: Sequence[workload.Complaint], repeats: int
) -> None:
    """Time every size and its floor over every text, `repeats` times, CHUNK texts at a time
    in turns (the order rotating), so a shared machine's load hits all of them alike."""
    floors = [floor_call(size.compiled) for size in prepared]
    gc.collect()
    turn = 0
    for repeat in range(repeats):
        for start in range(0, len(texts), CHUNK):
            chunk = texts[start : start + CHUNK]
            turn += 1
            for index in _rotated(len(prepared), turn):
                size = prepared[index]
                decided = time_each(size.compiled.decide, chunk, size.ours_ns)
                time_each(floors[index], chunk, size.floor_ns)
                if repeat == 0:
                    size.decisions.extend(decided)


def _rotated(count: int, turn: int) -> list[int]:
    """0 … count-1, starting at a different one each turn."""
    return [(turn + offset) % count for offset in range(count)]


def by_length(
    texts: Sequence[workload.Complaint], size: Prepared, repeats: int
) -> dict[str, dict[str, Spread]]:
    """Ours and the floor for each kind of text (short SMS, medium, long email)."""
    spreads = {}
    for length in workload.Length:
        picked = [
            index + repeat * len(texts)
            for repeat in range(repeats)
            for index, complaint in enumerate(texts)
            if complaint.length is length
        ]
        if picked:
            spreads[str(length)] = {
                "ours": Spread.of([size.ours_ns[i] for i in picked], repeats),
                "floor": Spread.of([size.floor_ns[i] for i in picked], repeats),
            }
    return spreads


def result_of(size: Prepared, texts: Sequence[workload.Complaint], repeats: int) -> SizeResult:
    """The figures of one size, once its warm passes are done."""
    rules = size.rule_set.rules
    if size.decisions != size.cold_decisions:
        raise RuntimeError(f"{len(rules)} rules: warm and cold passes decided differently")
    winners = Counter(decision.rule_id for decision in size.decisions)
    return SizeResult(
        rules=len(rules),
        term_slots=sum(len(rule.terms) for rule in rules),
        distinct_terms=len(
            {" ".join(tokens(term, size.vocabulary)) for rule in rules for term in rule.terms}
        ),
        vocabulary_words=len(size.vocabulary),
        rule_file_kib=round(len(size.rule_file.encode()) / 1024, 1),
        load_s=round(size.load_s, 4),
        compile_s=round(size.compile_s, 4),
        compile_peak_mib=round(size.compile_peak_mib, 2),
        compile_retained_mib=round(size.compile_retained_mib, 2),
        compile_rss_delta_mib=round(size.compile_rss_delta_mib, 2),
        cold=Spread.of(size.cold_ns),
        ours=Spread.of(size.ours_ns, repeats),
        floor=Spread.of(size.floor_ns, repeats),
        by_length=by_length(texts, size, repeats),
        fallback_share=round(winners["fallback"] / len(size.decisions), 4),
        winning_rules=len(winners) - ("fallback" in winners),
    )


# --- the aims ------------------------------------------------------------------------------


def aims(results: Sequence[SizeResult]) -> dict[str, dict[str, Any]]:
    """The issue's two aims, each with its figure and whether it holds (None: not measured)."""
    sizes = {result.rules: result for result in results}
    largest, smallest = sizes.get(max(SIZES)), sizes.get(min(SIZES))
    p99 = largest.ours.p99_us if largest else None
    scaling = largest.ours.total_s / smallest.ours.total_s if largest and smallest else None
    return {
        "p99": {
            "aim": f"p99 per decision at {max(SIZES):,} rules < {AIM_P99_US:,.0f} µs",
            "value": p99,
            "shown": "–" if p99 is None else f"{p99:,.0f} µs",
            "pass": None if p99 is None else p99 < AIM_P99_US,
        },
        "scaling": {
            "aim": f"total time at {max(SIZES):,} rules ≤ {AIM_SCALING:g} × at {min(SIZES)} rules",
            "value": None if scaling is None else round(scaling, 3),
            "shown": "–" if scaling is None else f"{scaling:.2f} ×",
            "pass": None if scaling is None else scaling <= AIM_SCALING,
        },
    }


def status(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "not measured"}[passed]


# --- output --------------------------------------------------------------------------------

SETUP_HEADER = [
    "rules",
    "terms (distinct)",
    "file KiB",
    "load s",
    "compile s",
    "compile peak MiB",
    "retained MiB",
    "RSS Δ MiB",
]
DECIDE_HEADER = [
    "rules",
    "cold p50 / p99 µs",
    "p50 µs",
    "p99 µs",
    "max µs",
    "mean µs",
    "total s",
    "floor p50 / p99 µs",
    "floor total s",
    "ratio ours ÷ floor",
    "fallback",
]
LENGTH_HEADER = ["rules", "texts", "words (mean)", "p50 µs", "p99 µs", "floor p50 / p99 µs"]


def setup_row(data: dict[str, Any]) -> list[str]:
    return [
        f"{data['rules']:,}",
        f"{data['term_slots']:,} ({data['distinct_terms']:,})",
        f"{data['rule_file_kib']:,.0f}",
        f"{data['load_s']:.3f}",
        f"{data['compile_s']:.3f}",
        f"{data['compile_peak_mib']:.1f}",
        f"{data['compile_retained_mib']:.1f}",
        f"{data['compile_rss_delta_mib']:.1f}",
    ]


def decide_row(data: dict[str, Any]) -> list[str]:
    cold, ours, floor = data["cold"], data["ours"], data["floor"]
    return [
        f"{data['rules']:,}",
        f"{cold['p50_us']:,.0f} / {cold['p99_us']:,.0f}",
        f"{ours['p50_us']:,.0f}",
        f"{ours['p99_us']:,.0f}",
        f"{ours['max_us']:,.0f}",
        f"{ours['mean_us']:,.0f}",
        f"{ours['total_s']:.2f}",
        f"{floor['p50_us']:,.0f} / {floor['p99_us']:,.0f}",
        f"{floor['total_s']:.2f}",
        f"{throughput_ratio(ours['total_s'], floor['total_s']):.2f}",
        f"{data['fallback_share']:.1%}",
    ]


def length_rows(data: dict[str, Any], mix: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for length, spreads in data["by_length"].items():
        ours, floor = spreads["ours"], spreads["floor"]
        rows.append(
            [
                f"{data['rules']:,}",
                f"{mix[length]['texts']:,} {length}",
                f"{mix[length]['mean_words']:.0f}",
                f"{ours['p50_us']:,.0f}",
                f"{ours['p99_us']:,.0f}",
                f"{floor['p50_us']:,.0f} / {floor['p99_us']:,.0f}",
            ]
        )
    return rows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    report.print_table(header, rows)
    print()


def print_results(saved: dict[str, Any]) -> None:
    sizes = saved["sizes"]
    print_table(SETUP_HEADER, [setup_row(data) for data in sizes])
    print_table(DECIDE_HEADER, [decide_row(data) for data in sizes])
    print_table(LENGTH_HEADER, [row for data in sizes for row in length_rows(data, saved["mix"])])
    for aim in saved["aims"].values():
        print(f"aim: {aim['aim']}: {status(aim['pass'])} ({aim['shown']})")


def text_mix(texts: Sequence[workload.Complaint]) -> dict[str, dict[str, Any]]:
    """How many texts of each length, and their words (min, mean, max)."""
    mix = {}
    for length in workload.Length:
        counts = [complaint.words for complaint in texts if complaint.length is length]
        if counts:
            mix[str(length)] = {
                "texts": len(counts),
                "min_words": min(counts),
                "mean_words": round(sum(counts) / len(counts), 1),
                "max_words": max(counts),
            }
    return mix


def as_json(
    results: Sequence[SizeResult],
    texts: Sequence[workload.Complaint],
    seed: int,
    load_average: Sequence[float],
    repeats: int,
) -> dict[str, Any]:
    return {
        **report.environment(),
        "benchmark": "routing",
        "load_average_at_start": [round(load, 2) for load in load_average],
        "pyyaml_libyaml": bool(getattr(yaml, "__with_libyaml__", False)),
        "seed": seed,
        "texts": len(texts),
        "chunk": CHUNK,
        "repeats": repeats,
        "mix": text_mix(texts),
        "sizes": [asdict(result) | {"ratio": round(result.ratio, 3)} for result in results],
        "aims": aims(results),
        "peak_rss_mib": round(report.peak_rss_mib(), 1),
    }


def save(saved: dict[str, Any]) -> None:
    report.publish({"routing": saved}, "Routing", lambda found: section_body(found[0]), "routing")


def section_body(saved: dict[str, Any]) -> str:
    """The Routing section of BENCHMARKS.md: how to run it, what it measures, the figures."""
    sizes, mix = saved["sizes"], saved["mix"]
    setup = report.markdown_table(SETUP_HEADER, [setup_row(data) for data in sizes])
    decide = report.markdown_table(DECIDE_HEADER, [decide_row(data) for data in sizes])
    lengths = report.markdown_table(
        LENGTH_HEADER, [row for data in sizes for row in length_rows(data, mix)]
    )
    shares = ", ".join(
        f"{m['texts']:,} {length} ({m['min_words']}–{m['max_words']} words)"
        for length, m in mix.items()
    )
    aim_lines = "\n".join(
        f"- {aim['aim']}: **{status(aim['pass'])}** ({aim['shown']})"
        for aim in saved["aims"].values()
    )
    return f"""\
`.venv/bin/python -m bench.routing [--texts N] [--sizes 100,1000,10000] [--repeats R]`

- **Rules**: generated rule files (`bench/routing_workload.py`, seed {saved["seed"]}), the
  smaller the first rules of the larger. Each rule varies one of the default rules: its
  agency, a priority near its own, 3–15 `any` terms of which about 40% are the default
  rule's terms and the rest generated place names, objects at a place and topic words at a
  place (2–3-word phrases); 15% have `all`, 10% `none`, 3% `regex`, 4% `channels` and 0.5%
  `areas` (the default areas) conditions.
- **Texts**: {saved["texts"]:,} complaints with SMS shorthand, typos and reduplication,
  terms of the default rules, words no rule knows, places the rules use and places they do
  not: {shares}.
- **Load** is `load_rules(text, agencies=None, lint=False)`: YAML parse and validation of
  every condition (which stems every term; the stemming cache is emptied first, as in a
  fresh process). **Compile** is `CompiledRules(rule_set)`. Memory: the tracemalloc peak
  and what stays allocated after compiling (a second, traced compilation), and the RSS
  growth over the first.
- **Decisions**: each `decide(text, channel)` timed alone with `time.perf_counter_ns`,
  garbage collector on. **Cold** is the first pass over the texts right after compiling
  (the stemming cache holds only the rules' words). All other figures are from
  {saved["repeats"]} **warm** passes (the steady state of a running instance; percentiles
  over all their calls, total = one pass), in which every size and its floor take turns
  every {saved["chunk"]} texts, so that a shared machine's load hits all of them alike.
- **Floor**: the text's words normalised as `decide` does it first
  (`" ".join(compiled.normalised(text))`: Unicode folding, splitting, and the rule set's
  cache of words already normalised), timed the same way. Every router must read the
  text in normalised form, so this is the work no matching strategy can remove; a bare
  Aho–Corasick scan of already normalised text would leave out most of what a decision
  must do. **ratio ours ÷ floor** is decisions per second as a share of the floor's texts
  per second (the floor's total time ÷ ours): higher is better, 1.0 would mean matching
  costs nothing on top of normalising the text.

{setup}

{decide}

By kind of text (warm):

{lengths}

{aim_lines}

Machine: {saved["machine"]}, {saved["nproc"]} CPUs, Python {saved["python"]}, load average
{" / ".join(f"{load:.2f}" for load in saved["load_average_at_start"])} at the start;
run {saved["date"][:10]} at commit `{saved["commit"]}`.
"""


# --- entry point ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.routing", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--texts",
        type=report.positive_int,
        default=TEXTS,
        help=f"texts to decide (default {TEXTS})",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=SIZES,
        help="rule-set sizes, comma-separated (default 100,1000,10000)",
    )
    parser.add_argument(
        "--repeats",
        type=report.positive_int,
        default=REPEATS,
        help=f"warm passes over the texts, pooled (default {REPEATS})",
    )
    parser.add_argument("--seed", type=int, default=workload.SEED)
    report.add_no_save_argument(parser)
    return parser.parse_args(argv)


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(sorted({report.positive_int(part) for part in text.split(",") if part.strip()}))


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_average = os.getloadavg()
    stem("perbaikan")  # build Sastrawi's stemmer once, outside every measurement
    words_of = workload.lexicon(args.seed)
    texts = workload.complaints(args.texts, words_of, args.seed)
    prepared = []
    for count in args.sizes:
        print(f"{count:,} rules: load, compile, {len(texts):,} texts cold …", flush=True)
        prepared.append(prepare(workload.rule_file(count, words_of, args.seed), texts))
    print(f"warm: every size and its floor in turns, {args.repeats} × …", flush=True)
    warm_passes(prepared, texts, args.repeats)
    results = [result_of(size, texts, args.repeats) for size in prepared]
    print()
    saved = as_json(results, texts, args.seed, load_average, args.repeats)
    print_results(saved)
    if not args.no_save:
        save(saved)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
