"""Processes a benchmark starts and what it reads from them: etcd with fsync, ACD nodes, CPU, RSS, etcd counters.

Plaintext gRPC and etcd, on purpose: the benchmarks measure the routing path, and TLS is not the question
there (``tls=None`` and ``etcd_security=PLAINTEXT`` below ask for it explicitly; the clients use ``PLAINTEXT``).

Everything is on 127.0.0.1 and stopped in a ``finally`` (``embedded.processes.stop_all``).
The etcd here is started exactly as the embedded platform starts it, which does
*not* pass ``--unsafe-no-fsync``: every committed write is on disk, as in production.

CPU is read with psutil (user + system seconds of each process, before and after a
window); resident memory is VmRSS from ``/proc/<pid>/status``. etcd's own counters
come from its ``/metrics`` endpoint on the client port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from ccp_acd.embedded.processes import (
    Child,
    EtcdProcess,
    NodeProcess,
    free_port,
    spawn_node,
    start_etcd,
    stop_all,
    wait_leader,
    wait_serving,
)
from ccp_acd.tls import ChannelSecurity
from prometheus_client.parser import text_string_to_metric_families

SITE = "site-a"
# How the benchmarks' clients reach the nodes (see the module docstring).
PLAINTEXT = ChannelSecurity(plaintext=True)
# The benchmarks measure how much one node can route, so the per-tenant limits that keep a flooding tenant
# from its neighbours (api/overload.py; one tenant ramps far past the default 200 enqueues/s) are off.
UNLIMITED = {"CCP_TENANT_ENQUEUE_RATE": "0", "CCP_TENANT_MAX_WAITING": "0"}
# etcd counters read before and after a window: writes through raft (each one a WAL entry;
# concurrent ones share an fsync), the fsyncs themselves, and the key-value operations.
# Upper bounds (seconds) of etcd's WAL fsync histogram buckets the benchmarks count fsyncs under.
FSYNC_BUCKETS_S = ("0.008", "0.032", "0.128")
# etcd's own time to handle a Txn (from receiving it to replying: raft, WAL fsync, apply), histogram buckets
# the benchmarks count transactions under; etcd keeps this histogram with --metrics=extensive (ETCD_ARGS).
TXN_BUCKETS_S = ("0.005", "0.01", "0.025")
ETCD_ARGS = ("--metrics=extensive",)


def _txn_series(le: str | None = None) -> str:
    """etcd's series of handled Txn requests: their count, or the bucket of those at most ``le`` seconds."""
    labels = 'grpc_method="Txn",grpc_service="etcdserverpb.KV",grpc_type="unary"'
    if le is None:
        return f"grpc_server_handling_seconds_count{{{labels}}}"
    return f'grpc_server_handling_seconds_bucket{{{labels},le="{le}"}}'

ETCD_COUNTERS = (
    "etcd_server_proposals_committed_total",
    "etcd_disk_wal_fsync_duration_seconds_count",
    "etcd_mvcc_put_total",
    "etcd_mvcc_delete_total",
    "etcd_mvcc_range_total",
    "etcd_mvcc_txn_total",
    # WAL fsyncs at most 8, 32 and 128 ms long (cumulative histogram buckets): the slow ones are the disk's tail.
    *(f'etcd_disk_wal_fsync_duration_seconds_bucket{{le="{le}"}}' for le in FSYNC_BUCKETS_S),
    # Txn requests etcd handled, and those it handled within 5, 10 and 25 ms (its side of a commit's latency).
    _txn_series(),
    *(_txn_series(le) for le in TXN_BUCKETS_S),
)
# Seconds a node may take to answer gRPC health after it is spawned (several start at once on 2 cores).
NODE_START_TIMEOUT_S = 60.0


def etcd_counters(endpoint: str) -> dict[str, float]:
    """The counters of ``ETCD_COUNTERS`` from etcd's /metrics (a missing one reads 0)."""
    with urllib.request.urlopen(f"http://{endpoint}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = dict.fromkeys(ETCD_COUNTERS, 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in found:
            found[name] = float(value)
    return found


def counters_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in before}


def _over_bounds(what: str, total: float, within: Mapping[float, float]) -> dict[str, int]:
    """``{what: total, "over_<ms>_ms": ...}``: of ``total`` events in a window, how many took longer than each bound
    (seconds), given how many were within it (a histogram's cumulative bucket)."""
    return {what: int(total), **{f"over_{bound * 1000:g}_ms": int(total - n) for bound, n in within.items()}}


def slow_fsyncs(delta: Mapping[str, float]) -> dict[str, int]:
    """From a ``counters_delta``: WAL fsyncs in the window, and how many took longer than each bucket bound."""
    total = delta.get("etcd_disk_wal_fsync_duration_seconds_count", 0.0)
    return _over_bounds("fsyncs", total, {
        float(le): delta.get(f'etcd_disk_wal_fsync_duration_seconds_bucket{{le="{le}"}}', total)
        for le in FSYNC_BUCKETS_S
    })


