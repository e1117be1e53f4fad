"""Bad input never breaks the emulator: every answer is Meta's, whatever is thrown at it.

Over real HTTP against one emulator per module (the Graph API's POST endpoints, the ones a
client feeds with data): random JSON values, random bytes under any content type, form
fields, multipart junk, mutations of a valid message of every type and of a valid template,
oversize and deeply nested bodies, random paths. The law: a 200 with a JSON object, or a
4xx with Meta's error JSON ``{"error": {"message", "type", "code", "fbtrace_id"}}`` —
never a 5xx, a stack trace or a body that is not JSON.

The control API (FastAPI, not Meta's) is fuzzed from its own OpenAPI document with
schemathesis on a separate emulator (it can reset the world and inject faults): no 5xx.

Budgets keep the module well under a minute: ``max_examples`` per test, no deadline
(a real HTTP round trip is not a unit of CPU time).
"""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from ovillo.emulator.app import create_emulator_app
from ovillo.emulator.emulator import Emulator, EmulatorConfig
from ovillo.emulator.server import EmulatorServer, serve_in_thread

API = "/v23.0"
CUSTOMERS = [f"1555020{index:04d}" for index in range(40)]
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@dataclass
class World:
    """One emulator with a number, customers in their window, a template and a media id."""

    server: EmulatorServer
    http: httpx.Client
    phone_number_id: str
    waba_id: str
    token: str
    inbound: list[str]
    media_id: str
    template_name: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return self.http.post(f"{API}/{path}", headers=headers, **kwargs)

    @property
    def endpoints(self) -> list[str]:
        return [
            f"{self.phone_number_id}/messages",
            f"{self.phone_number_id}/media",
            f"{self.waba_id}/message_templates",
        ]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with (
        serve_in_thread(Emulator(config=EmulatorConfig(seed=7))) as server,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        created = http.post(
            "/_emulator/phone_numbers",
            json={
                "display_phone_number": "+1 555-099-0000",
                "verified_name": "Fuzz",
                "app_secret": "fuzz-secret",
                "throughput_mps": 1000,
            },
        )
        assert created.status_code == 201, created.text
        number = created.json()
        inbound = []
        for customer in CUSTOMERS:
            wrote = http.post(
                f"/_emulator/customers/{customer}/messages",
                json={
                    "phone_number_id": number["phone_number_id"],
                    "type": "text",
                    "text": {"body": "hi"},
                },
            )
            assert wrote.status_code == 201, wrote.text
            inbound.append(wrote.json()["id"])
        auth = {"Authorization": f"Bearer {number['access_token']}"}
        uploaded = http.post(
            f"{API}/{number['phone_number_id']}/media",
            headers=auth,
            data={"messaging_product": "whatsapp", "type": "image/png"},
            files={"file": ("dot.png", PNG_1X1, "image/png")},
        )
        assert uploaded.status_code == 200, uploaded.text
        template = http.post(
            f"{API}/{number['waba_id']}/message_templates",
            headers=auth,
            json=VALID_TEMPLATE,
        )
        assert template.status_code == 200, template.text
        reviewed = http.post(
            f"/_emulator/templates/{template.json()['id']}/review",
            json={"status": "APPROVED"},
        )
        assert reviewed.status_code in (200, 201, 204), reviewed.text
        yield World(
            server=server,
            http=http,
            phone_number_id=number["phone_number_id"],
            waba_id=number["waba_id"],
            token=number["access_token"],
            inbound=inbound,
            media_id=uploaded.json()["id"],
            template_name=VALID_TEMPLATE["name"],
        )


def assert_meta_answer(response: httpx.Response) -> None:
    """A 200 JSON object, or Meta's error JSON with a 4xx; nothing else."""
    request = response.request
    where = f"{request.method} {request.url.path} -> {response.status_code}: {response.text[:500]}"
    assert response.status_code < 500, where
    assert "Traceback" not in response.text, where
    assert response.headers.get("content-type", "").startswith("application/json"), where
    body = response.json()
    assert isinstance(body, dict), where
    if response.status_code == 200:
        assert "error" not in body, where
        return
    assert 400 <= response.status_code < 500, where
    error = body.get("error")
    assert isinstance(error, dict), where
    assert isinstance(error.get("message"), str), where
    assert error["message"], where
    assert isinstance(error.get("type"), str), where
    assert isinstance(error.get("code"), int), where
    assert not isinstance(error["code"], bool), where
    assert isinstance(error.get("fbtrace_id"), str), where
    assert error["fbtrace_id"], where


# --- Strategies ---------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=25,
)
# Meta's own words in keys, so random objects hit real fields more often than chance would.
meta_keys = st.sampled_from(
    [
        "messaging_product", "to", "type", "text", "body", "preview_url", "image", "link",
        "id", "caption", "template", "name", "language", "code", "components", "parameters",
        "interactive", "action", "buttons", "sections", "rows", "status", "message_id",
        "recipient_type", "context", "biz_opaque_callback_data", "category", "file",
        "reaction", "emoji", "location", "latitude", "longitude", "contacts", "sticker",
        "typing_indicator", "parameter_format", "allow_category_change", "example",
    ]
)  # fmt: skip
meta_objects = st.dictionaries(meta_keys | st.text(max_size=8), json_values, max_size=8)
content_types = st.sampled_from(
    [
        None,
        "application/json",
        "application/json; charset=latin-1",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "multipart/form-data; boundary=nothing-here",
        "application/octet-stream",
        "image/png",
        "application/xml",
        "",
        ";;;",
    ]
)


