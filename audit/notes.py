"""The Ed25519 key that signs checkpoints, and the checkpoint notes it signs.

A checkpoint is a text note in the style of transparency-log checkpoints (origin, size,
base64 head hash, position, time), then the signature line of a C2SP signed note. The
key is kept in a PEM file, created on first use.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.settings import DEFAULT_ORIGIN
from projections.values import iso

log = logging.getLogger("closedloop.audit")

# -- the signing key and the checkpoint notes --------------------------------------------


def key_id(name: str, public: bytes) -> bytes:
    """The 4-byte key hash of a C2SP signed note (algorithm 0x01 is Ed25519)."""
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public).digest()[:4]


@dataclass(frozen=True)
class PublicKey:
    """The public half of the audit key, by the name the notes carry."""

    name: str
    raw: bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.raw)

    @property
    def verifier(self) -> str:
        """The key as a note verifier string: ``name+hexid+base64(0x01 || key)``."""
        encoded = base64.b64encode(b"\x01" + self.raw).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_verifier(cls, text: str) -> PublicKey:
        name, hex_id, encoded = text.strip().split("+", 2)
        raw = base64.b64decode(encoded)
        if raw[:1] != b"\x01" or len(raw) != 33:
            raise ValueError("not an Ed25519 note verifier key")
        key = cls(name, raw[1:])
        if key.key_id.hex() != hex_id:
            raise ValueError("the verifier key's id does not match its key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class Signer:
    """The Ed25519 key that signs checkpoints, read from (or created in) its file."""

    def __init__(self, private: Ed25519PrivateKey, name: str) -> None:
        self._private = private
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public = PublicKey(name, raw)

    @classmethod
    def from_file(cls, path: Path, name: str = DEFAULT_ORIGIN, *, create: bool = True) -> Signer:
        """The key in ``path``; with ``create``, a new one written there (mode 0600) first."""
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            try:
                # O_EXCL: two server workers starting at once keep the first key.
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(pem)
                log.info("audit signing key created in %s", path)
        for attempt in range(20):
            data = path.read_bytes()
            try:
                key = serialization.load_pem_private_key(data, password=None)
            except ValueError:
                if attempt == 19:
                    raise
                time.sleep(0.05)  # another process is still writing it
                continue
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"{path} does not hold an Ed25519 private key")
            return cls(key, name)
        raise AssertionError("unreachable")  # pragma: no cover

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the first ``size`` events of the log hash to ``head``."""

    origin: str
    size: int
    head: bytes
    position: int
    signed_at: datetime
    key_name: str
    key_id: bytes
    signature: bytes

    def body(self) -> str:
        return (
            f"{self.origin}\n{self.size}\n{base64.b64encode(self.head).decode()}\n"
            f"position {self.position}\ntime {iso(self.signed_at)}\n"
        )

    def note(self) -> str:
        sig = base64.b64encode(self.key_id + self.signature).decode()
        return f"{self.body()}\n\u2014 {self.key_name} {sig}\n"

    @classmethod
    def signed(
        cls, signer: Signer, origin: str, size: int, head: bytes, position: int, at: datetime
    ) -> Checkpoint:
        unsigned = cls(origin, size, head, position, at, signer.public.name, b"", b"")
        signature = signer.sign(unsigned.body().encode())
        return cls(
            origin, size, head, position, at, signer.public.name, signer.public.key_id, signature
        )

    @classmethod
    def parse(cls, note: str) -> Checkpoint:
        """A note as :meth:`note` writes it; ``ValueError`` on anything else."""
        body, sep, signatures = note.partition("\n\n")
        lines = body.split("\n")
        if not sep or len(lines) != 5:
            raise ValueError("not a checkpoint note")
        origin, size, head, position, signed = lines
        if not (position.startswith("position ") and signed.startswith("time ")):
            raise ValueError("a checkpoint note needs its position and time lines")
        sig_line = signatures.rstrip("\n").split("\n")[0]
        match = re.fullmatch(r"\u2014 (\S+) (\S+)", sig_line)
        if match is None:
            raise ValueError("a checkpoint note needs a signature line")
        blob = base64.b64decode(match.group(2), validate=True)
        if len(blob) != 4 + 64:
            raise ValueError("the signature is not an Ed25519 signature")
        return cls(
            origin=origin,
            size=int(size),
            head=base64.b64decode(head, validate=True),
            position=int(position.removeprefix("position ")),
            signed_at=datetime.fromisoformat(signed.removeprefix("time ")),
            key_name=match.group(1),
            key_id=blob[:4],
            signature=blob[4:],
        )

    def is_signed_by(self, key: PublicKey) -> bool:
        return (
            self.key_name == key.name
            and self.key_id == key.key_id
            and key.verify(self.body().encode(), self.signature)
        )
