"""Routing: pure decisions of which agency owns a complaint. No I/O, no database.

`load_rules` reads and validates a rule file into a `RuleSet`; `CompiledRules` turns it
into a matcher whose `decide` returns a `Decision` that explains itself.
"""

from routing.decision import Decision, Router
from routing.diff import RuleSetDiff, diff_rule_sets
from routing.loader import LoadedRules, load_rules
from routing.matcher import CompiledRules
from routing.rules import Area, Problem, Rule, RuleFileError, RuleSet, Severity

__all__ = [
    "Area",
    "CompiledRules",
    "Decision",
    "LoadedRules",
    "Problem",
    "Router",
    "Rule",
    "RuleFileError",
    "RuleSet",
    "RuleSetDiff",
    "Severity",
    "diff_rule_sets",
    "load_rules",
]
