"""Routing: pure decisions of which agency owns a complaint. No I/O, no database."""

from routing.decision import Decision, Router
from routing.keyword_table import KeywordTable, RoutingConfigError

__all__ = ["Decision", "KeywordTable", "Router", "RoutingConfigError"]
