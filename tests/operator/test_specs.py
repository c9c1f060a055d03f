"""The resources users apply: every example builds, every invalid example is refused naming its field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ccp_acd.domain.models import Action, ActionKind, QueueConfig, SkillRequirement, SkillRing, Strategy
from ccp_operator.crds import crds
from ccp_operator.specs import SpecError, load_paths, parse_documents, queue_config, tenant_config, trunk_config
from ccp_operator.specs.schema import QueueSpec
from hypothesis import given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
INVALID = sorted((ROOT / "examples" / "invalid").glob("*.yaml"))


def test_the_examples_build_into_the_tenant_its_trunks_and_queues():
    desired = load_paths([ROOT / "examples"])
    assert desired.tenants["acme"].home_site == "site-a"
    assert desired.tenants["acme"].failover_sites == ("site-b",)
    assert sorted(desired.queues["acme"]) == ["general", "sales", "support"]
    assert {t.name: t.home_site for t in desired.trunks["acme"].values()} == {"acme-main": "site-a", "acme-west": "site-b"}
    assert desired.trunks["acme"]["acme-main"].numbers == ("+15550100", "+15550101")


def test_the_readme_support_queue_means_what_it_says():
    support = load_paths([ROOT / "examples"]).queues["acme"]["support"]
    assert support == QueueConfig(
        name="support",
        strategy=Strategy.BEST_SKILL_MATCH,
        skills=(SkillRequirement("support", 3),),
        rings=(SkillRing(20, (SkillRequirement("support", 1),)),),
        sl_threshold_s=20,
        sl_target=0.8,
        max_wait_s=300,
        on_max_wait=Action(ActionKind.QUEUE, "general"),
        on_no_agents=Action(ActionKind.CALLBACK),
    )
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n(.*?)```", readme, re.S).group(1)
    assert queue_config(yaml.safe_load(block)) == ("acme", support)


def test_there_are_invalid_examples():
    assert len(INVALID) >= 8


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_each_invalid_example_is_refused_naming_its_field(path: Path):
    expected_field = re.match(r"# (\S+):", path.read_text()).group(1)  # the file's first line says which
    with pytest.raises(SpecError) as refused:
        load_paths([path], known_tenants=["acme"])
    assert refused.value.path == expected_field
    assert expected_field in str(refused.value)


def _queue(name="q", **spec):
    return {"apiVersion": "ccp.dev/v1alpha1", "kind": "Queue", "metadata": {"name": name}, "spec": {"tenant": "t", **spec}}


def _trunk(name, numbers=None, **spec):
    spec = {"tenant": "t", "homeSite": "a", "numbers": ["+15550100"] if numbers is None else numbers, **spec}
    return {"apiVersion": "ccp.dev/v1alpha1", "kind": "Trunk", "metadata": {"name": name}, "spec": spec}


TENANT = {"apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "t"}, "spec": {"homeSite": "a"}}


@pytest.mark.parametrize(
    ("documents", "path", "problem"),
    [
        (
            [_queue(onNoAgents={"action": "queue", "targetQueue": "nowhere"}), TENANT],
            "spec.onNoAgents.targetQueue",
            "nowhere",
        ),
        ([_queue(), _queue(), TENANT], "metadata.name", "twice"),
        ([_queue()], "spec.tenant", "not declared"),
        ([{**TENANT, "kind": "Agent"}], "kind", "one of"),
        ([{**TENANT, "apiVersion": "ccp.dev/v2"}], "apiVersion", "v1alpha1"),
        ([{**TENANT, "metadata": {"name": "Bad Name"}}], "metadata.name", "pattern"),
        ([{**TENANT, "spec": None}], "spec", "required"),
        (
            [_queue(onMaxWait={"action": "voicemail", "targetQueue": "x"}), TENANT],
            "spec.onMaxWait.targetQueue",
            "only for action",
        ),
        ([_queue(onMaxWait={"action": "queue"}), TENANT], "spec.onMaxWait.targetQueue", "needs targetQueue"),
        ([_trunk("a", ["+15550100"]), _trunk("b", ["+15550111", "+15550100"]), TENANT], "spec.numbers[1]", "t/a"),
        ([_trunk("a", ["+15550100"], defaultQueue="nowhere"), TENANT], "spec.defaultQueue", "nowhere"),
    ],
)
def test_set_level_mistakes_are_refused(documents, path, problem):
    with pytest.raises(SpecError) as refused:
        parse_documents(documents)
    assert refused.value.path == path
    assert problem in refused.value.problem


def test_other_api_groups_are_skipped():
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "acme"}}
    assert parse_documents([namespace, TENANT]).tenants.keys() == {"t"}


skill = st.fixed_dictionaries(
    {"name": st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8), "minLevel": st.integers(1, 10)}
)
skills = st.lists(skill, max_size=5, unique_by=lambda s: s["name"])
rings = st.lists(st.floats(0, 600), max_size=3, unique=True).flatmap(
    lambda times: st.tuples(*[st.fixed_dictionaries({"afterSeconds": st.just(t), "skills": skills}) for t in sorted(times)])
).map(list)
valid_queue_specs = st.fixed_dictionaries(
    {"tenant": st.just("t")},
    optional={
        "strategy": st.sampled_from(["longest-idle", "round-robin", "fewest-calls", "least-talk-time", "best-skill-match"]),
        "priority": st.integers(0, 100),
        "skills": skills,
        "rings": rings,
        "serviceLevel": st.fixed_dictionaries({"thresholdSeconds": st.floats(1, 600), "target": st.floats(0, 1)}),
        "maxWaitSeconds": st.floats(0, 3600),
        "maxLength": st.integers(0, 10_000),
        "onNoAgents": st.sampled_from([{"action": "voicemail"}, {"action": "callback"}, {"action": "wait"}]),
        "siteOverflow": st.fixed_dictionaries({"marginSeconds": st.floats(0, 600)}),
    },
)


@settings(deadline=None)
@given(valid_queue_specs)
def test_valid_generated_specs_always_build_and_keep_their_values(spec):
    tenant, config = queue_config({"metadata": {"name": "q"}, "spec": spec})
    assert tenant == "t"
    assert len(config.skills) == len(spec.get("skills", []))
    assert config.priority == spec.get("priority", 0)
    assert config.max_length == spec.get("maxLength")
    assert [r.after_s for r in config.rings] == [r["afterSeconds"] for r in spec.get("rings", [])]
    assert config.site_overflow_margin_s == spec.get("siteOverflow", {}).get("marginSeconds")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
queue_fields = st.sampled_from(
    ["tenant", "strategy", "priority", "skills", "rings", "serviceLevel", "maxWaitSeconds", "maxLength", "onMaxWait",
     "onNoAgents", "wrapUpSeconds", "offerTimeoutSeconds", "agingPerMinute", "expectedHandleSeconds", "siteOverflow",
     "maxWait"]
)


@settings(deadline=None)  # a property of inputs, not of speed: shared CI machines are noisy
@given(st.dictionaries(queue_fields, json_values, max_size=4))
def test_any_spec_either_builds_or_is_refused_naming_a_spec_field(spec):
    """Nothing a client sends ends in another exception: the operator turns SpecError into a condition."""
    try:
        queue_config({"metadata": {"name": "q"}, "spec": spec})
    except SpecError as refused:
        assert refused.path.startswith("spec"), refused
        assert str(refused) == f"Queue/q: {refused.path}: {refused.problem}"


def test_an_empty_queue_spec_gets_the_domain_defaults():
    assert queue_config({"metadata": {"name": "q"}, "spec": {"tenant": "t"}}) == ("t", QueueConfig(name="q"))


@pytest.mark.parametrize(
    ("spec", "margin"),
    [({}, None), ({"siteOverflow": None}, None), ({"siteOverflow": {"marginSeconds": 30}}, 30.0),
     ({"siteOverflow": {"marginSeconds": 0}}, 0.0), ({"siteOverflow": {"marginSeconds": 12.5}}, 12.5)],
)
def test_site_overflow_margin_seconds_is_the_site_overflow_margin(spec, margin):
    """Absent means no cross-site overflow (None), not a margin of 0 (overflow on any difference)."""
    _, config = queue_config({"metadata": {"name": "q"}, "spec": {"tenant": "t", **spec}})
    assert config.site_overflow_margin_s == margin


def test_the_sales_example_overflows_across_sites_and_the_others_do_not():
    queues = load_paths([ROOT / "examples"]).queues["acme"]
    assert {name: q.site_overflow_margin_s for name, q in queues.items()} == {
        "sales": 30.0, "support": None, "general": None
    }


@pytest.mark.parametrize(
    ("spec", "path", "problem"),
    [
        ({"priority": True}, "spec.priority", "valid integer"),
        ({"priority": "5"}, "spec.priority", "valid integer"),
        ({"maxWaitSeconds": "30"}, "spec.maxWaitSeconds", "valid number"),
        ({"serviceLevel": {"target": "0.8"}}, "spec.serviceLevel.target", "valid number"),
        ({"maxWaitSeconds": float("inf")}, "spec.maxWaitSeconds", "finite"),
        ({"skills": [{"name": "a"}, {"name": "a", "minLevel": 3}]}, "spec.skills[1].name", "twice"),
        (
            {"rings": [{"afterSeconds": 5, "skills": [{"name": "x"}, {"name": "x"}]}]},
            "spec.rings[0].skills[1].name",
            "twice",
        ),
        (
            {"rings": [{"afterSeconds": 30, "skills": []}, {"afterSeconds": 30, "skills": []}]},
            "spec.rings[1].afterSeconds",
            "later than",
        ),
        ({"onMaxLength": {"action": "queue", "targetQueue": "q"}}, "spec.onMaxLength.targetQueue", "not the queue itself"),
        ({"siteOverflow": {"marginSeconds": -1}}, "spec.siteOverflow.marginSeconds", "greater than or equal to 0"),
        ({"siteOverflow": {"marginSeconds": "30"}}, "spec.siteOverflow.marginSeconds", "valid number"),
        ({"siteOverflow": {}}, "spec.siteOverflow.marginSeconds", "required"),
        ({"siteOverflow": {"margin": 30}}, "spec.siteOverflow.marginSeconds", "required"),
    ],
)
def test_queue_mistakes_are_refused_naming_the_field(spec, path, problem):
    with pytest.raises(SpecError) as refused:
        queue_config({"metadata": {"name": "q"}, "spec": {"tenant": "t", **spec}})
    assert (refused.value.kind, refused.value.name, refused.value.path) == ("Queue", "q", path)
    assert problem in refused.value.problem


@pytest.mark.parametrize(
    ("spec", "path", "problem"),
    [
        ({"allowedSources": ["10.0.0.0/8", "not-an-ip"]}, "spec.allowedSources[1]", "IP network"),
        ({"allowedSources": ["10.0.0.1/8"]}, "spec.allowedSources[0]", "host bits"),
        ({"numbers": ["+15550100", "+15550100"]}, "spec.numbers[1]", "twice"),
        ({"codecs": ["PCMU", "PCMU"]}, "spec.codecs[1]", "twice"),
        ({"numbers": "+15550100"}, "spec.numbers", "valid list"),
    ],
)
def test_trunk_mistakes_are_refused_naming_the_field(spec, path, problem):
    with pytest.raises(SpecError) as refused:
        trunk_config(_trunk("tr", **spec))
    assert (refused.value.kind, refused.value.path) == ("Trunk", path)
    assert problem in refused.value.problem


@pytest.mark.parametrize(
    ("spec", "path", "problem"),
    [
        ({"failoverSites": ["b", "b"]}, "spec.failoverSites[1]", "twice"),
        ({"failoverSites": ["b", "a"]}, "spec.failoverSites[1]", "home site"),
        ({"displayName": 5}, "spec.displayName", "valid string"),
    ],
)
def test_tenant_mistakes_are_refused_naming_the_field(spec, path, problem):
    with pytest.raises(SpecError) as refused:
        tenant_config({**TENANT, "spec": {"homeSite": "a", **spec}})
    assert (refused.value.kind, refused.value.name, refused.value.path) == ("Tenant", "t", path)
    assert problem in refused.value.problem


def test_a_directory_means_its_yaml_files_not_its_subfolders(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump_all([TENANT, _queue("one")]))
    (tmp_path / "b.yml").write_text(yaml.safe_dump(_queue("two")))
    (tmp_path / "notes.txt").write_text(yaml.safe_dump(_queue("three")))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.yaml").write_text(yaml.safe_dump(_queue("four")))
    assert sorted(load_paths([tmp_path]).queues["t"]) == ["one", "two"]
    assert sorted(load_paths([tmp_path / "b.yml"], known_tenants=["t"]).queues["t"]) == ["two"]


def test_the_schema_is_exportable_for_crds():
    schema = QueueSpec.model_json_schema(by_alias=True)
    assert {"tenant", "strategy", "serviceLevel", "onMaxWait"} <= set(schema["properties"])
    assert schema["required"] == ["tenant"]


def test_the_crd_says_site_overflow_is_an_object_with_a_required_non_negative_margin():
    queue = next(c for c in crds() if c["spec"]["names"]["kind"] == "Queue")
    spec = queue["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    overflow = spec["properties"]["siteOverflow"]
    assert "$ref" not in str(overflow) and "anyOf" not in str(overflow)
    assert overflow["type"] == "object" and overflow["required"] == ["marginSeconds"] and overflow["description"]
    margin = overflow["properties"]["marginSeconds"]
    assert (margin["type"], margin["minimum"], "exclusiveMinimum" in margin) == ("number", 0, False)
    assert "siteOverflow" not in spec["required"]
