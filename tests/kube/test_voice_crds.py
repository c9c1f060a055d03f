"""The Trunk CRD's IVR rules on a real API server: what the CEL rules and list keys refuse beyond the
invalid examples, each also refused by the operator's parser; a full voice trunk is accepted with defaults."""

from __future__ import annotations

import pytest
import yaml
from ccp_operator.specs import SpecError, trunk_config


def _trunk(name: str, **spec) -> dict:
    spec = {"tenant": "acme", "homeSite": "site-a", "numbers": ["+15550900"], **spec}
    return {"apiVersion": "ccp.dev/v1alpha1", "kind": "Trunk", "metadata": {"name": name}, "spec": spec}


def _menu(name="main", **spec):
    return {"name": name, "prompt": "file:main-menu", **spec}


CASES = {
    "digits-longer-than-max": (
        _trunk("x1", defaultQueue="q", ivr={"entry": "main", "menus": [_menu(options=[{"digits": "12", "queue": "q"}])]}),
        "spec.ivr.menus[0].options",
    ),
    "option-names-unknown-menu": (
        _trunk("x2", defaultQueue="q", ivr={"entry": "main", "menus": [_menu(options=[{"digits": "1", "menu": "zz"}])]}),
        "spec.ivr.menus",
    ),
    "on-timeout-names-unknown-menu": (
        _trunk("x3", defaultQueue="q", ivr={"entry": "main", "menus": [_menu(onTimeout={"menu": "zz"})]}),
        "spec.ivr.menus",
    ),
    "menu-listed-twice": (
        _trunk("x4", defaultQueue="q", ivr={"entry": "main", "menus": [_menu(), _menu()]}),
        "spec.ivr.menus[1]",
    ),
    "digits-listed-twice": (
        _trunk("x5", defaultQueue="q", ivr={"entry": "main", "menus": [
            _menu(options=[{"digits": "1", "queue": "q"}, {"digits": "1", "queue": "r"}])]}),
        "spec.ivr.menus[0].options[1]",
    ),
    "no-default-queue-and-a-menu-without-on-timeout": (
        _trunk("x6", ivr={"entry": "main", "menus": [_menu()]}),
        "spec.ivr.menus",
    ),
    "no-default-queue-and-an-action-without-queue": (
        _trunk("x7", ivr={"entry": "main", "menus": [_menu(onTimeout={"queue": "q"}, options=[
            {"digits": "1", "action": "callback"}])]}),
        "spec.ivr.menus",
    ),
    "target-with-nowhere-to-go": (
        _trunk("x8", defaultQueue="q", ivr={"entry": "main", "menus": [_menu(onTimeout={})]}),
        "spec.ivr.menus[0].onTimeout.queue",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_the_api_server_and_the_operator_refuse_the_same_ivr_mistakes(kube, case):
    resource, field = CASES[case]
    with pytest.raises(SpecError):
        trunk_config(resource)
    refused = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(resource), check=False)
    assert refused.returncode != 0, f"{case} was accepted"
    assert field in refused.stderr, refused.stderr


def test_a_voice_trunk_is_accepted_and_gets_the_menu_defaults(kube):
    options = [{"digits": "1", "queue": "q"}, {"digits": "#", "action": "voicemail"}]
    main = _menu(options=options, onTimeout={"menu": "other"})
    other = _menu("other", prompt="tone:440+480:2000,0:4000")
    resource = _trunk(
        "voice", defaultQueue="q", sip={"port": 5070, "carrier": "[2001:db8::1]:5060"},
        ivr={"entry": "main", "menus": [main, other]},
    )
    trunk_config(resource)
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(resource))
    stored = kube.get("cctrunk", "voice")["spec"]
    assert [(m["timeoutSeconds"], m["maxDigits"], m["retries"]) for m in stored["ivr"]["menus"]] == [(5, 1, 2)] * 2
