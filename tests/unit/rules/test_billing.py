"""Message billing classification: documented cases on both sides of each rule change, laws."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.rules.billing import (
    CBP_CONVERSATION_DURATION,
    BillingCategory,
    BillingClassification,
    OpenConversation,
    PricingCalendar,
    PricingModel,
    PricingType,
    TemplateCategory,
    classify_message,
    conversation_object,
    decide_conversation,
    pricing_model_at,
    pricing_object,
)
from ovillo.rules.window import FreeEntryPoint, free_entry_point

US = timedelta(microseconds=1)
HOUR = timedelta(hours=1)

# One instant on each side of every dated change (UTC WABA unless said otherwise).
CBP_PAID_SERVICE = datetime(2024, 10, 31, 23, 59, 59, 999999, tzinfo=UTC)
CBP_FREE_SERVICE = datetime(2024, 11, 1, tzinfo=UTC)
CBP_LAST = datetime(2025, 6, 30, 23, 59, 59, 999999, tzinfo=UTC)
PMP_FIRST = datetime(2025, 7, 1, tzinfo=UTC)
PMP_BEFORE_OCT_2026 = datetime(2026, 9, 30, 23, 59, 59, 999999, tzinfo=UTC)
PMP_OCT_2026 = datetime(2026, 10, 1, tzinfo=UTC)
TODAY = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)

M, U, A = "MARKETING", "UTILITY", "AUTHENTICATION"
IN_WINDOW = HOUR  # the user wrote an hour before the send
NO_WINDOW = None


@dataclass(frozen=True)
class Expected:
    model: PricingModel
    category: BillingCategory
    billable: bool
    charged: bool
    pricing_type: PricingType | None


def pmp(category: BillingCategory, pricing_type: PricingType) -> Expected:
    billable = pricing_type is PricingType.REGULAR
    return Expected(PricingModel.PMP, category, billable, billable, pricing_type)


def cbp(category: BillingCategory, *, billable: bool, charged: bool) -> Expected:
    return Expected(PricingModel.CBP, category, billable, charged, None)


def classify(
    sent_at: datetime,
    template: str | None,
    since_inbound: timedelta | None,
    **kwargs: object,
) -> BillingClassification:
    last_inbound = None if since_inbound is None else sent_at - since_inbound
    return classify_message(
        sent_at=sent_at,
        template_category=template,
        last_inbound_at=last_inbound,
        **kwargs,  # type: ignore[arg-type]
    )


def assert_matches(result: BillingClassification, expected: Expected) -> None:
    assert (
        result.pricing_model,
        result.category,
        result.billable,
        result.charged,
        result.pricing_type,
    ) == (
        expected.model,
        expected.category,
        expected.billable,
        expected.charged,
        expected.pricing_type,
    )
    assert result.allowed


S, UT, MK, AU = (
    BillingCategory.SERVICE,
    BillingCategory.UTILITY,
    BillingCategory.MARKETING,
    BillingCategory.AUTHENTICATION,
)
FREE_CS, REGULAR = PricingType.FREE_CUSTOMER_SERVICE, PricingType.REGULAR


@pytest.mark.parametrize(
    ("sent_at", "template", "since_inbound", "expected"),
    [
        # CBP, nothing open: each message opens a conversation of its category.
        (CBP_PAID_SERVICE, None, IN_WINDOW, cbp(S, billable=True, charged=True)),
        (CBP_FREE_SERVICE, None, IN_WINDOW, cbp(S, billable=True, charged=False)),
        (CBP_LAST, None, IN_WINDOW, cbp(S, billable=True, charged=False)),
        (CBP_LAST, U, IN_WINDOW, cbp(UT, billable=True, charged=True)),
        (CBP_LAST, U, NO_WINDOW, cbp(UT, billable=True, charged=True)),
        (CBP_LAST, M, IN_WINDOW, cbp(MK, billable=True, charged=True)),
        (CBP_LAST, A, NO_WINDOW, cbp(AU, billable=True, charged=True)),
        # PMP until 2026-09-30: free-form and utility free inside the window.
        (PMP_FIRST, None, IN_WINDOW, pmp(S, FREE_CS)),
        (PMP_FIRST, U, IN_WINDOW, pmp(UT, FREE_CS)),
        (PMP_FIRST, U, NO_WINDOW, pmp(UT, REGULAR)),
        (PMP_FIRST, M, IN_WINDOW, pmp(MK, REGULAR)),
        (PMP_FIRST, A, IN_WINDOW, pmp(AU, REGULAR)),
        (PMP_BEFORE_OCT_2026, None, IN_WINDOW, pmp(S, FREE_CS)),
        (PMP_BEFORE_OCT_2026, U, IN_WINDOW, pmp(UT, FREE_CS)),
        (PMP_BEFORE_OCT_2026, U, timedelta(hours=24) - US, pmp(UT, FREE_CS)),
        (PMP_BEFORE_OCT_2026, U, timedelta(hours=24), pmp(UT, REGULAR)),
        # From 2026-10-01: service and in-window utility are charged.
        (PMP_OCT_2026, None, IN_WINDOW, pmp(S, REGULAR)),
        (PMP_OCT_2026, U, IN_WINDOW, pmp(UT, REGULAR)),
        (PMP_OCT_2026, U, NO_WINDOW, pmp(UT, REGULAR)),
        (PMP_OCT_2026, M, IN_WINDOW, pmp(MK, REGULAR)),
        (TODAY, None, timedelta(hours=24) - US, pmp(S, REGULAR)),
        (TODAY, A, IN_WINDOW, pmp(AU, REGULAR)),
    ],
)
def test_documented_cases(
    sent_at: datetime, template: str | None, since_inbound: timedelta | None, expected: Expected
) -> None:
    assert_matches(classify(sent_at, template, since_inbound), expected)


@pytest.mark.parametrize(
    ("sent_at", "template"),
    [
        (CBP_LAST, None),
        (CBP_LAST, M),
        (PMP_FIRST, None),
        (PMP_FIRST, U),
        (PMP_FIRST, M),
        (PMP_FIRST, A),
        (PMP_OCT_2026, None),
        (PMP_OCT_2026, U),
        (TODAY, M),
    ],
)
@pytest.mark.parametrize(
    "since_reply",
    [timedelta(0), timedelta(hours=30), timedelta(hours=72) - US],
    ids=["at-reply", "window-closed-fep-open", "72h-minus-1us"],
)
def test_free_entry_point_makes_everything_free(
    sent_at: datetime, template: str | None, since_reply: timedelta
) -> None:
    reply = sent_at - since_reply
    fep = free_entry_point(
        referral_inbound_at=reply - HOUR, first_business_reply_at=reply, now=reply
    )
    last_inbound = reply - HOUR if template is not None else sent_at - HOUR

    result = classify_message(
        sent_at=sent_at,
        template_category=template,
        last_inbound_at=last_inbound,
        free_entry_point=fep,
    )

    assert result.category is BillingCategory.REFERRAL_CONVERSION
    assert result.billable is False
    assert result.charged is False
    expected_type = PricingType.FREE_ENTRY_POINT if sent_at >= PMP_FIRST else None
    assert result.pricing_type is expected_type
    assert result.free_entry_point == fep


@pytest.mark.parametrize("sent_at", [CBP_LAST, PMP_FIRST, TODAY])
def test_free_entry_point_ends_at_exactly_72h(sent_at: datetime) -> None:
    reply = sent_at - timedelta(hours=72)
    fep = free_entry_point(referral_inbound_at=reply, first_business_reply_at=reply, now=reply)

    result = classify_message(
        sent_at=sent_at, template_category=M, last_inbound_at=reply, free_entry_point=fep
    )

    assert result.category is BillingCategory.MARKETING
    assert result.billable is True
    assert result.free_entry_point is None


@pytest.mark.parametrize("sent_at", [CBP_LAST, PMP_FIRST, PMP_OCT_2026])
@pytest.mark.parametrize("since_inbound", [None, timedelta(hours=24)], ids=["never", "24h"])
def test_free_form_outside_the_window_is_refused(
    sent_at: datetime, since_inbound: timedelta | None
) -> None:
    result = classify(sent_at, None, since_inbound)

    assert result.allowed is False
    assert (result.billable, result.charged, result.conversation) == (False, False, None)
    with pytest.raises(ValueError, match="131047"):
        pricing_object(result)


@pytest.mark.parametrize(
    ("sent_at", "zone", "model"),
    [
        (CBP_LAST, UTC, PricingModel.CBP),
        (PMP_FIRST, UTC, PricingModel.PMP),
        # São Paulo is UTC-3: 02:59 UTC on 1 July is still 30 June there.
        (datetime(2025, 7, 1, 2, 59, 59, 999999, tzinfo=UTC), ZoneInfo("America/Sao_Paulo"), "CBP"),
        (datetime(2025, 7, 1, 3, 0, tzinfo=UTC), ZoneInfo("America/Sao_Paulo"), "PMP"),
        # India is UTC+5:30: 18:30 UTC on 30 June is already 1 July there.
        (datetime(2025, 6, 30, 18, 29, 59, tzinfo=UTC), timezone(timedelta(hours=5.5)), "CBP"),
        (datetime(2025, 6, 30, 18, 30, tzinfo=UTC), timezone(timedelta(hours=5.5)), "PMP"),
    ],
)
def test_pricing_model_switches_at_midnight_in_the_waba_time_zone(
    sent_at: datetime, zone: tzinfo, model: str
) -> None:
    assert pricing_model_at(sent_at, waba_timezone=zone) == model
    assert classify(sent_at, M, None, waba_timezone=zone).pricing_model == model


@pytest.mark.parametrize(
    ("sent_at", "zone", "charged"),
    [
        (PMP_BEFORE_OCT_2026, UTC, False),
        (PMP_OCT_2026, UTC, True),
        (datetime(2026, 10, 1, 2, 0, tzinfo=UTC), ZoneInfo("America/Mexico_City"), False),
        (datetime(2026, 9, 30, 23, 0, tzinfo=UTC), ZoneInfo("Europe/Madrid"), True),
    ],
)
def test_service_charging_starts_at_midnight_in_the_waba_time_zone(
    sent_at: datetime, zone: tzinfo, charged: bool
) -> None:
    assert classify(sent_at, None, IN_WINDOW, waba_timezone=zone).charged is charged


@pytest.mark.parametrize(
    ("remaining", "pricing_type"),
    [(0, PricingType.REGULAR), (1, PricingType.FREE_CUSTOMER_SERVICE), (1_000, FREE_CS)],
)
def test_monthly_free_service_messages_from_october_2026(
    remaining: int, pricing_type: PricingType
) -> None:
    result = classify(TODAY, None, IN_WINDOW, free_service_messages_remaining=remaining)

    assert result.pricing_type is pricing_type
    # The allowance covers service messages only, never in-window utility templates.
    assert classify(TODAY, U, IN_WINDOW, free_service_messages_remaining=remaining).billable


def test_the_october_2026_rule_can_be_switched_off() -> None:
    old_rules = PricingCalendar(charged_service_messages_from=None)

    assert classify(TODAY, None, IN_WINDOW, calendar=old_rules).pricing_type is FREE_CS
    assert classify(TODAY, U, IN_WINDOW, calendar=old_rules).pricing_type is FREE_CS


@pytest.mark.parametrize(("remaining", "charged"), [(0, True), (1, False)])
def test_cbp_free_tier_before_november_2024(remaining: int, charged: bool) -> None:
    result = classify(CBP_PAID_SERVICE, None, IN_WINDOW, cbp_free_tier_remaining=remaining)

    assert result.charged is charged
    assert result.billable is True  # Meta reported free-tier conversations as billable


def conversation(
    category: BillingCategory, opened_at: datetime, *, id: str = "conv-1", hours: int = 24
) -> OpenConversation:
    return OpenConversation(
        id=id, category=category, opened_at=opened_at, expires_at=opened_at + timedelta(hours=hours)
    )


def test_cbp_template_joins_its_open_category() -> None:
    open_marketing = conversation(MK, CBP_LAST - HOUR, id="m-1")

    result = classify(CBP_LAST, M, None, open_conversations=[open_marketing])

    assert result.conversation is not None
    assert result.conversation.action == "joins"
    assert result.conversation.conversation_id == "m-1"
    assert (result.billable, result.charged) == (True, False)


def test_cbp_template_opens_a_conversation_of_another_category() -> None:
    open_marketing = conversation(MK, CBP_LAST - HOUR)

    result = classify(CBP_LAST, U, IN_WINDOW, open_conversations=[open_marketing])

    assert result.conversation is not None
    assert result.conversation.opens_new
    assert result.conversation.category is UT
    assert result.conversation.expires_at == CBP_LAST + timedelta(hours=24)
    assert result.charged is True


def test_cbp_free_form_joins_any_open_conversation() -> None:
    open_utility = conversation(UT, CBP_LAST - HOUR, id="u-1")

    result = classify(CBP_LAST, None, IN_WINDOW, open_conversations=[open_utility])

    assert result.category is UT
    assert result.conversation is not None
    assert result.conversation.conversation_id == "u-1"


@pytest.mark.parametrize(
    ("age", "joins"),
    [(timedelta(hours=24) - US, True), (timedelta(hours=24), False)],
    ids=["24h-minus-1us", "exactly-24h"],
)
def test_cbp_conversation_edges(age: timedelta, joins: bool) -> None:
    open_marketing = conversation(MK, CBP_LAST - age)

    result = classify(CBP_LAST, M, None, open_conversations=[open_marketing])

    assert result.conversation is not None
    assert (result.conversation.action == "joins") is joins
    assert result.charged is not joins


def test_cbp_free_entry_point_conversation_lasts_72h_and_absorbs_every_message() -> None:
    reply = CBP_LAST - 2 * HOUR
    fep = free_entry_point(
        referral_inbound_at=reply - HOUR, first_business_reply_at=reply, now=reply
    )

    opening = classify_message(
        sent_at=reply, template_category=None, last_inbound_at=reply - HOUR, free_entry_point=fep
    )
    assert opening.conversation is not None
    assert opening.conversation.opens_new
    assert opening.conversation.expires_at == reply + timedelta(hours=72)

    referral = conversation(BillingCategory.REFERRAL_CONVERSION, reply, id="fep-1", hours=72)
    later = classify(
        CBP_LAST, A, None, open_conversations=[referral, conversation(AU, CBP_LAST - HOUR)]
    )
    assert later.conversation is not None
    assert later.conversation.conversation_id == "fep-1"
    assert (later.category, later.billable) == (BillingCategory.REFERRAL_CONVERSION, False)


AUTH_CASES = [
    # recipient, business, sent_at, eligible, category
    ("ID", "IN", datetime(2024, 5, 31, 23, tzinfo=UTC), True, AU),
    (
        "ID",
        "IN",
        datetime(2024, 6, 1, tzinfo=UTC),
        True,
        BillingCategory.AUTHENTICATION_INTERNATIONAL,
    ),
    (
        "+62",
        "IN",
        datetime(2024, 6, 1, tzinfo=UTC),
        True,
        BillingCategory.AUTHENTICATION_INTERNATIONAL,
    ),
    ("IN", "ID", datetime(2024, 6, 30, tzinfo=UTC), True, AU),
    (
        "91",
        "ID",
        datetime(2024, 7, 1, tzinfo=UTC),
        True,
        BillingCategory.AUTHENTICATION_INTERNATIONAL,
    ),
    ("EG", "US", datetime(2025, 1, 31, tzinfo=UTC), True, AU),
    (
        "EG",
        "US",
        datetime(2025, 2, 1, tzinfo=UTC),
        True,
        BillingCategory.AUTHENTICATION_INTERNATIONAL,
    ),
    ("za", "gb", TODAY, True, BillingCategory.AUTHENTICATION_INTERNATIONAL),
    ("AE", "AE", TODAY, True, AU),  # same country as the business
    ("AE", "US", TODAY, False, AU),  # business not eligible
    ("BR", "US", TODAY, True, AU),  # no authentication-international rate there
    ("RU", "US", TODAY, True, AU),
    ("KZ", "US", PMP_BEFORE_OCT_2026, True, AU),
    ("KZ", "US", PMP_OCT_2026, True, BillingCategory.AUTHENTICATION_INTERNATIONAL),
]


@pytest.mark.parametrize(("recipient", "business", "sent_at", "eligible", "category"), AUTH_CASES)
def test_authentication_international(
    recipient: str, business: str, sent_at: datetime, eligible: bool, category: BillingCategory
) -> None:
    result = classify(
        sent_at,
        A,
        None,
        recipient_country=recipient,
        business_country=business,
        authentication_international_eligible=eligible,
    )

    assert result.category is category
    assert result.billable is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"recipient_country": "7", "business_country": "US"}, "shared by several"),
        ({"recipient_country": "India", "business_country": "US"}, "alpha-2"),
        ({"recipient_country": "IN", "business_country": "+1"}, "business_country"),
        ({"template": "PROMOTION"}, "unknown template category"),
        ({"template": U, "via_marketing_messages_api": True}, "marketing templates only"),
        ({"free_service_messages_remaining": -1}, "negative"),
        ({"sent_at": TODAY.replace(tzinfo=None)}, "timezone-aware"),
    ],
)
def test_bad_inputs_are_refused_clearly(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "sent_at": TODAY,
        "template_category": kwargs.pop("template", A),
        "last_inbound_at": None,
        "authentication_international_eligible": True,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        classify_message(**arguments)  # type: ignore[arg-type]


def test_naive_open_conversation_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        OpenConversation(
            id="x", category=MK, opened_at=TODAY.replace(tzinfo=None), expires_at=TODAY
        )


def test_open_conversation_accepts_the_stored_origin_string() -> None:
    stored = OpenConversation(
        id="x",
        category="utility",  # type: ignore[arg-type]
        opened_at=CBP_LAST - HOUR,
        expires_at=CBP_LAST + HOUR,
    )

    result = classify(CBP_LAST, U, None, open_conversations=[stored])

    assert result.conversation is not None
    assert result.conversation.conversation_id == "x"


def test_template_category_parses_metas_spelling() -> None:
    assert TemplateCategory.parse("AUTHENTICATION") is TemplateCategory.AUTHENTICATION
    assert TemplateCategory.parse(TemplateCategory.UTILITY) is TemplateCategory.UTILITY


def test_marketing_messages_api_bills_marketing_lite() -> None:
    result = classify(TODAY, M, IN_WINDOW, via_marketing_messages_api=True)

    assert pricing_object(result) == {
        "billable": True,
        "pricing_model": "PMP",
        "category": "marketing_lite",
        "type": "regular",
    }


@pytest.mark.parametrize(
    ("sent_at", "template", "since_inbound", "expected"),
    [
        (
            PMP_FIRST,
            None,
            IN_WINDOW,
            {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            },
        ),
        (
            PMP_FIRST,
            U,
            NO_WINDOW,
            {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"},
        ),
        (
            CBP_LAST,
            M,
            NO_WINDOW,
            {"billable": True, "pricing_model": "CBP", "category": "marketing"},
        ),
        (
            CBP_LAST,
            None,
            IN_WINDOW,
            {"billable": True, "pricing_model": "CBP", "category": "service"},
        ),
    ],
)
def test_pricing_object_is_metas_json(
    sent_at: datetime,
    template: str | None,
    since_inbound: timedelta | None,
    expected: dict[str, object],
) -> None:
    pricing = pricing_object(classify(sent_at, template, since_inbound))

    assert pricing == expected
    assert list(pricing) == list(expected)


def test_cbp_conversation_object_carries_expiration_only_on_the_opening_sent() -> None:
    opening = classify(CBP_LAST, M, None)
    expiry = str(int((CBP_LAST + timedelta(hours=24)).timestamp()))

    assert conversation_object(opening, status="sent", conversation_id="c-1") == {
        "id": "c-1",
        "expiration_timestamp": expiry,
        "origin": {"type": "marketing"},
    }
    assert conversation_object(opening, status="delivered", conversation_id="c-1") == {
        "id": "c-1",
        "origin": {"type": "marketing"},
    }
    assert conversation_object(opening, status="failed", conversation_id="c-1") is None
    with pytest.raises(ValueError, match="conversation_id"):
        conversation_object(opening, status="sent")

    joining = classify(
        CBP_LAST, M, None, open_conversations=[conversation(MK, CBP_LAST - HOUR, id="c-1")]
    )
    assert conversation_object(joining, status="sent") == {
        "id": "c-1",
        "origin": {"type": "marketing"},
    }
    with pytest.raises(ValueError, match="contradicts"):
        conversation_object(joining, status="sent", conversation_id="c-2")


def test_pmp_conversation_object_only_inside_a_window() -> None:
    reply = TODAY - HOUR
    fep = free_entry_point(referral_inbound_at=reply, first_business_reply_at=reply, now=reply)
    in_fep = classify(TODAY, M, None, free_entry_point=fep)
    in_window = classify(TODAY, M, timedelta(hours=2))
    outside = classify(TODAY, M, None)

    assert fep is not None
    assert conversation_object(in_fep, status="sent", conversation_id="w-1") == {
        "id": "w-1",
        "expiration_timestamp": str(int(fep.expires_at.timestamp())),
        "origin": {"type": "referral_conversion"},
    }
    assert conversation_object(in_window, status="read", conversation_id="w-2") == {
        "id": "w-2",
        "origin": {"type": "service"},
    }
    assert conversation_object(outside, status="sent") is None


# --- laws -------------------------------------------------------------------------------

ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=-3)), ZoneInfo("Asia/Kolkata"), ZoneInfo("America/Mexico_City")]
)
SEND_TIMES = st.datetimes(
    min_value=datetime(2024, 1, 1),  # noqa: DTZ001 - hypothesis attaches the drawn zone
    max_value=datetime(2027, 6, 1),  # noqa: DTZ001
    timezones=ZONES,
)
TEMPLATES = st.sampled_from([None, M, U, A, "marketing", "utility"])
AGES = st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=80))
COUNTRIES = st.sampled_from(["ID", "IN", "EG", "BR", "US", "+62", "91"])
CBP_CATEGORIES = st.sampled_from(
    [
        MK,
        UT,
        AU,
        S,
        BillingCategory.AUTHENTICATION_INTERNATIONAL,
        BillingCategory.REFERRAL_CONVERSION,
    ]
)


@st.composite
def message_inputs(draw: st.DrawFn) -> dict[str, object]:
    sent_at = draw(SEND_TIMES)
    since_inbound = draw(AGES)
    since_reply = draw(AGES)
    fep: FreeEntryPoint | None = None
    if since_reply is not None:
        reply = sent_at - since_reply
        fep = free_entry_point(referral_inbound_at=reply, first_business_reply_at=reply, now=reply)
    return {
        "sent_at": sent_at,
        "template_category": draw(TEMPLATES),
        "last_inbound_at": None if since_inbound is None else sent_at - since_inbound,
        "free_entry_point": fep,
        "recipient_country": draw(COUNTRIES),
        "business_country": draw(st.sampled_from(["ID", "US"])),
        "authentication_international_eligible": draw(st.booleans()),
        "free_service_messages_remaining": draw(st.integers(0, 2)),
        "cbp_free_tier_remaining": draw(st.integers(0, 2)),
        "waba_timezone": draw(ZONES),
    }


@given(inputs=message_inputs(), other_zone=ZONES)
def test_law_a_classification_is_a_function_of_its_inputs(
    inputs: dict[str, object], other_zone: tzinfo
) -> None:
    first = classify_message(**inputs)  # type: ignore[arg-type]
    again = classify_message(**inputs)  # type: ignore[arg-type]
    sent_at = inputs["sent_at"]
    assert isinstance(sent_at, datetime)
    same_instant = classify_message(**{**inputs, "sent_at": sent_at.astimezone(other_zone)})  # type: ignore[arg-type]

    assert first == again == same_instant


@given(inputs=message_inputs())
def test_law_pmp_flags_agree_and_free_entry_point_always_wins(inputs: dict[str, object]) -> None:
    result = classify_message(**inputs)  # type: ignore[arg-type]

    if result.pricing_model is PricingModel.PMP and result.allowed:
        assert result.billable is (result.pricing_type is PricingType.REGULAR)
        assert result.charged is result.billable
        if result.pricing_type is PricingType.FREE_CUSTOMER_SERVICE:
            assert result.customer_service_window.open
    if result.free_entry_point is not None and result.allowed:
        assert (result.billable, result.charged) == (False, False)
        assert result.category is BillingCategory.REFERRAL_CONVERSION


@given(
    sends=st.lists(
        st.tuples(
            st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=30)),
            st.sampled_from([None, MK, UT, AU]),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_law_cbp_never_opens_a_second_conversation_of_an_open_category(
    sends: list[tuple[timedelta, BillingCategory | None]],
) -> None:
    now = CBP_LAST - timedelta(days=60)
    opened: list[OpenConversation] = []
    for gap, category in sends:
        now += gap
        decision = decide_conversation(
            category=category or S,
            is_template=category is not None,
            sent_at=now,
            open_conversations=opened,
        )
        if decision.opens_new:
            assert not any(c.category is decision.category and c.is_open_at(now) for c in opened)
            assert decision.expires_at - now == CBP_CONVERSATION_DURATION
            opened.append(
                OpenConversation(
                    id=str(len(opened)),
                    category=decision.category,
                    opened_at=decision.opened_at,
                    expires_at=decision.expires_at,
                )
            )
        else:
            assert decision.conversation_id is not None
    for first in opened:
        for second in opened:
            if first is not second and first.category is second.category:
                assert not first.is_open_at(second.opened_at)


@given(
    open_now=st.lists(
        st.tuples(
            CBP_CATEGORIES, st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=90))
        ),
        max_size=6,
    ),
    category=st.sampled_from([MK, UT, AU, S]),
)
def test_law_cbp_joins_an_open_free_entry_point_and_never_duplicates_a_category(
    open_now: list[tuple[BillingCategory, timedelta]], category: BillingCategory
) -> None:
    conversations = [
        OpenConversation(
            id=str(index),
            category=kind,
            opened_at=CBP_LAST - age,
            expires_at=CBP_LAST
            - age
            + timedelta(hours=72 if kind is BillingCategory.REFERRAL_CONVERSION else 24),
        )
        for index, (kind, age) in enumerate(open_now)
    ]

    decision = decide_conversation(
        category=category,
        is_template=category is not S,
        sent_at=CBP_LAST,
        open_conversations=conversations,
    )

    live = [c for c in conversations if c.is_open_at(CBP_LAST)]
    if any(c.category is BillingCategory.REFERRAL_CONVERSION for c in live):
        assert decision.action == "joins"
        assert decision.category is BillingCategory.REFERRAL_CONVERSION
    if decision.opens_new:
        assert all(c.category is not decision.category for c in live)
