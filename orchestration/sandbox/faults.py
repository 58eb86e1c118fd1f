"""Deterministic fault injection for the sandbox server: what real gateways do to a client.

Every knob defaults to off. Request-level faults fire on a shared request counter (request n, from 1,
plus `seed`): every Nth request is rate limited / fails / is truncated / is dropped, so a given
sequence of requests always meets the same faults. `insert_while_paging` hides the K newest rows of a
listing from the first request for that listing (same path and filters, any page) and shows them
from the second request on: exactly what rows inserted at the head during paging do to LIMIT/OFFSET
(later pages shift, a naive client sees duplicates and misses rows; the reported total grows).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Faults:
    rate_limit_every: int = 0  # every Nth request -> 429 + Retry-After
    retry_after_s: float = 1.0  # the Retry-After value sent with a 429 (seconds)
    error_5xx_every: int = 0  # every Nth request -> 502/503/500/504 in turn
    latency_ms: float = 0.0  # added to every request (each page)
    insert_while_paging: int = 0  # rows that appear at the head after a listing's first request
    clamp_page_size: int | None = None  # the server silently serves at most this many rows a page
    truncate_json_every: int = 0  # every Nth request -> 200 with half a JSON body
    drop_connection_every: int = 0  # every Nth request -> connection closed, no response
    seed: int = 0  # offsets the request counter

    def __post_init__(self) -> None:
        for name in (
            "rate_limit_every",
            "error_5xx_every",
            "truncate_json_every",
            "drop_connection_every",
            "insert_while_paging",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"Faults.{name} must be >= 0")
        if self.clamp_page_size is not None and self.clamp_page_size < 1:
            raise ValueError("Faults.clamp_page_size must be >= 1 or None")


STATUSES_5XX = (502, 503, 500, 504)


@dataclass
class FaultState:
    """The server's counters; thread-safe. `decide()` is called once per API request."""

    faults: Faults = field(default_factory=Faults)
    requests: int = 0
    fired: dict[str, int] = field(default_factory=dict)
    _seen_listings: set = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self) -> tuple[str | None, int]:
        """The fault for the next request ("drop", "429", "5xx", "truncate" or None) and its number."""
        f = self.faults
        with self._lock:
            self.requests += 1
            n = self.requests + f.seed
            kind = None
            if f.drop_connection_every and n % f.drop_connection_every == 0:
                kind = "drop"
            elif f.rate_limit_every and n % f.rate_limit_every == 0:
                kind = "429"
            elif f.error_5xx_every and n % f.error_5xx_every == 0:
                kind = "5xx"
            elif f.truncate_json_every and n % f.truncate_json_every == 0:
                kind = "truncate"
            if kind:
                self.fired[kind] = self.fired.get(kind, 0) + 1
            return kind, n

    def status_5xx(self, n: int) -> int:
        every = max(self.faults.error_5xx_every, 1)
        return STATUSES_5XX[(n // every) % len(STATUSES_5XX)]

    def hidden_head(self, listing_key: tuple) -> int:
        """How many head rows this request must not see (K on a listing's first request, else 0)."""
        k = self.faults.insert_while_paging
        if not k:
            return 0
        with self._lock:
            if listing_key in self._seen_listings:
                return 0
            self._seen_listings.add(listing_key)
            self.fired["insert_while_paging"] = self.fired.get("insert_while_paging", 0) + 1
            return k

    def clamp(self, size: int) -> int:
        c = self.faults.clamp_page_size
        return min(size, c) if c else size
