"""Message templates on the emulated Cloud API: management, review and status webhooks.

Graph API (Meta's "Template management" and WhatsApp Business Account
``message_templates`` reference, checked 2026):

- ``POST /{waba-id}/message_templates`` creates a template after ``rules.templates``
  validation, answering ``{"id", "status": "PENDING", "category"}``. Refusals are code 100
  with Meta's ``error_subcode``, ``error_user_title`` and ``error_user_msg``: the rule's own
  subcode (2388040, 2388293, ...), 2388024 "Content in This Language Already Exists" for a
  name already used in that language, 2388023 for a name+language whose approved template
  was deleted less than 30 days ago, 2388019 past the WABA's template cap.
- ``GET /{waba-id}/message_templates`` lists with ``fields``, ``limit``, opaque
  ``after``/``before`` cursors, the filters ``name`` (substring, any case, as pywa documents
  it), ``status``, ``category``, ``language``, ``quality_score``, ``content`` and
  ``name_or_content`` (comma-separated lists where Meta takes several), and the ``summary``
  that pywa reads (``total_count``, ``message_template_count``, ``message_template_limit``,
  ``are_translations_complete``).
- ``GET /{template-id}`` and ``POST /{template-id}`` (edit: only APPROVED, REJECTED or
  PAUSED templates; an approved one at most once in 24 h and 10 times in 30 days, and never
  its category; name and language fixed; back to PENDING and reviewed again).
- ``DELETE /{waba-id}/message_templates?name=X[&hsm_id=Y]`` (or ``hsm_ids=[...]``); a
  DISABLED template cannot be deleted.

Review: with ``EmulatorConfig.auto_approve_templates`` a template is decided
``template_review_delay_seconds`` after it was submitted, on the emulator clock. The
emulator's reviewer is a documented heuristic, not Meta's model:

- a body with one of ``SCAM_MARKERS`` (asking for passwords or PINs, prize and lottery
  claims, fees to release money) is REJECTED with reason ``SCAM``;
- a UTILITY template with one of ``MARKETING_MARKERS`` (discounts, sales, promo codes) is
  approved as MARKETING with a ``template_category_update`` webhook, as Meta has
  recategorised templates automatically since April 2025;
- anything else is APPROVED.

``POST /_emulator/templates/{id}/review`` decides by hand (APPROVED, REJECTED, PAUSED,
DISABLED) and ``GET /_emulator/templates`` looks inside.

Template webhooks belong to the WABA: each is delivered once to every distinct webhook URL
among the WABA's numbers, in the ``templates`` lane, with ``entry.time`` set (pywa reads
it). The send handler finds templates with ``get_template`` in O(1).

Unverified, and therefore choices of ours: the error for deleting an unknown name and the
errors for edits Meta refuses (code 100 with a user title, no subcode known); the titles of
the 2388xxx subcodes other than 2388023/2388024; the page size (25) when ``limit`` is absent;
that PAUSED ends with an APPROVED status webhook whose ``other_info`` title is ``UNPAUSE``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ovillo.cloudapi.errors import GraphError, GraphErrorData, GraphErrorEnvelope, new_fbtrace_id
from ovillo.cloudapi.webhooks import (
    TemplateCategoryUpdateValue,
    TemplateDisableInfo,
    TemplateOtherInfo,
    TemplateQualityUpdateValue,
    TemplateStatusUpdateValue,
)
from ovillo.emulator.errors import GraphAPIError, invalid_parameter, unknown_node
from ovillo.emulator.graph import GraphRequest, graph_route
from ovillo.emulator.jobs import job_handler, schedule_job
from ovillo.emulator.state import EmulatorState, ScheduledJob, Template
from ovillo.rules.templates import (
    TEMPLATE_QUOTA_UNVERIFIED,
    TemplateViolation,
    check_template_quota,
    validate_template,
)

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator

TEMPLATES_LANE = "templates"
NAME_REUSE_BLOCKED_FOR = timedelta(days=30)
EDITS_PER_DAY = 1
EDITS_PER_30_DAYS = 10
# Meta raises the cap once the business portfolio is verified (facts file, unverified).
TEMPLATE_QUOTA_VERIFIED = 6000
DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 1000
EDITABLE_STATUSES = frozenset({"APPROVED", "REJECTED", "PAUSED"})

SUBCODE_TEMPLATE_LIMIT = 2388019
SUBCODE_LANGUAGE_BEING_DELETED = 2388023
SUBCODE_CONTENT_EXISTS = 2388024

# error_user_title of each 2388xxx subcode; 2388023/2388024 as Meta writes them, the others
# as the cloudapi table or a plain description (unverified).
SUBCODE_TITLES: Mapping[int, str] = {
    2388019: "Message template limit reached",
    2388023: "Message Template Language Is Being Deleted",
    2388024: "Content in This Language Already Exists",
    2388040: "Character limit exceeded",
    2388047: "Header format incorrect",
    2388072: "Body format incorrect",
    2388073: "Footer format incorrect",
    2388293: "Params Words Ratio Exceeds Limit",
    2388299: "Variables can't be at the start or end of the template",
}

# The reviewer's heuristic (see the module docstring); lower-case substrings of the body.
SCAM_MARKERS: tuple[str, ...] = (
    "your password",
    "your pin",
    "you have won",
    "you've won",
    "lottery",
    "claim your prize",
    "release fee",
    "wire the fee",
)
MARKETING_MARKERS: tuple[str, ...] = (
    "% off",
    "discount",
    "promo code",
    "coupon",
    "sale ends",
    "big sale",
    "buy now",
    "limited time offer",
)

# Fields Meta knows on a template node: asking for any other is error 100.
KNOWN_FIELDS = frozenset(
    {
        "id",
        "name",
        "language",
        "status",
        "category",
        "components",
        "parameter_format",
        "quality_score",
        "rejected_reason",
        "previous_category",
        "correct_category",
        "sub_category",
        "message_send_ttl_seconds",
        "library_template_name",
        "cta_url_link_tracking_opted_out",
        "degrees_of_freedom_spec",
    }
)
DEFAULT_FIELDS = ("name", "parameter_format", "components", "language", "status", "category")
SUMMARY_FIELDS = frozenset(
    {"total_count", "message_template_count", "message_template_limit", "are_translations_complete"}
)


# --- Errors -------------------------------------------------------------------------------


class TemplateRequestError(GraphAPIError):
    """A template call refused as Meta refuses them: code 100 with ``error_user_title`` and
    ``error_user_msg`` (and the 2388xxx ``error_subcode`` when there is one). The field the
    refusal is about leads ``error_data.details``."""

    def __init__(
        self, *, title: str, user_message: str, subcode: int | None = None, field: str = ""
    ) -> None:
        details = f"{field}: {user_message}" if field else user_message
        super().__init__(100, details, message="Invalid parameter", error_subcode=subcode)
        self.title = title
        self.user_message = user_message
        self.field = field

    def body(self) -> dict[str, Any]:
        error = GraphError(
            message="Invalid parameter",
            type="OAuthException",
            code=100,
            error_subcode=self.error_subcode,
            is_transient=False,
            error_user_title=self.title,
            error_user_msg=self.user_message,
            error_data=GraphErrorData(messaging_product="whatsapp", details=self.details),
            fbtrace_id=new_fbtrace_id(),
        )
        return GraphErrorEnvelope(error=error).to_wire()


def violation_error(violation: TemplateViolation) -> TemplateRequestError:
    subcode = violation.meta_error_subcode
    title = SUBCODE_TITLES.get(subcode, "Invalid parameter") if subcode else "Invalid parameter"
    return TemplateRequestError(
        title=title, user_message=violation.message, subcode=subcode, field=violation.field
    )


# --- The index: O(1) lookups for sends ----------------------------------------------------


@dataclass
class _Index:
    state: EmulatorState
    synced_size: int = 0
    live: dict[tuple[str, str, str], str] = field(default_factory=dict)


_INDEXES: weakref.WeakKeyDictionary[Emulator, _Index] = weakref.WeakKeyDictionary()


def _index(emulator: Emulator) -> _Index:
    index = _INDEXES.get(emulator)
    state = emulator.state
    # A reset replaces the state; a store may load templates behind our back: rebuild then.
    if index is None or index.state is not state or index.synced_size != len(state.templates):
        index = _Index(state=state, synced_size=len(state.templates))
        for template in state.templates.values():
            if template.deleted_at is None:
                index.live[(template.waba_id, template.name, template.language)] = template.id
        _INDEXES[emulator] = index
    return index


def get_template(emulator: Emulator, waba_id: str, name: str, language: str) -> Template | None:
    """The WABA's template ``name`` in ``language``, whatever its status; None if absent or
    deleted. Exact, case-sensitive match as Meta's send does (``en_US`` is not ``en``)."""
    template_id = _index(emulator).live.get((waba_id, name, language))
    return emulator.state.templates.get(template_id) if template_id is not None else None


