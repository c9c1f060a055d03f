"""Property-based fuzzing of the custom-resource specs the operator accepts (pure: no cluster, no etcd).

Specs come from the CRDs' own ``openAPIV3Schema`` (``from_openapi``: the
subset of OpenAPI the CRDs use; hypothesis-jsonschema 0.23 does not run on
this hypothesis), as the API server would let them through its structural
schema (unknown fields pruned; CEL rules not applied), plus the same specs with one field replaced by arbitrary JSON, plus
arbitrary JSON documents of any kind. The operator's builders and the loader
must either accept a resource or raise their documented invalid-spec error
(``SpecError``, which the handlers turn into ``kopf.PermanentError``), never
anything else; an accepted resource's config must survive the state codec
(encode, decode, equal), since that is what nodes read from etcd.

Bounded by ``CCP_FUZZ_EXAMPLES`` like the gRPC fuzzer (more examples here:
no I/O).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from ccp_acd.state.codec import decode, encode
from ccp_operator.specs import SpecError, parse_documents, queue_config, tenant_config, trunk_config
from ccp_operator.specs.schema import API_VERSION
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.helpers import ROOT
from tests.security.conftest import Tally

CRDS = ROOT / "charts" / "contact-center" / "crds"
EXAMPLES = 3 * int(os.environ.get("CCP_FUZZ_EXAMPLES", "40"))
SPEC_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # The session tally is the only fixture; CRD schemas with patterns generate slowly and filter a lot.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)

BUILDERS: dict[str, Callable[[dict], Any]] = {
    "Tenant": tenant_config,
    "Trunk": lambda resource: trunk_config(resource)[1],
    "Queue": lambda resource: queue_config(resource)[1],
}
CRD_FILES = {"Tenant": "tenants.yaml", "Trunk": "trunks.yaml", "Queue": "queues.yaml"}
# Items generated per list, at most (the schemas allow up to 1000 numbers on a trunk).
MAX_ITEMS = 6


def from_openapi(schema: dict) -> st.SearchStrategy:
    """Values valid for an OpenAPI v3.0 structural schema (the subset the ccp.dev CRDs use): types, enums,
    patterns, lengths, bounds (``exclusiveMinimum`` as OpenAPI's boolean), required and optional properties.
    Objects are closed: the API server prunes unknown fields before the operator sees them."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object":
        properties = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {key: from_openapi(value) for key, value in properties.items() if key in required},
            optional={key: from_openapi(value) for key, value in properties.items() if key not in required},
        )
    if kind == "array":
        low = schema.get("minItems", 0)
        high = max(low, min(schema.get("maxItems", MAX_ITEMS), MAX_ITEMS))
        return st.lists(from_openapi(schema["items"]), min_size=low, max_size=high)
    if kind == "string":
        longest = schema.get("maxLength", 300)
        if "pattern" in schema:
            return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= longest)
        return st.text(max_size=longest)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(
            schema.get("minimum"), schema.get("maximum"), exclude_min=bool(schema.get("exclusiveMinimum")),
            allow_nan=False, allow_infinity=False,
        )
    if kind == "boolean":
        return st.booleans()
    raise NotImplementedError(f"no strategy for schema {schema}")


def spec_schema(kind: str) -> dict:
    crd = yaml.safe_load((CRDS / CRD_FILES[kind]).read_text())
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]


def resource(kind: str, spec: Any, name: str = "fuzzed") -> dict:
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": {"name": name}, "spec": spec}


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
NAMES = st.one_of(st.just("fuzzed"), st.text(max_size=70), JSONISH)


def _round_trips(config: Any) -> None:
    assert decode(type(config), encode(config)) == config


def _check(kind: str, document: Any, tally: Tally) -> None:
    try:
        config = BUILDERS[kind](document)
    except SpecError:
        tally.spec(kind, "refused")
        return
    tally.spec(kind, "accepted")
    _round_trips(config)


def _replace_one_field(spec: dict, path: list, value: Any) -> dict:
    mutated = copy.deepcopy(spec)
    target = mutated
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return mutated


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a field or list item of a spec (to replace one of them)."""
    found: list[tuple] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_specs_from_the_crd_schema_are_accepted_or_refused_with_a_spec_error(kind: str, tally: Tally):
    @SPEC_SETTINGS
    @given(spec=from_openapi(spec_schema(kind)), name=NAMES)
    def check(spec: dict, name: Any) -> None:
        _check(kind, resource(kind, spec, name), tally)

    check()


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_schema_valid_specs_with_one_field_replaced_by_any_json_are_handled(kind: str, tally: Tally):
    @SPEC_SETTINGS
    @given(data=st.data(), spec=from_openapi(spec_schema(kind)))
    def check(data, spec: dict) -> None:
        paths = _paths(spec)
        if paths:
            path = data.draw(st.sampled_from(paths), label="field")
            spec = _replace_one_field(spec, list(path), data.draw(JSONISH, label="value"))
        _check(kind, resource(kind, spec), tally)

    check()


DOCUMENT = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from([API_VERSION, "ccp.dev/v2", "v1", ""]) | JSONISH,
        "kind": st.sampled_from(["Tenant", "Trunk", "Queue", "Other", ""]) | JSONISH,
    },
    optional={"metadata": st.fixed_dictionaries({}, optional={"name": NAMES}) | JSONISH, "spec": JSONISH},
)


@SPEC_SETTINGS
@given(documents=st.lists(DOCUMENT | JSONISH, max_size=6))
@example(documents=[{"apiVersion": API_VERSION, "kind": "Queue", "metadata": {"name": "q"}, "spec": []}])
# Regression: metadata that is not a mapping made the loader raise AttributeError instead of a SpecError.
@example(documents=[{"apiVersion": API_VERSION, "kind": "Tenant", "metadata": 1}])
def test_the_loader_accepts_or_refuses_any_set_of_documents_with_a_spec_error(documents: list, tally: Tally):
    try:
        desired = parse_documents(documents)
    except SpecError:
        tally.spec("documents", "refused")
        return
    tally.spec("documents", "accepted")
    for config in [*desired.tenants.values(), *(c for by in (desired.trunks, desired.queues) for d in by.values()
                                                for c in d.values())]:
        _round_trips(config)