def encode(value: Any) -> bytes:
    # json.dumps writes NaN and Infinity, which are not JSON: exactly what a fuzzer wants.
    return json.dumps(value).encode()


# --- Random bodies on every POST endpoint -------------------------------------------------


@FUZZ
@given(endpoint=st.integers(0, 2), value=json_values | meta_objects)
def test_random_json_values(world: World, endpoint: int, value: Any) -> None:
    response = world.post(
        world.endpoints[endpoint],
        content=encode(value),
        headers={"Content-Type": "application/json"},
    )
    assert_meta_answer(response)


@FUZZ
@given(endpoint=st.integers(0, 2), raw=st.binary(max_size=512), content_type=content_types)
# A multipart type with no (or a wrong) boundary: Starlette's form parser raises its own
# HTTPException, not MultiPartException.
@example(endpoint=1, raw=b"", content_type="multipart/form-data")
@example(endpoint=1, raw=b"abc", content_type="multipart/form-data; boundary=nothing-here")
def test_random_bytes_under_any_content_type(
    world: World, endpoint: int, raw: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    response = world.post(world.endpoints[endpoint], content=raw, headers=headers)
    assert_meta_answer(response)


@FUZZ
@given(
    endpoint=st.integers(0, 2),
    fields=st.dictionaries(meta_keys | st.text(max_size=8), st.text(max_size=40), max_size=8),
)
def test_random_form_fields(world: World, endpoint: int, fields: dict[str, str]) -> None:
    response = world.post(world.endpoints[endpoint], data=fields)
    assert_meta_answer(response)


@FUZZ
@given(
    data=st.binary(max_size=2048) | st.just(PNG_1X1),
    file_type=st.sampled_from(
        [
            "image/png",
            "image/jpeg",
            "audio/ogg",
            "video/mp4",
            "application/pdf",
            "text/plain",
            "application/x-msdownload",
            "image/",
            "",
            "nonsense",
        ]
    ),
    declared=st.none() | st.text(max_size=20) | st.sampled_from(["image/png", "video/mp4"]),
    product=st.none() | st.sampled_from(["whatsapp", "instagram", ""]),
    filename=st.text(max_size=30),
    field_name=st.sampled_from(["file", "source", "data"]),
)
def test_multipart_uploads(
    world: World,
    data: bytes,
    file_type: str,
    declared: str | None,
    product: str | None,
    filename: str,
    field_name: str,
) -> None:
    fields = {
        key: value
        for key, value in {"messaging_product": product, "type": declared}.items()
        if value is not None
    }
    response = world.post(
        f"{world.phone_number_id}/media",
        data=fields,
        files={field_name: (filename or "f", data, file_type)},
    )
    assert_meta_answer(response)


# --- Mutations of valid messages of every type --------------------------------------------


def valid_messages(world: World, to: str, inbound: str) -> dict[str, dict[str, Any]]:
    """One valid request body per kind of send, each accepted by Meta as it is."""
    base: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    link = "https://example.com/file"
    return {
        "text": {**base, "to": to, "type": "text", "text": {"body": "hi", "preview_url": True}},
        "reply": {
            **base,
            "to": to,
            "type": "text",
            "context": {"message_id": inbound},
            "text": {"body": "re"},
            "biz_opaque_callback_data": "tracker",
        },
        "image_link": {**base, "to": to, "type": "image", "image": {"link": link + ".png"}},
        "image_id": {
            **base,
            "to": to,
            "type": "image",
            "image": {"id": world.media_id, "caption": "dot"},
        },
        "video": {**base, "to": to, "type": "video", "video": {"link": link + ".mp4"}},
        "audio": {**base, "to": to, "type": "audio", "audio": {"link": link + ".ogg"}},
        "document": {
            **base,
            "to": to,
            "type": "document",
            "document": {"link": link + ".pdf", "filename": "a.pdf", "caption": "doc"},
        },
        "sticker": {**base, "to": to, "type": "sticker", "sticker": {"link": link + ".webp"}},
        "location": {
            **base,
            "to": to,
            "type": "location",
            "location": {"latitude": 40.4, "longitude": -3.7, "name": "Sol", "address": "Madrid"},
        },
        "contacts": {
            **base,
            "to": to,
            "type": "contacts",
            "contacts": [
                {
                    "name": {"formatted_name": "Ada Lovelace", "first_name": "Ada"},
                    "phones": [{"phone": "+15550109999", "type": "WORK"}],
                }
            ],
        },
        "reaction": {
            **base,
            "to": to,
            "type": "reaction",
            "reaction": {"message_id": inbound, "emoji": "👍"},
        },
        "buttons": {
            **base,
            "to": to,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "header": {"type": "text", "text": "Q"},
                "body": {"text": "Shall we?"},
                "footer": {"text": "tap"},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": "yes", "title": "Yes"}},
                        {"type": "reply", "reply": {"id": "no", "title": "No"}},
                    ]
                },
            },
        },
        "list": {
            **base,
            "to": to,
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "Pick"},
                "action": {
                    "button": "Sizes",
                    "sections": [
                        {
                            "title": "Shirts",
                            "rows": [
                                {"id": "s", "title": "Small", "description": "S"},
                                {"id": "l", "title": "Large"},
                            ],
                        }
                    ],
                },
            },
        },
        "cta_url": {
            **base,
            "to": to,
            "type": "interactive",
            "interactive": {
                "type": "cta_url",
                "body": {"text": "See the shop"},
                "action": {
                    "name": "cta_url",
                    "parameters": {"display_text": "Shop", "url": "https://example.com"},
                },
            },
        },
        "template": {
            **base,
            "to": to,
            "type": "template",
            "template": {
                "name": world.template_name,
                "language": {"code": "en_US"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Ada"},
                            {"type": "text", "text": "A-100"},
                        ],
                    },
                    {
                        "type": "button",
                        "sub_type": "url",
                        "index": "1",
                        "parameters": [{"type": "text", "text": "a1"}],
                    },
                ],
            },
        },
        "read": {"messaging_product": "whatsapp", "status": "read", "message_id": inbound},
        "typing": {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": inbound,
            "typing_indicator": {"type": "text"},
        },
    }


