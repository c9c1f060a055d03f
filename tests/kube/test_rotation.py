"""Credential rotation end to end: the operator (kopf) against a real API server and a real etcd. A Tenant's
rotation is raised with kubectl; the Secret gets new tokens, the old ones work through the grace and are refused
after it, the condition and the etcd records follow."""

from __future__ import annotations

import base64
import secrets
import time

import pytest
import yaml
from ccp_acd.api.auth import Authenticator
from ccp_acd.errors import Unauthenticated
from ccp_operator import conditions as c
from ccp_operator import credentials

from tests.helpers import eventually
from tests.kube.test_operator import _condition, operator, operator_env  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

GRACE_S = 5


def tenant_resource(name: str, rotation: int) -> str:
    return yaml.safe_dump({
        "apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
        "spec": {"homeSite": "site-a", "credentials": {"rotation": rotation, "graceSeconds": GRACE_S}},
    })


def admin_token(kube, tenant: str) -> tuple[str, str] | None:
    found = kube.kubectl("get", "secret", f"{tenant}-api-credentials", "-o", "json", check=False)
    if found.returncode != 0:
        return None
    secret = yaml.safe_load(found.stdout)
    rotation = secret["metadata"].get("annotations", {}).get(credentials.ROTATION_ANNOTATION, "")
    return rotation, base64.b64decode(secret["data"]["admin"]).decode()


async def is_refused(auth: Authenticator, token: str) -> bool:
    try:
        await auth.verify(token)
    except Unauthenticated as e:
        return str(e) == "invalid or revoked token"
    return False


async def test_raising_the_rotation_replaces_the_tokens_and_the_old_ones_stop_after_the_grace(
    kube, store, operator  # noqa: F811
):
    tenant = f"rotate-{secrets.token_hex(3)}"
    auth = Authenticator(store, cache_ttl_s=0)
    kube.kubectl("apply", "-f", "-", input=tenant_resource(tenant, 0))

    async def first_tokens():
        return admin_token(kube, tenant)

    rotation, old = await eventually(first_tokens, timeout_s=30, what="the tenant's credentials Secret")
    assert rotation == "0" and (await auth.verify(old)).tenant == tenant

    kube.kubectl("apply", "-f", "-", input=tenant_resource(tenant, 1))

    async def rotated():
        found = admin_token(kube, tenant)
        return found if found and found[0] == "1" else None

    _, new = await eventually(rotated, timeout_s=30, what="the Secret rewritten for rotation 1")
    rotated_at = time.time()
    assert new != old and (await auth.verify(new)).role == "admin"
    assert (await auth.verify(old)).role == "admin", "the old token stopped before its grace"
    expiry = (await store.get_credential(tenant, old.split(".")[1])).expires_at
    assert rotated_at - 1 < expiry - GRACE_S <= rotated_at + 1

    async def condition(reason: str):
        found = _condition(kube, "tenant", tenant, c.CREDENTIALS_ROTATED)
        return found if found and found["reason"] == reason else None

    reported = await eventually(lambda: condition(c.ROTATED), timeout_s=30, what="CredentialsRotated: Rotated")
    assert reported["status"] == "True"
    assert reported["message"].startswith(f"rotation 1: new tokens in Secret {tenant}-api-credentials;")
    assert reported["message"].endswith(f"work until {credentials.rfc3339(expiry)}")

    await eventually(lambda: is_refused(auth, old), timeout_s=GRACE_S + 10, what="the old token refused")
    assert time.time() >= expiry, "refused before its expiry"
    assert (await auth.verify(new)).tenant == tenant

    expired = await eventually(lambda: condition(c.PREVIOUS_EXPIRED), timeout_s=30, what="PreviousExpired")
    assert expired["message"].endswith(f"the previous ones expired at {credentials.rfc3339(expiry)}")

    async def old_deleted():
        return old.split(".")[1] not in await store.list_credentials(tenant)

    await eventually(old_deleted, timeout_s=10, what="the old credential deleted from etcd")
    assert kube.get("tenant", tenant)["status"]["credentials"] == {"rotation": 1}
