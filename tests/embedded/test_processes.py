"""Starting node processes for the embedded platform and the drills: a node that loses its free port to another
process before binding it (``free_port`` picks, releases, the node binds later) is started again on new ports,
against a real etcd; any other failure is raised."""

from __future__ import annotations

import socket

import pytest
from ccp_acd.embedded.processes import NodeProcess, lost_port_race, spawn_node, wait_serving_respawned
from ccp_acd.tls import ChannelSecurity

pytestmark = pytest.mark.etcd


def test_a_node_that_lost_its_port_is_started_again_and_serves(etcd_server, tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    spawned: list[NodeProcess] = []

    def spawn() -> NodeProcess:
        # The first start is given the taken port, as a lost race would; later ones get their own free port.
        env = {"CCP_GRPC_LISTEN": f"127.0.0.1:{taken.getsockname()[1]}"} if not spawned else {}
        spawned.append(spawn_node(tmp_path, etcd_server.endpoint, node_id=f"race-{len(spawned)}", site="site-a",
                                  tls=None, etcd_security=ChannelSecurity(plaintext=True), env=env))
        return spawned[-1]

    try:
        node = wait_serving_respawned(spawn(), spawn, timeout_s=30)
        assert node is spawned[1] and node.alive()
        assert lost_port_race(spawned[0])
    finally:
        taken.close()
        for process in spawned:
            process.stop()


def test_a_node_that_fails_for_another_reason_is_not_started_again(etcd_server, tmp_path):
    spawned: list[NodeProcess] = []

    def spawn() -> NodeProcess:
        spawned.append(spawn_node(tmp_path, etcd_server.endpoint, node_id="broken", site="site-a", tls=None,
                                  etcd_security=ChannelSecurity(plaintext=True), env={"CCP_LEASE_TTL_S": "-1"}))
        return spawned[-1]

    with pytest.raises(RuntimeError, match="exited"):
        wait_serving_respawned(spawn(), spawn, timeout_s=30)
    assert len(spawned) == 1 and not lost_port_race(spawned[0])
