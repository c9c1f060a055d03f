"""The embedded multi-site platform a drill runs against, and its fault injector (processes).

Real parts: an etcd of 1 or 3 members (``embedded.processes``), ACD node
processes per site, and one ``FaultProxy`` per site between that site's nodes
and etcd. The proxy is how a site is partitioned or slowed: every byte the
site's nodes exchange with etcd goes through it, so cutting it is, to those
processes, exactly a network partition from the etcd quorum (connections
reset, new ones refused), and delaying it is added latency. Nodes do not talk
to each other directly (all coordination is through etcd), so this is the
partition that matters. Kernel network namespaces would give the same
symptoms but need CAP_NET_ADMIN, which CI machines need not grant.

The drill runner's own etcd connection goes through a proxy of its own that
fronts every member, so it survives an etcd member's death like the nodes do.

Like ``ccp up``, everything speaks TLS with certificates generated into the
drill's folder (the proxies relay TLS bytes untouched; the certificate names
127.0.0.1, which is also the proxies' address).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from ccp_acd.chaos.drill import Action, PlatformSpec
from ccp_acd.chaos.proxy import FaultProxy
from ccp_acd.domain.sites import SiteStatus
from ccp_acd.embedded.processes import (
    EtcdProcess,
    NodeProcess,
    spawn_node,
    start_etcd,
    start_etcd_cluster,
    stop_all,
    wait_serving_respawned,
)
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.sites import Owner, declare_site
from ccp_acd.tls import ChannelSecurity, GeneratedCerts, generate

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
# Seconds an etcd request may take on a drill's node: short, so a partitioned node fails fast.
NODE_ETCD_TIMEOUT_S = 2.0


@dataclass
class LocalPlatform:
    spec: PlatformSpec
    workdir: Path
    etcd: list[EtcdProcess] = field(default_factory=list)
    proxies: dict[str, FaultProxy] = field(default_factory=dict)
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    control: FaultProxy | None = None
    # Every address a node ever had (a restarted node gets a new port): the calls' history names old ones.
    sites_by_address: dict[str, str] = field(default_factory=dict)
    tls: GeneratedCerts | None = None  # generated at start

    @property
    def client_security(self) -> ChannelSecurity:
        """How the drill's clients (simulator, admin) reach the nodes."""
        assert self.tls is not None
        return self.tls.client(with_cert=False)

    @property
    def etcd_security(self) -> ChannelSecurity:
        assert self.tls is not None
        return self.tls.client()

    @property
    def control_endpoint(self) -> str:
        assert self.control is not None
        return self.control.address

    def addresses(self) -> dict[str, list[str]]:
        by_site: dict[str, list[str]] = {}
        for node in self.nodes.values():
            by_site.setdefault(node.site, []).append(node.address)
        return by_site

    def site_of(self, address: str) -> str:
        return self.sites_by_address.get(address, "")

    async def start(self) -> None:
        self.tls = generate(self.workdir / "tls")
        if self.spec.etcd_members == 1:
            self.etcd = [await asyncio.to_thread(start_etcd, self.workdir, tls=self.tls)]
        else:
            self.etcd = await asyncio.to_thread(
                start_etcd_cluster, self.workdir, members=self.spec.etcd_members, tls=self.tls
            )
        upstreams = [(e.host, e.port) for e in self.etcd]
        self.control = FaultProxy(upstreams=upstreams)
        await self.control.start()
        for site in self.spec.sites:
            self.proxies[site] = FaultProxy(upstreams=upstreams)
            await self.proxies[site].start()
            for i in range(self.spec.nodes_per_site):
                self._spawn(site, f"{site}-{i + 1}")
        await self._wait_serving(list(self.nodes.values()))

    def _spawn(self, site: str, node_id: str) -> NodeProcess:
        node = spawn_node(
            self.workdir,
            self.proxies[site].address,
            node_id=node_id,
            site=site,
            tls=self.tls,
            etcd_security=self.etcd_security,
            lease_ttl_s=self.spec.lease_ttl_s,
            env={
                "CCP_SITE_LOST_AFTER_S": str(self.spec.site_lost_after_s),
                "CCP_ETCD_TIMEOUT_S": str(NODE_ETCD_TIMEOUT_S),
            },
        )
        self.nodes[node_id] = node
        self.sites_by_address[node.address] = site
        return node

    async def _wait_serving(self, nodes: list[NodeProcess]) -> None:
        waits = [
            asyncio.to_thread(wait_serving_respawned, n, functools.partial(self._spawn, n.site, n.node_id),
                              timeout_s=START_TIMEOUT_S)
            for n in nodes
        ]
        failures = [r for r in await asyncio.gather(*waits, return_exceptions=True) if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def stop(self) -> None:
        await asyncio.to_thread(stop_all, list(self.nodes.values()), timeout_s=STOP_TIMEOUT_S)
        for proxy in [*self.proxies.values(), *([self.control] if self.control else [])]:
            await proxy.stop()
        await asyncio.to_thread(stop_all, self.etcd, timeout_s=STOP_TIMEOUT_S)

    # -- faults -------------------------------------------------------------

    async def do(self, action: Action, *, store: EtcdStore, tenant: str) -> str:
        """Carry out one drill action; returns what was done, for the report."""
        match action.action:
            case "kill-owner":
                records, _ = await store.read_prefix(keys.owner(action.site, tenant, action.queue))
                if not records:
                    raise RuntimeError(f"{action.queue}@{action.site} has no owner to kill")
                owner = decode(Owner, records[0][1]).node
                self.nodes[owner].kill()
                return f"killed {owner}, owner of {action.queue}@{action.site}"
            case "kill-node":
                self.nodes[action.node].kill()
                return f"killed {action.node}"
            case "kill-site":
                victims = [n for n in self.nodes.values() if n.site == action.site and n.alive()]
                for node in victims:
                    node.kill()
                return f"killed {', '.join(n.node_id for n in victims)} (all of {action.site})"
            case "restart-site":
                dead = [n.node_id for n in self.nodes.values() if n.site == action.site and not n.alive()]
                await self._wait_serving([self._spawn(action.site, node_id) for node_id in dead])
                return f"restarted {', '.join(dead) or 'nothing'}"
            case "kill-etcd-member":
                member = self.etcd[action.member]
                member.kill()
                return f"killed etcd member {member.name}"
            case "partition-site":
                self.proxies[action.site].partition()
                return f"partitioned {action.site} from etcd"
            case "heal-site":
                self.proxies[action.site].heal()
                return f"healed {action.site}"
            case "latency":
                self.proxies[action.site].set_latency(action.seconds)
                return f"{action.seconds * 1000:.0f} ms added between {action.site} and etcd"
            case "site-up":
                await declare_site(store, action.site, SiteStatus.UP, "drill rollback: failback", by="sre")
                return f"declared {action.site} up (failback)"
        raise ValueError(f"unknown action {action.action!r}")
