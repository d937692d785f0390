"""Rebuild BENCHMARKS.md from the results saved in bench/results/, measuring nothing:

    .venv/bin/python -m bench.sections

Every section is written again by the code that writes it after a run, the headline and
README's headline line included, so that a change in what a section says (or in how a
table reads) reaches the document without a benchmark run. The figures stay those of the
runs that saved them, each with its date and commit.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from bench import (
    email,
    faults,
    headline,
    intake,
    load,
    report,
    routing,
    sla,
    transparency,
    webhook,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sections", description=__doc__.split("\n")[0]
    )
    parser.parse_args(argv)
    built = {
        "Intake": (intake.section_body, report.read_results("intake-")),
        "Webhook": (webhook.section_body, report.read_results("webhook-")),
        "Load": (load.section_body, report.read_results("load-")),
        "SLA sweep": (sla.section_body, report.read_results("sla-")),
        "Email": (email.section_body, report.read_results("email-")),
        "Faults": (faults.section_body, report.read_results("faults-")),
        "Transparency": (transparency.section_body, report.read_results("transparency-")),
    }
    for title, (body, saved) in built.items():
        if saved:
            report.replace_section(title, body(saved))
    if found := report.read_results("routing"):
        report.replace_section("Routing", routing.section_body(found[0]))
    headline.refresh()
    print(f"rebuilt {report.BENCHMARKS.relative_to(report.ROOT)} from the saved results")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
