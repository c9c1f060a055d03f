"""The resources users apply: every example builds, every invalid example is refused naming its field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ccp_acd.domain.models import Action, ActionKind, QueueConfig, SkillRequirement, SkillRing, Strategy
from ccp_operator.specs import SpecError, load_paths, parse_documents, queue_config
from ccp_operator.specs.schema import QueueSpec
from hypothesis import given
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
        ([_queue(onMaxWait={"action": "voicemail", "targetQueue": "x"}), TENANT], "spec.onMaxWait", "only for action"),
        ([_queue(onMaxWait={"action": "queue"}), TENANT], "spec.onMaxWait", "needs targetQueue"),
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
ring = st.fixed_dictionaries({"afterSeconds": st.floats(0, 600), "skills": st.lists(skill, max_size=3)})
valid_queue_specs = st.fixed_dictionaries(
    {"tenant": st.just("t")},
    optional={
        "strategy": st.sampled_from(["longest-idle", "round-robin", "fewest-calls", "least-talk-time", "best-skill-match"]),
        "priority": st.integers(0, 100),
        "skills": st.lists(skill, max_size=5),
        "rings": st.lists(ring, max_size=3),
        "serviceLevel": st.fixed_dictionaries({"thresholdSeconds": st.floats(1, 600), "target": st.floats(0, 1)}),
        "maxWaitSeconds": st.floats(0, 3600),
        "maxLength": st.integers(0, 10_000),
        "onNoAgents": st.sampled_from([{"action": "voicemail"}, {"action": "callback"}, {"action": "wait"}]),
    },
)


@given(valid_queue_specs)
def test_valid_generated_specs_always_build_and_keep_their_values(spec):
    tenant, config = queue_config({"metadata": {"name": "q"}, "spec": spec})
    assert tenant == "t"
    assert len(config.skills) == len(spec.get("skills", []))
    assert config.priority == spec.get("priority", 0)
    assert config.max_length == spec.get("maxLength")


def test_the_schema_is_exportable_for_crds():
    schema = QueueSpec.model_json_schema(by_alias=True)
    assert {"tenant", "strategy", "serviceLevel", "onMaxWait"} <= set(schema["properties"])
    assert schema["required"] == ["tenant"]
