"""The Graph API surface: versioned paths, bearer auth, node resolution, Meta's errors.

``/v{major}.{minor}/{node_id}`` and ``/v{major}.{minor}/{node_id}/{edge}``. The node id is
resolved to its kind (phone number, WABA, template, media, business) and the request goes to
the handler registered for (kind, edge, method) with ``@graph_route``. Handlers raise
``GraphAPIError`` to refuse; anything else that escapes is answered as Meta's code 1 (an
unknown error), never as a stack trace.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from ovillo.emulator.errors import GraphAPIError, invalid_parameter, unknown_node, unknown_path

if TYPE_CHECKING:
    from ovillo.emulator.emulator import Emulator

log = structlog.get_logger(__name__)

VERSION_PATTERN = re.compile(r"^v(\d+)\.(\d+)$")
OLDEST_SUPPORTED_MAJOR = 18
# Meta refuses request bodies much above this; the media edge has its own, larger limit.
MAX_JSON_BODY_BYTES = 1_000_000
# No Cloud API request nests deeper than about ten levels; deeper bodies are refused before
# any handler walks them recursively.
MAX_JSON_DEPTH = 64

Handler = Callable[["GraphRequest"], Awaitable[Any]]
_HANDLERS: dict[tuple[str, str | None, str], Handler] = {}


def graph_route(kind: str, edge: str | None, method: str) -> Callable[[Handler], Handler]:
    """Register the handler of ``method`` on ``edge`` of nodes of ``kind`` (None: the node)."""

    def register(handler: Handler) -> Handler:
        key = (kind, edge, method.upper())
        if key in _HANDLERS:
            raise RuntimeError(f"two Graph handlers for {key}")
        _HANDLERS[key] = handler
        return handler

    return register


@dataclass
class GraphRequest:
    """One Graph API call, authenticated and resolved to its node."""

    emulator: Emulator
    request: Request
    version: tuple[int, int]
    node_id: str
    kind: str
    edge: str | None
    business_id: str
    query: Mapping[str, str]
    _body: bytes | None = field(default=None, repr=False)

    @property
    def method(self) -> str:
        return self.request.method.upper()

    async def body_bytes(self, limit: int = MAX_JSON_BODY_BYTES) -> bytes:
        if self._body is None:
            declared = self.request.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise invalid_parameter(f"Request body is larger than {limit} bytes")
            chunks: list[bytes] = []
            size = 0
            async for chunk in self.request.stream():
                size += len(chunk)
                if size > limit:
                    raise invalid_parameter(f"Request body is larger than {limit} bytes")
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json_object(self) -> dict[str, Any]:
        """The request's parameters: a JSON object body, or form fields, as Graph accepts."""
        content_type = self.request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await self.body_bytes()
        if content_type == "application/x-www-form-urlencoded":
            from urllib.parse import parse_qsl

            fields: dict[str, Any] = {}
            for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                fields[key] = _maybe_json(value)
            return fields
        if not raw.strip():
            return dict(self.query)
        try:
            data = parse_json(raw)
        except ValueError as exc:
            raise invalid_parameter(f"The request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise invalid_parameter("The request body must be a JSON object")
        return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


_STRICT_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def parse_json(raw: bytes | str) -> Any:
    """Strict JSON, as Graph parses it: no NaN/Infinity, no numbers that overflow to them,
    nesting at most ``MAX_JSON_DEPTH`` deep. Every refusal is a ``ValueError``.

    Python's parser takes NaN and Infinity (which later break any strict JSON writer) and
    recurses once per nesting level, so a deep body would exhaust the stack mid-request.
    """
    # What json.loads does before decoding, minus building a decoder for every call.
    if isinstance(raw, str):
        if raw.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", raw, 0)
        text = raw
    else:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")
    try:
        data = _STRICT_DECODER.decode(text)
    except RecursionError:
        raise ValueError(f"nesting deeper than {MAX_JSON_DEPTH} levels") from None
    if text.count("{") + text.count("[") <= MAX_JSON_DEPTH:
        return data  # no deeper than its brackets: the walk below is for the rare rest
    pending: list[tuple[Any, int]] = [(data, 1)]
    while pending:
        node, depth = pending.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"nesting deeper than {MAX_JSON_DEPTH} levels")
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children)
    return data


def _maybe_json(value: str) -> Any:
    # Graph form parameters carry objects and arrays as JSON strings.
    if value[:1] in "{[":
        try:
            return parse_json(value)
        except ValueError:
            return value
    return value