def slow_txns(delta: Mapping[str, float]) -> dict[str, int]:
    """From a ``counters_delta``: Txn requests etcd handled in the window, and how many took it longer than each
    bucket bound (its own handling: raft, WAL fsync, apply; not the client's side nor the network)."""
    total = delta.get(_txn_series(), 0.0)
    return _over_bounds("txns", total, {float(le): delta.get(_txn_series(le), total) for le in TXN_BUCKETS_S})


# The node's event loop lag (``ccp_event_loop_lag_seconds``, sampled every 100 ms): how many samples were over
# these bounds (seconds, bucket bounds of its histogram). Read from nodes started with metrics (``start_nodes``).
LOOP_LAG_BUCKETS_S = (0.005, 0.01, 0.025)


def loop_lag_counts(address: str) -> dict[str, float]:
    """The node's loop-lag histogram from its /metrics: ``count`` and the cumulative count at each bound."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = {"count": 0.0, **{str(le): 0.0 for le in LOOP_LAG_BUCKETS_S}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ccp_event_loop_lag_seconds_count":
                found["count"] = sample.value
            elif sample.name == "ccp_event_loop_lag_seconds_bucket" and sample.labels["le"] != "+Inf":
                bound = float(sample.labels["le"])
                if bound in LOOP_LAG_BUCKETS_S:
                    found[str(bound)] = sample.value
    return found


def slow_lags(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, int]:
    """Loop-lag samples between two ``loop_lag_counts``, and how many were over each bound."""
    within = {le: after[str(le)] - before[str(le)] for le in LOOP_LAG_BUCKETS_S}
    return _over_bounds("samples", after["count"] - before["count"], within)


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class CpuMeter:
    """CPU seconds (user + system) used by named processes over a window: ``start()``, then ``stop()``."""

    def __init__(self, pids: Mapping[str, int]):
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._before: dict[str, float] = {}
        self._started = 0.0

    @staticmethod
    def _used(process: psutil.Process) -> float:
        times = process.cpu_times()
        return times.user + times.system

    def start(self) -> None:
        self._started = time.monotonic()
        self._before = {name: self._used(p) for name, p in self._processes.items()}

    def stop(self) -> dict:
        """``{"wall_s": ..., "cpu_s": {name: seconds}}``; a process gone meanwhile reads 0."""
        used = {}
        for name, process in self._processes.items():
            try:
                used[name] = round(self._used(process) - self._before[name], 3)
            except psutil.NoSuchProcess:
                used[name] = 0.0
        return {"wall_s": round(time.monotonic() - self._started, 3), "cpu_s": used}


@dataclass
class Cluster:
    """One etcd and the ACD nodes of one site, in a temporary folder removed at the end."""

    workdir: Path
    etcd: EtcdProcess
    nodes: list[NodeProcess] = field(default_factory=list)
    # Node name -> its metrics address, for nodes started with ``metrics=True``.
    metrics_addresses: dict[str, str] = field(default_factory=dict)

    @property
    def children(self) -> list[Child]:
        return [*self.nodes, self.etcd]

    def start_nodes(
        self, count: int, *, env: Mapping[str, str] | None = None, lease_ttl_s: int = 3, metrics: bool = False
    ) -> list[NodeProcess]:
        """``count`` more nodes of ``SITE``, spawned together, returned once all serve gRPC. ``metrics``: each
        serves Prometheus metrics (``metrics_addresses``), as a production node does; off by default, so the
        throughput figures stay comparable with the runs before."""
        start = len(self.nodes)
        spawned = []
        for i in range(start, start + count):
            scrape = {"CCP_METRICS_LISTEN": f"127.0.0.1:{free_port()}"} if metrics else {}
            node = spawn_node(
                self.workdir, self.etcd.endpoint, node_id=f"bench-n{i}", site=SITE, tls=None, etcd_security=PLAINTEXT,
                lease_ttl_s=lease_ttl_s, env={**UNLIMITED, **scrape, **(env or {})},
            )
            if metrics:
                self.metrics_addresses[node.name] = scrape["CCP_METRICS_LISTEN"]
            self.nodes.append(node)
            spawned.append(node)
        for node in spawned:
            wait_serving(node, timeout_s=NODE_START_TIMEOUT_S)
        return spawned

    def pids(self, *, driver: bool = True) -> dict[str, int]:
        """Names for the CPU meter: ``etcd``, ``node0``.., and this process as ``driver``."""
        found = {"etcd": self.etcd.pid, **{f"node{i}": n.pid for i, n in enumerate(self.nodes)}}
        if driver:
            found["driver"] = psutil.Process().pid
        return found


@contextlib.contextmanager
def cluster(prefix: str = "ccp-bench-") -> Iterator[Cluster]:
    """A fresh etcd (fsync on) in a temporary folder; every process started through it is stopped after. The
    folder (every process's log) is removed, unless ``CCP_BENCH_KEEP_WORKDIR=1`` (then its path is printed)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    etcd = start_etcd(workdir, extra_args=ETCD_ARGS)
    running = Cluster(workdir=workdir, etcd=etcd)
    try:
        wait_leader(etcd, timeout_s=20)
        yield running
    finally:
        stop_all(running.children)
        if os.environ.get("CCP_BENCH_KEEP_WORKDIR") == "1":
            print(f"benchmark folder kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

