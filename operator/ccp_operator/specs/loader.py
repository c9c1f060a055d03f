"""Read a set of ccp.dev resources (YAML files or parsed documents) into the desired state.

Documents of other API groups are skipped (a directory may hold a Namespace or
a Secret too); an unknown ccp.dev kind, a duplicate name, a queue or trunk of an
undeclared tenant, an overflow, default or IVR queue that the tenant does not
declare, a number on two trunks and a SIP port on two trunks of a tenant's site
are SpecErrors.

Pure apart from reading the files. The checks see only the set given (plus
``known_tenants``): a queue already in etcd but not in the set does not count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state.store import TenantConfig, TrunkConfig

from ccp_operator.specs.errors import SpecError
from ccp_operator.specs.queues import OVERFLOW_FIELDS, queue_config
from ccp_operator.specs.schema import GROUP, SPECS, VERSION
from ccp_operator.specs.tenants import tenant_config
from ccp_operator.specs.trunks import ivr_queues, trunk_config


@dataclass(frozen=True)
class Desired:
    """Configs by tenant, then by name, as ``apply_desired`` writes them."""

    tenants: dict[str, TenantConfig] = field(default_factory=dict)
    trunks: dict[str, dict[str, TrunkConfig]] = field(default_factory=dict)  # tenant -> name -> config
    queues: dict[str, dict[str, QueueConfig]] = field(default_factory=dict)  # tenant -> name -> config


def _ours(document: Mapping) -> bool:
    return str(document.get("apiVersion", "")).split("/")[0] == GROUP


def parse_documents(documents: Iterable[Mapping], *, known_tenants: Iterable[str] = ()) -> Desired:
    desired = Desired()
    for document in documents:
        if not isinstance(document, Mapping) or not _ours(document):
            continue
        kind = str(document.get("kind", ""))
        metadata = document.get("metadata")
        # Any YAML can arrive here: metadata that is not a mapping is the builders' SpecError, not an AttributeError.
        name = str(metadata.get("name", "?")) if isinstance(metadata, Mapping) else "?"
        if document.get("apiVersion") != f"{GROUP}/{VERSION}":
            raise SpecError(kind, name, "apiVersion", f"must be {GROUP}/{VERSION}")
        if kind not in SPECS:
            raise SpecError(kind or "?", name, "kind", f"must be one of {', '.join(SPECS)}")
        if kind == "Tenant":
            config = tenant_config(document)
            _add(desired.tenants, config.name, config, kind)
        elif kind == "Trunk":
            tenant, config = trunk_config(document)
            _add(desired.trunks.setdefault(tenant, {}), config.name, config, kind)
        else:
            tenant, config = queue_config(document)
            _add(desired.queues.setdefault(tenant, {}), config.name, config, kind)
    _cross_check(desired, {*known_tenants, *desired.tenants})
    return desired


def _add(into: dict, name: str, config, kind: str) -> None:
    if name in into:
        raise SpecError(kind, name, "metadata.name", "is declared twice")
    into[name] = config


def _cross_check(desired: Desired, tenants: set[str]) -> None:
    for kind, by_tenant in (("Trunk", desired.trunks), ("Queue", desired.queues)):
        for tenant, configs in by_tenant.items():
            if tenant not in tenants:
                raise SpecError(kind, next(iter(configs)), "spec.tenant", f"names tenant {tenant!r}, which is not declared")
    for tenant, queues in desired.queues.items():
        for queue in queues.values():
            for field_name, attribute in OVERFLOW_FIELDS.items():
                action = getattr(queue, attribute)
                if action.target_queue and action.target_queue not in queues:
                    raise SpecError(
                        "Queue", queue.name, f"spec.{field_name}.targetQueue",
                        f"names queue {action.target_queue!r}, which tenant {tenant!r} does not declare",
                    )
    for tenant, trunks in desired.trunks.items():
        queues = desired.queues.get(tenant, {})
        for trunk in trunks.values():
            named = [("spec.defaultQueue", trunk.default_queue)] if trunk.default_queue else []
            for path, queue in named + ivr_queues(trunk):
                if queue not in queues:
                    problem = f"names queue {queue!r}, which tenant {tenant!r} does not declare"
                    raise SpecError("Trunk", trunk.name, path, problem)
    _numbers_on_one_trunk(desired)
    _one_trunk_per_sip_port(desired)


def _numbers_on_one_trunk(desired: Desired) -> None:
    """A dialled number must lead to one trunk, whichever tenants the trunks belong to."""
    owner: dict[str, str] = {}
    for tenant, trunks in sorted(desired.trunks.items()):
        for trunk in sorted(trunks.values(), key=lambda t: t.name):
            for index, number in enumerate(trunk.numbers):
                if number in owner:
                    problem = f"{number} is already a number of trunk {owner[number]}"
                    raise SpecError("Trunk", trunk.name, f"spec.numbers[{index}]", problem)
                owner[number] = f"{tenant}/{trunk.name}"


def _one_trunk_per_sip_port(desired: Desired) -> None:
    """A tenant's SIP adapter at a site listens on one UDP port per trunk."""
    for tenant, trunks in sorted(desired.trunks.items()):
        owner: dict[tuple[str, int], str] = {}
        for trunk in sorted(trunks.values(), key=lambda t: t.name):
            if trunk.sip is None:
                continue
            where = (trunk.home_site, trunk.sip.port)
            if where in owner:
                problem = f"{trunk.sip.port} is already the port of trunk {tenant}/{owner[where]} at site {trunk.home_site}"
                raise SpecError("Trunk", trunk.name, "spec.sip.port", problem)
            owner[where] = trunk.name


def read_documents(paths: Iterable[str | Path]) -> list[Mapping]:
    """YAML documents of the files given; a directory means its *.yaml and *.yml files (not recursive)."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(path)
    documents: list[Mapping] = []
    for file in files:
        with file.open() as f:
            documents += [d for d in yaml.safe_load_all(f) if d is not None]
    return documents


def load_paths(paths: Iterable[str | Path], *, known_tenants: Iterable[str] = ()) -> Desired:
    return parse_documents(read_documents(paths), known_tenants=known_tenants)
