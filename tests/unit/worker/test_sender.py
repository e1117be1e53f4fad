"""The send pipeline's pure decisions: rules before sending, and what a failure leads to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.cloudapi.errors import (
    CloudAPIError,
    CloudAPITransportError,
    UnreadableResponseError,
    error_from_status_error,
)
from ovillo.inbox import outbox
from ovillo.rules import limits
from ovillo.worker.sender import failure_outcome, rule_refusal

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _refusal(**overrides: object) -> object:
    arguments: dict[str, object] = {
        "message_type": "text",
        "template_category": None,
        "last_inbound_at": NOW - timedelta(hours=1),
        "opt_outs": {},
        "limit_decision": None,
        "now": NOW,
    }
    arguments.update(overrides)
    return rule_refusal(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({}, None),
        ({"last_inbound_at": None}, 131047),
        ({"last_inbound_at": NOW - timedelta(hours=24)}, 131047),
        ({"last_inbound_at": NOW - timedelta(hours=23, minutes=59)}, None),
        ({"message_type": "template", "last_inbound_at": None}, None),
        (
            {"message_type": "template", "template_category": "MARKETING",
             "opt_outs": {"marketing": "2026-01-01T00:00:00+00:00"}},
            131050,
        ),
        (
            {"message_type": "template", "template_category": "UTILITY",
             "opt_outs": {"marketing": "2026-01-01T00:00:00+00:00"}},
            None,
        ),
    ],
)  # fmt: skip
def test_rules_table(overrides: dict[str, object], code: int | None) -> None:
    refusal = _refusal(**overrides)
    assert (refusal.code if refusal is not None else None) == code  # type: ignore[attr-defined]


def test_a_closed_window_reads_as_meta_would_say_it() -> None:
    refusal = _refusal(last_inbound_at=None)
    assert refusal is not None
    assert refusal.title == "Re-engagement message"  # type: ignore[attr-defined]
    assert "24 hours" in refusal.detail  # type: ignore[attr-defined]


def test_the_messaging_limit_refuses_a_new_business_initiated_recipient() -> None:
    window = limits.RecipientWindow()
    for i in range(250):
        window.record(f"r{i}", NOW - timedelta(hours=1))
    decision = window.check(tier=limits.Tier.TIER_250, recipient="new", now=NOW)
    refusal = _refusal(message_type="template", last_inbound_at=None, limit_decision=decision)
    assert refusal is not None
    assert refusal.code == 131048  # type: ignore[attr-defined]
    assert "250" in refusal.detail  # type: ignore[attr-defined]


def _meta_error(code: int) -> CloudAPIError:
    return error_from_status_error({"code": code, "title": "x", "error_data": {"details": "d"}})


attempts = st.integers(min_value=1, max_value=20)


@given(attempts)
def test_a_lost_answer_is_never_retried_blindly(n: int) -> None:
    lost = CloudAPITransportError(
        method="POST", url="u", reason="reset", may_have_reached_meta=True
    )
    unreadable = UnreadableResponseError(http_status=200, details="not json")
    for failure in (lost, unreadable):
        assert (
            failure_outcome(failure, seq=1, attempts=n, max_attempts=30, now=NOW, jitter=0.5)
            is None
        )


@given(attempts, st.integers(min_value=1, max_value=20))
def test_a_connection_that_never_opened_is_retried_until_attempts_run_out(
    n: int, most: int
) -> None:
    refused = CloudAPITransportError(
        method="POST", url="u", reason="refused", may_have_reached_meta=False
    )
    outcome = failure_outcome(refused, seq=1, attempts=n, max_attempts=most, now=NOW, jitter=0.1)
    assert isinstance(outcome, outbox.Retry if n < most else outbox.Failed)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (131016, outbox.Retry),
        (130429, outbox.Retry),
        (131056, outbox.Retry),
        (131047, outbox.Failed),
        (131026, outbox.Failed),
        (100, outbox.Failed),
    ],
)
def test_meta_errors_table(code: int, kind: type) -> None:
    outcome = failure_outcome(
        _meta_error(code), seq=7, attempts=1, max_attempts=8, now=NOW, jitter=0.0
    )
    assert isinstance(outcome, kind)
    assert outcome.error_code == code  # type: ignore[union-attr]


def test_a_pair_rate_refusal_waits_at_least_six_seconds() -> None:
    outcome = failure_outcome(
        _meta_error(131056), seq=7, attempts=1, max_attempts=8, now=NOW, jitter=0.0
    )
    assert isinstance(outcome, outbox.Retry)
    assert outcome.at >= NOW + timedelta(seconds=6)
