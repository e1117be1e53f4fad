"""Meta's error codes: the table, the exceptions they raise and the JSON the emulator builds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ovillo.cloudapi import errors as e
from ovillo.cloudapi.errors import (
    ERROR_SPECS,
    CloudAPIError,
    CloudAPIFailure,
    CloudAPITransportError,
    GraphError,
    GraphErrorEnvelope,
    error_from_response,
    error_from_status_error,
    graph_error_body,
    status_error_object,
)

# cloud-api-facts.md section 3, transcribed by hand so that a wrong table fails here:
# (code, exception class, HTTP status, retriable).
FACTS_TABLE: list[tuple[int, type[CloudAPIError], int, bool]] = [
    (0, e.AuthenticationError, 401, False),
    (190, e.AuthenticationError, 401, False),
    (3, e.PermissionDeniedError, 500, False),
    (10, e.PermissionDeniedError, 403, False),
    (200, e.PermissionDeniedError, 403, False),
    (250, e.PermissionDeniedError, 403, False),
    (299, e.PermissionDeniedError, 403, False),
    (4, e.RateLimitError, 429, True),
    (80007, e.RateLimitError, 429, True),
    (100, e.InvalidParameterError, 400, False),
    (368, e.PolicyViolationError, 403, False),
    (130429, e.RateLimitError, 429, True),
    (130472, e.RecipientError, 400, False),
    (130497, e.PolicyViolationError, 403, False),
    (131000, e.ServerError, 500, True),
    (131005, e.PermissionDeniedError, 403, False),
    (131008, e.InvalidParameterError, 400, False),
    (131009, e.InvalidParameterError, 400, False),
    (131016, e.ServerError, 503, True),
    (131021, e.InvalidParameterError, 400, False),
    (131026, e.RecipientError, 400, False),
    (131030, e.RecipientError, 400, False),
    (131031, e.PolicyViolationError, 403, False),
    (131037, e.BusinessAccountError, 400, False),
    (131042, e.BusinessAccountError, 400, False),
    (131045, e.BusinessAccountError, 400, False),
    (131047, e.ReengagementError, 400, False),
    (131048, e.RateLimitError, 429, True),
    (131049, e.RecipientError, 400, False),
    (131050, e.RecipientError, 400, False),
    (131051, e.InvalidParameterError, 400, False),
    (131052, e.MediaError, 400, False),
    (131053, e.MediaError, 400, False),
    (131056, e.RateLimitError, 429, True),
    (131057, e.ServerError, 500, True),
    (131064, e.RateLimitError, 429, True),
    (132000, e.TemplateError, 400, False),
    (132001, e.TemplateError, 404, False),
    (132005, e.TemplateError, 400, False),
    (132007, e.TemplateError, 400, False),
    (132012, e.TemplateError, 400, False),
    (132015, e.TemplateError, 400, False),
    (132016, e.TemplateError, 400, False),
    (132068, e.FlowError, 400, False),
    (132069, e.FlowError, 400, True),
    (133000, e.RegistrationError, 400, False),
    (133005, e.RegistrationError, 400, False),
    (133010, e.RegistrationError, 400, False),
    (133015, e.RegistrationError, 400, True),
    (133016, e.RegistrationError, 400, True),
    (135000, e.InvalidParameterError, 400, False),
    (2388019, e.TemplateRejectedError, 400, False),
    (2388040, e.TemplateRejectedError, 400, False),
    (2388293, e.TemplateRejectedError, 400, False),
]


@pytest.mark.parametrize(("code", "exception", "http_status", "retriable"), FACTS_TABLE)
def test_table_matches_the_facts_file(
    code: int, exception: type[CloudAPIError], http_status: int, retriable: bool
) -> None:
    spec = ERROR_SPECS[code]
    assert spec.exception is exception
    assert spec.http_status == http_status
    assert spec.retriable is retriable


def test_every_code_from_200_to_299_is_a_permission_error() -> None:
    assert all(ERROR_SPECS[code].exception is e.PermissionDeniedError for code in range(200, 300))


@pytest.mark.parametrize("code", sorted(ERROR_SPECS))
def test_every_code_builds_and_parses_back_to_its_class(code: int) -> None:
    spec = ERROR_SPECS[code]
    body = graph_error_body(code, "why it failed")
    raised = error_from_response(spec.http_status, json.dumps(body).encode())

    assert type(raised) is spec.exception
    assert raised.code == code
    assert raised.retriable is spec.retriable
    assert raised.explanation == spec.explanation
    assert raised.http_status == spec.http_status
    assert raised.details == "why it failed"
    assert raised.error is not None
    assert raised.error.fbtrace_id


@pytest.mark.parametrize("code", sorted(ERROR_SPECS))
def test_every_code_has_a_title_and_a_sentence_for_a_business_user(code: int) -> None:
    spec = ERROR_SPECS[code]
    assert spec.title.strip()
    assert spec.explanation.endswith(".")
    assert len(spec.explanation) > 30


def test_sync_error_body_has_metas_shape() -> None:
    body = graph_error_body(131030, "Add the number to the allowed list", fbtrace_id="AbC123xyz")
    assert body == {
        "error": {
            "message": "(#131030) Recipient phone number not in allowed list",
            "type": "OAuthException",
            "code": 131030,
            "error_data": {
                "messaging_product": "whatsapp",
                "details": "Add the number to the allowed list",
            },
            "fbtrace_id": "AbC123xyz",
        }
    }


def test_a_custom_message_replaces_the_default() -> None:
    body = graph_error_body(100, None, "(#100) The parameter to is required.")
    assert body["error"]["message"] == "(#100) The parameter to is required."
    assert "error_data" not in body["error"]


def test_template_creation_errors_are_built_as_subcodes_of_100() -> None:
    body = graph_error_body(2388040, "Body is longer than 1024 characters.")["error"]
    assert body["code"] == 100
    assert body["error_subcode"] == 2388040
    assert body["error_user_title"] == "Character limit exceeded"
    assert body["error_user_msg"] == "Body is longer than 1024 characters."


def test_a_subcode_under_another_code_does_not_pick_the_template_class() -> None:
    body = graph_error_body(131009, "bad value", error_subcode=2388040)
    assert type(error_from_response(400, body)) is e.InvalidParameterError


def test_status_error_object_has_metas_shape() -> None:
    assert status_error_object(131047, "Message failed to send because more than 24 hours") == {
        "code": 131047,
        "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours"},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }


@pytest.mark.parametrize("code", sorted(ERROR_SPECS))
def test_status_errors_classify_like_sync_errors(code: int) -> None:
    raised = error_from_status_error(status_error_object(code, "details"))
    assert type(raised) is ERROR_SPECS[code].exception
    assert raised.http_status is None
    assert raised.details == "details"


def test_metas_documented_example_parses() -> None:
    body = (
        b'{"error":{"message":"(#131030) Recipient phone number not in allowed list",'
        b'"type":"OAuthException","code":131030,"error_data":{"messaging_product":"whatsapp",'
        b'"details":"Recipient phone number not in allowed list: Add recipient phone number to '
        b'recipient list and try again."},"error_subcode":2655007,"fbtrace_id":"AbC123xyz"}}'
    )
    raised = error_from_response(400, body)
    assert isinstance(raised, e.RecipientError)
    assert raised.subcode == 2655007
    assert raised.fbtrace_id == "AbC123xyz"
    assert "(#131030)" in str(raised)
    assert "HTTP 400" in str(raised)


def test_graph_error_keeps_unknown_fields_and_round_trips() -> None:
    raw: dict[str, Any] = {
        "error": {
            "message": "(#4) Application request limit reached",
            "type": "OAuthException",
            "is_transient": True,
            "code": 4,
            "fbtrace_id": "X",
            "new_field_from_meta": {"a": 1},
        }
    }
    assert GraphErrorEnvelope.model_validate(raw).to_wire() == raw


def test_error_data_as_a_bare_string_is_kept_as_details() -> None:
    error = GraphError.model_validate({"message": "m", "code": 1, "error_data": "text"})
    assert error.details == "text"


@pytest.mark.parametrize(
    ("status", "retriable"), [(400, False), (403, False), (404, False), (429, True), (500, True)]
)
def test_unknown_codes_are_base_errors_retriable_by_status(status: int, retriable: bool) -> None:
    raised = error_from_response(status, graph_error_body(987654, "new"))
    assert type(raised) is CloudAPIError
    assert raised.code == 987654
    assert raised.retriable is retriable


def test_unknown_code_flagged_transient_by_meta_is_retriable() -> None:
    body = {"error": {"message": "try later", "code": 987654, "is_transient": True}}
    assert error_from_response(400, body).retriable


@pytest.mark.parametrize(
    ("status", "body", "retriable"),
    [
        (502, b"<html><body>Bad Gateway</body></html>", True),
        (503, b"", True),
        (404, b"Not Found", False),
        (400, b'{"unexpected": true}', False),
        (400, b'{"error": "a string, not an object"}', False),
        (500, b"\xff\xfe\x00garbage", True),
        (400, None, False),
    ],
)
def test_bodies_that_are_not_graph_errors_become_base_errors(
    status: int, body: bytes | None, retriable: bool
) -> None:
    raised = error_from_response(status, body)
    assert type(raised) is CloudAPIError
    assert raised.code is None
    assert raised.retriable is retriable
    assert raised.http_status == status
    assert f"HTTP {status}" in str(raised)


@given(status=st.integers(min_value=400, max_value=599), body=st.binary(max_size=300))
def test_no_error_body_makes_the_parser_raise(status: int, body: bytes) -> None:
    assert isinstance(error_from_response(status, body), CloudAPIError)


def test_transport_error_says_whether_the_request_may_have_arrived() -> None:
    lost = CloudAPITransportError(
        method="POST",
        url="https://x/v23.0/1/messages",
        reason="timeout",
        may_have_reached_meta=True,
    )
    refused = CloudAPITransportError(
        method="POST",
        url="https://x/v23.0/1/messages",
        reason="refused",
        may_have_reached_meta=False,
    )
    assert isinstance(lost, CloudAPIFailure)
    assert lost.retriable
    assert refused.retriable
    assert "may or may not" in lost.explanation
    assert "nothing was sent" in refused.explanation
