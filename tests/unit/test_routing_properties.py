"""Routing under any text a resident could send: unicode of every kind, control characters,
huge messages. It never raises and always says why it decided what it did."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.loader import load_rules
from routing.matcher import CompiledRules

ROOT = Path(__file__).resolve().parents[2]
_AGENCIES = yaml.safe_load((ROOT / "config" / "agencies.yaml").read_text(encoding="utf-8"))
AGENCY_CODES = [agency["code"] for agency in _AGENCIES["agencies"]]
COMPILED = CompiledRules(
    load_rules(
        (ROOT / "config" / "rules.yaml").read_text(encoding="utf-8"), agencies=AGENCY_CODES
    ).rules
)
# Words the rules know, so that generated texts also match rules, not only the fallback.
KNOWN = ["asap", "pabrik", "limbah", "jln", "berlubang", "lampu", "mati", "sampah", "yg", "gk"]

texts = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=2000),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=200),
    st.lists(st.sampled_from(KNOWN) | st.text(max_size=8), max_size=60).map(" ".join),
    st.integers(min_value=1, max_value=200_000).map(lambda n: ("asap pabrik " * n)[:200_000]),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    text=texts,
    channel=st.sampled_from(["sms", "email", "telegram", "web", "voice", "x" * 40]),
    latitude=st.none() | st.floats(allow_nan=True, allow_infinity=True),
    longitude=st.none() | st.floats(allow_nan=True, allow_infinity=True),
)
def test_routing_never_raises_and_always_explains(
    text: str, channel: str, latitude: float | None, longitude: float | None
) -> None:
    decision = COMPILED.decide(text, channel, latitude, longitude)

    assert decision.agency_code in AGENCY_CODES
    assert decision.rule_id
    assert decision.explanation_id.strip() and decision.explanation_en.strip()
    for term in decision.matched_terms:
        assert term in decision.explanation_id or len(decision.matched_terms) > 3
