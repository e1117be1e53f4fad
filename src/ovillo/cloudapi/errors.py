"""Meta's Cloud API errors: the wire shapes, one table of codes, and typed exceptions.

Meta answers a failed call with Graph API error JSON (``{"error": {...}}``, see
``GraphError``) and reports failures that happen after a 200 in the ``errors`` of a
``failed`` status webhook (``{code, title, message, error_data{details}, href}``). Both are
keyed by a numeric ``code``; ``ERROR_SPECS`` holds what we know of each code (Meta's title,
HTTP status, whether the same request may succeed later, and what a business user should
do), and it serves both directions: the client raises from it and the emulator builds
Meta's JSON from it.

    Exception
    └── CloudAPIFailure              a Cloud API call did not succeed; .retriable, .explanation
        ├── CloudAPITransportError   no answer: refused, reset, timed out (.may_have_reached_meta)
        └── CloudAPIError            Meta answered with an error (.error, .http_status, .code)
            ├── AuthenticationError      0, 190: the access token is missing, expired or revoked
            ├── PermissionDeniedError    3, 10, 200-299, 131005: a permission is not granted
            ├── PolicyViolationError     368, 130497, 131031: the account is restricted
            ├── RateLimitError           4, 80007, 130429, 131048, 131056, 131064
            ├── InvalidParameterError    33, 100, 131008, 131009, 131021, 131051, 135000
            ├── ReengagementError        131047: the 24-hour customer-service window is closed
            ├── RecipientError           130472, 131026, 131030, 131049, 131050
            ├── MediaError               131052, 131053
            ├── BusinessAccountError     131037, 131042, 131045
            ├── TemplateError            132000, 132001, 132005, 132007, 132008, 132012,
            │   │                        132015, 132016
            │   └── TemplateRejectedError  2388019, 2388040, 2388293 (subcodes of 100)
            ├── FlowError                132068, 132069
            ├── RegistrationError        133000, 133005, 133006, 133008, 133009, 133010,
            │                            133015, 133016
            ├── ServerError              1, 2, 131000, 131016, 131057, 133004
            └── UnreadableResponseError  a 2xx answer whose body is not what the endpoint returns

A code missing from the table becomes a plain ``CloudAPIError``, retriable when the HTTP
status says so (5xx or 429) or Meta flags it ``is_transient``.

``retriable`` means: the very same request may succeed later without anyone changing
anything. Errors that need a fix first (a new token, an edited template, a PIN) are not
retriable even if the request can be sent again after the fix.

Sources: Meta's "Cloud API error codes" page
(https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes) and
cloud-api-facts.md section 3. Template-creation errors (2388xxx) arrive as ``error_subcode``
of code 100 with ``error_user_title``/``error_user_msg``, not as codes of their own.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import ValidationError

from ovillo.cloudapi.wire import WireModel

ERROR_CODES_HREF: Final = (
    "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
)
GRAPH_ERROR_TYPE: Final = "OAuthException"
INVALID_PARAMETER_CODE: Final = 100


# --- Wire shapes -------------------------------------------------------------------------


class GraphErrorData(WireModel):
    """``error.error_data``: WhatsApp's own detail, the most telling part of an error."""

    messaging_product: str | None = None
    details: str | None = None


class GraphError(WireModel):
    """The object under ``"error"`` in a failed Graph API answer."""

    message: str = ""
    type: str | None = None
    code: int
    error_subcode: int | None = None
    # Older Graph errors carry error_data as a bare string; keep it rather than fail.
    error_data: GraphErrorData | str | None = None
    fbtrace_id: str | None = None
    is_transient: bool | None = None
    error_user_title: str | None = None
    error_user_msg: str | None = None

    @property
    def details(self) -> str | None:
        """The human cause Meta gives, wherever this error carries it."""
        if isinstance(self.error_data, GraphErrorData) and self.error_data.details:
            return self.error_data.details
        if isinstance(self.error_data, str) and self.error_data:
            return self.error_data
        return self.error_user_msg


class GraphErrorEnvelope(WireModel):
    """A failed Graph API answer: ``{"error": {...}}``."""

    error: GraphError


