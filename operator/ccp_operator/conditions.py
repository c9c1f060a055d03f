"""Status conditions the operator writes, as documented constants (Kubernetes conventions).

- ``Ready``: the resource's routing config is in etcd and ACD nodes are using it. For a Tenant it also needs
  its certificates: whenever ``CertificatesReady`` is False, ``Ready`` is False with ``CertificatesNotReady``
  (its message says which Secret is at fault and what to do), as the tenant's pods cannot start with TLS;
  else, whenever ``SipReady`` is False with ``SipRefused``, ``Ready`` is False with ``SipNotReady`` (the
  trunks take no calls without their adapters; a ``RecordingsKeyInvalid`` key ring leaves ``Ready`` alone,
  as the adapters run without storing voicemail); otherwise it follows ``Reconciled`` (status, reason and
  message). ``ready`` computes it from the others.
- ``Reconciled``: the last generation was processed (False with a reason when it could not be).
- ``Degraded``: it works, but something needs attention (e.g. a queue drained with callers left).
- ``CredentialsRotated`` (Tenant): True once ``spec.credentials.rotation`` has issued new tokens (reason
  ``Rotated`` while the replaced ones still work, with the rotation number and until when; ``PreviousExpired``
  after); False with ``NotRotated`` for the first tokens, ``RotationLowered`` when the spec asks for a lower
  rotation (refused, nothing changed).
- ``CertificatesReady`` (Tenant outside the operator's namespace, with TLS): True once the node certificate the
  operator issues and the etcd client certificate it copies are in the Tenant's namespace (reason ``Issued``
  when written by this reconcile, ``UpToDate`` otherwise); False with ``CASecretMissing``, ``CASecretUnreadable``
  (the operator may not read it), ``CASecretInvalid`` (no usable ca.crt/ca.key, or the CA expired) or
  ``EtcdClientSecretMissing``, naming the Secret; the tenant's other resources are still reconciled, and the
  reconcile is retried (``ccp_operator.tls_secrets``).
- ``SipReady`` (Tenant): True (``Applied``) once the SIP adapters' StatefulSets and the recordings key ring
  Secret are in place (not: their pods run); False with ``RecordingsKeyInvalid`` when the key ring Secret holds
  no usable key ring (left as it is: replacing it would lose the stored voicemails) or ``SipRefused`` when
  Kubernetes refuses an adapter's StatefulSet or the key ring Secret (forbidden, invalid), naming it; the
  tenant's other resources are still reconciled, and the reconcile is retried (``ccp_operator.sip_adapters``).

Pure: ``set_condition`` returns the new list; ``lastTransitionTime`` changes only
when the status does; ``ready`` derives Ready from the others. Not for: computing the others (the handlers,
``tls_secrets``, ``credentials`` and ``sip_adapters`` do) or writing them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

READY = "Ready"
RECONCILED = "Reconciled"
DEGRADED = "Degraded"
CREDENTIALS_ROTATED = "CredentialsRotated"
CERTIFICATES_READY = "CertificatesReady"
SIP_READY = "SipReady"

# Reasons (CamelCase, as Kubernetes expects).
APPLIED = "Applied"                  # config written to etcd; SipReady: the adapters' objects applied
INVALID_SPEC = "InvalidSpec"         # the spec cannot be built; fix it (permanent)
TENANT_MISSING = "TenantMissing"     # the spec names a tenant with no Tenant resource yet (retried)
STATE_UNAVAILABLE = "StateUnavailable"  # etcd could not be reached (retried)
KUBERNETES_UNAVAILABLE = "KubernetesUnavailable"  # a child object could not be applied (retried)
DRAINING = "Draining"                # deleting: waiting callers are moved to the overflow target first
NOT_ROTATED = "NotRotated"           # credentials: the first tokens issued (rotation as in the spec)
ROTATED = "Rotated"                  # credentials: new tokens issued; the replaced ones work until their expiry
PREVIOUS_EXPIRED = "PreviousExpired"  # credentials: the replaced tokens expired (and are deleted from etcd)
ROTATION_LOWERED = "RotationLowered"  # credentials: the spec's rotation is below the one done (refused)
ISSUED = "Issued"                    # certificates: written into the tenant's namespace by this reconcile
UP_TO_DATE = "UpToDate"              # certificates: in place, names and CA current, not yet due for renewal
CA_SECRET_MISSING = "CASecretMissing"  # certificates: the CA Secret (CCP_ACD_CA_SECRET) does not exist (retried)
CA_SECRET_UNREADABLE = "CASecretUnreadable"  # certificates: the operator may not read the CA Secret (RBAC; retried)
CA_SECRET_INVALID = "CASecretInvalid"  # certificates: the CA Secret holds no usable CA certificate and key (retried)
ETCD_CLIENT_SECRET_MISSING = "EtcdClientSecretMissing"  # certificates: nothing to copy (retried)
RECORDINGS_KEY_INVALID = "RecordingsKeyInvalid"  # SIP: the key ring Secret is no key ring; never overwritten (retried)
SIP_REFUSED = "SipRefused"           # SIP: Kubernetes refused an adapter StatefulSet or the key Secret (retried)
SIP_NOT_READY = "SipNotReady"        # Ready: SipReady says the trunks' adapters are not in place
CERTIFICATES_NOT_READY = "CertificatesNotReady"  # Ready (Tenant): CertificatesReady is False (retried)

# What to do about each reason CertificatesReady is False for (the Ready condition's message says it).
CERTIFICATE_FIXES = {
    CA_SECRET_MISSING: "create the cluster CA Secret (the chart's, CCP_ACD_CA_SECRET) in the operator's namespace",
    CA_SECRET_UNREADABLE: "let the operator's service account get Secrets in its namespace (its ClusterRole)",
    CA_SECRET_INVALID: ("put a current CA's base64 PEM ca.crt and ca.key into the CA Secret "
                        "(docs/security.md, replacing the CA)"),
    ETCD_CLIENT_SECRET_MISSING: "create the etcd client certificate Secret (the chart's) in the operator's namespace",
}

# What a tenant admin does about a SipReady reason that makes Ready False (``ready``); other reasons leave Ready.
SIP_FIXES = {
    SIP_REFUSED: ("fix what the API server refused (SipReady names the object and the reason: often the "
                  "operator's RBAC or a namespace quota)"),
}


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, status: bool, reason: str, message: str, generation: int) -> dict[str, Any]:
    return {
        "type": type_,
        "status": "True" if status else "False",
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": now_rfc3339(),
    }


def set_condition(conditions: list[dict[str, Any]] | None, new: dict[str, Any]) -> list[dict[str, Any]]:
    """``conditions`` with ``new`` replacing the one of its type (keeping its transition time if unchanged)."""
    result = []
    for old in conditions or []:
        if old.get("type") != new["type"]:
            result.append(dict(old))
        elif old.get("status") == new["status"]:
            new = {**new, "lastTransitionTime": old.get("lastTransitionTime", new["lastTransitionTime"])}
    result.append(new)
    return sorted(result, key=lambda c: c["type"])


def ready(conditions: list[dict[str, Any]] | None, *, generation: int) -> dict[str, Any] | None:
    """The ``Ready`` condition the others call for: False (``CertificatesNotReady``) while ``CertificatesReady``
    is False, else False (``SipNotReady``) while ``SipReady`` is False for a reason in ``SIP_FIXES``, else as
    ``Reconciled``; None (leave Ready as it is) with none of these."""
    by_type = {x.get("type"): x for x in conditions or ()}
    certificates = by_type.get(CERTIFICATES_READY)
    if certificates is not None and certificates.get("status") == "False":
        reason = certificates.get("reason", "")
        fix = CERTIFICATE_FIXES.get(reason, "see the CertificatesReady condition")
        message = (f"the tenant's TLS certificates are not ready ({reason}: {certificates.get('message', '')}); "
                   f"its ACD pods need them to start with TLS. To fix: {fix}; the operator retries by itself")
        return condition(READY, False, CERTIFICATES_NOT_READY, message, generation)
    sip = by_type.get(SIP_READY)
    if sip is not None and sip.get("status") == "False" and sip.get("reason") in SIP_FIXES:
        reason = sip["reason"]
        message = (f"the tenant's SIP adapters are not in place ({reason}: {sip.get('message', '')}); its trunks "
                   f"take no calls. To fix: {SIP_FIXES[reason]}; the operator retries by itself")
        return condition(READY, False, SIP_NOT_READY, message, generation)
    reconciled = by_type.get(RECONCILED)
    if reconciled is None:
        return None
    return condition(READY, reconciled.get("status") == "True", reconciled.get("reason", ""),
                     reconciled.get("message", ""), generation)
