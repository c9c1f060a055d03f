"""The kopf operator: Tenant, Trunk and Queue resources reconciled into the routing config in etcd.

Handlers do the I/O; ``specs`` builds (the same pure builders ``ccp apply``
uses). Each handler is idempotent: it writes the whole desired config, so a
restart mid-reconcile converges. An invalid spec is a PermanentError with an
``InvalidSpec`` condition; a missing tenant or an unreachable etcd is retried
with backoff. Deleting a queue first moves its waiting callers to its overflow
target (they keep their place in line); with no target it waits until the
callers are served. Run with ``kopf run -m ccp_operator.handlers`` (settings:
``ccp_operator.settings``). A Tenant's ``Ready`` is False while its ``CertificatesReady`` is
(``conditions.ready``): its pods cannot start with TLS.

Each create / update / resume reconcile is a span ``reconcile <Kind>``
(attributes ``ccp.namespace``, ``ccp.name``, ``ccp.outcome``: the Reconciled
condition's reason, or ``error``), exported as the ``OTEL_*`` variables say
(``ccp_acd.tracing``; service name ``ccp-operator`` by default).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import kopf
import kubernetes
from ccp_acd import redaction, tracing
from ccp_acd.api.auth import Role
from ccp_acd.domain.models import CallState
from ccp_acd.errors import FailedPrecondition, NotFound, StateUnavailable
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig
from opentelemetry import trace

from ccp_operator import children, credentials, sip_adapters, tls_secrets
from ccp_operator import conditions as c
from ccp_operator.kube import Kube, api_client
from ccp_operator.placement import place
from ccp_operator.settings import OperatorSettings
from ccp_operator.specs import SpecError, queue_config, tenant_config, trunk_config
from ccp_operator.specs.schema import GROUP, VERSION
from ccp_operator.specs.tenants import tenant_credentials

RETRY_DELAY_S = 5
PEERING_LIFETIME_S = 15
# How often a Tenant outside the operator's namespace has its TLS Secrets looked at between reconciles (renewal
# is due 30 days ahead by default: hourly is plenty), and how soon a reconcile that could not write them is retried.
TLS_CHECK_S = 3600
TLS_RETRY_S = 30
# How often a tenant whose rotated-out tokens are yet to expire is looked at (no I/O until they are due);
# the timer runs only for such tenants (its ``when`` filter).
CREDENTIALS_EXPIRY_CHECK_S = 5
# How soon a reconcile whose SIP adapter objects could not be written (refused, or an unusable key ring) is retried.
SIP_RETRY_S = 30


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/cleanup"
    settings.posting.level = logging.INFO  # INFO and up become Kubernetes events
    # kopf has configured its logging by now: its handlers, the Kubernetes-event poster included, mask caller
    # numbers and tokens (ccp_acd.redaction).
    redaction.install()
    # Peering (one active operator of several replicas): a standby takes over this long after the
    # active one stops sending keep-alives. The operator is not in the call path; 15 s is plenty.
    settings.peering.lifetime = PEERING_LIFETIME_S
    config = OperatorSettings()
    memo.store = await EtcdStore.connect(config.etcd_endpoint, security=config.etcd_security())
    memo.kube = Kube(api_client())
    memo.acd = config.acd_template()
    memo.tls = config.tls_issuer()
    memo.tracer_provider = tracing.tracer_provider_from_env(service_name="ccp-operator", attributes={})
    memo.tracer = memo.tracer_provider.get_tracer("ccp_operator")


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """In a pod: the service account; elsewhere: ``KUBECONFIG`` as it is now (not at import time)."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await memo.store.close()
    memo.kube.close()
    tracing.shutdown(memo.tracer_provider)


def _resource(body: kopf.Body) -> dict[str, Any]:
    return {"metadata": dict(body["metadata"]), "spec": dict(body.get("spec") or {})}


def _report(patch: kopf.Patch, status: dict, generation: int, *, ready: bool, reason: str, message: str) -> None:
    conditions = status.get("conditions")
    conditions = c.set_condition(conditions, c.condition(c.READY, ready, reason, message, generation))
    conditions = c.set_condition(conditions, c.condition(c.RECONCILED, ready, reason, message, generation))
    patch.status["conditions"] = conditions
    patch.status["observedGeneration"] = generation


async def _reconcile(body, patch, status, memo, write) -> None:
    metadata = body["metadata"]
    attributes = {"ccp.namespace": metadata.get("namespace") or "", "ccp.name": metadata.get("name") or ""}
    tracer = memo.get("tracer") or trace.NoOpTracer()  # handlers called without the startup (tests) trace nothing
    with tracer.start_as_current_span(f"reconcile {body.get('kind', '')}", attributes=attributes) as span:
        try:
            await _apply(body, patch, status, memo, write)
        finally:
            reconciled = [x for x in patch.get("status", {}).get("conditions") or () if x["type"] == c.RECONCILED]
            span.set_attribute("ccp.outcome", reconciled[0]["reason"] if reconciled else "error")


