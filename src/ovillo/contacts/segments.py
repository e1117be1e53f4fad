"""Segments: which contacts of a workspace a filter selects, counted and streamed.

A ``SegmentFilter`` is plain JSON (tags any/all/none, attribute conditions, last inbound
time, marketing opt-in state, countries). Everything it selects is *targeted*; of those,
contacts who opted out of marketing and contacts Meta reported as not on WhatsApp (a send
failed with 131026, ``contact.not_on_whatsapp_at``) are left out and counted apart, in that
order: an opted-out contact counts as opted out whatever else is true of them.

The count is one aggregate query and the selection pages by id (``iter_matching_contacts``)
or runs inside the database (``matching_contact_ids``, for ``INSERT ... SELECT``): nothing
loads the whole audience. "Last inbound" is when the contact last wrote on any of the
workspace's numbers, asked of the inbox (``inbox.service.last_inbound_at_of``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, Select, String, and_, case, cast, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ovillo.contacts.models import Contact
from ovillo.contacts.service import OptOutCategory, has_tag, like_pattern

MAX_CONDITIONS: Final = 20
# Contacts per page when streaming a segment.
DEFAULT_BATCH: Final = 1000
# The ``by_country`` key of contacts whose country is not known.
UNKNOWN_COUNTRY: Final = "unknown"

Tag = Annotated[str, Field(min_length=1, max_length=50)]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]


class AttributeOperator(StrEnum):
    EQUALS = "equals"
    CONTAINS = "contains"
    EXISTS = "exists"
    MISSING = "missing"


class AttributeCondition(BaseModel):
    """A test on one custom attribute; ``equals`` and ``contains`` ignore case."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, max_length=100, examples=["plan"])
    op: AttributeOperator = AttributeOperator.EQUALS
    value: str | int | float | bool | None = Field(default=None, examples=["gold"])

    @model_validator(mode="after")
    def _value_when_needed(self) -> AttributeCondition:
        if self.op in (AttributeOperator.EQUALS, AttributeOperator.CONTAINS) and (
            self.value is None or str(self.value) == ""
        ):
            raise ValueError(f"attribute {self.key!r}: {self.op.value} needs a value")
        return self


class MarketingState(StrEnum):
    ANY = "any"
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


