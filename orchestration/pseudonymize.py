"""Pseudonymize user ids before anything lands: a keyed hash, so the reports can still count and
join per user while no raw user id reaches a file, a log line or the warehouse.

HMAC-SHA256 with a secret key (env var named by ``app.pseudonym_key_env``, default
``RECON_PSEUDONYM_KEY``): without the key a pseudonym cannot be reversed by hashing guessed ids,
which a plain SHA-256 of a numeric or e-mail id would allow. The same key gives the same pseudonym
every run (joins across days and idempotent landing hold); rotating the key re-keys all users.
When the env var is unset a fixed, documented demo key (``DEMO_KEY``) is used and a warning is
logged once: fine for `recon demo`, not for production data.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os

import pandas as pd

log = logging.getLogger(__name__)

DEMO_KEY = b"recon-demo-pseudonym-key-not-secret"
PREFIX = "u_"
HEX_CHARS = 32  # 128 bits of the HMAC: collisions are not a concern at any app's user count
_warned: set[str] = set()


def pseudonym_key(env_name: str = "RECON_PSEUDONYM_KEY") -> bytes:
    """The HMAC key from the environment, or the demo key with a one-time warning."""
    value = os.environ.get(env_name)
    if value:
        return value.encode("utf-8")
    if env_name not in _warned:
        _warned.add(env_name)
        log.warning(
            "%s is not set: user ids are pseudonymized with the public demo key; "
            "set it to a secret value for real data",
            env_name,
        )
    return DEMO_KEY


def pseudonymize_user_id(user_id: object, key: bytes) -> str | None:
    """``u_`` + the first 32 hex chars of HMAC-SHA256(key, str(user_id)); null stays null.

    Integer ids and their text form give the same pseudonym (``42`` and ``"42"``), so a column
    whose type differs between databases still joins."""
    if user_id is None or user_id is pd.NA or (isinstance(user_id, float) and math.isnan(user_id)):
        return None
    if isinstance(user_id, float) and user_id.is_integer():
        user_id = int(user_id)
    text = str(user_id)
    digest = hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_CHARS]


def pseudonymize_series(values: pd.Series, key: bytes) -> pd.Series:
    """Pseudonymize a whole column (nullable string dtype out, index kept)."""
    out = [pseudonymize_user_id(v, key) for v in values.tolist()]
    return pd.Series(out, index=values.index, dtype="string")