def graph_error_response(error: GraphAPIError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'}
    return JSONResponse(
        error.body(),
        status_code=error.http_status,
        headers=headers if error.http_status == 401 else None,
    )


def _access_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    # The Resumable Upload API documents `OAuth <token>`; Graph takes it everywhere.
    if scheme.lower() in ("bearer", "oauth") and token.strip():
        return token.strip()
    return request.query_params.get("access_token") or None


def _authenticate(emulator: Emulator, request: Request) -> str:
    token = _access_token(request)
    if token is None:
        raise GraphAPIError(
            2500,
            None,
            message="An active access token must be used to query information about the "
            "current user.",
            http_status=400,
        )
    business_id = emulator.state.tokens.get(token)
    if business_id is None:
        raise GraphAPIError(
            190, None, message="Invalid OAuth access token - Cannot parse access token"
        )
    return business_id


def _parse_version(raw: str, request: Request) -> tuple[int, int]:
    match = VERSION_PATTERN.match(raw)
    if match is None:
        raise unknown_path(request.url.path)
    version = (int(match.group(1)), int(match.group(2)))
    if version[0] < OLDEST_SUPPORTED_MAJOR:
        raise GraphAPIError(
            2635,
            None,
            message=f"(#2635) You are calling a deprecated version of the Graph API ({raw}). "
            f"Please update to the latest version: v{OLDEST_SUPPORTED_MAJOR}.0 or newer.",
            http_status=400,
        )
    return version


async def dispatch(request: Request, version: str, node_id: str, edge: str | None) -> Response:
    emulator: Emulator = request.app.state.emulator
    try:
        parsed_version = _parse_version(version, request)
        business_id = _authenticate(emulator, request)
        kind = emulator.state.node_kind(node_id)
        method = request.method.upper()
        if kind is None or emulator.state.business_of(node_id) != business_id:
            raise unknown_node(node_id, method)
        handler = _HANDLERS.get((kind, edge, method))
        if handler is None:
            if edge is not None and not any(k[:2] == (kind, edge) for k in _HANDLERS):
                raise unknown_path(f"/{edge}")
            raise unknown_node(node_id, method)
        graph_request = GraphRequest(
            emulator=emulator,
            request=request,
            version=parsed_version,
            node_id=node_id,
            kind=kind,
            edge=edge,
            business_id=business_id,
            query=dict(request.query_params),
        )
        result = await handler(graph_request)
    except GraphAPIError as error:
        return graph_error_response(error)
    except Exception:
        log.exception("graph_handler_crashed", path=request.url.path)
        return graph_error_response(
            GraphAPIError(1, None, message="An unknown error occurred", http_status=500)
        )
    if isinstance(result, Response):
        return result
    return JSONResponse(result)


GRAPH_METHODS = frozenset({"GET", "POST", "DELETE"})


def graph_path(path: str) -> tuple[str, str, str | None] | None:
    """(version, node id, edge) of a path ``graph_router`` would route, else None.

    Only paths whose first segment looks like a version: everything else (the control API,
    the media download URL, the docs) is the app's.
    """
    if not path.startswith("/v"):
        return None
    parts = path[1:].removesuffix("/").split("/")
    if len(parts) not in (2, 3) or not all(parts) or VERSION_PATTERN.match(parts[0]) is None:
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else None


class GraphFastPath:
    """ASGI middleware that hands Graph API calls straight to ``dispatch``.

    FastAPI's router tries every control route's pattern before the Graph catch-all and
    then solves the endpoint's parameters; at 1,000 sends/s that was a fifth of the
    emulator's time. A Graph path with a method ``graph_router`` serves skips all that and
    gets exactly the answer the router would give; anything else goes on to the app.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in GRAPH_METHODS:
            path: str = scope["path"]
            root_path: str = scope.get("root_path", "")
            if root_path and path.startswith(root_path + "/"):
                path = path[len(root_path) :]  # as Starlette routes a mounted app
            target = graph_path(path)
            if target is not None:
                response = await dispatch(Request(scope, receive), *target)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def graph_router() -> APIRouter:
    router = APIRouter()
    methods = ["GET", "POST", "DELETE"]

    # Graph answers a trailing slash as the same path (pywa posts the phone number's callback
    # override to `/{phone-number-id}/`); Starlette would answer it with a 307 redirect,
    # which a client's POST does not follow.
    @router.api_route("/{version}/{node_id}", methods=methods, include_in_schema=False)
    @router.api_route("/{version}/{node_id}/", methods=methods, include_in_schema=False)
    async def node(request: Request, version: str, node_id: str) -> Response:
        return await dispatch(request, version, node_id, None)

    @router.api_route("/{version}/{node_id}/{edge}", methods=methods, include_in_schema=False)
    @router.api_route("/{version}/{node_id}/{edge}/", methods=methods, include_in_schema=False)
    async def node_edge(request: Request, version: str, node_id: str, edge: str) -> Response:
        return await dispatch(request, version, node_id, edge)

    return router