def find_approved_template(
    emulator: Emulator, waba_id: str, name: str, language: str
) -> Template | None:
    """Like ``get_template``, but only an APPROVED template (what a send may use)."""
    template = get_template(emulator, waba_id, name, language)
    return template if template is not None and template.status == "APPROVED" else None


def templates_of(emulator: Emulator, waba_id: str) -> list[Template]:
    """The WABA's live templates (not deleted), oldest first."""
    return [
        t
        for t in emulator.state.templates.values()
        if t.waba_id == waba_id and t.deleted_at is None
    ]


def _add(emulator: Emulator, template: Template) -> None:
    index = _index(emulator)
    emulator.state.templates[template.id] = template
    index.live[(template.waba_id, template.name, template.language)] = template.id
    index.synced_size = len(emulator.state.templates)


def _forget(emulator: Emulator, template: Template) -> None:
    index = _index(emulator)
    key = (template.waba_id, template.name, template.language)
    if index.live.get(key) == template.id:
        del index.live[key]


# --- Status changes and their webhooks ----------------------------------------------------


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def notify_waba(
    emulator: Emulator, waba_id: str, field: str, value: dict[str, Any], *, at: datetime
) -> None:
    """Deliver a WABA-level webhook once to every distinct webhook URL of the WABA's numbers."""
    seen: set[str] = set()
    for number in emulator.state.phone_numbers.values():
        url = number.webhook_url
        if number.waba_id != waba_id or url is None or url in seen:
            continue
        seen.add(url)
        emulator.webhooks.send(number, field, value, lane_key=TEMPLATES_LANE, entry_time=_unix(at))