# --- Exceptions --------------------------------------------------------------------------


class CloudAPIFailure(Exception):
    """A Cloud API call did not succeed, for whatever reason."""

    retriable: bool
    explanation: str


class CloudAPITransportError(CloudAPIFailure):
    """No HTTP answer came back: the connection failed, broke or timed out.

    ``may_have_reached_meta`` is False only when the request certainly never left (the
    connection could not be opened). When it is True a send may have been accepted and its
    answer lost: reconcile from the status webhook (``biz_opaque_callback_data``) before
    sending again.
    """

    def __init__(self, *, method: str, url: str, reason: str, may_have_reached_meta: bool) -> None:
        self.method = method
        self.url = url
        self.reason = reason
        self.may_have_reached_meta = may_have_reached_meta
        self.retriable = True
        if may_have_reached_meta:
            self.explanation = (
                "The connection to WhatsApp broke or timed out after the request was sent, so "
                "it may or may not have been carried out. Check its outcome before repeating it."
            )
        else:
            self.explanation = (
                "WhatsApp could not be reached, so nothing was sent. It will be tried again."
            )
        super().__init__(f"{method} {url}: {reason}")


class CloudAPIError(CloudAPIFailure):
    """Meta answered with an error.

    ``error`` is Meta's parsed error (None when the answer was not Graph error JSON, or the
    error came from a status webhook without the full object), ``http_status`` the HTTP
    status (None for errors reported in a status webhook).
    """

    def __init__(
        self,
        *,
        code: int | None,
        title: str,
        retriable: bool,
        explanation: str,
        http_status: int | None = None,
        error: GraphError | None = None,
        details: str | None = None,
        spec: ErrorSpec | None = None,
    ) -> None:
        self.code = code
        self.title = title
        self.retriable = retriable
        self.explanation = explanation
        self.http_status = http_status
        self.error = error
        self.details = details if details is not None else (error.details if error else None)
        self.spec = spec
        super().__init__(self._summary())

    @property
    def subcode(self) -> int | None:
        return self.error.error_subcode if self.error else None

    @property
    def fbtrace_id(self) -> str | None:
        return self.error.fbtrace_id if self.error else None

    def _summary(self) -> str:
        head = f"(#{self.code}) {self.title}" if self.code is not None else self.title
        if self.details:
            head = f"{head}: {self.details}"
        extras = []
        if self.http_status is not None:
            extras.append(f"HTTP {self.http_status}")
        if self.error is not None and self.error.fbtrace_id:
            extras.append(f"fbtrace_id={self.error.fbtrace_id}")
        return f"{head} [{', '.join(extras)}]" if extras else head


class AuthenticationError(CloudAPIError):
    """The access token is missing, expired or revoked."""


class PermissionDeniedError(CloudAPIError):
    """The app or token lacks a permission the call needs."""


class PolicyViolationError(CloudAPIError):
    """Meta restricted the business account (policy, country, lock)."""


class RateLimitError(CloudAPIError):
    """A rate or messaging limit was hit; the same request may pass after a pause."""


class InvalidParameterError(CloudAPIError):
    """The request itself is wrong: a field missing, misspelt or with a bad value."""


class ReengagementError(CloudAPIError):
    """Free-form message outside the 24-hour customer-service window."""


class RecipientError(CloudAPIError):
    """The recipient cannot or will not receive this message."""


class MediaError(CloudAPIError):
    """Media could not be uploaded or downloaded."""


class BusinessAccountError(CloudAPIError):
    """The business account is not set up to send yet (name, payment, certificate)."""


class TemplateError(CloudAPIError):
    """A template send does not match the template, or the template cannot be sent."""


class TemplateRejectedError(TemplateError):
    """Meta refused to create or edit a template."""


class FlowError(CloudAPIError):
    """A WhatsApp Flow cannot be sent."""


class RegistrationError(CloudAPIError):
    """Registering or deregistering a phone number failed."""


class ServerError(CloudAPIError):
    """Meta failed on its side; the same request may succeed later."""


