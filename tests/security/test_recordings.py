"""Recordings at rest: AES-256-GCM files bound to their tenant and id, readable across key rotation."""

from __future__ import annotations

import base64
import io
import json
import stat

import pytest
from ccp_acd.recordings import KEY_FILE_ENV, KeyRing, RecordingError, RecordingStore, RecordingUnreadable

# A plaintext that is easy to grep for, repeated so it spans many chunks.
MARKER = b"CALLER-SAYS-MY-CARD-IS-4111111111111111;"
AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + MARKER * 500  # ~20 kB, 5 chunks of 4 KiB


def ring(active: str = "k1", **extra: bytes) -> KeyRing:
    keys = {"k1": b"\x01" * 32, **extra}
    return KeyRing(keys=keys, active=active)


@pytest.fixture
def recordings(tmp_path) -> RecordingStore:
    return RecordingStore(tmp_path / "rec", ring(), chunk_bytes=4096)


def test_round_trip_of_a_multi_chunk_stream(recordings):
    pieces = [AUDIO[i:i + 1000] for i in range(0, len(AUDIO), 1000)]  # pieces not aligned to chunks
    recordings.write(tenant="acme", recording_id="c1-vm", source=iter(pieces))
    assert recordings.read_all(tenant="acme", recording_id="c1-vm") == AUDIO
    chunks = list(recordings.read(tenant="acme", recording_id="c1-vm"))
    assert len(chunks) == -(-len(AUDIO) // 4096) and max(map(len, chunks)) == 4096


@pytest.mark.parametrize("size", [0, 1, 4096, 8192, 8193])
def test_round_trip_at_chunk_boundaries(recordings, size):
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    recordings.write(tenant="acme", recording_id=f"r{size}", source=io.BytesIO(data))
    assert recordings.read_all(tenant="acme", recording_id=f"r{size}") == data


def test_plaintext_never_on_disk_and_file_mode_0600(recordings, tmp_path):
    path = recordings.write(tenant="acme", recording_id="c2", source=io.BytesIO(AUDIO))
    raw = path.read_bytes()
    assert MARKER not in raw and b"4111111111111111" not in raw and b"RIFF" not in raw
    assert len(raw) > len(AUDIO)  # really written, with tags
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    assert leftovers == []  # no partial file left behind
    for found in (tmp_path / "rec").rglob("*"):
        if found.is_file():
            assert MARKER not in found.read_bytes()


@pytest.mark.parametrize("where", ["first chunk", "last chunk", "header key id", "header chunk size"])
def test_tampering_is_detected(recordings, where):
    path = recordings.write(tenant="acme", recording_id="c3", source=io.BytesIO(AUDIO))
    raw = bytearray(path.read_bytes())
    header = 4 + 2 + 2 + 4 + 7  # magic, version, len, "k1", chunk size, nonce prefix
    offset = {
        "first chunk": header + 10, "last chunk": len(raw) - 3, "header key id": 7, "header chunk size": 10,
    }[where]
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordingUnreadable):
        recordings.read_all(tenant="acme", recording_id="c3")


def test_a_file_cut_short_at_a_chunk_boundary_is_detected(recordings):
    path = recordings.write(tenant="acme", recording_id="c4", source=io.BytesIO(AUDIO))
    raw = path.read_bytes()
    header = 4 + 2 + 2 + 4 + 7
    path.write_bytes(raw[: header + 2 * (4096 + 16)])  # two whole chunks, the rest dropped
    with pytest.raises(RecordingUnreadable, match="chunk 1"):
        recordings.read_all(tenant="acme", recording_id="c4")


def test_a_file_moved_to_another_tenant_or_id_does_not_decrypt(recordings):
    path = recordings.write(tenant="acme", recording_id="c5", source=io.BytesIO(AUDIO))
    other = recordings.path(tenant="globex", recording_id="c5")
    other.parent.mkdir(parents=True)
    other.write_bytes(path.read_bytes())
    with pytest.raises(RecordingUnreadable, match="not this tenant's recording"):
        recordings.read_all(tenant="globex", recording_id="c5")
    renamed = recordings.path(tenant="acme", recording_id="c6")
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(RecordingUnreadable):
        recordings.read_all(tenant="acme", recording_id="c6")
    assert recordings.read_all(tenant="acme", recording_id="c5") == AUDIO  # the original still reads


def test_key_rotation_old_files_read_with_their_key_until_reencrypted(tmp_path):
    old = RecordingStore(tmp_path, ring(), chunk_bytes=4096)
    old.write(tenant="acme", recording_id="before", source=io.BytesIO(AUDIO))
    rotated = RecordingStore(tmp_path, ring(active="k2", k2=b"\x02" * 32), chunk_bytes=4096)
    rotated.write(tenant="acme", recording_id="after", source=io.BytesIO(AUDIO))
    assert rotated.key_id(tenant="acme", recording_id="before") == "k1"
    assert rotated.key_id(tenant="acme", recording_id="after") == "k2"
    assert rotated.read_all(tenant="acme", recording_id="before") == AUDIO
    # The old key alone cannot read the new file.
    with pytest.raises(RecordingUnreadable, match="'k2'"):
        old.read_all(tenant="acme", recording_id="after")
    rotated.reencrypt(tenant="acme", recording_id="before")
    assert rotated.key_id(tenant="acme", recording_id="before") == "k2"
    without_old = RecordingStore(tmp_path, KeyRing(keys={"k2": b"\x02" * 32}, active="k2"), chunk_bytes=4096)
    assert without_old.read_all(tenant="acme", recording_id="before") == AUDIO


def test_a_wrong_key_under_the_same_id_does_not_decrypt(tmp_path):
    RecordingStore(tmp_path, ring()).write(tenant="acme", recording_id="c7", source=[AUDIO])
    impostor = RecordingStore(tmp_path, KeyRing(keys={"k1": b"\x09" * 32}, active="k1"))
    with pytest.raises(RecordingUnreadable):
        impostor.read_all(tenant="acme", recording_id="c7")


def test_key_ring_from_the_key_file(tmp_path):
    key = KeyRing.new_key()
    file = tmp_path / "keys.json"
    file.write_text(json.dumps({"active": "2026-01", "keys": {"2026-01": key}}))
    loaded = KeyRing.from_env({KEY_FILE_ENV: str(file)})
    assert loaded.active == "2026-01" and loaded.keys["2026-01"] == base64.b64decode(key)
    with pytest.raises(RecordingError, match="not set"):
        KeyRing.from_env({})


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('{"active": "a", "keys": {"a": "AAAA"}}', "is 3 bytes"),
        ('{"active": "b", "keys": {"a": "' + base64.b64encode(b"x" * 32).decode() + '"}}', "not among its keys"),
        ('{"active": "a", "keys": {"a": "not base64!"}}', "not base64"),
        ('{"active": "a/b", "keys": {"a/b": "' + base64.b64encode(b"x" * 32).decode() + '"}}', "key id"),
        ("[]", "expected"),
        ("{", "not JSON"),
    ],
)
def test_bad_key_files_are_refused_without_echoing_keys(document, problem):
    with pytest.raises(RecordingError, match=problem) as caught:
        KeyRing.parse(document)
    assert base64.b64encode(b"x" * 32).decode() not in str(caught.value)


@pytest.mark.parametrize(("tenant", "recording_id"), [("../etc", "x"), ("acme", "../../x"), ("acme", "a/b"), ("Acme", "x")])
def test_names_that_would_leave_the_root_are_refused(recordings, tenant, recording_id):
    with pytest.raises(RecordingError):
        recordings.write(tenant=tenant, recording_id=recording_id, source=[b"x"])