def set_status(
    emulator: Emulator,
    template: Template,
    status: str,
    *,
    at: datetime,
    reason: str = "NONE",
    other_info: TemplateOtherInfo | None = None,
) -> None:
    """Move ``template`` to ``status`` and send ``message_template_status_update``."""
    template.status = status
    if status == "REJECTED":
        template.rejected_reason = reason
    elif status == "APPROVED":
        template.rejected_reason = "NONE"
    if status != "PAUSED":
        template.paused_until = None
    template.history.append((at, status, reason))
    value = TemplateStatusUpdateValue(
        event=status,
        message_template_id=int(template.id),
        message_template_name=template.name,
        message_template_language=template.language,
        message_template_category=template.category,
        reason=reason,
        other_info=other_info,
        disable_info=TemplateDisableInfo(disable_date=_unix(at)) if status == "DISABLED" else None,
    )
    notify_waba(emulator, template.waba_id, value.FIELD, value.to_wire(), at=at)


def set_quality(emulator: Emulator, template: Template, score: str, *, at: datetime) -> None:
    """Change a template's quality score and send ``message_template_quality_update``."""
    if score == template.quality_score:
        return
    previous = template.quality_score
    template.quality_score = score
    template.quality_updated_at = at
    value = TemplateQualityUpdateValue(
        previous_quality_score=previous,
        new_quality_score=score,
        message_template_id=int(template.id),
        message_template_name=template.name,
        message_template_language=template.language,
    )
    notify_waba(emulator, template.waba_id, value.FIELD, value.to_wire(), at=at)