async def _apply(body, patch, status, memo, write) -> None:
    generation = body["metadata"].get("generation", 0)
    try:
        message = await write(memo.store)
    except SpecError as e:
        _report(patch, status, generation, ready=False, reason=c.INVALID_SPEC, message=str(e))
        raise kopf.PermanentError(str(e)) from None
    except _TenantMissing as e:
        _report(patch, status, generation, ready=False, reason=c.TENANT_MISSING, message=str(e))
        raise kopf.TemporaryError(str(e), delay=RETRY_DELAY_S) from None
    except StateUnavailable as e:
        _report(patch, status, generation, ready=False, reason=c.STATE_UNAVAILABLE, message=str(e))
        raise kopf.TemporaryError(str(e), delay=RETRY_DELAY_S) from None
    except kubernetes.client.ApiException as e:
        message = f"Kubernetes API: {e.status} {e.reason}"
        _report(patch, status, generation, ready=False, reason=c.KUBERNETES_UNAVAILABLE, message=message)
        raise kopf.TemporaryError(message, delay=RETRY_DELAY_S) from None
    _report(patch, status, generation, ready=True, reason=c.APPLIED, message=message)


class _TenantMissing(Exception):
    pass


async def _require_tenant(store: EtcdStore, tenant: str) -> TenantConfig:
    config = await store.get_tenant_config(tenant)
    if config is None:
        raise _TenantMissing(f"tenant {tenant!r} has no Tenant resource (yet)")
    return config


@kopf.on.resume(GROUP, VERSION, "tenants")
@kopf.on.create(GROUP, VERSION, "tenants")
@kopf.on.update(GROUP, VERSION, "tenants", field="spec")
async def tenant_changed(body, namespace, patch, status, memo, **_: Any) -> None:
    outcomes: list[credentials.Outcome] = []
    certificates: list[tls_secrets.Outcome] = []
    adapters: list[sip_adapters.Outcome] = []

    async def write(store: EtcdStore) -> str:
        config = tenant_config(_resource(body))
        await store.put_tenant_config(config)
        certificates.append(await _ensure_tls(memo, config, body, namespace))
        objects = children.children(config, certificates[0].template)
        outcomes.append(await _ensure_credentials(store, memo.kube, config, body, namespace))
        for obj in objects:
            obj["metadata"]["namespace"] = namespace
            kopf.adopt(obj, owner=body)
            await memo.kube.apply(obj)
        # After the credentials Secret: the adapters mount its interaction token, and roll when it is rotated.
        adapters.append(await sip_adapters.ensure(memo.kube, config, certificates[0].template, namespace=namespace,
                                                  owner=body, credentials_rotation=outcomes[0].rotation,
                                                  now=time.time()))
        patch.status["activeSite"] = config.home_site
        secret = children.credentials_secret_name(config.name)
        return (f"config written; ACD StatefulSets and SIP adapters for {', '.join(children.sites(config))}; "
                f"credentials in {secret}")

    await _reconcile(body, patch, status, memo, write)
    _report_credentials(patch, body, outcomes[0], now=time.time())
    sip_problem = _report_sip(patch, body, adapters[0])
    _report_tls(patch, body, certificates[0])
    if sip_problem:
        raise kopf.TemporaryError(sip_problem, delay=SIP_RETRY_S)


def _report_sip(patch: kopf.Patch, body, outcome: sip_adapters.Outcome) -> str | None:
    """The SipReady condition; its message while it is False (the caller raises once every condition is set)."""
    found = sip_adapters.condition(outcome, tenant=body["metadata"]["name"],
                                   generation=body["metadata"].get("generation", 0))
    patch.status["conditions"] = c.set_condition(patch.status.get("conditions"), found)
    return found["message"] if outcome.problems else None


async def _ensure_tls(memo: kopf.Memo, config: TenantConfig, body, namespace: str) -> tls_secrets.Outcome:
    issuer = memo.get("tls") or tls_secrets.Issuer()  # handlers called without the startup (tests): as configured
    return await tls_secrets.ensure(memo.kube, issuer, memo.acd, tenant=config, namespace=namespace, owner=body,
                                    now=time.time())


