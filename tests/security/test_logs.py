"""No secret and no caller number in logs: a realistic session against real node processes at DEBUG, then
every captured log is grepped.

The session: an admin blocklists a number and a prefix, blocklisted callers are refused, callers from
known numbers (E.164 and SIP URI, with display names) are offered to an agent on another node, accepted
and completed, caller history is looked up, invalid requests and wrong or garbled tokens are refused, a
peer presents the cluster token, the blocklist entries are removed. The nodes' stdout and stderr (one
file each) must then hold none of the numbers (with or without '+', nor their national form), display
names, issued tokens or their secrets, nor the cluster token.

Where the sources are clean nothing is there to mask, so the filter's own work is shown in-process:
an unexpected error whose text carries a caller number and a token, logged with its traceback by a real
node's error path, comes out masked (markers present, values absent); and the operator's handlers
(kopf's log and its Kubernetes-event poster) get the filter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path

import grpc
import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccp_acd.redaction import NUMBER, SECRET, TOKEN, RedactingFilter, install, redact
from ccp_acd.server import start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig
from ccpapi.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    common_pb2,
    interaction_pb2,
    interaction_pb2_grpc,
    site_pb2,
    site_pb2_grpc,
)
from pydantic import SecretStr

from tests.helpers import bearer, eventually, scaled

pytestmark = pytest.mark.etcd

CLUSTER_TOKEN = f"cluster-{secrets.token_urlsafe(24)}"
# (address, display name): the callers of the session.
E164 = ("+4930123456789", "Erika Mustermann")
SIP = ("sip:+441632960123@carrier.example", "Hans Beispiel")
BLOCKED = "+4917612345678"
PREFIX = "+4915199*"
PREFIXED_CALLER = "+4915199887766"
BAD_NUMBER = "+49 170 9999999"
BAD_PATTERN = "+4930555*1234*"
REMOVED_UNKNOWN = "+4917600000000"


def number_forms(number: str) -> list[str]:
    """The number as written, without '+', and in national form (trunk prefix 0 after the country code)."""
    digits = number.lstrip("+").replace(" ", "")
    country = 2  # +49, +44
    return [number, digits, "0" + digits[country:]]


FORBIDDEN_NUMBERS = [
    *number_forms(E164[0]),
    *number_forms("+441632960123"),
    *number_forms(BLOCKED),
    *number_forms(PREFIXED_CALLER),
    *number_forms(REMOVED_UNKNOWN),
    BAD_NUMBER, "170 9999999", "1709999999",
    "4915199",  # the blocklisted prefix
    "4930555",  # the invalid pattern's digits
]
DISPLAY_NAMES = [E164[1], SIP[1], "Mustermann", "Beispiel"]


def call(address: str, display_name: str = "") -> interaction_pb2.EnqueueRequest:
    return interaction_pb2.EnqueueRequest(
        queue="support", channel=common_pb2.CHANNEL_VOICE,
        caller=common_pb2.Caller(address=address, display_name=display_name),
    )


async def refused(rpc, request, *, metadata, code: grpc.StatusCode) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await rpc(request, metadata=metadata)
    assert raised.value.code() is code, raised.value.details()
    return raised.value.details()


async def new_tenant(store: EtcdStore) -> tuple[str, dict[str, str]]:
    tenant = f"t-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site="site-a"))
    await store.put_queue_config(tenant, QueueConfig(name="support", wrap_up_s=0))
    tokens = {
        "admin": await issue_token(store, tenant=tenant, role="admin"),
        "interaction": await issue_token(store, tenant=tenant, role="interaction"),
        "agent": await issue_token(store, tenant=tenant, role="agent", agent_id="alice"),
    }
    return tenant, tokens


async def session(a: str, b: str, store: EtcdStore) -> tuple[str, dict[str, str], list[str], list[str]]:
    """Drive the session against nodes at ``a`` (agent) and ``b`` (admin, calls); return the tenant, its tokens,
    the garbled tokens presented, and the status messages clients received."""
    tenant, tokens = await new_tenant(store)
    admin, interaction, alice = (bearer(tokens[r]) for r in ("admin", "interaction", "agent"))
    messages: list[str] = []
    garbled = [
        f"{tenant}.deadbeefdeadbeef.{secrets.token_urlsafe(32)}",  # well-formed, unknown credential
        tokens["admin"][:-4] + "AAAA",  # right key id, wrong secret
        f"not-a-token-{secrets.token_urlsafe(16)}",
    ]
    async with grpc.aio.insecure_channel(a) as to_a, grpc.aio.insecure_channel(b) as to_b:
        agents = agent_pb2_grpc.AgentServiceStub(to_a)
        admin_b = admin_pb2_grpc.AdminServiceStub(to_b)
        calls = interaction_pb2_grpc.InteractionServiceStub(to_b)
        sites = site_pb2_grpc.SiteServiceStub(to_b)

        await admin_b.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice")), metadata=admin)
        for pattern in (BLOCKED, PREFIX):
            await admin_b.AddBlockedCaller(
                admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern=pattern, reason="abuse")),
                metadata=admin,
            )
        for address in (BLOCKED, PREFIXED_CALLER):
            messages.append(await refused(
                calls.Enqueue, call(address, "Blocked Person"), metadata=interaction,
                code=grpc.StatusCode.FAILED_PRECONDITION,
            ))
        messages.append(await refused(
            admin_b.AddBlockedCaller,
            admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern=BAD_PATTERN)),
            metadata=admin, code=grpc.StatusCode.INVALID_ARGUMENT,
        ))
        messages.append(await refused(
            calls.Enqueue, call(BAD_NUMBER, E164[1]), metadata=interaction, code=grpc.StatusCode.INVALID_ARGUMENT
        ))
        messages.append(await refused(
            admin_b.GetCallerHistory, admin_pb2.GetCallerHistoryRequest(address=BAD_NUMBER), metadata=admin,
            code=grpc.StatusCode.INVALID_ARGUMENT,
        ))
        for token in garbled:
            messages.append(await refused(
                admin_b.ListBlockedCallers, admin_pb2.ListBlockedCallersRequest(), metadata=bearer(token),
                code=grpc.StatusCode.UNAUTHENTICATED,
            ))
        messages.append(await refused(
            sites.HandOverCall,
            site_pb2.HandOverCallRequest(tenant=tenant, interaction_id="0000-none", from_site="site-b"),
            metadata=bearer(CLUSTER_TOKEN), code=grpc.StatusCode.NOT_FOUND,
        ))

        await agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=alice)
        await agents.SetState(
            agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE), metadata=alice
        )
        offers: asyncio.Queue[agent_pb2.OfferEvent] = asyncio.Queue()
        stream = agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="alice"), metadata=alice)

        async def pump() -> None:
            async for event in stream:
                if event.HasField("offer"):
                    offers.put_nowait(event.offer)

        reader = asyncio.create_task(pump())
        try:
            for address, name in (E164, SIP):
                queued = await calls.Enqueue(call(address, name), metadata=interaction)
                offer = await asyncio.wait_for(offers.get(), timeout=scaled(15))
                assert offer.interaction.id == queued.id and offer.interaction.caller.address == address
                await agents.AcceptOffer(
                    agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=queued.id), metadata=alice
                )
                history = await agents.GetCallerHistory(
                    agent_pb2.AgentCallerHistoryRequest(agent_id="alice", interaction_id=queued.id), metadata=alice
                )
                assert history.address == address
                await agents.Complete(
                    agent_pb2.CompleteRequest(agent_id="alice", interaction_id=queued.id, disposition="resolved"),
                    metadata=alice,
                )
        finally:
            stream.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

        async def filed() -> bool:
            found = await admin_b.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=E164[0]), metadata=admin)
            return len(found.calls) == 1

        await eventually(filed, what="the caller's completed call in their history")
        for pattern in (BLOCKED, PREFIX):
            await admin_b.RemoveBlockedCaller(admin_pb2.RemoveBlockedCallerRequest(pattern=pattern), metadata=admin)
        messages.append(await refused(
            admin_b.RemoveBlockedCaller, admin_pb2.RemoveBlockedCallerRequest(pattern=REMOVED_UNKNOWN),
            metadata=admin, code=grpc.StatusCode.NOT_FOUND,
        ))
    return tenant, tokens, garbled, messages


def leaks(text: str, forbidden: list[str]) -> list[str]:
    return [value for value in forbidden if value in text]


async def test_no_caller_number_name_token_or_cluster_token_in_node_logs(node_processes, store):
    env = {"CCP_LOG_LEVEL": "DEBUG", "CCP_CLUSTER_TOKEN": CLUSTER_TOKEN, "CCP_RETENTION_INTERVAL_S": "1"}
    a, b = node_processes("logs-a", env=env), node_processes("logs-b", env=env)

    tenant, tokens, garbled, messages = await session(a.address, b.address, store)
    a.stop()
    b.stop()

    secrets_ = [
        *tokens.values(), *(t.rsplit(".", 1)[-1] for t in tokens.values()),
        *garbled, *(t.rsplit(".", 1)[-1] for t in garbled), CLUSTER_TOKEN,
    ]
    forbidden = [*FORBIDDEN_NUMBERS, *DISPLAY_NAMES, *secrets_]
    logs = {Path(node.log_path).name: node.log() for node in (a, b)}
    for name, text in logs.items():
        # Not vacuous: the nodes logged the session at DEBUG (routing commits of this tenant's offers).
        assert "serving on" in text and " DEBUG " in text, f"{name} did not log at DEBUG:\n{text[-2000:]}"
        assert leaks(text, forbidden) == [], f"{name} leaks {leaks(text, forbidden)}"
    assert f"{tenant}: committed" in "".join(logs.values())
    # What clients were told (and their logs and traces keep) names no number, name or token either.
    assert leaks("\n".join(messages), forbidden) == [], messages


async def test_an_error_logged_with_its_traceback_is_masked(etcd_server, store, caplog, monkeypatch):
    """A real node's unexpected-error path logs the exception's text and traceback; both come out masked."""
    tenant, tokens = await new_tenant(store)
    settings = NodeSettings(
        site="site-a", node_id=f"logs-{secrets.token_hex(3)}", grpc_listen="127.0.0.1:0", plaintext=True,
        etcd_endpoint=etcd_server.endpoint, lease_ttl_s=2, dispatch_interval_s=0.1, tenants=tenant,
        cluster_token=SecretStr(CLUSTER_TOKEN),
    )
    node = await start_node(settings)
    redacting = RedactingFilter([CLUSTER_TOKEN])
    caplog.handler.addFilter(redacting)
    caplog.set_level(logging.DEBUG)
    leaked = f"history index of {E164[0]} / sip:+441632960123@carrier.example for Bearer {tokens['admin']} ({CLUSTER_TOKEN})"

    async def broken(*_args, **_kwargs):
        raise RuntimeError(leaked)

    monkeypatch.setattr(node.store, "caller_history", broken)
    try:
        async with grpc.aio.insecure_channel(node.address) as channel:
            await refused(
                admin_pb2_grpc.AdminServiceStub(channel).GetCallerHistory,
                admin_pb2.GetCallerHistoryRequest(address=E164[0]), metadata=bearer(tokens["admin"]),
                code=grpc.StatusCode.INTERNAL,
            )
    finally:
        caplog.handler.removeFilter(redacting)
        await node.stop(grace_s=0.5)

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "failed unexpectedly" in r.getMessage()]
    assert len(errors) == 1
    text = caplog.text
    assert "RuntimeError: history index of " in text  # the traceback is there ...
    assert NUMBER in text and "sip:<redacted>@carrier.example" in text and TOKEN in text and SECRET in text
    secret_part = tokens["admin"].rsplit(".", 1)[-1]
    assert leaks(text, [*number_forms(E164[0]), "441632960123", tokens["admin"], secret_part, CLUSTER_TOKEN]) == []


def test_the_operators_log_handlers_and_event_poster_redact():
    import kopf
    from kopf._core.engines.posting import K8sPoster

    filter_ = install(["op-secret-123456"])
    try:
        poster = next(h for h in logging.getLogger("kopf.objects").handlers if isinstance(h, K8sPoster))
        # One redacting filter per handler: an earlier install (the operator's startup in another test) may have
        # put its own there, and this install then adds the secret to it (the masking below shows it did).
        assert len([f for f in poster.filters if isinstance(f, RedactingFilter)]) == 1
        settings = kopf.OperatorSettings()
        settings.posting.loggers = True  # log records become Kubernetes events (kopf's default: off)
        record = logging.LogRecord(
            "kopf.objects", logging.INFO, __file__, 1, "moved caller %s (%s) with op-secret-123456", (E164[0], SIP[0]),
            None,
        )
        record.settings, record.k8s_ref = settings, {"kind": "Queue", "name": "support"}
        assert poster.filter(record)  # would be posted as an event ...
        assert record.getMessage() == f"moved caller {NUMBER} (sip:<redacted>@carrier.example) with {SECRET}"
    finally:
        for name in ("", "kopf.objects"):
            for handler in logging.getLogger(name).handlers:
                handler.removeFilter(filter_)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from +4930123456789 now", f"from {NUMBER} now"),
        ("national 030123456789.", f"national {NUMBER}."),
        ("digits 4930123456789,", f"digits {NUMBER},"),
        ("spaced +49 30 1234567 and +49-30-1234567", f"spaced {NUMBER} and {NUMBER}"),
        ("<sip:+4930123456@carrier.example;user=phone>", "<sip:<redacted>@carrier.example;user=phone>"),
        ("tel:+1-555-0100", "tel:<redacted>"),
        ("key /ccp/v1/tenants/acme/blocklist/+4930123456789", f"key /ccp/v1/tenants/acme/blocklist/{NUMBER}"),
        ("token acme.0123abcd.abcdefghijklmnopqrstuvwxyz0123", f"token acme.0123abcd.{TOKEN}"),
        ("authorization: Bearer xyz.abc", f"authorization: Bearer {TOKEN}"),
        # Left alone: call ids (a 20-digit clock, 8 hex that may be digits), decimals, times, ports, short codes.
        ("call 01764215678123456789-12345678 ended", "call 01764215678123456789-12345678 ended"),
        ("at 1764215678.123 took 0.123456789 s", "at 1764215678.123 took 0.123456789 s"),
        ("2026-11-27 04:30:35,123 port 50051 +1 2", "2026-11-27 04:30:35,123 port 50051 +1 2"),
    ],
)
def test_redact_masks_numbers_uris_and_tokens_and_leaves_ids(text, expected):
    assert redact(text) == expected


def test_secrets_are_masked_by_value_and_short_ones_ignored():
    assert redact("joined with s3cr3t-value!", ["s3cr3t-value"]) == f"joined with {SECRET}!"
    assert redact("a b c", ["b"]) == "a b c"  # too short to mask without masking words
