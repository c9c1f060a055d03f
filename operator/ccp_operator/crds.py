"""The CustomResourceDefinitions, generated from the one schema in ``specs.schema``.

Pure: ``crds()`` returns the CRD manifests as dicts; ``scripts/gen_crds.py``
writes them into the chart and a test fails if the committed files drift.

The pydantic JSON Schema is turned into a Kubernetes structural schema:
``$ref`` inlined, ``Optional`` unwrapped, JSON Schema 2020 exclusive bounds
rewritten to OpenAPI 3.0 booleans, titles dropped. Rules pydantic checks in
code (model validators) are restated as CEL ``x-kubernetes-validations`` so
``kubectl apply`` refuses the same specs the builders refuse (all but one: an IVR's
onTimeout chains are walked by the operator only). Unknown fields
are refused by the API server's strict field validation (kubectl's default).
"""

from __future__ import annotations

import copy
from typing import Any

from ccp_operator.specs.schema import GROUP, VERSION, QueueSpec, TenantSpec, TrunkSpec

CATEGORY = "contactcenter"

# CEL rules for what the pydantic model validators check in code.
ACTION_RULES = [
    {"rule": "self.action != 'queue' || has(self.targetQueue)", "message": "action 'queue' needs targetQueue"},
    {"rule": "self.action == 'queue' || !has(self.targetQueue)", "message": "targetQueue is only for action 'queue'"},
]
TENANT_RULES = [
    {
        "rule": "!has(self.failoverSites) || !(self.homeSite in self.failoverSites)",
        "message": "failoverSites lists the home site",
        "fieldPath": ".failoverSites",
    }
]

# The IVR's rules (specs.voice), where the API server can check them. Not here: that onTimeout chains end
# (a graph walk; the operator refuses those with a SpecError condition).
IVR_TARGET_RULES = [
    {"rule": "has(self.queue) || has(self.menu) || has(self.action)", "message": "needs one of queue, menu or action",
     "fieldPath": ".queue"},
    {"rule": "!has(self.menu) || !(has(self.queue) || has(self.action))",
     "message": "a menu target takes no queue or action beside it", "fieldPath": ".menu"},
]
IVR_MENU_RULES = [
    {"rule": "!has(self.options) || self.options.all(o, size(o.digits) <= self.maxDigits)",
     "message": "an option's digits are longer than maxDigits", "fieldPath": ".options"},
]
IVR_RULES = [
    {"rule": "self.menus.exists(m, m.name == self.entry)", "message": "names a menu that is not in menus",
     "fieldPath": ".entry"},
    {"rule": "self.menus.all(m, !has(m.options)"
     " || m.options.all(o, !has(o.menu) || self.menus.exists(x, x.name == o.menu)))",
     "message": "an option names a menu that is not in menus", "fieldPath": ".menus"},
    {"rule": "self.menus.all(m, !has(m.onTimeout) || !has(m.onTimeout.menu)"
     " || self.menus.exists(x, x.name == m.onTimeout.menu))",
     "message": "an onTimeout names a menu that is not in menus", "fieldPath": ".menus"},
]
_HAS_DEFAULT_QUEUE = "(has(self.defaultQueue) && self.defaultQueue != '')"
TRUNK_RULES = [
    {"rule": f"{_HAS_DEFAULT_QUEUE} || !has(self.sip) || has(self.ivr)",
     "message": "is needed by a trunk with sip and no ivr: calls must reach a queue", "fieldPath": ".defaultQueue"},
    {"rule": f"{_HAS_DEFAULT_QUEUE} || !has(self.ivr) || self.ivr.menus.all(m, has(m.onTimeout))",
     "message": "every menu needs onTimeout when the trunk has no defaultQueue: a caller who presses nothing must"
     " reach a queue", "fieldPath": ".ivr.menus"},
    {"rule": f"{_HAS_DEFAULT_QUEUE} || !has(self.ivr) || self.ivr.menus.all(m, (!has(m.onTimeout)"
     " || !has(m.onTimeout.action) || has(m.onTimeout.queue))"
     " && (!has(m.options) || m.options.all(o, !has(o.action) || has(o.queue))))",
     "message": "an action needs queue when the trunk has no defaultQueue", "fieldPath": ".ivr.menus"},
]
ANNOUNCEMENT_RULES = [
    {"rule": "self.everySeconds == 0 || self.everySeconds >= 10",
     "message": "must be 0 (no announcements) or at least 10 seconds", "fieldPath": ".everySeconds"},
]