def _recategorise(emulator: Emulator, template: Template, category: str, at: datetime) -> None:
    previous = template.category
    template.previous_category = previous
    template.category = category
    value = TemplateCategoryUpdateValue(
        message_template_id=int(template.id),
        message_template_name=template.name,
        message_template_language=template.language,
        previous_category=previous,
        new_category=category,
    )
    notify_waba(emulator, template.waba_id, value.FIELD, value.to_wire(), at=at)


# --- Review ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReviewVerdict:
    """What the emulator's reviewer decides about a template."""

    status: Literal["APPROVED", "REJECTED"]
    reason: str = "NONE"
    category: str | None = None
    """The category Meta assigns when it differs from the submitted one."""


def body_text(components: Iterable[Mapping[str, Any]]) -> str:
    for component in components:
        if str(component.get("type", "")).upper() == "BODY":
            text = component.get("text")
            return text if isinstance(text, str) else ""
    return ""


def review_verdict(*, category: str, components: list[dict[str, Any]]) -> ReviewVerdict:
    """The reviewer's heuristic (module docstring): SCAM markers reject, MARKETING markers
    move a UTILITY template to MARKETING, anything else is approved."""
    text = body_text(components).lower()
    if any(marker in text for marker in SCAM_MARKERS):
        return ReviewVerdict("REJECTED", "SCAM")
    if category == "UTILITY" and any(marker in text for marker in MARKETING_MARKERS):
        return ReviewVerdict("APPROVED", category="MARKETING")
    return ReviewVerdict("APPROVED")


REVIEW_JOB = "template_review"


def schedule_review(emulator: Emulator, template: Template) -> None:
    if not emulator.config.auto_approve_templates:
        template.review_due_at = None
        return
    delay = max(0.0, emulator.config.template_review_delay_seconds)
    due = emulator.clock.now() + timedelta(seconds=delay)
    template.review_due_at = due
    # A job, not a bare timer: a review pending when the emulator stops happens after it
    # restarts (emulator.jobs).
    schedule_job(
        emulator, REVIEW_JOB, due, {"template_id": template.id, "revision": template.revision}
    )


@job_handler(REVIEW_JOB)
def _review(emulator: Emulator, job: ScheduledJob) -> None:
    template = emulator.state.templates.get(job.payload["template_id"])
    if template is None or template.status != "PENDING":
        return
    if template.revision != job.payload["revision"] or template.deleted_at is not None:
        return
    due = job.due_at
    verdict = review_verdict(category=template.category, components=template.components)
    template.review_due_at = None
    if verdict.category is not None and verdict.category != template.category:
        _recategorise(emulator, template, verdict.category, due)
    set_status(emulator, template, verdict.status, at=due, reason=verdict.reason)


def _approved_ever(template: Template) -> bool:
    return any(status in ("APPROVED", "PAUSED", "DISABLED") for _, status, _ in template.history)


# --- Graph API: create --------------------------------------------------------------------


def template_quota(emulator: Emulator, waba_id: str) -> int:
    business = emulator.state.businesses.get(emulator.state.wabas[waba_id].business_id)
    verified = business is not None and business.verified
    return TEMPLATE_QUOTA_VERIFIED if verified else TEMPLATE_QUOTA_UNVERIFIED