class UnreadableResponseError(CloudAPIError):
    """Meta answered 2xx, but the body is not what the endpoint returns.

    Not retriable: the call may well have been carried out (a message accepted), so its
    outcome must be checked before it is repeated.
    """

    def __init__(self, *, http_status: int, details: str) -> None:
        super().__init__(
            code=None,
            title="Unreadable answer",
            retriable=False,
            explanation=(
                "WhatsApp accepted the request but its answer could not be read, so the result "
                "is unknown. Check the outcome (for a message, its status updates) before "
                "repeating it."
            ),
            http_status=http_status,
            details=details,
        )


# --- The table ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """What we know of one Meta error code.

    ``subcode_of`` is set for codes Meta sends as ``error_subcode`` under another code (the
    template-creation errors under 100).
    """

    code: int
    title: str
    http_status: int
    retriable: bool
    explanation: str
    exception: type[CloudAPIError]
    subcode_of: int | None = None


def _spec(
    code: int,
    title: str,
    http_status: int,
    retriable: bool,
    exception: type[CloudAPIError],
    explanation: str,
    *,
    subcode_of: int | None = None,
) -> ErrorSpec:
    return ErrorSpec(
        code=code,
        title=title,
        http_status=http_status,
        retriable=retriable,
        explanation=explanation,
        exception=exception,
        subcode_of=subcode_of,
    )


_PERMISSION_EXPLANATION = (
    "The app connected to this WhatsApp account lacks a permission this action needs "
    "(whatsapp_business_messaging or whatsapp_business_management). Grant it to the system "
    "user and issue a new access token."
)

_SPECS: list[ErrorSpec] = [
    # Authorization
    _spec(0, "AuthException", 401, False, AuthenticationError,
          "WhatsApp did not accept the access token. Reconnect the number with a valid token."),
    _spec(190, "Access token has expired", 401, False, AuthenticationError,
          "The access token has expired or was revoked, so nothing can be sent. Reconnect the "
          "number with a new, permanent system-user token."),
    _spec(3, "API Method", 500, False, PermissionDeniedError,
          "This app is not allowed to use this capability of the WhatsApp API. Check the app's "
          "permissions and features in Meta's App Dashboard."),
    _spec(10, "Permission Denied", 403, False, PermissionDeniedError, _PERMISSION_EXPLANATION),
    *(
        _spec(code, "API Permission", 403, False, PermissionDeniedError, _PERMISSION_EXPLANATION)
        for code in range(200, 300)
    ),
    _spec(131005, "Access denied", 403, False, PermissionDeniedError, _PERMISSION_EXPLANATION),
    # Integrity
    _spec(368, "Temporarily blocked for policies violations", 403, False, PolicyViolationError,
          "Meta restricted this WhatsApp Business Account for a policy violation. Review the "
          "notice in WhatsApp Manager and appeal or fix the cause before sending again."),
    _spec(130497, "Business account is restricted from messaging users in this country", 403,
          False, PolicyViolationError,
          "This business may not message people in the recipient's country. Remove those "
          "recipients; the restriction is Meta's and cannot be lifted by retrying."),
    _spec(131031, "Account has been locked", 403, False, PolicyViolationError,
          "The WhatsApp Business Account is locked, for a policy violation or because the "
          "two-step PIN did not match. Check WhatsApp Manager and the number's PIN."),
    # Throttling
    _spec(4, "API Too Many Calls", 429, True, RateLimitError,
          "The app made too many API calls in a short time. Calls are slowed down and retried."),
    _spec(80007, "Rate limit issues", 429, True, RateLimitError,
          "The WhatsApp Business Account reached its API rate limit for management calls. They "
          "are retried after a pause."),
    _spec(130429, "Rate limit hit", 429, True, RateLimitError,
          "The number's message throughput (messages per second) was exceeded. Sending slows "
          "down and the message is retried."),
    _spec(131048, "Spam rate limit hit", 429, True, RateLimitError,
          "Meta limited how many messages this number may send because many recent ones were "
          "blocked or reported as spam. Check the number's quality rating, send only to people "
          "who expect your messages, and try again later."),
    _spec(131056, "(Business Account, Consumer Account) pair rate limit hit", 429, True,
          RateLimitError,
          "Too many messages went to the same person in a short time. Wait a few seconds before "
          "messaging them again; other recipients are not affected."),
    _spec(131064, "Messaging limit reached due to template categorization violations", 429,
          True, RateLimitError,
          "Meta cut this account's messaging limit because templates were sent in the wrong "
          "category. Sending is limited, templates and free-form alike, until the enforcement "
          "period ends; review template categories."),
    # Invalid requests
    _spec(33, "Parameter value is not valid", 400, False, InvalidParameterError,
          "The business phone number used no longer exists (it was deleted). Check which "
          "number this workspace sends from."),
    _spec(100, "Invalid parameter", 400, False, InvalidParameterError,
          "WhatsApp refused the request because a field is unknown, misspelt or has a value it "
          "does not accept. The details say which; this is a bug or a setup problem, not a "
          "passing one."),
    _spec(131008, "Required parameter is missing", 400, False, InvalidParameterError,
          "The message lacks a field WhatsApp requires. The details say which."),
    _spec(131009, "Parameter value is not valid", 400, False, InvalidParameterError,
          "A value in the message is not valid (for example a phone number, a media link or a "
          "template variable). The details say which."),
    _spec(131021, "Recipient cannot be sender", 400, False, InvalidParameterError,
          "The message was addressed to the business's own number. Send it to a customer's "
          "number instead."),
    _spec(131051, "Unsupported message type", 400, False, InvalidParameterError,
          "WhatsApp does not support this kind of message here. Send another message type."),
    _spec(135000, "Generic user error", 400, False, InvalidParameterError,
          "WhatsApp refused the message for an unspecified reason in the request. Check its "
          "content and parameters."),
    # Customer-service window
    _spec(131047, "Re-engagement message", 400, False, ReengagementError,
          "More than 24 hours have passed since this customer last wrote, so only an approved "
          "template may be sent. Send a template to reopen the conversation."),
    # Recipients
    _spec(130472, "User's number is part of an experiment", 400, False, RecipientError,
          "Meta held back this marketing message because the customer is in one of Meta's "
          "marketing experiments. Nothing to fix; you are not charged for it."),
    _spec(131026, "Message undeliverable", 400, False, RecipientError,
          "WhatsApp could not deliver the message: the number may not use WhatsApp, have an "
          "outdated app, not have accepted WhatsApp's terms, or have blocked this business. Ask "
          "the customer to check, or reach them another way."),
    _spec(131030, "Recipient phone number not in allowed list", 400, False, RecipientError,
          "This is a test number, which may only message up to five verified recipients. Add "
          "the recipient to the allowed list in the App Dashboard, or use a production number."),
    _spec(131049, "Meta chose not to deliver", 400, False, RecipientError,
          "Meta did not deliver this marketing message because the customer has received many "
          "marketing messages lately. Do not resend it within 24 hours."),
    _spec(131050, "User has stopped receipt of marketing messages", 400, False, RecipientError,
          "The customer chose to stop marketing messages from this business. Do not send them "
          "marketing messages; service and utility messages still go through."),
    # Media
    _spec(131052, "Media download error", 400, False, MediaError,
          "The media the customer sent could not be downloaded. Ask them to send it again."),
    _spec(131053, "Media upload error", 400, False, MediaError,
          "The media could not be uploaded or fetched from its link: check the file type, its "
          "size and that the link is public, then send again."),
    # Business account eligibility
    _spec(131037,
          "WhatsApp provided number needs display name approval before message can be sent",
          400, False, BusinessAccountError,
          "This number's display name is not approved yet, so it cannot send. Wait for Meta's "
          "review of the display name in WhatsApp Manager."),
    _spec(131042, "Business eligibility payment issue", 400, False, BusinessAccountError,
          "There is a problem with the account's payment method (missing, declined, or over "
          "its credit line). Fix billing in WhatsApp Manager; messages fail until then."),
    _spec(131045, "Incorrect certificate", 400, False, BusinessAccountError,
          "The number's registration is incomplete or its certificate is wrong. Register the "
          "number again."),
    # Templates (sending)
    _spec(132000, "Number of parameters does not match the expected number of params", 400,
          False, TemplateError,
          "The number of values given does not match the template's variables. Provide one "
          "value per variable."),
    _spec(132001, "Template does not exist", 404, False, TemplateError,
          "The template does not exist in this language or is not approved yet. Check its name, "
          "language and status."),
    _spec(132005, "Translated text too long", 400, False, TemplateError,
          "With its values filled in, the template text is longer than WhatsApp allows. Use "
          "shorter values."),
    _spec(132007, "Format character policy violated", 400, False, TemplateError,
          "A value breaks WhatsApp's formatting rules (for example new lines, tabs or more than "
          "four spaces in a row). Clean up the values."),
    _spec(132008, "Template parameter value is not valid", 400, False, TemplateError,
          "A template value has the wrong kind (for example text where a currency or media "
          "is expected). Check the values."),
    _spec(132012, "Parameter format does not match format in the created template", 400, False,
          TemplateError,
          "A value does not match the format the template was created with (for example an "
          "image where it expects a video). Match the template's format."),
    _spec(132015, "Template is Paused", 400, False, TemplateError,
          "The template is paused for low quality and cannot be sent. Edit it, or wait until "
          "Meta unpauses it."),
    _spec(132016, "Template is Disabled", 400, False, TemplateError,
          "The template was paused too many times and is now permanently disabled. Create a new "
          "template with different content."),
    # Templates (creation), sent by Meta as subcodes of 100
    _spec(2388019, "Message template limit reached", 400, False, TemplateRejectedError,
          "The WhatsApp Business Account has as many templates as it may have. Delete unused "
          "templates, or verify the business to raise the limit.",
          subcode_of=INVALID_PARAMETER_CODE),
    _spec(2388040, "Character limit exceeded", 400, False, TemplateRejectedError,
          "A part of the template is longer than WhatsApp allows. Shorten the part the details "
          "name.", subcode_of=INVALID_PARAMETER_CODE),
    _spec(2388293, "Params Words Ratio Exceeds Limit", 400, False, TemplateRejectedError,
          "The template has too many variables for the length of its text. Add more fixed text "
          "or use fewer variables.", subcode_of=INVALID_PARAMETER_CODE),
    # Flows
    _spec(132068, "Flow is in blocked state", 400, False, FlowError,
          "The Flow in this message is blocked and cannot be sent. Fix it in the Flow builder."),
    _spec(132069, "Flow is in throttled state", 400, True, FlowError,
          "The Flow is throttled (at most 10 sends an hour while it is in this state). It will "
          "be sent again later."),
    # Registration
    _spec(133000, "Incomplete deregistration", 400, False, RegistrationError,
          "A previous deregistration of this number did not finish. Deregister it again, then "
          "register it."),
    _spec(133004, "Server temporarily unavailable", 503, True, ServerError,
          "WhatsApp's registration service is briefly unavailable. It is tried again."),
    _spec(133005, "Two step verification PIN mismatch", 400, False, RegistrationError,
          "The two-step verification PIN is wrong. Enter the PIN set for this number, or reset "
          "it in WhatsApp Manager."),
    _spec(133006, "Phone number re-verification needed", 400, False, RegistrationError,
          "The number must be verified again (by SMS or voice code) before it can be "
          "registered."),
    _spec(133008, "Too many two step verification PIN guesses", 400, False, RegistrationError,
          "Too many wrong PINs were tried for this number. Wait for the lock to end and use the "
          "right PIN."),
    _spec(133009, "Two step verification PIN guessed too fast", 400, False, RegistrationError,
          "PINs were tried too quickly. Wait a moment and try again with the right PIN."),
    _spec(133010, "Phone number not registered", 400, False, RegistrationError,
          "This number is not registered with the Cloud API, so it cannot send. Register it "
          "first."),
    _spec(133015, "Please wait a few minutes before attempting to register this phone number",
          400, True, RegistrationError,
          "The number was deleted recently and cannot be registered yet. It is tried again in "
          "a few minutes."),
    _spec(133016, "Account register deregister rate limit exceeded", 400, True,
          RegistrationError,
          "There were too many register or deregister attempts for this number. Wait before "
          "trying again."),
    # Meta's side
    _spec(1, "API Unknown", 400, True, ServerError,
          "WhatsApp failed for an unknown reason, possibly a short outage. It is tried again."),
    _spec(2, "API Service", 503, True, ServerError,
          "WhatsApp is briefly unavailable or overloaded. It is tried again."),
    _spec(131000, "Something went wrong", 500, True, ServerError,
          "WhatsApp failed for an unknown reason on its side. It is tried again; if it keeps "
          "failing, open a ticket with Meta support."),
    _spec(131016, "Service unavailable", 503, True, ServerError,
          "A WhatsApp service is temporarily unavailable. It is tried again."),
    _spec(131057, "Account in maintenance mode", 500, True, ServerError,
          "The business account is in maintenance (for example a throughput upgrade). Sending "
          "resumes in a few minutes."),
]  # fmt: skip

ERROR_SPECS: Final[Mapping[int, ErrorSpec]] = {spec.code: spec for spec in _SPECS}
"""Every Meta error code we know, by code (subcode-carried codes included)."""


def spec_for(code: int | None) -> ErrorSpec | None:
    """The table entry for a code, or None for a code we do not know."""
    return ERROR_SPECS.get(code) if code is not None else None


def _retriable_by_status(http_status: int | None) -> bool:
    return http_status is not None and (http_status >= 500 or http_status == 429)


def _resolve_spec(code: int | None, subcode: int | None) -> ErrorSpec | None:
    sub = spec_for(subcode)
    if sub is not None and sub.subcode_of == code:
        return sub
    spec = spec_for(code)
    # A subcode-only entry must not answer for a top-level code that happens to share it.
    return spec if spec is not None and spec.subcode_of is None else None


def error_from_graph_error(error: GraphError, *, http_status: int | None) -> CloudAPIError:
    """The typed exception for a parsed Graph error."""
    spec = _resolve_spec(error.code, error.error_subcode)
    if spec is None:
        retriable = bool(error.is_transient) or _retriable_by_status(http_status)
        return CloudAPIError(
            code=error.code,
            title=error.message or f"Error {error.code}",
            retriable=retriable,
            explanation=(
                "WhatsApp returned an error this version of Ovillo does not know"
                f" (code {error.code}). "
                + ("It is tried again." if retriable else "Read the details to fix the cause.")
            ),
            http_status=http_status,
            error=error,
        )
    return spec.exception(
        code=spec.code,
        title=spec.title,
        retriable=spec.retriable,
        explanation=spec.explanation,
        http_status=http_status,
        error=error,
        spec=spec,
    )


def _unparsable(http_status: int, body: str) -> CloudAPIError:
    retriable = _retriable_by_status(http_status)
    snippet = " ".join(body.split())[:200]
    return CloudAPIError(
        code=None,
        title=f"HTTP {http_status} without a Graph API error",
        retriable=retriable,
        explanation=(
            f"WhatsApp (or a proxy in front of it) answered HTTP {http_status} without saying "
            "why. "
            + (
                "It is tried again."
                if retriable
                else "Check the API address and version this number is configured with."
            )
        ),
        http_status=http_status,
        details=snippet or None,
    )


def error_from_response(
    http_status: int, body: bytes | str | Mapping[str, Any] | None
) -> CloudAPIError:
    """The typed exception for a non-2xx answer; never raises a parsing error itself.

    ``body`` may be the raw bytes, text or already-decoded JSON. A body that is not Graph
    error JSON (an HTML page from a proxy, an empty 502) becomes a plain ``CloudAPIError``
    with ``code`` None, retriable for 5xx and 429.
    """
    if body is None:
        return _unparsable(http_status, "")
    text = ""
    decoded: Any
    if isinstance(body, Mapping):
        decoded = body
    else:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        try:
            decoded = json.loads(text)
        except ValueError:
            return _unparsable(http_status, text)
    try:
        envelope = GraphErrorEnvelope.model_validate(decoded)
    except ValidationError:
        return _unparsable(http_status, text or json.dumps(decoded, default=str))
    return error_from_graph_error(envelope.error, http_status=http_status)


def error_from_status_error(error: Mapping[str, Any] | WireModel) -> CloudAPIError:
    """The typed exception for one entry of a ``failed`` status webhook's ``errors``.

    Useful to tell a business user what a failure means and whether it is worth retrying.
    """
    raw = error.to_wire() if isinstance(error, WireModel) else dict(error)
    code = raw.get("code")
    code = code if isinstance(code, int) else None
    error_data = raw.get("error_data")
    details = error_data.get("details") if isinstance(error_data, Mapping) else None
    spec = spec_for(code)
    if spec is None:
        return CloudAPIError(
            code=code,
            title=str(raw.get("title") or raw.get("message") or f"Error {code}"),
            retriable=False,
            explanation=(
                f"WhatsApp reported a delivery error this version of Ovillo does not know "
                f"(code {code}). Read the details to fix the cause."
            ),
            details=details if isinstance(details, str) else None,
        )
    return spec.exception(
        code=spec.code,
        title=spec.title,
        retriable=spec.retriable,
        explanation=spec.explanation,
        details=details if isinstance(details, str) else None,
        spec=spec,
    )


# --- Builders (used by the emulator to answer as Meta does) ------------------------------


def new_fbtrace_id() -> str:
    """A random trace id shaped like Meta's (opaque, URL-safe, about 23 characters)."""
    return "A" + secrets.token_urlsafe(16)[:22]