def _trunk_spec() -> dict[str, Any]:
    spec = structural(TrunkSpec.model_json_schema(by_alias=True))
    spec["x-kubernetes-validations"] = TRUNK_RULES
    ivr = spec["properties"]["ivr"]
    ivr["x-kubernetes-validations"] = IVR_RULES
    menus = ivr["properties"]["menus"]
    menus.update({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]})
    menu = menus["items"]
    menu["x-kubernetes-validations"] = IVR_MENU_RULES
    options = menu["properties"]["options"]
    options.update({"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["digits"]})
    options["items"]["x-kubernetes-validations"] = IVR_TARGET_RULES
    menu["properties"]["onTimeout"]["x-kubernetes-validations"] = IVR_TARGET_RULES
    return spec


# A transition rule (oldSelf). The number counts rotations done: lowering it cannot bring old tokens back.
ROTATION_RULES = [{"rule": "self >= oldSelf", "message": "credentials.rotation may only go up"}]

# Where the tenant's tokens stand: the rotation in the Secret, and until when the ones it replaced work.
CREDENTIALS_STATUS = {
    "type": "object",
    "properties": {
        "rotation": {"type": "integer"},
        "previousExpireAt": {"type": "string", "format": "date-time"},
    },
}


def _queue_root_rules() -> list[dict[str, str]]:
    """Overflow must go elsewhere: only a root rule can see metadata.name."""
    rules = []
    for action in ("onMaxWait", "onMaxLength", "onNoAgents"):
        rules.append(
            {
                "rule": f"!has(self.spec.{action}) || !has(self.spec.{action}.targetQueue)"
                f" || self.spec.{action}.targetQueue != self.metadata.name",
                "message": f"spec.{action}.targetQueue must name another queue, not the queue itself",
                "fieldPath": f".spec.{action}.targetQueue",
            }
        )
    return rules


def structural(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pydantic JSON Schema node as a Kubernetes structural schema node."""
    defs = schema.get("$defs", {}) if defs is None else defs
    node = copy.deepcopy(schema)
    if "$ref" in node:
        target = defs[node.pop("$ref").split("/")[-1]]
        node = {**copy.deepcopy(target), **node}
    if "anyOf" in node:
        options = [o for o in node.pop("anyOf") if o.get("type") != "null"]
        if len(options) != 1:
            raise ValueError(f"cannot express a union of {options} in a structural schema")
        node = {**options[0], **node}
    for drop in ("$defs", "title", "additionalProperties"):
        node.pop(drop, None)
    if node.get("default", 0) is None:
        node.pop("default")
    if "const" in node:  # a one-value Literal: structural schemas have enum, not const
        node["enum"] = [node.pop("const")]
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(node.get(bound), int | float) and not isinstance(node.get(bound), bool):
            node[inclusive] = node.pop(bound)
            node[bound] = True
    if "properties" in node:
        node["properties"] = {k: structural(v, defs) for k, v in node["properties"].items()}
    if "items" in node:
        node["items"] = structural(node["items"], defs)
    return node


CONDITION = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "observedGeneration": {"type": "integer"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
    },
}


def _status(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "observedGeneration": {"type": "integer"},
            "conditions": {
                "type": "array",
                "items": CONDITION,
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            **extra,
        },
    }


AGE_COLUMN = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def _ready_column() -> dict[str, str]:
    return {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'}


def _crd(kind: str, plural: str, short: list[str], spec: dict, status: dict, columns: list[dict], rules=()) -> dict:
    root: dict[str, Any] = {
        "type": "object",
        "required": ["spec"],
        "properties": {"spec": spec, "status": status},
    }
    if rules:
        root["x-kubernetes-validations"] = list(rules)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": short,
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": root},
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [*columns, AGE_COLUMN],
                }
            ],
        },
    }


# kopf's peering resource (one active operator among replicas), as kopf documents it.
KOPF_PEERING_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "clusterkopfpeerings.kopf.dev"},
    "spec": {
        "scope": "Cluster",
        "group": "kopf.dev",
        "names": {"kind": "ClusterKopfPeering", "plural": "clusterkopfpeerings", "singular": "clusterkopfpeering"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {"status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    }
                },
            }
        ],
    },
}


def crds() -> list[dict[str, Any]]:
    tenant_spec = structural(TenantSpec.model_json_schema(by_alias=True))
    tenant_spec["x-kubernetes-validations"] = TENANT_RULES
    tenant_spec["properties"]["credentials"]["properties"]["rotation"]["x-kubernetes-validations"] = ROTATION_RULES
    trunk_spec = _trunk_spec()
    queue_spec = structural(QueueSpec.model_json_schema(by_alias=True))
    queue_spec["properties"]["announcements"]["x-kubernetes-validations"] = ANNOUNCEMENT_RULES
    for action in ("onMaxWait", "onMaxLength", "onNoAgents"):
        queue_spec["properties"][action]["x-kubernetes-validations"] = ACTION_RULES
    return [
        _crd(
            "Tenant", "tenants", ["cctenant"], tenant_spec,
            _status({"activeSite": {"type": "string"}, "queues": {"type": "integer"}, "credentials": CREDENTIALS_STATUS}),
            [
                {"name": "Home Site", "type": "string", "jsonPath": ".spec.homeSite"},
                {"name": "Active Site", "type": "string", "jsonPath": ".status.activeSite"},
                _ready_column(),
            ],
        ),
        _crd(
            "Trunk", "trunks", ["cctrunk"], trunk_spec, _status({}),
            [
                {"name": "Tenant", "type": "string", "jsonPath": ".spec.tenant"},
                {"name": "Home Site", "type": "string", "jsonPath": ".spec.homeSite"},
                {"name": "Numbers", "type": "string", "jsonPath": ".spec.numbers"},
                _ready_column(),
            ],
        ),
        _crd(
            "Queue", "queues", ["ccq"], queue_spec,
            _status(
                {
                    "waiting": {"type": "integer"},
                    "longestWaitSeconds": {"type": "number"},
                    "agentsLoggedIn": {"type": "integer"},
                    "homeSite": {"type": "string"},
                    "ownerSite": {"type": "string"},
                    "standbySites": {"type": "array", "items": {"type": "string"}},
                }
            ),
            [
                {"name": "Tenant", "type": "string", "jsonPath": ".spec.tenant"},
                {"name": "Strategy", "type": "string", "jsonPath": ".spec.strategy"},
                {"name": "SL Target", "type": "number", "jsonPath": ".spec.serviceLevel.target"},
                _ready_column(),
                {"name": "Waiting", "type": "integer", "jsonPath": ".status.waiting"},
                {"name": "Longest Wait", "type": "number", "jsonPath": ".status.longestWaitSeconds"},
                {"name": "Home Site", "type": "string", "jsonPath": ".status.homeSite"},
                {"name": "Owner Site", "type": "string", "jsonPath": ".status.ownerSite", "priority": 1},
            ],
            _queue_root_rules(),
        ),
        KOPF_PEERING_CRD,
    ]
