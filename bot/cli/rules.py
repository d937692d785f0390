"""`aduan rules …`: check, test, measure the impact of, apply and roll back routing rules."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.support import Tables, parse_duration, with_tables
from bot.cli.terminal import say

if TYPE_CHECKING:
    from bot.rules.impact import Impact

rules_app = typer.Typer(help="Routing rules: check, test, impact, apply, history, rollback.")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        say(f"error: cannot read {path}: {exc}", err=True)
        raise typer.Exit(2) from None


def _author(author: str | None) -> str:
    return author or getpass.getuser()


@rules_app.command("check")
def check(file: Path) -> None:
    """Validate a rule file against the agency directory; exit 1 on any error."""

    async def work(tables: Tables) -> None:
        loaded = await tables.rulebook.check(_read(file), str(file))
        for warning in loaded.warnings:
            say(f"{file}:{warning.line}: warning: {warning.message}")
        terms = {term for rule in loaded.rules.rules for term in rule.terms}
        say(
            f"{file}: {len(loaded.rules.rules)} rules, {len(terms)} terms, "
            f"{len(loaded.warnings)} warnings, no errors"
        )

    with_tables(work)


@rules_app.command("test")
def try_text(
    text: str,
    channel: Annotated[str, typer.Option(help="Channel the message came on")] = "sms",
    file: Annotated[
        Path | None, typer.Option(help="Test a rule file instead of the rules in force")
    ] = None,
) -> None:
    """Show which agency a text goes to, by which rule, and why."""
    from bot.records.queries import agency_names
    from bot.rules.compiled import compiled_version
    from routing import CompiledRules

    async def work(tables: Tables) -> None:
        if file is not None:
            matcher = CompiledRules(
                (await tables.rulebook.check(_read(file), str(file))).rules, str(file)
            )
        else:
            stored = await tables.rulebook.get()
            matcher = compiled_version(stored)
        decision = matcher.decide(text, channel)
        names = await agency_names(tables.uow)
        say(f"{decision.agency_code}  {names.get(decision.agency_code, '?')}")
        say(f"rule      {decision.rule_id} (rules {decision.version})")
        say(f"words     {', '.join(decision.matched_terms) or '-'}")
        say(f"why       {decision.explanation_id}")
        say(f"          {decision.explanation_en}")

    with_tables(work)


@rules_app.command("impact")
def impact(
    file: Path,
    since: Annotated[str, typer.Option(help="How far back: 30d, 12h, 2w")] = "30d",
) -> None:
    """Replay past complaints through a candidate rule file: what would move where."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.rules.compiled import compiled_version
    from bot.rules.impact import replay
    from routing import CompiledRules

    window = parse_duration(since)

    async def work(tables: Tables) -> None:
        candidate = CompiledRules(
            (await tables.rulebook.check(_read(file), str(file))).rules, str(file)
        )
        stored = await tables.rulebook.get()
        current = compiled_version(stored)
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn())
        with Progress(*columns, transient=True) as bar:
            task = bar.add_task("replay", total=None)
            result = await replay(
                tables.uow,
                current,
                candidate,
                tables.clock.now() - window,
                lambda done, total: bar.update(task, completed=done, total=total),
            )
        say(_impact_text(result, f"v{stored.version}", since))

    with_tables(work)


@rules_app.command("apply")
def apply(
    file: Path,
    author: Annotated[
        str | None, typer.Option(help="Who is applying (default: your login)")
    ] = None,
    comment: Annotated[str, typer.Option("--comment", "-m", help="Why")] = "",
) -> None:
    """Validate and apply a rule file as a new version; every instance follows within seconds."""
    from bot.rules.book import parse
    from routing import diff_rule_sets

    async def work(tables: Tables) -> None:
        text = _read(file)
        loaded = await tables.rulebook.check(text, str(file))
        stored = await tables.rulebook.get()
        for line in diff_rule_sets(parse(stored), loaded.rules).lines():
            say(line)
        applied = await tables.rulebook.apply(
            text, author=_author(author), comment=comment, source=str(file)
        )
        for warning in applied.warnings:
            say(f"warning: {warning}")
        say(f"applied as version {applied.version.version} (was {stored.version})")

    with_tables(work)


@rules_app.command("history")
def history(limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
    """The applied versions, newest first."""

    async def work(tables: Tables) -> None:
        zone = tables.settings.zone
        for version in await tables.rulebook.history(limit):
            restored = f" (restores {version.restored_from})" if version.restored_from else ""
            when = version.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
            say(f"v{version.version:<4} {when}  {version.author:<12} {version.comment}{restored}")

    with_tables(work)


@rules_app.command("diff")
def diff(old: int, new: int) -> None:
    """What changed from version OLD to version NEW."""

    async def work(tables: Tables) -> None:
        for line in (await tables.rulebook.diff(old, new)).lines():
            say(line)

    with_tables(work)


@rules_app.command("rollback")
def rollback(
    version: int,
    author: Annotated[
        str | None, typer.Option(help="Who is rolling back (default: your login)")
    ] = None,
) -> None:
    """Put an earlier version back in force (as a new version, so history keeps both)."""

    async def work(tables: Tables) -> None:
        restored = await tables.rulebook.rollback(version, author=_author(author))
        say(f"version {version} is back in force as version {restored.version}")

    with_tables(work)


@rules_app.command("export")
def export(
    version: Annotated[int | None, typer.Option(help="Default: the version in force")] = None,
) -> None:
    """Print a version's rule file, to edit and apply again."""

    async def work(tables: Tables) -> None:
        say((await tables.rulebook.get(version)).content, nl=False)

    with_tables(work)


@rules_app.command("stats")
def stats() -> None:
    """Per rule: complaints routed and how many officers transferred elsewhere (misroutes)."""
    from bot.records.queries import routing_outcomes

    async def work(tables: Tables) -> None:
        say(f"{'rule':<32} {'routed':>7} {'transferred':>12} {'rate':>6}")
        for rule, routed, transferred in await routing_outcomes(tables.uow):
            say(f"{rule:<32} {routed:>7} {transferred:>12} {transferred / routed:>6.0%}")

    with_tables(work)


def _impact_text(impact: Impact, current: str, since: str) -> str:
    moved = f"{impact.moved} would go to a different agency"
    if impact.moved:
        moved += f"; officers had already transferred {impact.confirmed_by_transfers} of them there"
    lines = [
        f"replayed {impact.replayed} complaints of the last {since} "
        f"against the rules in force ({current})",
        moved,
    ]
    for (before, after), count in impact.moves.most_common():
        lines.append(f"  {before:>12} → {after:<12} {count:>6}")
        lines += [f"      {ex.reference}  {ex.text}" for ex in impact.examples[(before, after)]]
    return "\n".join(lines)
