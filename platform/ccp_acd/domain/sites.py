"""Sites: which are up, who adopts a lost site's calls, and N-way cross-site overflow.

Pure, like the planner. The routing layer builds a ``SiteContext`` from what
etcd says (site states, live node registrations) and the planner asks
``site_moves`` which waiting calls should be routed at another site:

- **Adoption (disaster failover).** A site that is down (declared by an SRE,
  or found with no live node for a while) is adopted, per tenant, by the first
  site of the tenant's ``[home, *failover]`` order that is up and has live
  nodes. The adopting site's queue owners move the lost site's waiting calls
  to themselves; each call keeps its arrival time and so its place in line.
- **N-way overflow (look-ahead, Avaya BSR-style).** For a queue with a site
  overflow margin, this site compares its expected wait for a new caller with
  every other live site's, all at once (not one neighbour at a time), and
  when the best is better by more than the margin the call at the *head* of
  the queue moves there: the oldest caller is the one who gains, so FIFO
  fairness holds. A call never goes back to a site it has been at, so it
  cannot ping-pong; each move makes the target's queue longer, which damps
  the next one.

Expected waits come from the same one-revision live view the planner routes
on (every site's calls and agents are in the tenant's ``live/`` range), so
every node sees every site's figures exactly as fresh as its last read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from enum import StrEnum

from ccp_acd.domain.models import CallState, LiveView, QueueConfig, SiteMoveDecision
from ccp_acd.domain.predictions import queue_expected_wait_s, waiting_order


class SiteStatus(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class SiteState:
    """The record at ``keys.site_state``; a site without one is up."""

    status: SiteStatus = SiteStatus.UP
    since: float = 0.0
    reason: str = ""
    # "monitor/<site>/<node>" for automatic detection, "sre" for ``ccp site``.
    by: str = ""

    @property
    def up(self) -> bool:
        return self.status is SiteStatus.UP


@dataclass(frozen=True)
class SiteContext:
    """What the planner needs to know about sites, for one tenant."""

    # This node's site.
    site: str
    # Sites that are up and have at least one live node (this one included when it is).
    live: frozenset[str] = frozenset()
    # Down sites whose waiting calls this site adopts (for this tenant).
    adopting: frozenset[str] = frozenset()


def adopter(lost: str, order: Sequence[str], live: Set[str]) -> str | None:
    """The site that adopts ``lost``'s calls: the first of ``order`` (then any, sorted) that is live."""
    for site in [*order, *sorted(live)]:
        if site != lost and site in live:
            return site
    return None


def site_moves(
    view: LiveView, queues: Mapping[str, QueueConfig], *, owned: Set[str], context: SiteContext, now: float
) -> list[SiteMoveDecision]:
    """Waiting calls of ``owned`` queues to route at another site: adoptions first, then overflow."""
    moves: list[SiteMoveDecision] = []
    if context.adopting:
        for call in waiting_order(view, queues, now=now):
            if call.site in context.adopting and call.queue in owned and call.id not in view.reservations:
                moves.append(
                    SiteMoveDecision(call.id, context.site, f"site {call.site} is down: adopted by {context.site}")
                )
    for name in sorted(owned):
        queue = queues.get(name)
        if queue is None or queue.site_overflow_margin_s is None:
            continue
        move = _overflow(view, queues, queue, context=context, now=now)
        if move is not None:
            moves.append(move)
    return moves


def _overflow(
    view: LiveView, queues: Mapping[str, QueueConfig], queue: QueueConfig, *, context: SiteContext, now: float
) -> SiteMoveDecision | None:
    head = next(
        (
            c
            for c in waiting_order(view, queues, now=now, site=context.site)
            if c.queue == queue.name and c.state is CallState.QUEUED
        ),
        None,
    )
    if head is None or head.id in view.reservations:
        return None
    here = queue_expected_wait_s(queue, view, now=now, site=context.site)
    candidates = sorted(context.live - {context.site} - set(head.visited_sites))
    if not candidates:
        return None
    waits = {site: queue_expected_wait_s(queue, view, now=now, site=site) for site in candidates}
    best = min(candidates, key=lambda s: (waits[s], s))
    margin = queue.site_overflow_margin_s or 0.0
    if here - waits[best] <= margin:
        return None
    return SiteMoveDecision(
        head.id,
        best,
        f"overflow: expected wait {here:.1f}s at {context.site}, {waits[best]:.1f}s at {best}",
    )