MESSAGE_KINDS = [
    "text", "reply", "image_link", "image_id", "video", "audio", "document", "sticker",
    "location", "contacts", "reaction", "buttons", "list", "cta_url", "template", "read",
    "typing",
]  # fmt: skip

VALID_TEMPLATE: dict[str, Any] = {
    "name": "fuzz_order",
    "language": "en_US",
    "category": "UTILITY",
    "components": [
        {"type": "HEADER", "format": "TEXT", "text": "Your order"},
        {
            "type": "BODY",
            "text": "Hi {{1}}, your order {{2}} ships today.",
            "example": {"body_text": [["Ada", "A-100"]]},
        },
        {"type": "FOOTER", "text": "Thanks"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "QUICK_REPLY", "text": "Track it"},
                {
                    "type": "URL",
                    "text": "Open",
                    "url": "https://example.com/{{1}}",
                    "example": ["https://example.com/a1"],
                },
            ],
        },
    ],
}


def paths_of(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON tree (keys and indices), the root excluded."""
    found: list[tuple[Any, ...]] = []
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    for key, child in children:
        found.append((*prefix, key))
        found.extend(paths_of(child, (*prefix, key)))
    return found


def mutate(value: Any, path: tuple[Any, ...], operation: str, replacement: Any) -> Any:
    """A deep copy of ``value`` with the node at ``path`` removed, replaced or extended."""
    copy = json.loads(json.dumps(value))
    parent = copy
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if operation == "delete":
        del parent[last]
    elif operation == "replace":
        parent[last] = replacement
    elif operation == "long":
        parent[last] = "x" * 70_000
    elif operation == "empty":
        parent[last] = type(parent[last])() if isinstance(parent[last], (str, list, dict)) else ""
    elif operation == "wrap":
        parent[last] = [parent[last]]
    elif operation == "add_sibling":
        if isinstance(parent, dict):
            parent["unexpected_" + str(last)] = replacement
        else:
            parent.append(replacement)
    return copy


mutations = st.sampled_from(["delete", "replace", "long", "empty", "wrap", "add_sibling"])


@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_every_seed_message_is_accepted(world: World, kind: str) -> None:
    """The mutations below start from bodies Meta accepts, so they probe real validation."""
    to = CUSTOMERS[MESSAGE_KINDS.index(kind)]
    inbound = world.inbound[MESSAGE_KINDS.index(kind)]
    response = world.post(
        f"{world.phone_number_id}/messages", json=valid_messages(world, to, inbound)[kind]
    )
    assert response.status_code == 200, response.text


@settings(FUZZ, max_examples=150)
@given(
    kind=st.sampled_from(MESSAGE_KINDS),
    customer=st.integers(0, len(CUSTOMERS) - 1),
    steps=st.lists(
        st.tuples(st.integers(0, 10_000), mutations, json_values), min_size=1, max_size=3
    ),
)
def test_mutated_messages_of_every_type(
    world: World, kind: str, customer: int, steps: list[tuple[int, str, Any]]
) -> None:
    body: Any = valid_messages(world, CUSTOMERS[customer], world.inbound[customer])[kind]
    for choice, operation, replacement in steps:
        paths = paths_of(body)
        if not paths:
            break
        body = mutate(body, paths[choice % len(paths)], operation, replacement)
    response = world.post(
        f"{world.phone_number_id}/messages",
        content=encode(body),
        headers={"Content-Type": "application/json"},
    )
    assert_meta_answer(response)


@FUZZ
@given(
    steps=st.lists(
        st.tuples(st.integers(0, 10_000), mutations, json_values), min_size=1, max_size=3
    ),
    name=st.text(alphabet=string.ascii_lowercase + "_", min_size=1, max_size=20),
)
def test_mutated_template_creation(
    world: World, steps: list[tuple[int, str, Any]], name: str
) -> None:
    body: Any = {**VALID_TEMPLATE, "name": name}
    for choice, operation, replacement in steps:
        paths = paths_of(body)
        if not paths:
            break
        body = mutate(body, paths[choice % len(paths)], operation, replacement)
    response = world.post(
        f"{world.waba_id}/message_templates",
        content=encode(body),
        headers={"Content-Type": "application/json"},
    )
    assert_meta_answer(response)


# --- Queries and paths --------------------------------------------------------------------


@FUZZ
@given(
    target=st.sampled_from(["number", "templates", "phone_numbers", "media", "waba"]),
    query=st.dictionaries(
        st.sampled_from(
            [
                "fields",
                "limit",
                "after",
                "before",
                "status",
                "name",
                "language",
                "category",
                "phone_number_id",
                "summary",
                "x",
            ]
        ),
        st.text(max_size=30) | st.integers(-5, 10**12).map(str),
        max_size=4,
    ),
)
def test_random_queries_on_reads(world: World, target: str, query: dict[str, str]) -> None:
    path = {
        "number": world.phone_number_id,
        "templates": f"{world.waba_id}/message_templates",
        "phone_numbers": f"{world.waba_id}/phone_numbers",
        "media": world.media_id,
        "waba": world.waba_id,
    }[target]
    response = world.http.get(f"{API}/{path}", params=query, headers=world.auth)
    assert_meta_answer(response)


segments = st.text(alphabet=string.ascii_letters + string.digits + "._-~%", min_size=1, max_size=20)


@FUZZ
@given(
    version=st.sampled_from(["v23.0", "v18.0", "v17.0", "v99.9", "v23", "23.0", "vX.Y"]),
    node=segments | st.sampled_from(["NUMBER", "WABA", "MEDIA"]),
    edge=st.none() | segments | st.sampled_from(["messages", "media", "message_templates"]),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    token=st.sampled_from(["good", "bad", "none"]),
)
def test_random_graph_paths(
    world: World, version: str, node: str, edge: str | None, method: str, token: str
) -> None:
    node = {"NUMBER": world.phone_number_id, "WABA": world.waba_id, "MEDIA": "0"}.get(node, node)
    path = f"/{version}/{node}" + (f"/{edge}" if edge is not None else "")
    headers = {"good": world.auth, "bad": {"Authorization": "Bearer EAAbad"}, "none": {}}[token]
    # DELETE of the shared media id would starve the other tests of it.
    if method == "DELETE" and node == world.media_id:
        return
    response = world.http.request(method, path, headers=headers)
    assert_meta_answer(response)


# --- Oversize and deeply nested bodies ----------------------------------------------------


@pytest.mark.parametrize("edge", ["messages", "message_templates"])
def test_bodies_over_a_megabyte_are_refused_as_meta_does(world: World, edge: str) -> None:
    node = world.phone_number_id if edge == "messages" else world.waba_id
    body = encode({"messaging_product": "whatsapp", "padding": "x" * 1_100_000})
    response = world.post(
        f"{node}/{edge}", content=body, headers={"Content-Type": "application/json"}
    )
    assert_meta_answer(response)
    assert response.status_code == 400


def test_oversize_body_without_content_length_is_refused(world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"messaging_product":"whatsapp","padding":"'
        for _ in range(40):
            yield b"x" * 32_768
        yield b'"}'

    response = world.post(
        f"{world.phone_number_id}/messages",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_meta_answer(response)
    assert response.status_code == 400


def test_media_over_the_image_limit_is_refused(world: World) -> None:
    oversize = PNG_1X1 + b"\0" * (5 * 1024 * 1024 + 1)
    response = world.post(
        f"{world.phone_number_id}/media",
        data={"messaging_product": "whatsapp", "type": "image/png"},
        files={"file": ("big.png", oversize, "image/png")},
    )
    assert_meta_answer(response)
    assert response.status_code == 400


@pytest.mark.parametrize("depth", [100, 500, 990, 5_000, 200_000])
@pytest.mark.parametrize("where", ["root", "text", "extra", "template"])
def test_deeply_nested_json(world: World, depth: int, where: str) -> None:
    nested = "[" * depth + "]" * depth
    if where == "root":
        raw = nested
        edge = f"{world.phone_number_id}/messages"
    elif where == "extra":
        # A valid text whose ignored extra field nests deep: refused before any handler
        # walks it (MAX_JSON_DEPTH; Meta's own depth limit is not documented).
        raw = (
            '{"messaging_product":"whatsapp","type":"text","to":"'
            + CUSTOMERS[1]
            + '","text":{"body":"deep"},"extra":'
            + nested
            + "}"
        )
        edge = f"{world.phone_number_id}/messages"
    elif where == "text":
        raw = (
            '{"messaging_product":"whatsapp","type":"text","to":"'
            + CUSTOMERS[0]
            + '","text":{"body":'
            + nested
            + "}}"
        )
        edge = f"{world.phone_number_id}/messages"
    else:
        raw = '{"name":"deep","language":"en_US","category":"UTILITY","components":' + nested + "}"
        edge = f"{world.waba_id}/message_templates"
    response = world.post(edge, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert_meta_answer(response)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "raw",
    [
        b'{"messaging_product":"whatsapp","to":"15550200000","type":"text","text":{"body":NaN}}',
        b'{"messaging_product":"whatsapp","to":1e400,"type":"text","text":{"body":"x"}}',
        # Valid but for the NaN, in a field the send handler would otherwise ignore.
        b'{"messaging_product":"whatsapp","to":"15550200000","type":"text","text":{"body":"x"},'
        b'"extra":NaN}',
        b'{"messaging_product":"whatsapp","to":"15550200000","type":"text","text":{"body":"x"},'
        b'"extra":-Infinity}',
        b'{"messaging_product":"whatsapp","to":"15550200000","type":"text","text":{"body":"\xff"}}',
        b'{"messaging_product":"whatsapp","messaging_product":"x","to":"1"}',
        b'{"to":"' + b"9" * 5000 + b'","messaging_product":"whatsapp","type":"text"}',
        # Found by the mutation fuzz: a non-string interactive type is unhashable.
        b'{"messaging_product":"whatsapp","to":"15550200000","type":"interactive",'
        b'"interactive":{"type":["button"],"body":{"text":"x"}}}',
        b'{"messaging_product":"whatsapp","to":"15550200000","type":"interactive",'
        b'"interactive":{"type":{"a":1},"body":{"text":"x"}}}',
        b"\xef\xbb\xbf{}",
        b"\x00",
        b"{" * 3,
    ],
    ids=[
        "nan-body",
        "overflowing-number",
        "nan-in-ignored-field",
        "infinity-in-ignored-field",
        "invalid-utf8",
        "duplicate-key",
        "5000-digit-recipient",
        "interactive-type-list",
        "interactive-type-object",
        "utf8-bom",
        "nul-byte",
        "unclosed-braces",
    ],
)
def test_json_edge_cases(world: World, raw: bytes) -> None:
    """Not JSON (NaN, Infinity, overflowing numbers, bad UTF-8) or not a sendable message."""
    response = world.post(
        f"{world.phone_number_id}/messages",
        content=raw,
        headers={"Content-Type": "application/json"},
    )
    assert_meta_answer(response)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "path", ["messages", "webhooks", "stats", "customers", "templates", "phone_numbers"]
)
def test_the_world_stays_readable_after_the_fuzzing(world: World, path: str) -> None:
    """Whatever the Graph API accepted above, the control API can still show it as JSON."""
    response = world.http.get(f"/_emulator/{path}")
    assert response.status_code == 200, response.text[:500]
    assert "Traceback" not in response.text
    response.json()


# --- The control API, from its own OpenAPI document ---------------------------------------

# Schemathesis's pytest plugin (`from_fixture(...).parametrize()`) fails on this pytest
# ('Function' object has no attribute '_nodeid'), so each operation is a parametrized case
# driven by its own hypothesis strategy. The document comes from the app itself; the
# calls go over HTTP to a separate emulator, since the control API can reset the world
# and inject faults.
CONTROL_SCHEMA = schemathesis.openapi.from_dict(create_emulator_app().openapi())
CONTROL_OPERATIONS = {
    operation.label: operation
    for result in CONTROL_SCHEMA.get_all_operations()
    for operation in [result.ok()]
}


@pytest.fixture(scope="module")
def control_server() -> Iterator[EmulatorServer]:
    with serve_in_thread(Emulator(config=EmulatorConfig(seed=11))) as server:
        yield server


@pytest.mark.parametrize("label", sorted(CONTROL_OPERATIONS))
def test_control_api_never_answers_5xx(control_server: EmulatorServer, label: str) -> None:
    operation = CONTROL_OPERATIONS[label]

    @settings(max_examples=15, deadline=None, database=None)
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        case.call_and_validate(base_url=control_server.url, checks=[not_a_server_error])

    call()
