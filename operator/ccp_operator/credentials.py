"""A tenant's API tokens: issued into its credentials Secret, rotated when ``spec.credentials.rotation`` goes up.

The Secret (``{tenant}-api-credentials``, one key per role) holds the tokens;
etcd holds only their sha256 (``ccp_acd.api.auth``). The Secret's annotation
``ccp.dev/credentials-rotation`` records which rotation its tokens are; it is
the operator's memory, so a restart never re-issues. When the spec asks for a
higher rotation, a new token per role is issued, the old ones (their key ids
read from the Secret's tokens) get ``expires_at = now + graceSeconds`` in etcd,
and the Secret is rewritten with the new tokens. A lower rotation is refused
(the CRD's transition rule refuses it already; this is the same rule for
resources that reach the operator another way) and nothing changes.

Expired credentials are deleted from etcd by ``sweep``: on every reconcile of
the tenant, and by the operator's timer once the rotated-out tokens' expiry
has passed (``handlers.credentials_expiry``). Nodes refuse them from their
expiry on whether or not they are deleted yet.

Crash safety: the steps are ordered issue, expire old, write Secret. A crash
before the Secret is written leaves the annotation at the old rotation, so the
next reconcile rotates again: the first new set is then held by nobody (an
unusable hash in etcd, never expiring; ``ccp`` can list and delete it), and the
old tokens keep the earlier of their two expiries.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf
from ccp_acd.api.auth import Role, issue_token
from ccp_acd.state.store import Store, TenantConfig

from ccp_operator import children
from ccp_operator import conditions as c
from ccp_operator.kube import Kube
from ccp_operator.specs.schema import CredentialsSpec

log = logging.getLogger(__name__)

ROTATION_ANNOTATION = "ccp.dev/credentials-rotation"
PREVIOUS_EXPIRE_ANNOTATION = "ccp.dev/previous-credentials-expire-at"


@dataclass(frozen=True)
class Outcome:
    """Where a tenant's tokens stand after a reconcile."""

    rotation: int  # the rotation the Secret's tokens are
    previous_expire_at: int = 0  # epoch s when the tokens that rotation replaced stop working; 0: none replaced
    refused_rotation: int | None = None  # the spec asked for this lower rotation: refused, nothing changed


