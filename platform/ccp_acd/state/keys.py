"""The etcd key layout: the one place that knows where everything lives.

Every key, its value (JSON unless said otherwise), who writes it, whether it
lives on a lease, and the compare-and-set that guards it:

``/ccp/v1/tenants/{t}/config``
    Tenant config (display name, home site, failover sites). Written by the
    operator or ``ccp apply``; last writer wins (declarative source of truth).
``/ccp/v1/tenant-index/{t}``
    Empty: the tenant has a config. Put and deleted in the transaction that
    puts or deletes ``tenants/{t}/config``, so discovery (``list_tenants``,
    every few seconds on every node) reads one key per tenant instead of
    every key the tenants hold. Configs written before the index existed are
    indexed by the first discovery after an upgrade (a scan of one key per
    tenant prefix), which then writes ``migrations/tenant-index``.
``/ccp/v1/tenants/{t}/queues/{q}/config``
    ``QueueConfig``. Written by the operator / ``ccp apply``. Nodes read it live.
``/ccp/v1/tenants/{t}/queues/{q}/placement``
    ``QueuePlacement``: the site that owns the queue and the ordered standby
    sites. Written by the operator (placement follows the tenant's home and
    failover sites); plain put. Site failover (issue 4) acts on it.
``/ccp/v1/tenants/{t}/trunks/{tr}/config``
    Trunk config (numbers, carrier, codecs, home site). Operator / ``ccp apply``.
``/ccp/v1/tenants/{t}/credentials/{key_id}``
    ``{"sha256": hex, "role": "admin"|"agent"|"interaction", "agent_id": str, "expires_at": epoch s}``.
    The token itself is never stored. Written by ``ccp token issue`` / operator;
    a rotation sets ``expires_at`` on the old ones, the operator deletes them
    once expired and deletes the whole prefix with the tenant.
``/ccp/v1/tenants/{t}/blocklist/{blocked_key}``
    ``BlockedCaller`` (pattern, reason, created_at). Admin API; plain put/delete.
    The segment is a hash of tenant and pattern (``blocked_key``), like the
    caller index's: a pattern is a caller's number, and key names show up
    where values do not (``etcdctl get --keys-only``, audit and debug logs).
    Keys named by the pattern itself (before) are still read, and are
    deleted when their pattern is added or removed again.
``/ccp/v1/tenants/{t}/live/agents/{a}``
    ``Agent``: profile, presence and strategy counters. Every transaction that
    gives the agent work (an offer) compares this key's mod_revision and
    rewrites it, so two nodes can never both fill the agent's last slot.
``/ccp/v1/tenants/{t}/live/calls/{c}``
    ``Call`` while queued or connected. Created by Enqueue (create_revision == 0)
    before the caller is told to hold; every change compares mod_revision.
``/ccp/v1/tenants/{t}/live/reservations/{c}``
    ``Reservation``: an offer of call c. On the offering node's lease, so a dead
    node's offers vanish and the call is back in line at its old place. Created
    with create_revision == 0 (one offer per call at a time).
``/ccp/v1/tenants/{t}/history/{c}``
    The final ``Call`` record, moved here from ``live/calls`` in the same
    transaction that ends it. Call ids sort by arrival time, so a key range is a
    time window for reports.
``/ccp/v1/tenants/{t}/callers/{caller_key}/{c}``
    ``{}``: an index of a caller's ended calls, for the agent's screen pop.
    ``caller_key`` is ``caller_key(t, address)``, a hash: caller numbers never
    appear in a key. Put (plain) in the transaction that writes ``history/{c}``,
    when the call has a caller address; never rewritten or deleted here.
``/ccp/v1/tenants/{t}/presence/{end_ns:020d}-{a}``
    ``PresenceInterval``: a closed stretch of agent a's presence (logged-out
    time is not logged: it is not staffed time). Put (plain; the key is unique
    per agent and end time) in the transaction that changes the presence,
    which compares the agent record's mod_revision, so a lost race logs
    nothing. Keys sort by end time: a range from a window's start finds every
    interval that ends after it.
``/ccp/v1/tenants/{t}/audit/{time_ns:020d}-{8 hex}``
    ``AuditEvent``: one admin action or supervisor action on an agent
    (``api.audit``), never a token secret nor a caller number. Plain put with a
    fresh key right after the action (append-only; never rewritten). Keys sort
    by time: a key range is a time window (``ListAuditEvents``).
``/ccp/v1/tenants/{t}/requests/{request_id}``
    The call id an Enqueue request_id produced (idempotent retries). Created in
    the Enqueue transaction with create_revision == 0. Kept for the record's life.
``/ccp/v1/migrations/{name}``
    ``{"done_at": epoch s}``: a one-time change of the layout is done on this
    cluster (``tenant-index``). Plain put by the node that did it; the change
    is idempotent, so two nodes doing it at once is harmless.
``/ccp/v1/sites/{s}/nodes/{n}``
    ``{"grpc": "host:port", "started_at"}`` on the node's lease: live nodes.
``/ccp/v1/sites/{s}/state``
    ``SiteState`` (up / down, since, why, by whom). Missing means up. Written by
    a node's site monitor when the site has had no live node for
    ``site_lost_after_s``, or by an SRE (``ccp site down|up``). Every routing
    transaction of a node of site s compares this key's mod_revision as the
    node last saw it: a site declared down is fenced at its next commit.
``/ccp/v1/sites/{s}/owners/{t}/{q}``
    ``{"node": id, "since"}``: the node of site s that routes queue q of
    tenant t there. Created on the owner's lease with create_revision == 0
    (the election) and the site state's mod_revision unchanged (a fenced site
    cannot win); every routing transaction compares its mod_revision, so a
    node whose lease lapsed commits nothing more. Standbys watch it.

Everything under ``live/`` is read in one range request, which etcd serves at a
single revision: the snapshot the planner decides on is always consistent.
"""

