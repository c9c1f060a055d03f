"""Max-length admission at Enqueue: the one rule the API (``api.interactions``) and the what-if share."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Literal

from ccp_acd.domain.models import ActionKind, Call, Channel, QueueConfig

Admission = Literal["queued", "voicemail", "refused"]


def admit(call: Call, queue: QueueConfig, queues: Mapping[str, QueueConfig], *, waiting: int) -> tuple[Call, Admission]:
    """The call to enqueue, and whether it is queued, goes to voicemail at once, or is refused (queue full)."""
    if queue.max_length is None or waiting < queue.max_length:
        return call, "queued"
    action = queue.on_max_length
    reason = f"max-length {queue.max_length} in {queue.name}: {action.describe()}"
    if action.kind is ActionKind.QUEUE and action.target_queue in queues and action.target_queue != queue.name:
        return replace(call, queue=action.target_queue, route_history=(queue.name,), reason=reason), "queued"
    if action.kind is ActionKind.CALLBACK:
        return replace(call, channel=Channel.CALLBACK, reason=reason), "queued"
    if action.kind is ActionKind.VOICEMAIL:
        return call, "voicemail"
    return call, "refused"