def rfc3339(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(rfc3339_time: str) -> float:
    return datetime.fromisoformat(rfc3339_time).timestamp()


def condition(outcome: Outcome, *, secret: str, generation: int, now: float) -> dict[str, Any]:
    """The ``CredentialsRotated`` condition (pure)."""
    if outcome.refused_rotation is not None:
        message = (
            f"spec.credentials.rotation {outcome.refused_rotation} is lower than rotation {outcome.rotation}, which the"
            f" tokens in Secret {secret} already are; it may only go up (nothing was changed)"
        )
        return c.condition(c.CREDENTIALS_ROTATED, False, c.ROTATION_LOWERED, message, generation)
    if not outcome.previous_expire_at:
        message = f"rotation {outcome.rotation}: the tokens in Secret {secret} are the first issued"
        return c.condition(c.CREDENTIALS_ROTATED, False, c.NOT_ROTATED, message, generation)
    when = rfc3339(outcome.previous_expire_at)
    if outcome.previous_expire_at > now:
        message = f"rotation {outcome.rotation}: new tokens in Secret {secret}; the previous ones work until {when}"
        return c.condition(c.CREDENTIALS_ROTATED, True, c.ROTATED, message, generation)
    message = f"rotation {outcome.rotation}: new tokens in Secret {secret}; the previous ones expired at {when}"
    return c.condition(c.CREDENTIALS_ROTATED, True, c.PREVIOUS_EXPIRED, message, generation)


def status(outcome: Outcome, *, now: float) -> dict[str, Any]:
    """``status.credentials``: ``previousExpireAt`` only while it is ahead (the timer sweeps when it passes)."""
    pending = outcome.previous_expire_at > now
    return {"rotation": outcome.rotation, "previousExpireAt": rfc3339(outcome.previous_expire_at) if pending else None}


def _tokens(secret: dict[str, Any]) -> dict[str, str]:
    tokens = {}
    for role, value in (secret.get("data") or {}).items():
        try:
            tokens[role] = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            log.warning("Secret %s: key %s is not a token; it will be replaced", secret["metadata"]["name"], role)
    return tokens


def _key_id(tenant: str, token: str) -> str | None:
    parts = token.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == tenant and parts[1] else None


async def _write_secret(kube: Kube, *, config: TenantConfig, tokens: dict[str, str], outcome: Outcome, owner,
                        namespace: str) -> None:
    secret = children.credentials_secret(config, tokens)
    secret["metadata"]["namespace"] = namespace
    secret["metadata"]["annotations"] = {
        ROTATION_ANNOTATION: str(outcome.rotation),
        PREVIOUS_EXPIRE_ANNOTATION: rfc3339(outcome.previous_expire_at) if outcome.previous_expire_at else "",
    }
    kopf.adopt(secret, owner=owner)
    await kube.apply(secret)


async def _issue(store: Store, tenant: str, roles: Sequence[Role]) -> dict[str, str]:
    return {role: await issue_token(store, tenant=tenant, role=role) for role in roles}


async def _expire(store: Store, tenant: str, key_ids: Sequence[str], *, at: int) -> None:
    for key_id in key_ids:
        credential = await store.get_credential(tenant, key_id)
        if credential is not None and not 0 < credential.expires_at <= at:  # keep an earlier expiry
            await store.put_credential(tenant, key_id, dataclasses.replace(credential, expires_at=at))


async def ensure(
    store: Store,
    kube: Kube,
    *,
    config: TenantConfig,
    spec: CredentialsSpec,
    roles: Sequence[Role],
    owner: Any,
    namespace: str,
    now: float,
) -> Outcome:
    """Issue the tenant's tokens once, a missing role's token, or a new set when the rotation went up."""
    name = children.credentials_secret_name(config.name)
    secret = await kube.get("v1", "Secret", name, namespace)
    if secret is None:
        outcome = Outcome(rotation=spec.rotation)
        tokens = await _issue(store, config.name, roles)
        await _write_secret(kube, config=config, tokens=tokens, outcome=outcome, owner=owner, namespace=namespace)
        return outcome
    annotations = secret["metadata"].get("annotations") or {}
    # A Secret from before rotation existed has no annotation: its tokens are rotation 0.
    issued = int(annotations.get(ROTATION_ANNOTATION) or 0)
    previous = annotations.get(PREVIOUS_EXPIRE_ANNOTATION)
    current = Outcome(rotation=issued, previous_expire_at=int(epoch(previous)) if previous else 0)
    tokens = _tokens(secret)
    if spec.rotation < issued:
        return dataclasses.replace(current, refused_rotation=spec.rotation)
    if spec.rotation == issued:
        missing = [role for role in roles if role not in tokens]
        if missing:  # a role the operator issues now that it did not when the Secret was written
            tokens |= await _issue(store, config.name, missing)
            await _write_secret(kube, config=config, tokens=tokens, outcome=current, owner=owner, namespace=namespace)
        return current
    outcome = Outcome(rotation=spec.rotation, previous_expire_at=math.ceil(now + spec.grace_seconds))
    new_tokens = await _issue(store, config.name, roles)
    old = [key_id for token in tokens.values() if (key_id := _key_id(config.name, token))]
    await _expire(store, config.name, old, at=outcome.previous_expire_at)
    await _write_secret(kube, config=config, tokens=new_tokens, outcome=outcome, owner=owner, namespace=namespace)
    log.info("tenant %s: credentials rotation %d issued; %d old token(s) expire at %s",
             config.name, spec.rotation, len(old), rfc3339(outcome.previous_expire_at))
    return outcome


async def sweep(store: Store, tenant: str, *, now: float) -> list[str]:
    """Delete the tenant's expired credentials from etcd; their key ids."""
    expired = [key_id for key_id, credential in (await store.list_credentials(tenant)).items() if credential.expired(now)]
    for key_id in expired:
        await store.delete_credential(tenant, key_id)
    return expired
