"""A Trunk resource in, its tenant and the trunk config the SIP side reads out. Pure.

Whether the tenant exists, the default and IVR queues exist, a number belongs to one
trunk only and a SIP port to one trunk of a tenant's site are questions about a set
of resources: see ``loader``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccp_acd.domain.ivr import IvrConfig, IvrMenu, IvrOption, IvrTarget, TargetKind
from ccp_acd.state.store import TrunkConfig, TrunkSip

from ccp_operator.specs.schema import TrunkSpec, validated
from ccp_operator.specs.voice import IvrSpec, IvrTargetSpec, SipSpec


def _target(spec: IvrTargetSpec) -> IvrTarget:
    if spec.menu is not None:
        return IvrTarget(TargetKind.MENU, spec.menu)
    if spec.action is not None:
        return IvrTarget(TargetKind(spec.action), spec.queue or "")
    return IvrTarget(TargetKind.QUEUE, spec.queue or "")


def _ivr(spec: IvrSpec) -> IvrConfig:
    return IvrConfig(
        entry=spec.entry,
        menus=tuple(
            IvrMenu(
                name=m.name,
                prompt=m.prompt,
                timeout_s=m.timeout_seconds,
                max_digits=m.max_digits,
                retries=m.retries,
                options=tuple(IvrOption(o.digits, _target(o)) for o in m.options),
                on_timeout=None if m.on_timeout is None else _target(m.on_timeout),
            )
            for m in spec.menus
        ),
    )


def _sip(spec: SipSpec) -> TrunkSip:
    host, _, port = spec.carrier.rpartition(":")
    return TrunkSip(port=spec.port, carrier_host=host.removeprefix("[").removesuffix("]"), carrier_port=int(port))


def trunk_config(resource: Mapping) -> tuple[str, TrunkConfig]:
    """(tenant, config); raises SpecError naming the first wrong field."""
    name, spec = validated(resource, TrunkSpec)
    return spec.tenant, TrunkConfig(
        name=name,
        numbers=tuple(spec.numbers),
        carrier=spec.carrier,
        codecs=tuple(spec.codecs),
        home_site=spec.home_site,
        default_queue=spec.default_queue,
        allowed_sources=tuple(spec.allowed_sources),
        sip=None if spec.sip is None else _sip(spec.sip),
        ivr=None if spec.ivr is None else _ivr(spec.ivr),
    )


def ivr_queues(config: TrunkConfig) -> list[tuple[str, str]]:
    """(field path, queue) of every queue the trunk's IVR names, for the set-level check in ``loader``."""
    named: list[tuple[str, str]] = []
    for i, menu in enumerate(config.ivr.menus if config.ivr else ()):
        for j, option in enumerate(menu.options):
            if option.target.kind != TargetKind.MENU and option.target.name:
                named.append((f"spec.ivr.menus[{i}].options[{j}].queue", option.target.name))
        if menu.on_timeout is not None and menu.on_timeout.kind != TargetKind.MENU and menu.on_timeout.name:
            named.append((f"spec.ivr.menus[{i}].onTimeout.queue", menu.on_timeout.name))
    return named