class SegmentFilter(BaseModel):
    """Which contacts to select; every condition given must hold (an empty filter: all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tags_any: list[Tag] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    tags_all: list[Tag] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    tags_none: list[Tag] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    attributes: list[AttributeCondition] = Field(default_factory=list, max_length=MAX_CONDITIONS)
    last_inbound_after: AwareDatetime | None = Field(
        default=None, description="The contact last wrote at or after this time."
    )
    last_inbound_before: AwareDatetime | None = Field(
        default=None, description="The contact last wrote before this time (and has written)."
    )
    last_inbound_within_days: int | None = Field(
        default=None, ge=1, le=3650, description="The contact wrote in the last N days."
    )
    marketing: MarketingState = Field(
        default=MarketingState.ANY,
        description="Opt-in state for marketing. Opted-out contacts are never sent "
        "marketing: they are counted apart, not matched.",
    )
    countries: list[Country] = Field(
        default_factory=list, max_length=250, description="ISO codes of the contacts' country."
    )

    @model_validator(mode="after")
    def _coherent(self) -> SegmentFilter:
        if (
            self.last_inbound_after is not None
            and self.last_inbound_before is not None
            and self.last_inbound_after >= self.last_inbound_before
        ):
            raise ValueError("last_inbound_after must be earlier than last_inbound_before")
        return self

    @property
    def uses_last_inbound(self) -> bool:
        return (
            self.last_inbound_after is not None
            or self.last_inbound_before is not None
            or self.last_inbound_within_days is not None
        )


@dataclass(frozen=True, slots=True)
class SegmentCount:
    """How many contacts a filter selects and why some of them cannot be sent to."""

    matching: int
    excluded_opted_out: int
    excluded_not_on_whatsapp: int
    # The matching contacts (after exclusions) by country, ``UNKNOWN_COUNTRY`` if not known.
    by_country: dict[str, int] = field(default_factory=dict)

    @property
    def targeted(self) -> int:
        return self.matching + self.excluded_opted_out + self.excluded_not_on_whatsapp


# --- Conditions --------------------------------------------------------------------------


def _attribute_text(key: str) -> ColumnElement[Any]:
    # ``->>`` on PostgreSQL gives text already; SQLite's json_extract gives the JSON value's
    # own type (5, not '5'), so both go through a cast to compare as text.
    return func.lower(cast(Contact.attributes[key].as_string(), String))


def _attribute_condition(condition: AttributeCondition) -> ColumnElement[bool]:
    value: ColumnElement[Any] = Contact.attributes[condition.key].as_string()
    if condition.op is AttributeOperator.EXISTS:
        return value.is_not(None)
    if condition.op is AttributeOperator.MISSING:
        return value.is_(None)
    wanted = _json_text(condition.value).lower()
    if condition.op is AttributeOperator.EQUALS:
        return _attribute_text(condition.key) == wanted
    return _attribute_text(condition.key).like(like_pattern(wanted), escape="\\")


def _json_text(value: str | int | float | bool | None) -> str:
    # How both databases write a JSON scalar as text: true/false, 5, 5.5.
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def marketing_opted_out() -> ColumnElement[bool]:
    """The contact opted out of marketing."""
    value: ColumnElement[Any] = Contact.opt_outs[OptOutCategory.MARKETING.value].as_string()
    return value.is_not(None)


def not_on_whatsapp() -> ColumnElement[bool]:
    """Meta reported the contact as not on WhatsApp (a send failed with 131026)."""
    return Contact.not_on_whatsapp_at.is_not(None)


def targeted_conditions(
    *, dialect: str, workspace_id: uuid.UUID, spec: SegmentFilter, now: datetime
) -> list[ColumnElement[bool]]:
    """The WHERE of every contact the filter selects, before exclusions."""
    conditions: list[ColumnElement[bool]] = [Contact.workspace_id == workspace_id]
    if spec.tags_any:
        conditions.append(or_(*(has_tag(dialect, tag.strip()) for tag in spec.tags_any)))
    conditions += [has_tag(dialect, tag.strip()) for tag in spec.tags_all]
    conditions += [not_(has_tag(dialect, tag.strip())) for tag in spec.tags_none]
    conditions += [_attribute_condition(condition) for condition in spec.attributes]
    if spec.countries:
        conditions.append(Contact.country.in_(sorted({c.upper() for c in spec.countries})))
    if spec.marketing is MarketingState.OPTED_IN:
        conditions.append(not_(marketing_opted_out()))
    elif spec.marketing is MarketingState.OPTED_OUT:
        conditions.append(marketing_opted_out())
    if spec.uses_last_inbound:
        # Imported here: the inbox's service imports this domain's service.
        from ovillo.inbox import service as inbox_service

        last_inbound = inbox_service.last_inbound_at_of(contact_id=Contact.id)
        since = [
            moment
            for moment in (
                spec.last_inbound_after,
                now - timedelta(days=spec.last_inbound_within_days)
                if spec.last_inbound_within_days is not None
                else None,
            )
            if moment is not None
        ]
        if since:
            conditions.append(last_inbound >= max(since))
        if spec.last_inbound_before is not None:
            conditions.append(last_inbound < spec.last_inbound_before)
    return conditions


def matching_contact_ids(
    *, dialect: str, workspace_id: uuid.UUID, spec: SegmentFilter, now: datetime
) -> Select[uuid.UUID]:
    """The ids of the contacts a campaign may send to: selected, not opted out of
    marketing, not reported off WhatsApp. For ``INSERT ... SELECT`` or paging; unordered."""
    return select(Contact.id).where(
        *targeted_conditions(dialect=dialect, workspace_id=workspace_id, spec=spec, now=now),
        not_(marketing_opted_out()),
        not_(not_on_whatsapp()),
    )


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# --- Use cases ---------------------------------------------------------------------------


async def count_segment(
    *, session: AsyncSession, workspace_id: uuid.UUID, spec: SegmentFilter, now: datetime
) -> SegmentCount:
    """How many contacts the filter selects, those left out and why, and by country.

    One aggregate query grouped by country; reads only.
    """
    opted_out = marketing_opted_out()
    off_whatsapp = and_(not_(opted_out), not_on_whatsapp())
    query = (
        select(
            Contact.country,
            func.count(),
            func.sum(case((opted_out, 1), else_=0)),
            func.sum(case((off_whatsapp, 1), else_=0)),
        )
        .where(
            *targeted_conditions(
                dialect=_dialect(session), workspace_id=workspace_id, spec=spec, now=now
            )
        )
        .group_by(Contact.country)
    )
    matching = excluded_opted_out = excluded_off = 0
    by_country: dict[str, int] = {}
    for country, total, out, off in await session.execute(query):
        kept = int(total) - int(out or 0) - int(off or 0)
        excluded_opted_out += int(out or 0)
        excluded_off += int(off or 0)
        matching += kept
        if kept:
            key = country or UNKNOWN_COUNTRY
            by_country[key] = by_country.get(key, 0) + kept
    return SegmentCount(
        matching=matching,
        excluded_opted_out=excluded_opted_out,
        excluded_not_on_whatsapp=excluded_off,
        by_country=dict(sorted(by_country.items(), key=lambda item: (-item[1], item[0]))),
    )


async def iter_matching_contacts(
    *,
    session: AsyncSession,
    workspace_id: uuid.UUID,
    spec: SegmentFilter,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    after_id: uuid.UUID | None = None,
) -> AsyncIterator[list[Contact]]:
    """The contacts a campaign may send to, a page at a time in id order.

    Each page is its own query resuming after the last id (keyset), so memory stays one
    page whatever the audience; pass ``after_id`` to resume a selection. A contact changed
    while the pages are read is judged by what it is when its page is read.
    """
    base = select(Contact).where(
        *targeted_conditions(
            dialect=_dialect(session), workspace_id=workspace_id, spec=spec, now=now
        ),
        not_(marketing_opted_out()),
        not_(not_on_whatsapp()),
    )
    last = after_id
    while True:
        query = base if last is None else base.where(Contact.id > last)
        page = list(await session.scalars(query.order_by(Contact.id).limit(batch_size)))
        if not page:
            return
        yield page
        if len(page) < batch_size:
            return
        last = page[-1].id
