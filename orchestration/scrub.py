"""Strip every secret value recon loaded from every message, exception and log line it emits.

A gateway may echo what it was sent (`success:false` "invalid token Bearer sk-…", a 400 body that
repeats the headers): that text reaches error lines, Dagster's run database and compute logs. recon
knows each secret it read (the env vars the config names: gateway tokens and keys, the user id
header, the app database URL and its password, the webhook URL and its path, the pseudonym key), so
it registers them here when it reads them and replaces each occurrence with ``<redacted>``:
:class:`orchestration.gateways.base.ExtractionError` scrubs its own message, and
:class:`ScrubFilter` scrubs log records on the handlers it is installed on.

The new-api user id (the ``New-Api-User`` header, often "1" or "42") would match ordinary numbers,
so it is scrubbed only where it follows its header name (``New-Api-User: 1``); other values shorter
than ``MIN_LEN`` characters are not secrets worth the false matches and are left alone.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

REDACTED = "<redacted>"
MIN_LEN = 6
WEBHOOK_ENV = "RECON_ALERT_WEBHOOK_URL"

_lock = threading.Lock()
_values: set[str] = set()
_short: set[str] = set()
_patterns: tuple[re.Pattern[str] | None, re.Pattern[str] | None] | None = None


def _expand(value: str) -> set[str]:
    """The value, plus the parts of a URL that are secret on their own (password, path)."""
    out = {value}
    if "://" in value:
        try:
            parts = urlsplit(value)
        except ValueError:
            return out
        if parts.password:
            out |= {parts.password, unquote(parts.password)}
        if parts.path and parts.path not in ("/", ""):
            out.add(parts.path)
        if parts.query:
            out.add(parts.query)
    return out


def register(values: Iterable[str | None], short_header: str | None = None) -> None:
    """Remember secret values; `short_header` names the header after which (only) these are scrubbed."""
    global _patterns
    with _lock:
        for v in values:
            if not v:
                continue
            for part in _expand(v):
                if short_header and part.strip():
                    _short.add(part)  # an id, not a credential: scrubbed where it follows its header
                elif len(part) >= MIN_LEN:
                    _values.add(part)
        _patterns = None


def register_env(names: Iterable[str], short_names: Iterable[str] = ()) -> None:
    """Register the values of env vars (the ones the config names), and the webhook URL if set."""
    register([os.environ.get(n) for n in [*names, WEBHOOK_ENV]])
    register([os.environ.get(n) for n in short_names], short_header="New-Api-User")


def register_config(cfg) -> None:
    """Register every secret a `ReconConfig` names (call once its env vars were checked)."""
    keys = cfg.env_keys()
    register_env(
        [n for k, n in keys.items() if not k.endswith("user_id_env")] + [cfg.app.pseudonym_key_env],
        [n for k, n in keys.items() if k.endswith("user_id_env")],
    )


def _compiled() -> tuple[re.Pattern[str] | None, re.Pattern[str] | None] | None:
    """(long values anywhere, short values after their header name), or None when nothing is known."""
    global _patterns
    with _lock:
        if _patterns is None and (_values or _short):
            long_ = (
                re.compile("|".join(re.escape(v) for v in sorted(_values, key=len, reverse=True)))
                if _values
                else None
            )
            alts = "|".join(re.escape(v) for v in sorted(_short, key=len, reverse=True))
            short = re.compile(rf"(?i)(New-Api-User[\"']?\s*[:=]\s*[\"']?)(?:{alts})\b") if _short else None
            _patterns = (long_, short)
        return _patterns


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by ``<redacted>``."""
    patterns = _compiled()
    if patterns is None or not text:
        return text
    long_, short = patterns
    if long_ is not None:
        text = long_.sub(REDACTED, text)
    if short is not None:
        text = short.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class ScrubFilter(logging.Filter):
    """Scrubs a record's message (and its exception text) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _compiled() is None:
            return True
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is the logger's problem, not ours
            return True
        clean = scrub(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if scrub(text) != text:
                record.exc_text, record.exc_info = scrub(text), None
        return True


_FILTER = ScrubFilter()


def install_log_scrubber(*extra: logging.Logger) -> None:
    """Put the filter on every logger known now (records they create) and every handler they have
    (records that propagate from child loggers pass handler filters, not logger filters), plus
    `extra` loggers that live outside logging's registry (Dagster's run log manager)."""
    loggers = [logging.getLogger(), *extra]
    loggers += [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for h in logger.handlers:
            if _FILTER not in h.filters:
                h.addFilter(_FILTER)


def reset_for_tests() -> None:
    global _patterns
    with _lock:
        _values.clear()
        _short.clear()
        _patterns = None