def _check_name_free(emulator: Emulator, waba_id: str, name: str, language: str) -> None:
    if get_template(emulator, waba_id, name, language) is not None:
        raise TemplateRequestError(
            title=SUBCODE_TITLES[SUBCODE_CONTENT_EXISTS],
            user_message=f"There is already {language} content for this "
            "template. You can create a new template and try again.",
            subcode=SUBCODE_CONTENT_EXISTS,
            field="name",
        )
    now = emulator.clock.now()
    for template in emulator.state.templates.values():
        if (
            template.deleted_at is not None
            and template.waba_id == waba_id
            and template.name == name
            and template.language == language
            and _approved_ever(template)
            and now - template.deleted_at < NAME_REUSE_BLOCKED_FOR
        ):
            left = NAME_REUSE_BLOCKED_FOR - (now - template.deleted_at)
            weeks = max(1, round(left.days / 7))
            raise TemplateRequestError(
                title=SUBCODE_TITLES[SUBCODE_LANGUAGE_BEING_DELETED],
                user_message=f"New {language} content can't be added while "
                f"the existing {language} content is being deleted. Try "
                f"again in {weeks} week{'s' if weeks != 1 else ''} or consider creating a new "
                "message template.",
                subcode=SUBCODE_LANGUAGE_BEING_DELETED,
                field="name",
            )


@graph_route("waba", "message_templates", "POST")
async def create_template(call: GraphRequest) -> dict[str, Any]:
    emulator = call.emulator
    body = await call.json_object()
    violations = validate_template(body)
    if violations:
        raise violation_error(violations[0])
    name, language = str(body["name"]), str(body["language"])
    _check_name_free(emulator, call.node_id, name, language)
    over_quota = check_template_quota(
        existing_templates=len(templates_of(emulator, call.node_id)),
        limit=template_quota(emulator, call.node_id),
    )
    if over_quota is not None:
        raise violation_error(over_quota)
    now = emulator.clock.now()
    ttl = body.get("message_send_ttl_seconds")
    template = Template(
        id=emulator.state.ids.next(),
        waba_id=call.node_id,
        name=name,
        language=language,
        category=str(body["category"]).upper(),
        components=copy.deepcopy(list(body["components"])),
        parameter_format=str(body.get("parameter_format") or "POSITIONAL").upper(),
        created_at=now,
        message_send_ttl_seconds=ttl if isinstance(ttl, int) else None,
    )
    template.history.append((now, "PENDING", "NONE"))
    _add(emulator, template)
    schedule_review(emulator, template)
    return {"id": template.id, "status": template.status, "category": template.category}


# --- Graph API: read ----------------------------------------------------------------------


def _requested_fields(query: Mapping[str, str]) -> tuple[str, ...]:
    raw = query.get("fields")
    if raw is None or not raw.strip():
        return DEFAULT_FIELDS
    fields = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    for name in fields:
        if name not in KNOWN_FIELDS:
            raise GraphAPIError(
                100,
                None,
                message=f"(#100) Tried accessing nonexisting field ({name}) on node type "
                "(WhatsAppBusinessHSM)",
            )
    return fields


def _quality_score(template: Template) -> dict[str, Any]:
    # pywa reads `date` whenever `quality_score` is present.
    changed = template.quality_updated_at or template.created_at
    score: dict[str, Any] = {"score": template.quality_score}
    if changed is not None:
        score["date"] = _unix(changed)
    return score


def render(template: Template, fields: Iterable[str]) -> dict[str, Any]:
    """A template as Meta's Graph API returns it: the asked fields that have a value, and id."""
    values: dict[str, Any] = {
        "name": template.name,
        "language": template.language,
        "status": template.status,
        "category": template.category,
        "components": copy.deepcopy(template.components),
        "parameter_format": template.parameter_format,
        "quality_score": _quality_score(template),
        "rejected_reason": template.rejected_reason,
        "previous_category": template.previous_category,
        "message_send_ttl_seconds": template.message_send_ttl_seconds,
    }
    out = {name: values[name] for name in fields if values.get(name) is not None}
    out["id"] = template.id
    return out


def _live_template(call: GraphRequest) -> Template:
    template = call.emulator.state.templates[call.node_id]
    if template.deleted_at is not None:
        raise unknown_node(call.node_id, call.method)
    return template


