"""Deterministic fault injection for the sandbox server: what real gateways do to a client.

Every knob defaults to off. Request-level faults fire on a shared request counter (request n, from 1,
plus `seed`): every Nth request is rate limited / fails / is truncated / is dropped, so a given
sequence of requests always meets the same faults. `insert_while_paging` hides the K newest rows of a
listing from the first request for that listing (same path and filters, any page) and shows them
from the second request on: exactly what rows inserted at the head during paging do to LIMIT/OFFSET
(later pages shift, a naive client sees duplicates and misses rows; the reported total grows).

Random schedules (`Faults.random(seed)`, for the seeded fault simulation): the `p_*` knobs fire each
fault with a probability per request, drawn from one `random.Random` seeded by `seed` in the order the
requests reach the server, so a seed replays the same schedule for the same request order (with
concurrent pages the order, and so the schedule, can vary: what must hold, holds for any order).
A 5xx starts a *burst* of 1..`burst_max` consecutive failing requests; `outage_after`/`outage_len`
answer 503 to a whole stretch of requests (sized to exhaust any retry budget); slow pages add
`slow_ms`; `p_cut` closes the connection halfway through a response body; `p_insert` picks which
listings get 1..`insert_while_paging` rows inserted while paging, and they trickle in: each later
request of the listing shows at least one more of them until all are there (rows that would only
appear after a client's stable re-read are rows inserted after the read, outside any truth).
With every `p_*` at 0 and no outage the every-Nth behaviour above is unchanged.

`limit_requests` per `limit_window_s` is new-api's global API limiter (default 180 per 180 s per
client IP, `middleware/rate-limit.go`): a sliding log of the accepted requests per client; a request
that finds `limit_requests` of them in the last `limit_window_s` seconds is answered 429 with an
empty body and no Retry-After, and is not counted. It runs before every other fault, as the
middleware does. `FaultState.arrivals` keeps the arrival time of every request (tests check pace),
`FaultState.gets` the number of requests per path (tests and benchmarks count what a read costs).
"""

from __future__ import annotations

import random
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


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
    seed: int = 0  # offsets the request counter; seeds the random schedule
    # random schedule (probabilities per request, 0..1; see the module docstring)
    p_rate_limit: float = 0.0  # -> 429 + Retry-After (retry_after_s)
    p_5xx: float = 0.0  # -> starts a burst of 1..burst_max consecutive 5xx
    burst_max: int = 1
    p_drop: float = 0.0  # -> connection closed, no response
    p_cut: float = 0.0  # -> headers and half the body sent, then the connection closed
    p_truncate: float = 0.0  # -> 200 with half a JSON body
    p_slow: float = 0.0  # -> the page answers slow_ms later than latency_ms
    slow_ms: float = 0.0
    latency_jitter_ms: float = 0.0  # uniform 0..jitter added to latency_ms
    p_insert: float = 0.0  # chance a listing gets rows inserted (0: every listing, when insert_while_paging)
    outage_after: int = 0  # requests outage_after+1 .. outage_after+outage_len answer 503
    outage_len: int = 0
    # new-api's limiter (see the module docstring); 0 = off
    limit_requests: int = 0
    limit_window_s: float = 0.0
    # retention (GATEWAYS.md "Retention"): new-api log rows created before this Unix second are deleted
    # (answered as if they never existed, like a quiet day); settable between two runs of a test
    deleted_before: int | None = None
    # rows cleaned while paged: from a log listing's second request on, its N oldest rows are gone
    delete_while_paging: int = 0
    # new-api #7105 "summary != detail rows": /api/log/self/stat answers its quota plus this many units
    stat_quota_skew: int = 0

    def __post_init__(self) -> None:
        for name in (
            "rate_limit_every",
            "error_5xx_every",
            "truncate_json_every",
            "drop_connection_every",
            "insert_while_paging",
            "delete_while_paging",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"Faults.{name} must be >= 0")
        if self.clamp_page_size is not None and self.clamp_page_size < 1:
            raise ValueError("Faults.clamp_page_size must be >= 1 or None")
        for name in ("p_rate_limit", "p_5xx", "p_drop", "p_cut", "p_truncate", "p_slow", "p_insert"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"Faults.{name} must be a probability in [0, 1]")
        if (
            self.limit_requests < 0
            or self.limit_window_s < 0
            or (self.limit_requests and not self.limit_window_s)
        ):
            raise ValueError("Faults.limit_requests needs limit_window_s > 0")
        for name in ("burst_max", "outage_after", "outage_len"):
            if getattr(self, name) < 0:
                raise ValueError(f"Faults.{name} must be >= 0")
        if self.retry_after_s < 0 or self.latency_ms < 0 or self.slow_ms < 0 or self.latency_jitter_ms < 0:
            raise ValueError("Faults delays must be >= 0")

    @property
    def randomized(self) -> bool:
        """True when any fault is drawn at random (the per-request rng is then in use)."""
        return bool(
            self.p_rate_limit
            or self.p_5xx
            or self.p_drop
            or self.p_cut
            or self.p_truncate
            or self.p_slow
            or self.latency_jitter_ms
            or (self.p_insert and self.insert_while_paging)
        )

    def as_dict(self) -> dict[str, Any]:
        """The knobs as plain JSON values (regression files store schedules this way)."""
        return asdict(self)

    @classmethod
    def random(cls, seed: int, *, outage: bool | None = None) -> Faults:
        """A random fault schedule drawn from `seed`: each fault kind on or off, its rate, burst length,
        Retry-After (tens of ms, so tests stay fast), delays, inserts and page-size clamp. `outage`
        forces (True) or forbids (False) a sustained 503 outage; None draws it (about 1 seed in 8)."""
        r = random.Random(f"recon-faults/{seed}")

        def maybe(p_on: float, lo: float, hi: float) -> float:
            return round(r.uniform(lo, hi), 3) if r.random() < p_on else 0.0

        f = cls(
            seed=seed,
            p_rate_limit=maybe(0.5, 0.02, 0.15),
            retry_after_s=r.choice((0.0, 0.01, 0.02, 0.03)),
            p_5xx=maybe(0.5, 0.02, 0.12),
            burst_max=r.randint(1, 4),
            p_drop=maybe(0.4, 0.02, 0.10),
            p_cut=maybe(0.3, 0.02, 0.08),
            p_truncate=maybe(0.4, 0.02, 0.10),
            latency_ms=r.choice((0.0, 0.0, 0.0, 2.0)),
            latency_jitter_ms=r.choice((0.0, 0.0, 3.0, 6.0)),
            p_slow=maybe(0.3, 0.02, 0.08),
            slow_ms=r.choice((20.0, 40.0, 120.0)),
            insert_while_paging=r.choice((0, 0, 1, 2, 3, 5)),
            p_insert=round(r.uniform(0.3, 1.0), 3),
            clamp_page_size=r.choice((None, None, None, 3, 5, 7, 9)),
        )
        if outage is None:
            outage = r.random() < 1 / 8
        if outage:
            f.outage_after, f.outage_len = r.randint(0, 60), 100_000
        return f


