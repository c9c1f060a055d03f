"""Redaction of caller numbers, tokens and secrets in log output: the last line of defence.

The first line is the sources: validation and refusal messages and log lines do not repeat caller
addresses, blocklist patterns, display names or tokens. This filter catches what slips through (a
library's debug line, an exception's text, an etcd key with a blocklist pattern in it) before a record
reaches a handler. It rewrites a record's formatted message (``msg % args``), its exception text and its
stack text, masking:

- telephone numbers: a run of 7..15 digits (E.164 with or without ``+``, national numbers), not part of a
  longer word, decimal number or id (call ids' 20-digit clocks and hex suffixes stay); ``+`` numbers
  written with spaces or hyphens (``+49 30 1234567``);
- the user part of ``sip:``, ``sips:`` and ``tel:`` URIs (``sip:<redacted>@carrier.example``);
- API tokens ``{tenant}.{key_id}.{secret}`` (the secret; tenant and key id stay, they name the actor)
  and whatever follows ``Bearer``;
- every string given as a secret (the cluster token), wherever it appears.

Installed by ``configure_logging`` (the node, ``ccp`` commands) and by ``install`` on the handlers
that exist (the operator, after kopf configured its logging; its Kubernetes-event poster included).

Not for: display names and free text (no pattern tells a name from other words: the sources must not log
them), structured extras of JSON formatters (only the message and exception text are rewritten), and
anything that does not go through ``logging`` (print, a library writing to stderr). Masking is textual
and over-eager by design: a 10-digit epoch second or a trunk's own number is masked too.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

NUMBER = "<redacted:number>"
TOKEN = "<redacted:token>"
SECRET = "<redacted:secret>"
URI_USER = "<redacted>"

# Minimum length of a secret masked by value: shorter strings would mask ordinary words.
MIN_SECRET_CHARS = 6

_URI_USER = re.compile(r"\b(sips?|tel):(?!<redacted>)[^@\s;>'\",]+", re.IGNORECASE)
_API_TOKEN = re.compile(r"\b([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.[0-9a-f]{8,32})\.[A-Za-z0-9_-]{20,128}")
_BEARER = re.compile(r"(\bbearer\s+)(?!<redacted)[^\s'\",]+", re.IGNORECASE)
_SPACED_NUMBER = re.compile(r"(?<![\w.])\+\d{1,4}(?:[ -]\d{1,8}){1,5}(?!\d)")
# Not after a call id's 20-digit clock and hyphen (its 8-hex suffix may be all digits).
_NUMBER = re.compile(r"(?<![\w.+])(?<!\d{20}-)\+?\d{7,15}(?!\w|\.\d)")
MIN_NUMBER_DIGITS = 7


def _spaced(match: re.Match[str]) -> str:
    text = match.group(0)
    return NUMBER if sum(c.isdigit() for c in text) >= MIN_NUMBER_DIGITS else text


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with numbers, URI user parts, tokens and the given secrets masked."""
    for secret in secrets:
        if len(secret) >= MIN_SECRET_CHARS:
            text = text.replace(secret, SECRET)
    text = _API_TOKEN.sub(rf"\1.{TOKEN}", text)
    text = _BEARER.sub(rf"\1{TOKEN}", text)
    text = _URI_USER.sub(rf"\1:{URI_USER}", text)
    text = _SPACED_NUMBER.sub(_spaced, text)
    return _NUMBER.sub(NUMBER, text)


class RedactingFilter(logging.Filter):
    """A handler filter: rewrites the record's message, exception and stack text, masked; never drops it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: tuple[str, ...] = tuple(s for s in secrets if s)

    def add_secret(self, secret: str) -> None:
        """Mask ``secret`` too from now on (a token learned after start-up)."""
        if secret and secret not in self._secrets:
            self._secrets = (*self._secrets, secret)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record; logging would report it
            message = f"{record.msg!r} (unformattable arguments)"
        record.msg, record.args = redact(message, self._secrets), None
        if record.exc_info and not record.exc_text:
            # Formatters print exc_text when it is set and only format exc_info when it is not.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
            record.exc_info = None  # handlers that format it themselves would bypass the masking
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


def install(
    secrets: Iterable[str] = (), *, loggers: Iterable[str] = ("", "kopf.objects"), into: RedactingFilter | None = None
) -> RedactingFilter:
    """Add one redacting filter to every handler of ``loggers`` (root and kopf's event poster by default).

    Idempotent: a handler that has a RedactingFilter gets none more; the given secrets are added to the
    existing filter instead. Handlers added later (after this call) are not covered: call it again.
    """
    redacting = into or RedactingFilter(secrets)
    for secret in secrets:
        redacting.add_secret(secret)
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            present = next((f for f in handler.filters if isinstance(f, RedactingFilter)), None)
            if present is None:
                handler.addFilter(redacting)
            else:
                for secret in secrets:
                    present.add_secret(secret)
    return redacting


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: int | str | None = None, *, secrets: Iterable[str] = ()) -> RedactingFilter:
    """Log to stderr (basicConfig, unless the root logger has handlers already), every root handler redacting.

    ``level`` sets the root logger's level; None leaves it as it is (WARNING unless someone set it).
    """
    logging.basicConfig(format=LOG_FORMAT)
    if level is not None:
        logging.getLogger().setLevel(level)
    return install(secrets, loggers=("",))
