"""The what-if's admission copy gives the gRPC layer's answers (it cannot import that layer)."""

from __future__ import annotations

import pytest
from ccp_acd.api.interactions import admit as api_admit
from ccp_acd.domain.models import Action, ActionKind, Call, QueueConfig
from ccp_acd.errors import CcpError
from ccp_acd.whatif.admission import admit

QUEUES = {"q": QueueConfig("q"), "other": QueueConfig("other")}


@pytest.mark.parametrize(
    "action",
    [Action(ActionKind.QUEUE, "other"), Action(ActionKind.QUEUE, "q"), Action(ActionKind.QUEUE, "gone"),
     Action(ActionKind.CALLBACK), Action(ActionKind.VOICEMAIL), Action()],
)
@pytest.mark.parametrize("waiting", [0, 1, 2])
def test_admission_matches_the_api(action, waiting):
    queue = QueueConfig("q", max_length=1, on_max_length=action)
    call = Call("c", "q")
    ours, outcome = admit(call, queue, QUEUES, waiting=waiting)
    try:
        theirs, to_voicemail = api_admit(call, queue, QUEUES, waiting=waiting)
    except CcpError:  # the API refuses the call (ResourceExhausted)
        assert outcome == "refused"
        return
    assert ours == theirs
    assert outcome == ("voicemail" if to_voicemail else "queued")
