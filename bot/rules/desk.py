"""Admins' rule work from chat: the rules in force, statistics, and a rule file sent as a
document — checked, compared and measured against past complaints, then applied or
cancelled with a button."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.clock import Clock
from bot.messaging.templates import OFFICER_LANGUAGE, render
from bot.rules.book import LiveRouter, RuleBook, RuleBookError
from bot.rules.impact import replay
from bot.sla.figures import Period, Transparency
from channels.base import ActionKind, ActionRequest, ActionResult, Button
from routing import CompiledRules, RuleFileError, diff_rule_sets
from storage.models import RuleProposal, stored_id
from storage.unit_of_work import UnitOfWorkFactory

ADMIN_ACTIONS = frozenset(
    {
        ActionKind.RULES,
        ActionKind.STATS,
        ActionKind.PROPOSE_RULES,
        ActionKind.APPLY_RULES,
        ActionKind.CANCEL_RULES,
    }
)
IMPACT_WINDOW = timedelta(days=30)
_SHOWN = 15  # diff lines and moves shown in a chat message


class RuleDesk:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        rulebook: RuleBook,
        router: LiveRouter,
        figures: Transparency,
    ) -> None:
        self._uow = uow
        self._figures = figures
        self._clock = clock
        self._rulebook = rulebook
        self._router = router

    async def handle(self, request: ActionRequest, admin: str) -> ActionResult:
        match request.kind:
            case ActionKind.RULES:
                return await self._in_force()
            case ActionKind.STATS:
                return await self._stats()
            case ActionKind.PROPOSE_RULES:
                return await self._propose(request.text, request.reference or "aturan.yaml", admin)
            case ActionKind.APPLY_RULES | ActionKind.CANCEL_RULES:
                return await self._decide(request.kind, request.text, admin)
        return ActionResult(False, render("action_unknown", OFFICER_LANGUAGE, kind=request.kind))

    async def _in_force(self) -> ActionResult:
        stored = await self._rulebook.get()
        count = len(self._router.compiled.rule_set.rules)
        return ActionResult(
            True,
            render(
                "rules_in_force",
                OFFICER_LANGUAGE,
                version=stored.version,
                count=count,
                author=stored.author,
                comment=stored.comment or "-",
            ),
        )

    async def _stats(self) -> ActionResult:
        period = Period.ending(self._figures.today(), IMPACT_WINDOW.days)
        figures = await self._figures.figures(period)
        lines = [render("rules_stats", OFFICER_LANGUAGE)]
        for row in figures.agencies:
            pct = row.answered_in_time_pct
            share = "-" if pct is None else f"{pct:g}%"
            lines.append(
                f"{row.agency_code}: {row.received} · {share} · {row.open} · {row.overdue}"
            )
        return ActionResult(True, "\n".join(lines))

    async def _propose(self, text: str, name: str, admin: str) -> ActionResult:
        try:
            loaded = await self._rulebook.check(text, name)
        except RuleFileError as exc:
            return ActionResult(False, render("rules_invalid", OFFICER_LANGUAGE, error=exc)[:3500])
        current = self._router.compiled
        candidate = CompiledRules(loaded.rules, "usulan")
        changes = diff_rule_sets(current.rule_set, loaded.rules).lines()
        impact = await replay(self._uow, current, candidate, self._clock.now() - IMPACT_WINDOW)
        async with self._uow() as uow:
            proposal = RuleProposal(content=text, author=admin, created_at=self._clock.now())
            uow.rule_sets.propose(proposal)
            await uow.commit()
        proposal_id = stored_id(proposal)
        valid = render(
            "rules_valid",
            OFFICER_LANGUAGE,
            rules=len(loaded.rules.rules),
            warnings=len(loaded.warnings),
        )
        lines = [valid, render("rules_changes", OFFICER_LANGUAGE), *changes[:_SHOWN]]
        if len(changes) > _SHOWN:
            lines.append(render("list_more", OFFICER_LANGUAGE, count=len(changes) - _SHOWN))
        lines.append(
            render("rules_impact", OFFICER_LANGUAGE, moved=impact.moved, replayed=impact.replayed)
        )
        lines += [f"  {a} → {b}: {n}" for (a, b), n in impact.moves.most_common(_SHOWN)]
        buttons = (
            Button(
                render("button_apply", OFFICER_LANGUAGE),
                ActionKind.APPLY_RULES,
                argument=str(proposal_id),
            ),
            Button(
                render("button_cancel", OFFICER_LANGUAGE),
                ActionKind.CANCEL_RULES,
                argument=str(proposal_id),
            ),
        )
        return ActionResult(True, "\n".join(lines), buttons=buttons)

    async def _decide(self, kind: ActionKind, proposal_id: str, admin: str) -> ActionResult:
        now = self._clock.now()
        async with self._uow() as uow:
            proposal = (
                await uow.rule_sets.proposal(int(proposal_id)) if proposal_id.isdigit() else None
            )
            if proposal is None:
                return ActionResult(False, render("proposal_unknown", OFFICER_LANGUAGE))
            if proposal.decision is not None:
                decided = render("proposal_decided", OFFICER_LANGUAGE, decision=proposal.decision)
                return ActionResult(False, decided)
            proposal.decided_at = now
            if kind is ActionKind.CANCEL_RULES:
                proposal.decision = "cancelled"
                await uow.commit()
                return ActionResult(True, render("proposal_cancelled", OFFICER_LANGUAGE))
            content = proposal.content
            proposal.decision = "applying"
            await uow.commit()
        try:
            applied = await self._rulebook.apply(
                content, author=admin, comment=render("rules_from_chat", OFFICER_LANGUAGE)
            )
        except (RuleBookError, RuleFileError) as exc:
            await self._record(int(proposal_id), f"refused: {exc}"[:40])
            return ActionResult(False, render("rules_not_applied", OFFICER_LANGUAGE, error=exc))
        version = applied.version.version
        await self._record(int(proposal_id), f"applied as version {version}")
        await self._router.refresh()
        return ActionResult(True, render("rules_applied", OFFICER_LANGUAGE, version=version))

    async def _record(self, proposal_id: int, decision: str) -> None:
        async with self._uow() as uow:
            proposal = await uow.rule_sets.proposal(proposal_id)
            if proposal is None:
                raise RuleBookError(
                    f"rule proposal {proposal_id} was deleted while it was decided; "
                    f"its decision was not recorded: {decision}"
                )
            proposal.decision = decision[:40]
            await uow.commit()
