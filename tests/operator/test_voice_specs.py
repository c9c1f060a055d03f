"""The voice parts of Trunk and Queue specs: sip, the IVR menu tree, music on hold, announcements and voicemail
build into TrunkConfig and QueueConfig, and every mistake is refused naming its field."""

from __future__ import annotations

from pathlib import Path

import pytest
from ccp_acd.domain.ivr import IvrConfig, IvrMenu, IvrOption, IvrTarget, TargetKind
from ccp_acd.domain.voice_settings import Announcements, VoicemailSettings
from ccp_acd.state.codec import decode, encode
from ccp_acd.state.store import TrunkConfig, TrunkSip
from ccp_operator.specs import SpecError, load_paths, parse_documents, queue_config, trunk_config
from hypothesis import assume, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
TENANT = {"apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "t"}, "spec": {"homeSite": "a"}}
SIP = {"port": 5070, "carrier": "127.0.0.1:5060"}


def _trunk(name="tr", **spec):
    spec = {"tenant": "t", "homeSite": "a", "numbers": ["+15550100"], **spec}
    return {"apiVersion": "ccp.dev/v1alpha1", "kind": "Trunk", "metadata": {"name": name}, "spec": spec}


def _queue(name="q", **spec):
    return {"apiVersion": "ccp.dev/v1alpha1", "kind": "Queue", "metadata": {"name": name}, "spec": {"tenant": "t", **spec}}


def _ivr(*menus, entry="main"):
    return {"entry": entry, "menus": list(menus)}


def _menu(name="main", **spec):
    return {"name": name, "prompt": "file:main-menu", **spec}


def test_the_example_trunk_has_its_sip_address_and_ivr():
    trunk = load_paths([ROOT / "examples"]).trunks["acme"]["acme-main"]
    assert trunk.sip == TrunkSip(port=5070, carrier_host="127.0.0.1", carrier_port=5060)
    assert trunk.ivr.entry == "welcome"
    main = trunk.ivr.menu("main")
    assert (main.prompt, main.timeout_s, main.max_digits, main.retries) == ("file:main-menu", 5.0, 1, 2)
    assert main.options[2] == IvrOption("3", IvrTarget(TargetKind.VOICEMAIL, "general"))
    assert main.options[3] == IvrOption("4", IvrTarget(TargetKind.CALLBACK, ""))
    assert main.on_timeout == IvrTarget(TargetKind.QUEUE, "general")
    assert trunk.ivr.menu("welcome").on_timeout == IvrTarget(TargetKind.MENU, "main")
    west = load_paths([ROOT / "examples"]).trunks["acme"]["acme-west"]
    assert west.ivr is None and west.default_queue == "support" and west.sip.port == 5070


def test_the_example_queues_have_their_voice_settings():
    queues = load_paths([ROOT / "examples"]).queues["acme"]
    assert queues["sales"].music_on_hold == "tone:523:300,659:300,784:300,0:600"
    assert queues["sales"].announcements == Announcements(every_s=30.0, position=True, expected_wait=True)
    assert queues["general"].announcements == Announcements(every_s=60.0, position=True, expected_wait=False)
    assert queues["general"].voicemail == VoicemailSettings(max_s=90.0, prompt="file:leave-message")
    assert queues["support"].announcements == Announcements() and queues["support"].music_on_hold == ""


def test_a_trunk_config_with_ivr_and_sip_survives_etcd_encoding():
    _, config = trunk_config(_trunk(defaultQueue="q", sip=SIP, ivr=_ivr(_menu(options=[{"digits": "1", "queue": "q"}]))))
    assert decode(TrunkConfig, encode(config)) == config
    assert config.ivr == IvrConfig(
        entry="main", menus=(IvrMenu("main", "file:main-menu", options=(IvrOption("1", IvrTarget(TargetKind.QUEUE, "q")),)),)
    )


def test_a_trunk_config_stored_before_voice_still_decodes():
    assert decode(TrunkConfig, b'{"name": "old", "numbers": ["+15550100"]}') == TrunkConfig("old", ("+15550100",))


@pytest.mark.parametrize(
    ("carrier", "host", "port"),
    [("sbc.example.net:5060", "sbc.example.net", 5060), ("[2001:db8::1]:5080", "2001:db8::1", 5080),
     ("10.0.0.1:65535", "10.0.0.1", 65535)],
)
def test_the_carrier_is_split_into_host_and_port(carrier, host, port):
    _, config = trunk_config(_trunk(defaultQueue="q", sip={"port": 5070, "carrier": carrier}))
    assert (config.sip.carrier_host, config.sip.carrier_port) == (host, port)


MENU_LOOP = _ivr(_menu("main", onTimeout={"menu": "again"}), _menu("again", onTimeout={"menu": "main"}))


@pytest.mark.parametrize(
    ("spec", "path", "problem"),
    [
        ({"codecs": ["PCMA"]}, "spec.codecs[0]", "'PCMU'"),
        ({"sip": {"port": 1023, "carrier": "h:5060"}, "defaultQueue": "q"}, "spec.sip.port", "or equal to 1024"),
        ({"sip": {"port": 65536, "carrier": "h:5060"}, "defaultQueue": "q"}, "spec.sip.port", "less than or equal"),
        ({"sip": {"port": 5070, "carrier": "h:65536"}, "defaultQueue": "q"}, "spec.sip.carrier", "is not host:port"),
        ({"sip": {"port": 5070, "carrier": "h"}, "defaultQueue": "q"}, "spec.sip.carrier", "is not host:port"),
        ({"sip": {"port": 5070}, "defaultQueue": "q"}, "spec.sip.carrier", "required"),
        ({"sip": SIP}, "spec.defaultQueue", "sip and no ivr"),
        ({"ivr": _ivr(_menu(), entry="nope"), "defaultQueue": "q"}, "spec.ivr.entry", "'nope', which is not in menus"),
        ({"ivr": _ivr(), "defaultQueue": "q"}, "spec.ivr.menus", "at least 1 item"),
        ({"ivr": _ivr(_menu(), _menu()), "defaultQueue": "q"}, "spec.ivr.menus[1].name", "twice"),
        ({"ivr": _ivr(_menu(prompt="hello.wav")), "defaultQueue": "q"}, "spec.ivr.menus[0].prompt", "is not a prompt"),
        ({"ivr": _ivr(_menu(prompt="file:nope")), "defaultQueue": "q"}, "spec.ivr.menus[0].prompt", "no shipped prompt"),
        ({"ivr": _ivr(_menu(prompt="tone:9000:10")), "defaultQueue": "q"}, "spec.ivr.menus[0].prompt", "9000 Hz"),
        (
            {"ivr": _ivr(_menu(options=[{"digits": "12", "queue": "q"}])), "defaultQueue": "q"},
            "spec.ivr.menus[0].options[0].digits", "longer than maxDigits (1)",
        ),
        (
            {"ivr": _ivr(_menu(options=[{"digits": "1", "queue": "q"}, {"digits": "1", "menu": "main"}])),
             "defaultQueue": "q"},
            "spec.ivr.menus[0].options[1].digits", "twice",
        ),
        (
            {"ivr": _ivr(_menu(options=[{"digits": "1"}])), "defaultQueue": "q"},
            "spec.ivr.menus[0].options[0].queue", "needs one of queue, menu or action",
        ),
        (
            {"ivr": _ivr(_menu(options=[{"digits": "1", "menu": "main", "action": "callback"}])), "defaultQueue": "q"},
            "spec.ivr.menus[0].options[0].menu", "no queue or action beside it",
        ),
        (
            {"ivr": _ivr(_menu(options=[{"digits": "1", "menu": "elsewhere"}])), "defaultQueue": "q"},
            "spec.ivr.menus[0].options[0].menu", "'elsewhere', which is not in menus",
        ),
        (
            {"ivr": _ivr(_menu(onTimeout={"menu": "elsewhere"})), "defaultQueue": "q"},
            "spec.ivr.menus[0].onTimeout.menu", "'elsewhere', which is not in menus",
        ),
        (
            {"ivr": _ivr(_menu(options=[{"digits": "1", "action": "hangup"}])), "defaultQueue": "q"},
            "spec.ivr.menus[0].options[0].action", "'callback' or 'voicemail'",
        ),
        ({"ivr": MENU_LOOP, "defaultQueue": "q"}, "spec.ivr.menus[0].onTimeout.menu", "loops main -> again -> main"),
        ({"ivr": _ivr(_menu())}, "spec.ivr.menus[0].onTimeout", "a caller who presses nothing must reach a queue"),
        (
            {"ivr": _ivr(_menu(onTimeout={"queue": "q"}, options=[{"digits": "1", "action": "voicemail"}]))},
            "spec.ivr.menus[0].options[0].queue", "action 'voicemail' needs queue",
        ),
        (
            {"ivr": _ivr(_menu(onTimeout={"action": "callback"}))},
            "spec.ivr.menus[0].onTimeout.queue", "action 'callback' needs queue",
        ),
        ({"ivr": _ivr(_menu(retries=6)), "defaultQueue": "q"}, "spec.ivr.menus[0].retries", "less than or equal to 5"),
        ({"ivr": _ivr(_menu(timeoutSeconds=0)), "defaultQueue": "q"}, "spec.ivr.menus[0].timeoutSeconds", "greater than 0"),
    ],
)
def test_trunk_voice_mistakes_are_refused_naming_the_field(spec, path, problem):
    with pytest.raises(SpecError) as refused:
        trunk_config(_trunk(**spec))
    assert (refused.value.kind, refused.value.path) == ("Trunk", path)
    assert problem in refused.value.problem


def test_an_ivr_without_a_default_queue_is_fine_when_every_path_names_a_queue():
    ivr = _ivr(_menu(onTimeout={"queue": "q"}, options=[{"digits": "1", "action": "voicemail", "queue": "q"}]))
    assert trunk_config(_trunk(sip=SIP, ivr=ivr))[1].default_queue == ""


def test_a_menu_loop_through_an_option_is_allowed():
    main = _menu("main", options=[{"digits": "2", "menu": "sub"}])
    ivr = _ivr(main, _menu("sub", options=[{"digits": "9", "menu": "main"}]))
    assert len(trunk_config(_trunk(defaultQueue="q", ivr=ivr))[1].ivr.menus) == 2


@pytest.mark.parametrize(
    ("documents", "path", "problem"),
    [
        ([_trunk(defaultQueue="q", ivr=_ivr(_menu(options=[{"digits": "1", "queue": "nowhere"}]))), _queue(), TENANT],
         "spec.ivr.menus[0].options[0].queue", "'nowhere'"),
        ([_trunk(defaultQueue="q", ivr=_ivr(_menu(onTimeout={"action": "voicemail", "queue": "gone"}))), _queue(), TENANT],
         "spec.ivr.menus[0].onTimeout.queue", "'gone'"),
        ([_trunk("a", defaultQueue="q", sip=SIP), _trunk("b", numbers=["+15550111"], defaultQueue="q", sip=SIP), _queue(),
          TENANT], "spec.sip.port", "5070 is already the port of trunk t/a at site a"),
    ],
)
def test_set_level_voice_mistakes_are_refused(documents, path, problem):
    with pytest.raises(SpecError) as refused:
        parse_documents(documents)
    assert refused.value.path == path
    assert problem in refused.value.problem


def test_the_same_sip_port_at_two_sites_is_fine():
    documents = [_trunk("a", defaultQueue="q", sip=SIP), _trunk("b", numbers=["+15550111"], homeSite="b", defaultQueue="q",
                                                                   sip=SIP), _queue(), TENANT]
    assert len(parse_documents(documents).trunks["t"]) == 2


def test_queue_voice_settings_build_into_the_queue_config():
    _, config = queue_config(_queue(
        musicOnHold="file:please-hold", announcements={"everySeconds": 45, "expectedWait": False},
        voicemail={"maxSeconds": 30, "prompt": "tone:1000:300"},
    ))
    assert config.music_on_hold == "file:please-hold"
    assert config.announcements == Announcements(every_s=45.0, position=True, expected_wait=False)
    assert config.voicemail == VoicemailSettings(max_s=30.0, prompt="tone:1000:300")


@pytest.mark.parametrize(
    ("spec", "path", "problem"),
    [
        ({"musicOnHold": "jazz.mp3"}, "spec.musicOnHold", "is not a prompt"),
        ({"musicOnHold": "file:nope"}, "spec.musicOnHold", "no shipped prompt"),
        ({"announcements": {"everySeconds": 9}}, "spec.announcements.everySeconds", "at least 10 seconds"),
        ({"announcements": {"everySeconds": 3601}}, "spec.announcements.everySeconds", "less than or equal to 3600"),
        ({"announcements": {"everySeconds": 30.5}}, "spec.announcements.everySeconds", "valid integer"),
        ({"announcements": {"position": "yes"}}, "spec.announcements.position", "valid boolean"),
        ({"voicemail": {"maxSeconds": 601}}, "spec.voicemail.maxSeconds", "less than or equal to 600"),
        ({"voicemail": {"maxSeconds": 1}}, "spec.voicemail.maxSeconds", "greater than or equal to 5"),
        ({"voicemail": {"prompt": "tone:440:0"}}, "spec.voicemail.prompt", "0 ms is outside"),
    ],
)
def test_queue_voice_mistakes_are_refused_naming_the_field(spec, path, problem):
    with pytest.raises(SpecError) as refused:
        queue_config(_queue(**spec))
    assert (refused.value.kind, refused.value.path) == ("Queue", path)
    assert problem in refused.value.problem


def _random_menus():
    """1 to 5 menus m0..mN: retries, an onTimeout to the queue, a menu or nowhere, options to the queue or a menu."""
    return st.integers(1, 5).flatmap(
        lambda n: st.lists(
            st.fixed_dictionaries(
                {"retries": st.integers(0, 3),
                 "onTimeout": st.one_of(
                     st.none(), st.just({"queue": "q"}), st.integers(0, n - 1).map(lambda i: {"menu": f"m{i}"})
                 ),
                 "options": st.lists(st.tuples(st.sampled_from("0123456789*#"), st.integers(-1, n - 1)), max_size=4,
                                     unique_by=lambda o: o[0])}
            ),
            min_size=n, max_size=n,
        )
    )


@settings(deadline=None, max_examples=200)
@given(_random_menus(), st.lists(st.sampled_from(["", "1", "5", "#", "*", "77"]), max_size=30))
def test_in_any_valid_ivr_a_silent_caller_reaches_a_queue_and_any_answers_stay_inside_the_tree(menus, answers):
    from ccp_acd.domain.ivr import StepKind, first_step, next_step

    spec_menus = []
    for i, menu in enumerate(menus):
        options = [
            {"digits": d, **({"queue": "q"} if target < 0 else {"menu": f"m{target}"})} for d, target in menu["options"]
        ]
        spec = {"name": f"m{i}", "prompt": "tone:440:100", "retries": menu["retries"], "options": options}
        if menu["onTimeout"] is not None:
            spec["onTimeout"] = menu["onTimeout"]
        spec_menus.append(spec)
    try:
        _, config = trunk_config(_trunk(defaultQueue="q", ivr=_ivr(*spec_menus, entry="m0")))
    except SpecError as refused:
        assert "loops" in refused.problem, refused  # the one mistake these menus can make: an onTimeout loop
        assume(False)
    ivr = config.ivr
    bound = sum(m.retries + 1 for m in ivr.menus)
    # Silence from any menu reaches a queue within every menu's tries.
    for menu in ivr.menus:
        step = first_step(IvrConfig(entry=menu.name, menus=ivr.menus), default_queue="q")
        for _ in range(bound):
            if step.kind != StepKind.MENU:
                break
            step = next_step(ivr, at=step, digits="", default_queue="q")
        assert step.kind == StepKind.QUEUE and step.queue == "q"
    # Any answers: every step is a known menu or the queue.
    step = first_step(ivr, default_queue="q")
    for digits in answers:
        if step.kind != StepKind.MENU:
            break
        step = next_step(ivr, at=step, digits=digits, default_queue="q")
        assert step.kind == StepKind.QUEUE and step.queue == "q" or ivr.menu(step.menu)
