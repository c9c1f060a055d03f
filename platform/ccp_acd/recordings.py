"""Recordings (voicemail, call recording) at rest: one AES-256-GCM encrypted file per recording.

What it is for: the storage the SIP side (issue 5) writes recordings into and reads them back from. A
recording is a byte stream (e.g. WAV) of any length; it is encrypted in chunks, so neither writing nor
reading holds more than one chunk in memory.

File format (``{root}/{tenant}/{recording_id}.rec``, mode 0600, folders 0700)::

    header:  b"CCPR" | version (1 byte) | len(key_id) (1 byte) | key_id (ASCII)
             | chunk size (4 bytes, big endian) | nonce prefix (7 random bytes)
    chunks:  AES-256-GCM(chunk) + 16-byte tag, every chunk ``chunk size`` bytes of plaintext but the last

Each chunk's nonce is ``nonce prefix | chunk number (4 bytes) | 1 if last else 0`` (the STREAM
construction), so chunks cannot be reordered, dropped or the file cut short without the tag failing.
Each chunk's associated data is the header plus the tenant and the recording id: a file copied to another
tenant or renamed to another recording does not decrypt, and neither does one whose key id was edited.

Keys: a key ring (key id -> 32-byte key) with one active key that new recordings use. The key id is in the
header, so rotating means adding a new key, making it active, and keeping the old ones until every file
written with them has been re-encrypted (``RecordingStore.reencrypt``) or has expired. The ring is read from
``CCP_RECORDINGS_KEY_FILE`` (a mounted Kubernetes Secret), a JSON document::

    {"active": "2026-01", "keys": {"2026-01": "<base64 of 32 random bytes>", "2025-07": "..."}}

Not for: the recordings' retention or who may fetch them (the API that serves them does that), and not
for etcd's data (call records are not encrypted by the node; see docs/security.md, "Data protection").
Caveat: ``read`` yields each chunk once its tag verifies, so a reader must treat a recording as complete
only when the iteration ends without ``RecordingUnreadable`` (a cut-short file fails at its end).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ccp_acd.errors import CcpError

MAGIC = b"CCPR"
VERSION = 1
KEY_BYTES = 32
TAG_BYTES = 16
NONCE_PREFIX_BYTES = 7
# Bytes of plaintext per chunk: 64 KiB is ~4 s of 8 kHz 16-bit PCM, small in memory, and the 16-byte tag
# per chunk costs 0.02 % of the file.
DEFAULT_CHUNK_BYTES = 64 * 1024
MAX_CHUNK_BYTES = 16 * 1024 * 1024
KEY_FILE_ENV = "CCP_RECORDINGS_KEY_FILE"

KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Tenants are DNS labels; recording ids are what the SIP side makes (call id plus a suffix).
TENANT = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
RECORDING_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


class RecordingError(CcpError):
    """A recording cannot be written or read: bad key ring, bad name, or a file that does not decrypt."""


class RecordingUnreadable(RecordingError):
    """The file is not a recording of this tenant and id under any key of the ring, or was altered."""


@dataclass(frozen=True)
class KeyRing:
    """Keys by id; ``active`` encrypts new recordings, every key decrypts the files that name it."""

    keys: Mapping[str, bytes]
    active: str

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise RecordingError(f"key ring: the active key {self.active!r} is not among its keys")
        for key_id, key in self.keys.items():
            if not KEY_ID.match(key_id):
                raise RecordingError(f"key ring: key id {key_id!r} is not [A-Za-z0-9._-]{{1,64}}")
            if len(key) != KEY_BYTES:
                raise RecordingError(f"key ring: key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """The JSON document of ``CCP_RECORDINGS_KEY_FILE``; errors name the key id, never a key."""
        try:
            document = json.loads(text)
        except json.JSONDecodeError as e:
            raise RecordingError(f"key ring: not JSON (line {e.lineno})") from None
        if not isinstance(document, dict) or not isinstance(document.get("keys"), dict):
            raise RecordingError('key ring: expected {"active": id, "keys": {id: base64 key}}')
        keys = {}
        for key_id, encoded in document["keys"].items():
            try:
                keys[key_id] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise RecordingError(f"key ring: key {key_id!r} is not base64") from None
        return cls(keys=keys, active=str(document.get("active", "")))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyRing:
        return cls.parse(Path(path).read_text())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> KeyRing:
        path = environ.get(KEY_FILE_ENV, "")
        if not path:
            raise RecordingError(f"{KEY_FILE_ENV} is not set: recordings cannot be stored unencrypted")
        return cls.load(path)

    @staticmethod
    def new_key() -> str:
        """A fresh key, base64 as the key file holds it."""
        return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _header(key_id: str, chunk_bytes: int, nonce_prefix: bytes) -> bytes:
    kid = key_id.encode()
    return MAGIC + bytes([VERSION, len(kid)]) + kid + struct.pack(">I", chunk_bytes) + nonce_prefix


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    if index >= 2**32:
        raise RecordingError("recording too long: more than 2^32 chunks")
    return prefix + struct.pack(">I", index) + (b"\x01" if last else b"\x00")


def _blocks(source: BinaryIO | Iterable[bytes], size: int) -> Iterator[bytes]:
    """The source re-cut into blocks of exactly ``size`` bytes (the last may be shorter or empty)."""
    if hasattr(source, "read"):
        while block := source.read(size):
            yield block
        return
    pending = bytearray()
    for piece in source:
        pending += piece
        while len(pending) >= size:
            yield bytes(pending[:size])
            del pending[:size]
    if pending:
        yield bytes(pending)


class RecordingStore:
    """Encrypted recordings under ``root``; synchronous file I/O (async callers use ``asyncio.to_thread``)."""

    def __init__(self, root: str | os.PathLike[str], keys: KeyRing, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES):
        if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise RecordingError(f"chunk size {chunk_bytes} is out of range 1..{MAX_CHUNK_BYTES}")
        self.root = Path(root)
        self.keys = keys
        self.chunk_bytes = chunk_bytes

    def path(self, *, tenant: str, recording_id: str) -> Path:
        if not TENANT.match(tenant):
            raise RecordingError(f"{tenant!r} is not a tenant name")
        if not RECORDING_ID.match(recording_id):
            raise RecordingError("the recording id is not [A-Za-z0-9_.:-]{1,128}")
        return self.root / tenant / f"{recording_id}.rec"

    @staticmethod
    def _bound(tenant: str, recording_id: str) -> bytes:
        return b"\x00" + tenant.encode() + b"\x00" + recording_id.encode()

    def write(self, *, tenant: str, recording_id: str, source: BinaryIO | Iterable[bytes]) -> Path:
        """Encrypt ``source`` into the recording's file with the active key; replaces it atomically."""
        path = self.path(tenant=tenant, recording_id=recording_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key_id = self.keys.active
        aead = AESGCM(self.keys.keys[key_id])
        prefix = secrets.token_bytes(NONCE_PREFIX_BYTES)
        header = _header(key_id, self.chunk_bytes, prefix)
        aad = header + self._bound(tenant, recording_id)
        partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(header)
                index, held = 0, None
                # One block is held back: only at the source's end is it known which block is the last.
                for block in _blocks(source, self.chunk_bytes):
                    if held is not None:
                        out.write(aead.encrypt(_nonce(prefix, index, False), held, aad))
                        index += 1
                    held = block
                out.write(aead.encrypt(_nonce(prefix, index, True), held or b"", aad))
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return path

    def read(self, *, tenant: str, recording_id: str) -> Iterator[bytes]:
        """The plaintext, chunk by chunk; raises RecordingUnreadable (at the point it is found) if it does not verify."""
        path = self.path(tenant=tenant, recording_id=recording_id)
        with path.open("rb") as f:
            key_id, chunk_bytes, prefix, header = self._read_header(f)
            key = self.keys.keys.get(key_id)
            if key is None:
                raise RecordingUnreadable(f"encrypted with key {key_id!r}, which the key ring does not hold")
            aead, aad = AESGCM(key), header + self._bound(tenant, recording_id)
            size = chunk_bytes + TAG_BYTES
            index, block = 0, f.read(size)
            while True:
                following = f.read(size) if len(block) == size else b""
                last = not following
                try:
                    yield aead.decrypt(_nonce(prefix, index, last), block, aad)
                except InvalidTag:
                    raise RecordingUnreadable(
                        f"chunk {index} does not verify: altered, cut short, or not this tenant's recording"
                    ) from None
                if last:
                    return
                index, block = index + 1, following

    def read_all(self, *, tenant: str, recording_id: str) -> bytes:
        return b"".join(self.read(tenant=tenant, recording_id=recording_id))

    def key_id(self, *, tenant: str, recording_id: str) -> str:
        """The id of the key a recording was written with (for rotation: which files still need an old key)."""
        with self.path(tenant=tenant, recording_id=recording_id).open("rb") as f:
            return self._read_header(f)[0]

    def reencrypt(self, *, tenant: str, recording_id: str) -> Path:
        """Rewrite a recording with the active key (rotation), streaming; the old file is replaced atomically."""
        return self.write(
            tenant=tenant, recording_id=recording_id, source=self.read(tenant=tenant, recording_id=recording_id)
        )

    def delete(self, *, tenant: str, recording_id: str) -> None:
        self.path(tenant=tenant, recording_id=recording_id).unlink(missing_ok=True)

    @staticmethod
    def _read_header(f: BinaryIO) -> tuple[str, int, bytes, bytes]:
        fixed = f.read(len(MAGIC) + 2)
        if len(fixed) < len(MAGIC) + 2 or fixed[: len(MAGIC)] != MAGIC:
            raise RecordingUnreadable("not a recording file (bad magic)")
        if fixed[len(MAGIC)] != VERSION:
            raise RecordingUnreadable(f"unknown recording format version {fixed[len(MAGIC)]}")
        kid = f.read(fixed[-1])
        rest = f.read(4 + NONCE_PREFIX_BYTES)
        if len(kid) != fixed[-1] or len(rest) != 4 + NONCE_PREFIX_BYTES:
            raise RecordingUnreadable("recording header cut short")
        (chunk_bytes,) = struct.unpack(">I", rest[:4])
        if not 1 <= chunk_bytes <= MAX_CHUNK_BYTES:
            raise RecordingUnreadable(f"recording header names chunk size {chunk_bytes}")
        try:
            key_id = kid.decode("ascii")
        except UnicodeDecodeError:
            raise RecordingUnreadable("recording header has a non-ASCII key id") from None
        return key_id, chunk_bytes, rest[4:], fixed + kid + rest