from __future__ import annotations

import hashlib

ROOT = "/ccp/v1"


def _seg(value: str) -> str:
    # Ids are validated at the API edge; this guards the layout itself.
    if not value or "/" in value:
        raise ValueError(f"invalid key segment {value!r}")
    return value


def tenants_prefix() -> str:
    return f"{ROOT}/tenants/"


def tenant_index_prefix() -> str:
    return f"{ROOT}/tenant-index/"


def tenant_index(tenant: str) -> str:
    return f"{tenant_index_prefix()}{_seg(tenant)}"


def migration(name: str) -> str:
    return f"{ROOT}/migrations/{_seg(name)}"


def tenant_prefix(tenant: str) -> str:
    return f"{ROOT}/tenants/{_seg(tenant)}/"


def tenant_config(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}config"


def queues_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}queues/"


def queue_config(tenant: str, queue: str) -> str:
    return f"{queues_prefix(tenant)}{_seg(queue)}/config"


def queue_prefix(tenant: str, queue: str) -> str:
    return f"{queues_prefix(tenant)}{_seg(queue)}/"


def queue_placement(tenant: str, queue: str) -> str:
    return f"{queue_prefix(tenant, queue)}placement"


def trunks_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}trunks/"


def trunk_config(tenant: str, trunk: str) -> str:
    return f"{trunks_prefix(tenant)}{_seg(trunk)}/config"


def credentials_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}credentials/"


def credential(tenant: str, key_id: str) -> str:
    return f"{credentials_prefix(tenant)}{_seg(key_id)}"


def blocklist_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}blocklist/"


def blocked_key(tenant: str, pattern: str) -> str:
    """The blocklist segment of ``pattern``: first 32 hex of sha256 of tenant and pattern."""
    return hashlib.sha256(f"{tenant}:blocklist:{pattern}".encode()).hexdigest()[:32]


def blocked(tenant: str, pattern: str) -> str:
    return f"{blocklist_prefix(tenant)}{blocked_key(tenant, pattern)}"


