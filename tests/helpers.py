"""Small helpers shared by the test packages."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from ccp_operator.specs.loader import read_documents

ROOT = Path(__file__).resolve().parents[1]


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC call metadata carrying a tenant token."""
    return (("authorization", f"Bearer {token}"),)


def scaled(seconds: float) -> float:
    """A test timeout scaled by CCP_TEST_TIMEOUT_SCALE (slow or loaded machines set it > 1)."""
    return seconds * float(os.environ.get("CCP_TEST_TIMEOUT_SCALE", "1"))


async def eventually(
    predicate, *, timeout_s: float = 10.0, interval_s: float = 0.05, what: str = "condition"
):
    """Poll an async predicate until it returns something truthy; fail after the (scaled) timeout."""
    timeout_s = scaled(timeout_s)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}")


def examples_for_tenant(tenant: str) -> list[dict]:
    """The resources of examples/ with the tenant renamed, so tests sharing one etcd never meet."""
    documents = []
    for document in read_documents([ROOT / "examples"]):
        document = dict(document)
        if document["kind"] == "Tenant":
            document["metadata"] = {**document["metadata"], "name": tenant}
        else:
            document["spec"] = {**document["spec"], "tenant": tenant}
        documents.append(document)
    return documents