@dataclass(frozen=True)
class Decision:
    """What the server does to one request: `kind` ("drop", "cut", "429", "5xx", "truncate" or None), the
    request's number, the 5xx status to send and how long after arrival to answer."""

    kind: str | None
    n: int
    status: int
    latency_ms: float


STATUSES_5XX = (502, 503, 500, 504)


@dataclass
class FaultState:
    """The server's counters; thread-safe. `decide()` is called once per API request."""

    faults: Faults = field(default_factory=Faults)
    requests: int = 0
    fired: dict[str, int] = field(default_factory=dict)
    _seen_listings: dict = field(default_factory=dict)  # listing -> [hidden rows left, reveal step]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random | None = None
    _burst_left: int = 0
    # (seconds between a 429's response and the next request for the same URL, Retry-After sent)
    # (429 sent -> next request for the URL, the Retry-After promised, request -> 429 sent), seconds
    retry_after_gaps: list[tuple[float, float, float]] = field(default_factory=list)
    _limited: dict[str, tuple[float, float]] = field(default_factory=dict)
    _last_arrival: dict[str, float] = field(default_factory=dict)
    arrivals: list[float] = field(default_factory=list)  # monotonic arrival time of every API request
    gets: dict[str, int] = field(default_factory=dict)  # API requests per path, 429s included
    _limiter_log: dict[str, deque] = field(default_factory=dict)

    def limiter_allows(self, client: str, at: float, path: str = "") -> bool:
        """new-api's in-memory limiter: False (answer 429, empty body) when `client` already has
        `limit_requests` accepted requests within the last `limit_window_s` seconds. Every API request
        passes here first, so `arrivals` and `gets` (per path) count them all."""
        f = self.faults
        with self._lock:
            self.arrivals.append(at)
            self.gets[path] = self.gets.get(path, 0) + 1
            if not f.limit_requests:
                return True
            q = self._limiter_log.setdefault(client, deque())
            if len(q) < f.limit_requests:
                q.append(at)
                return True
            if at - q[0] >= f.limit_window_s:
                q.popleft()
                q.append(at)
                return True
            self.fired["limiter"] = self.fired.get("limiter", 0) + 1
            return False

    def __post_init__(self) -> None:
        if self.faults.randomized or self.faults.outage_len:
            self._rng = random.Random(f"recon-fault-schedule/{self.faults.seed}")

    def decide(self) -> tuple[str | None, int]:
        """The fault for the next request ("drop", "429", "5xx", "truncate" or None) and its number."""
        d = self.next()
        return d.kind, d.n

    def next(self) -> Decision:
        """Decide the next request's fault (every-Nth knobs first, then the random schedule)."""
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
            status = self.status_5xx(n)
            latency = f.latency_ms
            r = self._rng
            if r is not None:
                # always the same draws per request, whatever fires, so one knob's change does not
                # reshuffle the others' schedule
                u_drop, u_429, u_5xx, u_trunc, u_slow, u_cut = (r.random() for _ in range(6))
                burst, jitter, status_i = r.randint(1, max(1, f.burst_max)), r.random(), r.randrange(4)
                latency += jitter * f.latency_jitter_ms
                if u_slow < f.p_slow:
                    latency += f.slow_ms
                    self.fired["slow"] = self.fired.get("slow", 0) + 1
                if kind is None:
                    if f.outage_len and f.outage_after < self.requests <= f.outage_after + f.outage_len:
                        kind, status = "5xx", 503
                        self.fired["outage"] = self.fired.get("outage", 0) + 1
                    elif self._burst_left > 0:
                        self._burst_left -= 1
                        kind, status = "5xx", STATUSES_5XX[status_i]
                    elif u_drop < f.p_drop:
                        kind = "drop"
                    elif u_429 < f.p_rate_limit:
                        kind = "429"
                    elif u_5xx < f.p_5xx:
                        self._burst_left = burst - 1
                        kind, status = "5xx", STATUSES_5XX[status_i]
                    elif u_trunc < f.p_truncate:
                        kind = "truncate"
                    elif u_cut < f.p_cut:
                        kind = "cut"
            if kind:
                self.fired[kind] = self.fired.get(kind, 0) + 1
            return Decision(kind, n, status, latency)

    def arrived(self, url: str, at: float) -> None:
        """A request for `url` (path and query) arrived at monotonic time `at`: if the last answer to
        that URL was a 429, record how long the client waited against the Retry-After it was sent, and
        how long after its request that 429 went out (a client whose read timed out before then never
        saw it, so its next request owes that Retry-After nothing)."""
        with self._lock:
            self._last_arrival[url] = at
            sent = self._limited.pop(url, None)
            if sent is not None:
                sent_at, answered_after = sent
                self.retry_after_gaps.append((at - sent_at, self.faults.retry_after_s, answered_after))

    def rate_limited(self, url: str, at: float, arrived: float) -> None:
        """A 429 for `url`, requested at `arrived`, was sent at monotonic time `at`. Not tracked when a
        newer request for the same URL came in meanwhile: the client had given up on this one."""
        with self._lock:
            if self._last_arrival.get(url, arrived) <= arrived:
                self._limited[url] = (at, at - arrived)

    def status_5xx(self, n: int) -> int:
        every = max(self.faults.error_5xx_every, 1)
        return STATUSES_5XX[(n // every) % len(STATUSES_5XX)]

    def hidden_head(self, listing_key: tuple, available: int | None = None) -> int:
        """How many head rows this request must not see (K on a listing's first request, else 0;
        never more than the `available` rows of the listing). With `p_insert` the listing is picked
        at random, K drawn from 1..insert_while_paging and revealed 1..K rows a request."""
        k = self.faults.insert_while_paging
        if not k:
            return 0
        with self._lock:
            state = self._seen_listings.get(listing_key)
            if state is None:
                step = k
                if self.faults.p_insert and self._rng is not None:
                    u, k = self._rng.random(), self._rng.randint(1, k)
                    step = self._rng.randint(1, k)
                    if u >= self.faults.p_insert:
                        k = 0
                if available is not None:
                    k = min(k, available)
                state = self._seen_listings[listing_key] = [k, step]
                if k:
                    self.fired["insert_while_paging"] = self.fired.get("insert_while_paging", 0) + 1
            hide = state[0]
            state[0] = max(0, hide - state[1])
            return hide

    def deleted_tail(self, listing_key: tuple, available: int) -> int:
        """How many of a log listing's oldest rows this request must not see: none on the listing's
        first request, `delete_while_paging` from its second on (an admin's DeleteOldLog running in
        batches while a client pages the day)."""
        k = self.faults.delete_while_paging
        if not k:
            return 0
        with self._lock:
            key = ("deleted", listing_key)
            first = key not in self._seen_listings
            self._seen_listings[key] = [0, 0]
            if first:
                return 0
            self.fired["delete_while_paging"] = self.fired.get("delete_while_paging", 0) + 1
            return min(k, available)

    def clamp(self, size: int) -> int:
        c = self.faults.clamp_page_size
        return min(size, c) if c else size
