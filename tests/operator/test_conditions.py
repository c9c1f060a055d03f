"""The Ready condition derived from the others (``conditions.ready``, pure): False while CertificatesReady is
False, naming the Secret at fault and what to do; False while the SIP adapters are refused; otherwise as
Reconciled."""

from __future__ import annotations

import pytest
from ccp_operator import conditions as c

APPLIED = c.condition(c.RECONCILED, True, c.APPLIED, "config written", 4)


@pytest.mark.parametrize("reason", sorted(c.CERTIFICATE_FIXES))
def test_ready_is_false_while_certificates_ready_is_false_whatever_else_holds(reason):
    problem = c.condition(c.CERTIFICATES_READY, False, reason, "Secret ops/ccp-acd-ca does not exist", 4)
    ready = c.ready([APPLIED, problem], generation=5)
    assert (ready["type"], ready["status"], ready["reason"]) == (c.READY, "False", c.CERTIFICATES_NOT_READY)
    assert ready["observedGeneration"] == 5
    assert f"({reason}: Secret ops/ccp-acd-ca does not exist)" in ready["message"]
    assert f"To fix: {c.CERTIFICATE_FIXES[reason]}" in ready["message"]


def test_ready_follows_reconciled_once_the_certificates_are_ready_or_not_the_operators():
    for certificates in ([c.condition(c.CERTIFICATES_READY, True, c.ISSUED, "issued", 4)], []):
        ready = c.ready([APPLIED, *certificates], generation=4)
        assert (ready["status"], ready["reason"], ready["message"]) == ("True", c.APPLIED, "config written")
    failed = c.condition(c.RECONCILED, False, c.STATE_UNAVAILABLE, "etcd down", 4)
    ok = c.condition(c.CERTIFICATES_READY, True, c.UP_TO_DATE, "in place", 4)
    ready = c.ready([failed, ok], generation=4)
    assert (ready["status"], ready["reason"]) == ("False", c.STATE_UNAVAILABLE)


def test_without_reconciled_ready_is_left_alone_unless_the_certificates_are_not_ready():
    assert c.ready(None, generation=1) is None
    assert c.ready([c.condition(c.CERTIFICATES_READY, True, c.ISSUED, "issued", 1)], generation=1) is None
    missing = c.condition(c.CERTIFICATES_READY, False, c.ETCD_CLIENT_SECRET_MISSING, "no etcd client Secret", 1)
    assert c.ready([missing], generation=1)["status"] == "False"


def test_an_unknown_certificates_reason_still_makes_ready_false_and_points_at_the_condition():
    odd = c.condition(c.CERTIFICATES_READY, False, "SomethingNew", "odd", 2)
    ready = c.ready([APPLIED, odd], generation=2)
    assert ready["status"] == "False" and "see the CertificatesReady condition" in ready["message"]


def test_ready_is_false_while_the_sip_adapters_are_refused_and_certificates_come_first():
    refused = c.condition(c.SIP_READY, False, c.SIP_REFUSED, "StatefulSet sip-acme-a: Kubernetes refused it (403)", 4)
    ready = c.ready([APPLIED, refused], generation=4)
    assert (ready["status"], ready["reason"]) == ("False", c.SIP_NOT_READY)
    assert "(SipRefused: StatefulSet sip-acme-a: Kubernetes refused it (403))" in ready["message"]
    assert f"To fix: {c.SIP_FIXES[c.SIP_REFUSED]}" in ready["message"]
    missing = c.condition(c.CERTIFICATES_READY, False, c.CA_SECRET_MISSING, "no CA", 4)
    assert c.ready([APPLIED, refused, missing], generation=4)["reason"] == c.CERTIFICATES_NOT_READY


def test_a_bad_recordings_key_ring_or_applied_adapters_leave_ready_to_reconciled():
    """The adapters run without storing voicemail: SipReady False says so, Ready stays as Reconciled."""
    for sip in (c.condition(c.SIP_READY, False, c.RECORDINGS_KEY_INVALID, "Secret acme-recordings-key: not JSON", 4),
                c.condition(c.SIP_READY, True, c.APPLIED, "applied", 4)):
        ready = c.ready([APPLIED, sip], generation=4)
        assert (ready["status"], ready["reason"]) == ("True", c.APPLIED)