def blocked_by_pattern(tenant: str, pattern: str) -> str | None:
    """The key the pattern had before keys were hashed (``blocked``); None if it could not have been one."""
    return f"{blocklist_prefix(tenant)}{pattern}" if pattern and "/" not in pattern else None


def live_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}live/"


def agents_prefix(tenant: str) -> str:
    return f"{live_prefix(tenant)}agents/"


def agent(tenant: str, agent_id: str) -> str:
    return f"{agents_prefix(tenant)}{_seg(agent_id)}"


def calls_prefix(tenant: str) -> str:
    return f"{live_prefix(tenant)}calls/"


def call(tenant: str, call_id: str) -> str:
    return f"{calls_prefix(tenant)}{_seg(call_id)}"


def reservations_prefix(tenant: str) -> str:
    return f"{live_prefix(tenant)}reservations/"


def reservation(tenant: str, call_id: str) -> str:
    return f"{reservations_prefix(tenant)}{_seg(call_id)}"


def history_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}history/"


def history(tenant: str, call_id: str) -> str:
    return f"{history_prefix(tenant)}{_seg(call_id)}"


def nanos(t: float) -> int:
    """POSIX seconds as the nanoseconds time-sorted keys carry (call ids use ``time.time_ns()``)."""
    return round(t * 1e9)


def history_at(tenant: str, t: float) -> str:
    """A range bound, not a key: history keys at or after it are of calls that arrived at or after ``t``."""
    return f"{history_prefix(tenant)}{nanos(t):020d}"


def caller_key(tenant: str, address: str) -> str:
    """The caller's index segment: first 32 hex of sha256 of tenant and address.

    The address is taken exactly as the call carries it (no normalization):
    "sip:+4930123@host" and "+4930123" are two callers here. Folding SIP URIs
    and tel numbers together is not trivially right (user parts collide across
    hosts, numbers may be local or global), and the blocklist compares exact
    addresses too.
    """
    return hashlib.sha256(f"{tenant}:{address}".encode()).hexdigest()[:32]


def caller_prefix(tenant: str, key: str) -> str:
    return f"{tenant_prefix(tenant)}callers/{_seg(key)}/"


def caller_call(tenant: str, key: str, call_id: str) -> str:
    return f"{caller_prefix(tenant, key)}{_seg(call_id)}"


def presence_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}presence/"


def presence_interval(tenant: str, end: float, agent_id: str) -> str:
    return f"{presence_prefix(tenant)}{nanos(end):020d}-{_seg(agent_id)}"


def presence_at(tenant: str, t: float) -> str:
    """A range bound, not a key: presence keys after it are of intervals that end at or after ``t``."""
    return f"{presence_prefix(tenant)}{nanos(t):020d}"


def audit_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}audit/"


def audit_event(tenant: str, event_id: str) -> str:
    return f"{audit_prefix(tenant)}{_seg(event_id)}"


def audit_at(tenant: str, t: float) -> str:
    """A range bound, not a key: audit keys at or after it are of events at or after ``t``."""
    return f"{audit_prefix(tenant)}{nanos(t):020d}"


def request(tenant: str, request_id: str) -> str:
    return f"{tenant_prefix(tenant)}requests/{_seg(request_id)}"


def sites_prefix() -> str:
    return f"{ROOT}/sites/"


def site_state(site: str) -> str:
    return f"{ROOT}/sites/{_seg(site)}/state"


def owners_prefix(site: str, tenant: str) -> str:
    return f"{ROOT}/sites/{_seg(site)}/owners/{_seg(tenant)}/"


def owner(site: str, tenant: str, queue: str) -> str:
    return f"{owners_prefix(site, tenant)}{_seg(queue)}"


def site_nodes_prefix(site: str) -> str:
    return f"{ROOT}/sites/{_seg(site)}/nodes/"


def node(site: str, node_id: str) -> str:
    return f"{site_nodes_prefix(site)}{_seg(node_id)}"


def last_segment(key: str | bytes) -> str:
    text = key.decode() if isinstance(key, bytes) else key
    return text.rsplit("/", 1)[-1]