def _report_tls(patch: kopf.Patch, body, outcome: tls_secrets.Outcome) -> None:
    """The CertificatesReady condition, and Ready as it calls for (``conditions.ready``); a TemporaryError (after
    everything else was written) while it is False."""
    generation = body["metadata"].get("generation", 0)
    conditions = patch.status.get("conditions")
    if outcome.managed:
        found = tls_secrets.condition(outcome, generation=generation)
        conditions = c.set_condition(conditions, found)
    elif conditions:
        # No longer the operator's to write (it was reconfigured without a CA or TLS): a CertificatesReady left
        # from before would hold Ready False for ever.
        conditions = [x for x in conditions if x.get("type") != c.CERTIFICATES_READY]
    ready = c.ready(conditions, generation=generation)
    if ready is not None:
        conditions = c.set_condition(conditions, ready)
    if conditions is not None:
        patch.status["conditions"] = conditions
    if outcome.managed and outcome.problems:
        raise kopf.TemporaryError(found["message"], delay=TLS_RETRY_S)


@kopf.timer(GROUP, VERSION, "tenants", interval=TLS_CHECK_S, initial_delay=TLS_CHECK_S)
async def tls_renewal(body, namespace, status, memo, patch, logger, **_: Any) -> None:
    """Between reconciles: re-issue a node certificate due for renewal, re-copy a changed etcd client certificate,
    and roll the tenant's StatefulSets onto them. Nothing for tenants in the operator's namespace."""
    if body["metadata"].get("deletionTimestamp"):
        return
    try:
        config = tenant_config(_resource(body))
    except SpecError:
        return  # the change handler reports it
    outcome = await _ensure_tls(memo, config, body, namespace)
    if not outcome.managed:
        return
    if outcome.issued:
        rotation = (status.get("credentials") or {}).get("rotation", 0)
        adapters = sip_adapters.statefulsets(config, outcome.template, namespace=namespace,
                                             credentials_rotation=rotation)
        for obj in [*children.children(config, outcome.template), *adapters]:
            if obj["kind"] == "StatefulSet":
                obj["metadata"]["namespace"] = namespace
                kopf.adopt(obj, owner=body)
                await memo.kube.apply(obj)
        logger.info("TLS Secrets renewed; the ACD StatefulSets and SIP adapters roll onto them")
    patch.status["conditions"] = status.get("conditions")
    _report_tls(patch, body, outcome)


# The roles the operator issues a token for: one key each in the credentials Secret.
ISSUED_ROLES: tuple[Role, ...] = ("admin", "supervisor", "interaction")


async def _ensure_credentials(store: EtcdStore, kube: Kube, config, body, namespace: str) -> credentials.Outcome:
    """Issue the tenant's API tokens once, and anew per rotation; only their hashes go to etcd, the tokens to a
    Secret. Expired ones are deleted from etcd on the way."""
    now = time.time()
    spec = tenant_credentials(_resource(body))
    outcome = await credentials.ensure(
        store, kube, config=config, spec=spec, roles=ISSUED_ROLES, owner=body, namespace=namespace, now=now
    )
    await credentials.sweep(store, config.name, now=now)
    return outcome


def _report_credentials(patch: kopf.Patch, body, outcome: credentials.Outcome, *, now: float) -> None:
    secret = children.credentials_secret_name(body["metadata"]["name"])
    generation = body["metadata"].get("generation", 0)
    found = credentials.condition(outcome, secret=secret, generation=generation, now=now)
    patch.status["conditions"] = c.set_condition(patch.status.get("conditions"), found)
    patch.status["credentials"] = credentials.status(outcome, now=now)


def _expiry_pending(status, **_: Any) -> bool:
    return bool((status.get("credentials") or {}).get("previousExpireAt"))


@kopf.timer(GROUP, VERSION, "tenants", interval=CREDENTIALS_EXPIRY_CHECK_S, when=_expiry_pending)
async def credentials_expiry(body, status, memo, patch, logger, **_: Any) -> None:
    """Once the rotated-out tokens' expiry has passed: delete them from etcd and say so in the condition."""
    due = credentials.epoch(status["credentials"]["previousExpireAt"])
    now = time.time()
    if due > now or body["metadata"].get("deletionTimestamp"):
        return
    deleted = await credentials.sweep(memo.store, body["metadata"]["name"], now=now)
    outcome = credentials.Outcome(rotation=status["credentials"].get("rotation", 0), previous_expire_at=int(due))
    patch.status["conditions"] = status.get("conditions")
    _report_credentials(patch, body, outcome, now=now)
    logger.info("the previous credentials expired: %d deleted from etcd", len(deleted))


