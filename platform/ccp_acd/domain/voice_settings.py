"""A queue's voice settings: what its callers hear while they wait, and how long a voicemail may be.

Config only (QueueConfig carries them; the Queue spec fills them in); the SIP adapter plays them with
``ccp_acd.sip.media``. Prompts are text in ``ccp_acd.sip.prompts`` syntax, checked by the spec.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_VOICEMAIL_PROMPT = "file:leave-message"


@dataclass(frozen=True)
class Announcements:
    # Seconds between announcements to a waiting caller; 0: none (else at least 10, so music is heard).
    every_s: float = 0.0
    # Say "you are number N in the queue" (the caller's position among the queue's waiting calls).
    position: bool = True
    # Say "your expected wait is M minutes" (the node's prediction, rounded up to minutes).
    expected_wait: bool = True


@dataclass(frozen=True)
class VoicemailSettings:
    # The longest message recorded, in seconds; the adapter stops recording there.
    max_s: float = 120.0
    # Played before the beep that starts the recording.
    prompt: str = DEFAULT_VOICEMAIL_PROMPT
