"""Faults: 10,000 mixed messages (web, SMS and voice webhooks, Telegram, email) into real
`aduan run` processes killed with SIGKILL 3–5 times at random moments, on a throwaway
PostgreSQL cluster restarted mid-run, with Twilio, Telegram and the SMTP server failing a
share of sends; then every message must be exactly one complaint or follow-up and every
send must have arrived exactly once (or, recorded "delivery unknown", at most once).

    .venv/bin/python -m bench.faults [--n 10000] [--kills 3..5] [--seed aduan]

The scenario is `tests/integration/faults.py` (its docstring says what each client and
fault models); the suite runs it at 300 messages (tests/integration/test_faults.py). Needs
root for the throwaway Dovecot and PostgreSQL 15's initdb; exits 2 without them. Prints
the counts; saves `bench/results/faults-<n>.json` and the "Faults" section of
BENCHMARKS.md unless a promise was broken (then exit 1, with what broke).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import report
from tests.integration.dovecot import dovecot_problem, start_dovecot, stop_dovecot
from tests.integration.faults import Outcome, run_faults
from tests.integration.pg_cluster import cluster_problem

SECTION = "Faults"


def as_json(outcome: Outcome, kills: int, seed: str) -> dict[str, Any]:
    return {
        **report.environment(),
        "n": outcome.size,
        "kills_planned": kills,
        "seed": seed,
        "seconds": round(outcome.seconds, 1),
        "counts": outcome.counts,
        "per_channel": outcome.per_channel,
        "violations": len(outcome.violations),
    }


def section_body(saved: Sequence[dict[str, Any]]) -> str:
    """The Faults section: what is run, then each saved run's counts side by side."""
    header = ["", *(f"N = {data['n']:,}" for data in saved)]
    names = list(dict.fromkeys(name for data in saved for name in data["counts"]))
    rows = [[name, *(str(data["counts"].get(name, "–")) for data in saved)] for name in names]
    rows.append(["seconds", *(f"{data['seconds']:,.0f}" for data in saved)])
    rows.append(["promises broken", *(str(data["violations"]) for data in saved)])
    rows.append(["date", *(data["date"][:10] for data in saved)])
    rows.append(["commit", *(f"`{data['commit']}`" for data in saved)])
    machines = sorted({f"{data['machine']}, {data['nproc']} CPUs" for data in saved})
    return f"""\
`.venv/bin/python -m bench.faults [--n N] [--kills K] [--seed S]` (the suite runs the same
scenario with 300 messages and 2 kills: `tests/integration/test_faults.py`)

- **Load**: N messages, about 30 % web (JSON API, Idempotency-Key), 25 % SMS and 10 %
  voice recordings (signed Twilio webhooks), 20 % Telegram (polled from the fake Bot API),
  15 % email (APPENDed to Dovecot, read over IMAP IDLE); a fifth of the web, SMS and
  Telegram messages are follow-ups from the sender of an earlier complaint. 8 in flight;
  a client sends again until it gets a 2xx.
- **Faults**: SIGKILL of the one `aduan run` K times at random moments (then started
  again), `pg_ctl restart -m fast` of the test's own PostgreSQL cluster once, and every
  0.2–0.8 s one fault queued at a provider: Twilio 500 or 429; Telegram 500, 429
  (retry_after 1) or a 6 s stall past the client's timeout; SMTP 451, 421 or 452.
- **Promises checked**: every message stored once (by text, or RecordingSid) and each
  sender's messages one complaint with its follow-ups; every outbox row sent, and
  received once at its fake, compared by channel, recipient and text (the web channel
  transmits nothing); a row recorded "delivery unknown" (killed between the provider's
  accept and our record; Telegram and email are never resent then, and an SMS only once
  Twilio's message list shows it never took it) received at most once; no dead letter.
  "answers" count what clients got back, killed processes' refused connections included.

{report.markdown_table(header, rows)}

Machine: {"; ".join(machines)}.
"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--n", type=report.positive_int, default=10_000, help="messages")
    parser.add_argument(
        "--kills", type=report.positive_int, help="SIGKILLs (default: 3 to 5, by the seed)"
    )
    parser.add_argument("--seed", default="aduan", help="for every random choice of the run")
    report.add_no_save_argument(parser)
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    kills = args.kills or random.Random(args.seed).randint(3, 5)
    if problem := dovecot_problem() or cluster_problem():
        print(f"cannot run here: {problem}", file=sys.stderr)
        return 2
    root = Path(tempfile.mkdtemp(prefix="aduan-bench-dovecot-"))
    try:
        server = start_dovecot(root)
        try:
            outcome = await run_faults(args.n, kills=kills, dovecot=server, seed=args.seed)
        finally:
            stop_dovecot(server)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    report.print_table(["", f"N = {args.n:,}"], outcome.table())
    print(f"{outcome.seconds:,.0f} s")
    for violation in outcome.violations:
        print(f"error: {violation}")
    if not args.no_save and not outcome.violations:
        result = as_json(outcome, kills, args.seed)
        report.publish({f"faults-{args.n}": result}, SECTION, section_body, "faults-")
    return 1 if outcome.violations else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
