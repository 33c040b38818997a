"""Signing secrets: generated, encrypted for the record, and used to sign deliveries.

A secret is ``whsec_`` + base64 of 32 random bytes (the Standard Webhooks form); the
HMAC key is the decoded bytes. The event store keeps the secret encrypted with Fernet
(AES-128-CBC + HMAC-SHA256, from ``cryptography``) under a key kept in a file of its own
(``CLOSEDLOOP_WEBHOOK_KEY``, by default ``var/webhook-secrets.key``, mode 0600; the
composition root names it in :class:`~notifiers.config.WebhookConfig`), so that a
copy of the events alone does not let anyone forge deliveries (ADR 0014).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import standardwebhooks
from cryptography.fernet import Fernet, InvalidToken

from domain.errors import InvalidValue

log = logging.getLogger("closedloop.notifiers")

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; a malformed secret is refused by name."""
    body = secret.removeprefix(SECRET_PREFIX)
    try:
        raw = base64.b64decode(body, validate=True)
    except ValueError:
        raise InvalidValue("a secret is whsec_ followed by base64") from None
    if not 24 <= len(raw) <= 64:
        raise InvalidValue("a secret decodes to 24 to 64 bytes")
    return raw


def fingerprint(secret: str) -> str:
    """A short public name of a secret: tells two apart, reveals neither."""
    return "sha256:" + hashlib.sha256(secret_bytes(secret)).hexdigest()[:16]


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,`` signature of the Standard Webhooks scheme, by its reference library."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return standardwebhooks.Webhook(secret_bytes(secret)).sign(msg_id, moment, body)


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """Every signature, space-separated (the current secret's first)."""
    return " ".join(sign(s, msg_id, timestamp, body) for s in secrets_)


class Keyring:
    """Encrypts secrets for the record and decrypts them to sign."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def generate(cls) -> Keyring:
        return cls(Fernet.generate_key())

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """The key in ``path``, created (0600) on first use."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process created it first: read theirs
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(Fernet.generate_key() + b"\n")
                log.info("webhook secrets key created in %s", path)
        key = path.read_bytes().strip()
        if path.stat().st_mode & 0o077:
            log.warning("webhook secrets key %s is readable by others; chmod 600 it", path)
        try:
            return cls(key)
        except ValueError:
            raise ValueError(f"{path} does not hold a Fernet key") from None

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode("ascii")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise ValueError("a secret was encrypted under another key") from None
