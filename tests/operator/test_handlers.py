"""Handlers called directly (kopf documents them as plain functions) with a real etcd store:
a spec the builders refuse becomes a PermanentError and an InvalidSpec condition, nothing written."""

from __future__ import annotations

import secrets

import kopf
import pytest
from ccp_operator import conditions as c
from ccp_operator.handlers import queue_changed


async def test_an_invalid_spec_is_a_permanent_error_with_a_condition(store):
    tenant = f"bad-{secrets.token_hex(3)}"
    body = kopf.Body({
        "apiVersion": "ccp.dev/v1alpha1", "kind": "Queue",
        "metadata": {"name": "q", "namespace": "default", "generation": 3},
        "spec": {"tenant": tenant, "serviceLevel": {"target": 80}},
    })
    patch = kopf.Patch()
    with pytest.raises(kopf.PermanentError, match=r"spec.serviceLevel.target"):
        await queue_changed(body=body, patch=patch, status={}, memo=kopf.Memo(store=store))
    reconciled = next(x for x in patch["status"]["conditions"] if x["type"] == c.RECONCILED)
    assert (reconciled["status"], reconciled["reason"], reconciled["observedGeneration"]) == ("False", c.INVALID_SPEC, 3)
    assert "spec.serviceLevel.target" in reconciled["message"]
    assert await store.get_queue_configs(tenant) == {}


def test_a_condition_keeps_its_transition_time_while_its_status_holds():
    first = c.set_condition(None, c.condition(c.READY, True, c.APPLIED, "ok", 1))
    later = {**c.condition(c.READY, True, c.APPLIED, "still ok", 2), "lastTransitionTime": "2030-01-01T00:00:00Z"}
    again = c.set_condition(first, later)
    assert again[0]["lastTransitionTime"] == first[0]["lastTransitionTime"] and again[0]["observedGeneration"] == 2
    flipped = {**c.condition(c.READY, False, c.STATE_UNAVAILABLE, "down", 2), "lastTransitionTime": "2030-01-01T00:00:00Z"}
    assert c.set_condition(first, flipped)[0]["lastTransitionTime"] == "2030-01-01T00:00:00Z"