def graph_error_body(
    code: int,
    details: str | None,
    message: str | None = None,
    *,
    fbtrace_id: str | None = None,
    error_subcode: int | None = None,
) -> dict[str, Any]:
    """Meta's synchronous error JSON for a code: ``{"error": {...}}``.

    The message defaults to Meta's ``"(#<code>) <title>"``. A code Meta sends as a subcode
    (the 2388xxx template-creation errors) is built as Meta does it: ``code`` 100 with
    ``error_subcode``, ``error_user_title`` and ``error_user_msg``. The HTTP status to answer
    with is ``ERROR_SPECS[code].http_status``.
    """
    spec = spec_for(code)
    trace = fbtrace_id or new_fbtrace_id()
    if spec is not None and spec.subcode_of is not None:
        parent = spec_for(spec.subcode_of)
        parent_title = parent.title if parent is not None else "Invalid parameter"
        sub_error = GraphError(
            message=message or parent_title,
            type=GRAPH_ERROR_TYPE,
            code=spec.subcode_of,
            error_subcode=code,
            is_transient=False,
            error_user_title=spec.title,
            error_user_msg=details or spec.explanation,
            fbtrace_id=trace,
        )
        return GraphErrorEnvelope(error=sub_error).to_wire()
    title = spec.title if spec is not None else "Unknown error"
    error = GraphError(
        message=message or f"(#{code}) {title}",
        type=GRAPH_ERROR_TYPE,
        code=code,
        error_subcode=error_subcode,
        error_data=(
            GraphErrorData(messaging_product="whatsapp", details=details)
            if details is not None
            else None
        ),
        fbtrace_id=trace,
    )
    return GraphErrorEnvelope(error=error).to_wire()


def status_error_object(
    code: int, details: str | None = None, *, title: str | None = None
) -> dict[str, Any]:
    """One entry of a ``failed`` status webhook's ``errors``, as Meta sends it.

    ``{"code", "title", "message", "error_data": {"details"}, "href"}``; Meta repeats the
    title as the message.
    """
    spec = spec_for(code)
    resolved_title = title or (spec.title if spec is not None else "Unknown error")
    body: dict[str, Any] = {"code": code, "title": resolved_title, "message": resolved_title}
    body["error_data"] = {"details": details if details is not None else resolved_title}
    body["href"] = ERROR_CODES_HREF
    return body
