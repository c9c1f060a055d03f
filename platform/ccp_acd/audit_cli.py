"""``ccp audit``: the tenant's audit log (admin actions, actions on agents by others) from a node's admin API.

A thin client of ``AdminService.ListAuditEvents`` (docs/security.md, "Roles and audit"): it follows the
pages of the window up to ``--limit`` events and prints a rich table, or JSON with ``--json``. Needs an
admin or supervisor token. Connection options and output are ``ccp report``'s.
"""

from __future__ import annotations

import click
from ccpapi.v1 import admin_pb2

from ccp_acd import report_cli as rc

# Events asked for per page (the API allows up to 1000).
PAGE_SIZE = 500


@click.command("audit")
@rc._options(*rc.connection, *rc.window)
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True, help="Events at most.")
def audit(endpoint, token, as_json, ca, plaintext, start, end, limit) -> None:
    """Audited actions in the window, oldest first: who (role and key id), what, on which target, outcome."""
    start, end = rc._window(start, end)
    security = rc._security(ca, plaintext)
    events: list[admin_pb2.AuditEvent] = []
    page_token = ""
    while len(events) < limit:  # bounded: each page adds at least one event or ends the loop
        request = admin_pb2.ListAuditEventsRequest(
            start_time=rc._timestamp(start), end_time=rc._timestamp(end), limit=min(PAGE_SIZE, limit - len(events)),
            page_token=page_token,
        )
        answer = rc._call(endpoint, token, security,
                       lambda stub, md, r=request: stub.ListAuditEvents(r, metadata=md, timeout=rc.RPC_TIMEOUT_S))
        events += answer.events
        page_token = answer.next_page_token
        if not page_token or not answer.events:
            break
    rows = [{"time": rc._iso(e.time), "actor": f"{e.actor_role}/{e.actor_key_id}",
             "method": e.method.removeprefix("/ccpapi.v1."), "target": e.target, "outcome": e.outcome}
            for e in events]
    rc._emit(rows, f"audit {start.isoformat()} .. {end.isoformat()}", as_json)
