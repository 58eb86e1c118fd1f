"""The tiny request/response types the sandbox's routes share (kept apart from the socket code)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from orchestration.sandbox.faults import FaultState
from orchestration.sandbox.stores import Stores


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]  # first value of each parameter
    headers: Any  # email.message.Message: case-insensitive .get()

    def listing_key(self, *ignore: str) -> tuple:
        """Identity of a listing: path + filters, without the paging parameters."""
        return (self.path, tuple(sorted((k, v) for k, v in self.query.items() if k not in ignore)))


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass
class Context:
    stores: Stores
    faults: FaultState
    request_counter: int = 0


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    # orjson writes the same compact UTF-8 JSON several times faster: the sandbox shares the
    # benchmark machine's cores with the client it serves. json for what orjson refuses (big ints).
    try:
        body = orjson.dumps(obj)
    except TypeError:
        body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, dict(headers or {}))


def to_int(v: str | None, default: int) -> int:
    """Go-style Atoi with the error ignored: garbage becomes the default."""
    if v is None:
        return default
    try:
        return int(v.strip())
    except ValueError:
        return default
