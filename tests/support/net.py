"""Loopback helpers for tests that need a port nothing listens on."""

from __future__ import annotations

import socket


def closed_port() -> int:
    """A loopback port that was free a moment ago: connecting to it is refused (an unreachable
    gateway or database without waiting for a timeout)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