@kopf.on.delete(GROUP, VERSION, "tenants")
async def tenant_deleted(name, memo, **_: Any) -> None:
    """After its queues (which drain their callers first); the children go with the owner reference."""
    store: EtcdStore = memo.store
    queues = await store.get_queue_configs(name)
    if queues:
        raise kopf.TemporaryError(f"tenant {name} still has queues: {', '.join(sorted(queues))}", delay=RETRY_DELAY_S)
    for trunk in await store.get_trunk_configs(name):
        await store.delete_trunk_config(name, trunk)
    await store.revoke_credentials(name)  # every token of the tenant, the operator's and `ccp token issue`'s
    await store.delete_tenant_config(name)


@kopf.on.resume(GROUP, VERSION, "trunks")
@kopf.on.create(GROUP, VERSION, "trunks")
@kopf.on.update(GROUP, VERSION, "trunks", field="spec")
async def trunk_changed(body, patch, status, memo, **_: Any) -> None:
    async def write(store: EtcdStore) -> str:
        tenant, config = trunk_config(_resource(body))
        await _require_tenant(store, tenant)
        await store.put_trunk_config(tenant, config)
        return f"trunk {config.name} of tenant {tenant} written"

    await _reconcile(body, patch, status, memo, write)


@kopf.on.delete(GROUP, VERSION, "trunks")
async def trunk_deleted(name, spec, memo, **_: Any) -> None:
    await memo.store.delete_trunk_config(spec["tenant"], name)


@kopf.on.resume(GROUP, VERSION, "queues")
@kopf.on.create(GROUP, VERSION, "queues")
@kopf.on.update(GROUP, VERSION, "queues", field="spec")
async def queue_changed(body, patch, status, memo, **_: Any) -> None:
    async def write(store: EtcdStore) -> str:
        tenant, config = queue_config(_resource(body))
        owner = await _require_tenant(store, tenant)
        where = place(owner)
        await store.put_queue_config(tenant, config)
        await store.put_queue_placement(tenant, config.name, where)
        patch.status["homeSite"] = owner.home_site
        patch.status["ownerSite"] = where.owner_site
        patch.status["standbySites"] = list(where.standby_sites)
        return f"queue {config.name} of tenant {tenant} written; owned by {where.owner_site}"

    await _reconcile(body, patch, status, memo, write)


@kopf.on.delete(GROUP, VERSION, "queues")
async def queue_deleted(name, spec, body, status, memo, patch, logger, **_: Any) -> None:
    """Drain, then delete: waiting callers move to the overflow target, keeping their place."""
    store: EtcdStore = memo.store
    tenant = spec["tenant"]
    configs = await store.get_queue_configs(tenant)
    queue = configs.get(name)
    targets = [] if queue is None else [
        a.target_queue for a in (queue.on_max_wait, queue.on_no_agents, queue.on_max_length)
        if a.target_queue and a.target_queue in configs
    ]
    view = await store.load_live(tenant)
    waiting = [call for call in view.calls.values() if call.queue == name and call.state is CallState.QUEUED]
    left = 0
    for call in waiting:
        if not targets:
            left += 1
            continue
        try:
            await store.move_queued(tenant, call.id, to_queue=targets[0], reason=f"queue {name} deleted", now=time.time())
        except (FailedPrecondition, NotFound):
            left += 1  # offered right now, or already gone: look again on the retry
    if left:
        message = f"{left} caller(s) still waiting in {name}"
        if not targets:
            message += " (no overflow target: waiting for agents to answer them)"
        generation = body["metadata"].get("generation", 0)
        patch.status["conditions"] = c.set_condition(
            status.get("conditions"), c.condition(c.DEGRADED, True, c.DRAINING, message, generation)
        )
        raise kopf.TemporaryError(message, delay=RETRY_DELAY_S)
    if waiting:
        logger.info("moved %d waiting caller(s) from %s to %s", len(waiting), name, targets[0])
    await store.delete_queue_config(tenant, name)


@kopf.timer(GROUP, VERSION, "queues", interval=5, idle=2)
async def queue_figures(spec, name, memo, patch, **_: Any) -> None:
    """Live figures for `kubectl get queues`: waiting callers, longest wait, agents logged in."""
    store: EtcdStore = memo.store
    tenant = spec["tenant"]
    view = await store.load_live(tenant)
    now = time.time()
    waiting = [call for call in view.calls.values() if call.queue == name and call.state is CallState.QUEUED]
    patch.status["waiting"] = len(waiting)
    patch.status["longestWaitSeconds"] = round(max((call.waited(now) for call in waiting), default=0.0), 1)
    patch.status["agentsLoggedIn"] = sum(1 for a in view.agents.values() if a.logged_in)
    where = await store.get_queue_placement(tenant, name)
    if where is not None:
        patch.status["ownerSite"] = where.owner_site
