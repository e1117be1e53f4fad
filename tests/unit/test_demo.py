"""The demo's pure parts: its credentials file and what it shows on start."""

from __future__ import annotations

import json
import shlex
import stat
import uuid
from pathlib import Path

import pytest

from ovillo import demo


def an_access(**changes: object) -> demo.DemoAccess:
    fields: dict[str, object] = {
        "workspace_id": uuid.uuid4(),
        "owner_email": demo.OWNER_EMAIL,
        "owner_password": "Pa55-word_x",
        "api_key": "ovk_abcdefghijklmnop",
        "channel_id": uuid.uuid4(),
        "phone_number_id": "106540352242922",
        "display_phone_number": demo.DISPLAY_PHONE_NUMBER,
        "credentials_path": Path("var") / demo.CREDENTIALS_FILE,
        "emulator_url": "http://127.0.0.1:8081",
        "number_created": True,
        "customers": (demo.DemoCustomer(wa_id="15550001111", name="Ana"),),
    }
    fields.update(changes)
    return demo.DemoAccess(**fields)  # type: ignore[arg-type]


def test_credentials_round_trip_in_a_file_only_its_owner_reads(tmp_path: Path) -> None:
    path = tmp_path / "var" / demo.CREDENTIALS_FILE
    kept = demo.DemoCredentials(owner_password="Pa55-word_x", api_key="ovk_abc")
    demo.write_credentials(path, kept, owner_email=demo.OWNER_EMAIL)
    assert demo.read_credentials(path) == kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [demo.CREDENTIALS_FILE]


def test_rewriting_credentials_tightens_a_loose_file(tmp_path: Path) -> None:
    path = tmp_path / demo.CREDENTIALS_FILE
    path.write_text("{}")
    path.chmod(0o644)
    demo.write_credentials(
        path, demo.DemoCredentials(owner_password="p", api_key="k"), owner_email="o"
    )
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "content",
    [
        None,
        "",
        "not json",
        "[]",
        '{"owner_password": "x"}',
        '{"owner_password": 1, "api_key": "k"}',
    ],
)
def test_missing_or_broken_credentials_read_as_none(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / demo.CREDENTIALS_FILE
    if content is not None:
        path.write_text(content)
    assert demo.read_credentials(path) is None


def curl_lines(lines: list[str]) -> list[list[str]]:
    """The shown curl commands, split as a shell would."""
    return [shlex.split(line) for line in lines if line.strip().startswith("curl ")]


def body_of(curl: list[str]) -> dict[str, object]:
    body: dict[str, object] = json.loads(curl[curl.index("-d") + 1])
    return body


def test_instructions_show_the_login_the_key_and_runnable_curl_lines() -> None:
    access = an_access(api_key="ovk_it's-quoted")
    lines = demo.instructions(access, base_url="http://127.0.0.1:8000/")
    text = "\n".join(lines)
    assert "http://127.0.0.1:8000/docs" in text
    assert "http://127.0.0.1:8000/sign-in" in text
    assert f"{demo.OWNER_EMAIL}  password Pa55-word_x" in text
    listing, answering, writing_in = curl_lines(lines)
    assert listing[-3:] == [
        "http://127.0.0.1:8000/api/v1/conversations",
        "-H",
        "Authorization: Bearer ovk_it's-quoted",
    ]
    assert "http://127.0.0.1:8000/api/v1/messages" in answering
    assert "Authorization: Bearer ovk_it's-quoted" in answering
    assert body_of(answering) == {
        "to": "15550001111",
        "number_id": str(access.channel_id),
        "type": "text",
        "text": {"body": "Hello from Ovillo! How can we help?"},
    }
    assert "http://127.0.0.1:8081/_emulator/customers/15550001111/messages" in writing_in
    assert body_of(writing_in)["phone_number_id"] == access.phone_number_id


def test_instructions_without_customers_say_where_a_recipient_goes() -> None:
    lines = demo.instructions(an_access(customers=()), base_url="http://h:1")
    _, answering, _ = curl_lines(lines)
    assert body_of(answering)["to"] == "<wa_id of a customer>"
