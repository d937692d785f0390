"""Rule text compiled once per process.

Parsing a rule file and compiling it (stemming every term) is the costly part of starting
the service; the default file at start-up and the version the database holds are most of
the time the same text. Compiled rules are immutable (their word memo only caches a pure
function), so one compilation serves every router in the process that follows that text,
whatever version label each gives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from routing.loader import load_rules
from routing.matcher import CompiledRules
from storage.models import RuleSetVersion

# The file's rules and the few newest versions; older ones are not asked for again.
_CACHE_SIZE = 4


@dataclass(frozen=True, slots=True)
class _Text:
    text: str
    # Names the text in error messages only: the same text compiles the same wherever it is from.
    source: str = field(compare=False)


def compiled_rules(text: str, *, source: str, version: str | None = None) -> CompiledRules:
    """The rules of `text` compiled, labelled `version`; RuleFileError names `source`.

    Agencies are not checked (the rule book checks them when a version is applied)."""
    compiled = _compile(_Text(text, source))
    return compiled if compiled.version == version else compiled.labelled(version)


def compiled_version(stored: RuleSetVersion) -> CompiledRules:
    """A stored version's rules, compiled and labelled `v<number>`."""
    return compiled_rules(
        stored.content, source=f"version {stored.version}", version=f"v{stored.version}"
    )


@lru_cache(maxsize=_CACHE_SIZE)
def _compile(request: _Text) -> CompiledRules:
    # Lint warnings never change the rule set, so they are not computed here.
    loaded = load_rules(request.text, agencies=None, source=request.source, lint=False)
    return CompiledRules(loaded.rules)