@graph_route("template", None, "GET")
async def get_template_node(call: GraphRequest) -> dict[str, Any]:
    return render(_live_template(call), _requested_fields(call.query))


def _csv_upper(value: str | None) -> set[str] | None:
    if value is None or not value.strip():
        return None
    return {part.strip().upper() for part in value.split(",") if part.strip()}


def _matches(template: Template, query: Mapping[str, str]) -> bool:
    name = (query.get("name") or "").lower()
    if name and name not in template.name.lower():
        return False
    for key, actual in (
        ("status", template.status),
        ("category", template.category),
        ("quality_score", template.quality_score),
    ):
        wanted = _csv_upper(query.get(key))
        if wanted is not None and actual not in wanted:
            return False
    languages = query.get("language")
    if languages and template.language not in {p.strip() for p in languages.split(",")}:
        return False
    content = (query.get("content") or "").lower()
    if content and content not in body_text(template.components).lower():
        return False
    either = (query.get("name_or_content") or "").lower()
    return not (
        either
        and either not in template.name.lower()
        and either not in body_text(template.components).lower()
    )


def encode_cursor(template_id: str) -> str:
    return base64.urlsafe_b64encode(f"tpl:{template_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid_parameter(f"Invalid cursor: {cursor}") from None
    prefix, _, number = raw.partition(":")
    if prefix != "tpl" or not number.isdigit():
        raise invalid_parameter(f"Invalid cursor: {cursor}")
    return int(number)


def _page_size(query: Mapping[str, str]) -> int:
    raw = query.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or int(raw) < 1:
        raise invalid_parameter(f"The parameter limit must be a positive integer, not {raw!r}")
    return min(int(raw), MAX_PAGE_SIZE)


@graph_route("waba", "message_templates", "GET")
async def list_templates(call: GraphRequest) -> dict[str, Any]:
    emulator = call.emulator
    fields = _requested_fields(call.query)
    size = _page_size(call.query)
    everything = sorted(templates_of(emulator, call.node_id), key=lambda t: int(t.id))
    selected = [t for t in everything if _matches(t, call.query)]
    after, before = call.query.get("after"), call.query.get("before")
    if after:
        after_id = decode_cursor(after)
        start = next((i for i, t in enumerate(selected) if int(t.id) > after_id), len(selected))
        page = selected[start : start + size]
    elif before:
        before_id = decode_cursor(before)
        end = next((i for i, t in enumerate(selected) if int(t.id) >= before_id), len(selected))
        start = max(0, end - size)
        page = selected[start:end]
    else:
        start = 0
        page = selected[:size]
    answer: dict[str, Any] = {"data": [render(t, fields) for t in page]}
    if page:
        url = call.request.url.remove_query_params(["after", "before"])
        paging: dict[str, Any] = {
            "cursors": {"before": encode_cursor(page[0].id), "after": encode_cursor(page[-1].id)}
        }
        if start + len(page) < len(selected):
            paging["next"] = str(url.include_query_params(after=encode_cursor(page[-1].id)))
        if start > 0:
            paging["previous"] = str(url.include_query_params(before=encode_cursor(page[0].id)))
        answer["paging"] = paging
    summary = _csv_fields(call.query.get("summary"))
    if summary:
        values: dict[str, Any] = {
            "total_count": len(selected),
            "message_template_count": len(everything),
            "message_template_limit": template_quota(emulator, call.node_id),
            "are_translations_complete": True,
        }
        answer["summary"] = {name: values[name] for name in summary if name in SUMMARY_FIELDS}
    return answer


def _csv_fields(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# --- Graph API: edit ----------------------------------------------------------------------


def _edit_refused(message: str, title: str = "Message template can't be edited") -> Exception:
    return TemplateRequestError(title=title, user_message=message)


def check_edit_allowed(template: Template, *, now: datetime, new_category: str | None) -> None:
    """Meta's edit limits (precondition: the caller edits ``template`` at ``now``)."""
    if template.status not in EDITABLE_STATUSES:
        raise _edit_refused(
            f"Only templates that are approved, rejected or paused can be edited; this one is "
            f"{template.status}."
        )
    if template.status != "APPROVED":
        return  # rejected and paused templates may be edited any number of times
    if new_category is not None and new_category != template.category:
        raise _edit_refused("The category of an approved template can't be edited.")
    last_day = [at for at in template.edits if now - at < timedelta(hours=24)]
    if len(last_day) >= EDITS_PER_DAY:
        raise _edit_refused(
            "An approved template can be edited once in 24 hours. Try again later.",
            "Edit limit reached",
        )
    last_month = [at for at in template.edits if now - at < timedelta(days=30)]
    if len(last_month) >= EDITS_PER_30_DAYS:
        raise _edit_refused(
            f"An approved template can be edited {EDITS_PER_30_DAYS} times in 30 days. Try "
            "again later.",
            "Edit limit reached",
        )


@graph_route("template", None, "POST")
async def edit_template(call: GraphRequest) -> dict[str, Any]:
    emulator = call.emulator
    template = _live_template(call)
    body = await call.json_object()
    for fixed in ("name", "language"):
        if fixed in body and body[fixed] != getattr(template, fixed):
            raise TemplateRequestError(
                title="Message template can't be edited",
                user_message=f"The {fixed} of a template can't be changed; create a new "
                "template instead.",
                field=fixed,
            )
    editable = {"components", "category", "message_send_ttl_seconds", "parameter_format"}
    if not editable & body.keys():
        raise invalid_parameter("Nothing to edit: send components, category or time-to-live.")
    new_category = str(body["category"]).upper() if "category" in body else None
    now = emulator.clock.now()
    check_edit_allowed(template, now=now, new_category=new_category)
    draft = {
        "name": template.name,
        "language": template.language,
        "category": body.get("category", template.category),
        "parameter_format": body.get("parameter_format", template.parameter_format),
        "components": body.get("components", template.components),
    }
    if "message_send_ttl_seconds" in body:
        draft["message_send_ttl_seconds"] = body["message_send_ttl_seconds"]
    violations = validate_template(draft)
    if violations:
        raise violation_error(violations[0])
    if template.status == "APPROVED":
        template.edits.append(now)
    template.components = copy.deepcopy(list(draft["components"]))
    template.category = str(draft["category"]).upper()
    template.parameter_format = str(draft["parameter_format"] or "POSITIONAL").upper()
    ttl = body.get("message_send_ttl_seconds", template.message_send_ttl_seconds)
    template.message_send_ttl_seconds = ttl if isinstance(ttl, int) else None
    template.revision += 1
    template.status = "PENDING"
    template.paused_until = None
    template.history.append((now, "PENDING", "EDITED"))
    schedule_review(emulator, template)
    return {"success": True}


# --- Graph API: delete --------------------------------------------------------------------


def _template_ids(raw: str) -> list[str]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = [part.strip() for part in raw.strip("[]").split(",")]
    if not isinstance(value, list) or not value:
        raise invalid_parameter("hsm_ids must be a JSON array of template ids")
    return [str(item).strip().strip('"') for item in value]


@graph_route("waba", "message_templates", "DELETE")
async def delete_templates(call: GraphRequest) -> dict[str, Any]:
    emulator = call.emulator
    query = call.query
    name, hsm_id, hsm_ids = query.get("name"), query.get("hsm_id"), query.get("hsm_ids")
    live = templates_of(emulator, call.node_id)
    if hsm_ids:
        if name or hsm_id:
            raise invalid_parameter("hsm_ids cannot be combined with name or hsm_id")
        wanted = _template_ids(hsm_ids)
        by_id = {t.id: t for t in live}
        missing = [i for i in wanted if i not in by_id]
        if missing:
            raise _not_found(f"No message template with id {missing[0]}.")
        targets = [by_id[i] for i in wanted]
    else:
        if not name:
            raise GraphAPIError(100, None, message="(#100) The parameter name is required")
        targets = [t for t in live if t.name == name and (hsm_id is None or t.id == hsm_id)]
        if not targets:
            what = f"{name} with id {hsm_id}" if hsm_id else name
            raise _not_found(f"The message template {what} couldn't be found.")
    if any(t.status == "DISABLED" for t in targets):
        raise TemplateRequestError(
            title="Message template can't be deleted",
            user_message="Templates that are disabled can't be deleted.",
        )
    now = emulator.clock.now()
    for template in targets:
        template.deleted_at = now
        template.status = "DELETED"
        template.history.append((now, "DELETED", "NONE"))
        _forget(emulator, template)
    return {"success": True}


def _not_found(message: str) -> TemplateRequestError:
    return TemplateRequestError(title="Message template not found", user_message=message)


# --- Control API ----------------------------------------------------------------------------

router = APIRouter(prefix="/_emulator", tags=["control"])


def _emulator_of(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


class TemplateReview(BaseModel):
    status: Literal["APPROVED", "REJECTED", "PAUSED", "DISABLED"]
    reason: str | None = Field(
        default=None, description="Meta's reason, e.g. INVALID_FORMAT, SCAM, INCORRECT_CATEGORY."
    )


class TemplateHistoryEntry(BaseModel):
    at: datetime
    status: str
    reason: str


class TemplateOut(BaseModel):
    id: str
    waba_id: str
    name: str
    language: str
    category: str
    previous_category: str | None
    status: str
    rejected_reason: str
    quality_score: str
    parameter_format: str
    components: list[dict[str, Any]]
    pauses: int
    paused_until: datetime | None
    review_due_at: datetime | None
    created_at: datetime | None
    deleted_at: datetime | None
    edits: list[datetime]
    history: list[TemplateHistoryEntry]

    @classmethod
    def of(cls, template: Template) -> TemplateOut:
        return cls(
            id=template.id,
            waba_id=template.waba_id,
            name=template.name,
            language=template.language,
            category=template.category,
            previous_category=template.previous_category,
            status=template.status,
            rejected_reason=template.rejected_reason,
            quality_score=template.quality_score,
            parameter_format=template.parameter_format,
            components=template.components,
            pauses=template.pauses,
            paused_until=template.paused_until,
            review_due_at=template.review_due_at,
            created_at=template.created_at,
            deleted_at=template.deleted_at,
            edits=template.edits,
            history=[
                TemplateHistoryEntry(at=at, status=status, reason=reason)
                for at, status, reason in template.history
            ],
        )


@router.post("/templates/{template_id}/review")
async def review_template(template_id: str, body: TemplateReview, request: Request) -> TemplateOut:
    """Decide a template's review (or pause/disable it) now, as Meta would, with its webhook."""
    emulator = _emulator_of(request)
    template = emulator.state.templates.get(template_id)
    if template is None or template.deleted_at is not None:
        raise HTTPException(404, f"no template {template_id}")
    now = emulator.clock.now()
    template.review_due_at = None
    if body.status == "PAUSED":
        other = TemplateOtherInfo(
            title="PAUSED", description="Paused through the emulator's control API."
        )
        set_status(emulator, template, "PAUSED", at=now, reason=body.reason or "NONE",
                   other_info=other)  # fmt: skip
    elif body.status == "REJECTED":
        set_status(emulator, template, "REJECTED", at=now, reason=body.reason or "INVALID_FORMAT")
    else:
        set_status(emulator, template, body.status, at=now, reason=body.reason or "NONE")
    return TemplateOut.of(template)


@router.get("/templates")
async def list_all_templates(
    request: Request, waba_id: str | None = None, include_deleted: bool = False
) -> list[TemplateOut]:
    """Every template, oldest first, with its review history."""
    templates = _emulator_of(request).state.templates.values()
    return [
        TemplateOut.of(t)
        for t in templates
        if (waba_id is None or t.waba_id == waba_id) and (include_deleted or t.deleted_at is None)
    ]
