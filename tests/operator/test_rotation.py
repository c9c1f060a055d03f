"""Credential rotation, handler level: the Tenant handlers called directly (as kopf documents them) with a real
etcd and a real API server (kube-lite), so the Secret, its annotations and the CRD's rules are the real ones."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator

import kopf
import kubernetes
import pytest
import yaml
from ccp_acd.api.auth import Authenticator, issue_token
from ccp_acd.errors import Unauthenticated
from ccp_operator import conditions as c
from ccp_operator import credentials
from ccp_operator.children import AcdTemplate
from ccp_operator.handlers import credentials_expiry, tenant_changed, tenant_deleted
from ccp_operator.kube import Kube as KubeApi
from ccp_operator.specs.schema import CredentialsSpec

from tests.helpers import eventually
from tests.kube.conftest import crds_installed, kube, kubeconfig  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

log = logging.getLogger(__name__)


@pytest.fixture
def memo(kube, store) -> Iterator[kopf.Memo]:  # noqa: F811 (the imported fixture)
    api = KubeApi(kubernetes.config.new_client_from_config(config_file=kube.kubeconfig))
    yield kopf.Memo(store=store, kube=api, acd=AcdTemplate())
    api.close()


def apply_tenant(kube, name: str, **credentials_spec) -> kopf.Body:  # noqa: F811
    tenant = {
        "apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
        "spec": {"homeSite": "site-a", **({"credentials": credentials_spec} if credentials_spec else {})},
    }
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(tenant))
    return kopf.Body(kube.get("tenant", name))


async def reconcile(kube, memo, body: kopf.Body) -> kopf.Patch:  # noqa: F811
    patch = kopf.Patch()
    await tenant_changed(body=body, namespace=kube.namespace, patch=patch, status=dict(body.status), memo=memo)
    return patch


def secret_tokens(kube, tenant: str) -> tuple[dict[str, str], dict[str, str]]:  # noqa: F811
    secret = kube.get("secret", f"{tenant}-api-credentials")
    tokens = {role: base64.b64decode(value).decode() for role, value in secret["data"].items()}
    return tokens, secret["metadata"].get("annotations", {})


def key_id(token: str) -> str:
    return token.split(".")[1]


def rotated(patch: kopf.Patch) -> dict:
    return next(x for x in patch["status"]["conditions"] if x["type"] == c.CREDENTIALS_ROTATED)


async def refused(auth: Authenticator, token: str) -> bool:
    try:
        await auth.verify(token)
    except Unauthenticated as e:
        assert str(e) == "invalid or revoked token"
        return True
    return False


async def test_raising_the_rotation_issues_new_tokens_and_the_old_ones_work_until_the_grace_ends(kube, store, memo):  # noqa: F811
    tenant = f"rot-{secrets.token_hex(3)}"
    first = await reconcile(kube, memo, apply_tenant(kube, tenant))
    old, annotations = secret_tokens(kube, tenant)
    assert set(old) == {"admin", "supervisor", "interaction"} and annotations[credentials.ROTATION_ANNOTATION] == "0"
    assert (rotated(first)["status"], rotated(first)["reason"]) == ("False", c.NOT_ROTATED)
    auth = Authenticator(store, cache_ttl_s=0)
    assert (await auth.verify(old["admin"])).role == "admin"

    body = apply_tenant(kube, tenant, rotation=1, graceSeconds=600)
    patch = await reconcile(kube, memo, body)
    new, annotations = secret_tokens(kube, tenant)
    assert set(new) == {"admin", "supervisor", "interaction"} and not set(new.values()) & set(old.values())
    assert annotations[credentials.ROTATION_ANNOTATION] == "1"
    stored = await store.list_credentials(tenant)
    expiry = stored[key_id(old["admin"])].expires_at
    assert {k: v.expires_at for k, v in stored.items()} == {
        **{key_id(token): expiry for token in old.values()},
        **{key_id(token): 0.0 for token in new.values()},
    }
    when = credentials.rfc3339(expiry)
    assert annotations[credentials.PREVIOUS_EXPIRE_ANNOTATION] == when
    condition = rotated(patch)
    assert (condition["status"], condition["reason"]) == ("True", c.ROTATED)
    assert condition["message"] == (
        f"rotation 1: new tokens in Secret {tenant}-api-credentials; the previous ones work until {when}"
    )
    assert patch["status"]["credentials"] == {"rotation": 1, "previousExpireAt": when}

    for token in (*old.values(), *new.values()):  # within the grace, both sets work
        await auth.verify(token)
    at_expiry = Authenticator(store, cache_ttl_s=0, wall_clock=lambda: expiry)
    assert all([await refused(at_expiry, token) for token in old.values()])
    assert (await at_expiry.verify(new["admin"])).role == "admin"

    again = await reconcile(kube, memo, kopf.Body(kube.get("tenant", tenant)))  # a resume: nothing is re-issued
    assert secret_tokens(kube, tenant)[0] == new and rotated(again)["reason"] == c.ROTATED
    assert await credentials.sweep(store, tenant, now=expiry - 1) == []
    assert sorted(await credentials.sweep(store, tenant, now=expiry)) == sorted(key_id(t) for t in old.values())
    assert set(await store.list_credentials(tenant)) == {key_id(t) for t in new.values()}


async def test_after_the_grace_the_timer_deletes_the_old_credentials_and_the_condition_says_they_expired(
    kube, store, memo  # noqa: F811
):
    tenant = f"rot-{secrets.token_hex(3)}"
    await reconcile(kube, memo, apply_tenant(kube, tenant))
    old, _ = secret_tokens(kube, tenant)
    # A grace of 2 s, not 0: the expiry is rounded up to a whole second, and a reconcile that outlives it (a
    # busy machine) rightly reports nothing pending, which left this test without a previousExpireAt.
    patch = await reconcile(kube, memo, apply_tenant(kube, tenant, rotation=1, graceSeconds=2))
    status = patch["status"]
    due = status["credentials"]["previousExpireAt"]
    auth = Authenticator(store, cache_ttl_s=0)
    await eventually(lambda: refused(auth, old["admin"]), what="the old admin token refused (grace 2 s)")

    async def timer_reported():
        timer_patch = kopf.Patch()
        body = kopf.Body(kube.get("tenant", tenant))
        await credentials_expiry(body=body, status=status, memo=memo, patch=timer_patch, logger=log)
        return timer_patch.get("status")

    reported = await eventually(timer_reported, what="the expiry timer to act")
    condition = next(x for x in reported["conditions"] if x["type"] == c.CREDENTIALS_ROTATED)
    assert (condition["status"], condition["reason"]) == ("True", c.PREVIOUS_EXPIRED)
    assert condition["message"].endswith(f"the previous ones expired at {due}")
    assert reported["credentials"] == {"rotation": 1, "previousExpireAt": None}  # a merge patch: the field goes
    assert {c["type"] for c in reported["conditions"]} >= {c.READY, c.RECONCILED}, "the other conditions are kept"
    new, _ = secret_tokens(kube, tenant)
    assert set(await store.list_credentials(tenant)) == {key_id(t) for t in new.values()}


async def test_a_lower_rotation_is_refused_by_the_api_server_and_by_the_operator(kube, store, memo):  # noqa: F811
    tenant = f"rot-{secrets.token_hex(3)}"
    body = apply_tenant(kube, tenant, rotation=2)
    await reconcile(kube, memo, body)
    tokens, _ = secret_tokens(kube, tenant)

    lowered = {"apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": tenant},
               "spec": {"homeSite": "site-a", "credentials": {"rotation": 1}}}
    refusal = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(lowered), check=False)
    assert refusal.returncode != 0 and "credentials.rotation may only go up" in refusal.stderr, refusal.stderr
    assert kube.get("tenant", tenant)["spec"]["credentials"]["rotation"] == 2

    # A resource that reached the operator without the CRD's rule (an older CRD): the same rule, as a condition.
    raw = kube.get("tenant", tenant)
    raw["spec"]["credentials"]["rotation"] = 1
    patch = await reconcile(kube, memo, kopf.Body(raw))
    condition = rotated(patch)
    assert (condition["status"], condition["reason"]) == ("False", c.ROTATION_LOWERED)
    assert condition["message"] == (
        f"spec.credentials.rotation 1 is lower than rotation 2, which the tokens in Secret {tenant}-api-credentials"
        " already are; it may only go up (nothing was changed)"
    )
    assert secret_tokens(kube, tenant)[0] == tokens
    assert all(v.expires_at == 0 for v in (await store.list_credentials(tenant)).values())


async def test_a_role_missing_from_the_secret_is_issued_without_rotating_the_others(kube, store, memo):  # noqa: F811
    tenant = f"rot-{secrets.token_hex(3)}"
    body = apply_tenant(kube, tenant)
    await reconcile(kube, memo, body)
    config = await store.get_tenant_config(tenant)
    before, _ = secret_tokens(kube, tenant)
    ensure = dict(store=store, kube=memo.kube, config=config, spec=CredentialsSpec(), owner=body,
                  namespace=kube.namespace, now=0.0)
    await credentials.ensure(**ensure, roles=("admin", "interaction"))
    assert secret_tokens(kube, tenant)[0] == before
    kube.kubectl("patch", "secret", f"{tenant}-api-credentials", "--type=json",
                 "-p", '[{"op": "remove", "path": "/data/interaction"}]')
    await credentials.ensure(**ensure, roles=("admin", "interaction"))
    after, annotations = secret_tokens(kube, tenant)
    assert after["admin"] == before["admin"] and after["interaction"] != before["interaction"]
    assert annotations[credentials.ROTATION_ANNOTATION] == "0"
    assert (await Authenticator(store).verify(after["interaction"])).role == "interaction"


async def test_deleting_the_tenant_revokes_all_its_credentials(kube, store, memo):  # noqa: F811
    tenant = f"rot-{secrets.token_hex(3)}"
    await reconcile(kube, memo, apply_tenant(kube, tenant))
    tokens, _ = secret_tokens(kube, tenant)
    agent = await issue_token(store, tenant=tenant, role="agent", agent_id="alice")  # as `ccp token issue` does
    await tenant_deleted(name=tenant, memo=memo)
    auth = Authenticator(store)
    assert all([await refused(auth, token) for token in (*tokens.values(), agent)])
    assert await store.list_credentials(tenant) == {}
