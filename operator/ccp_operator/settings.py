"""Operator settings, from ``CCP_*`` environment variables (the chart sets them)."""

from __future__ import annotations

import os

from pydantic_settings import BaseSettings, SettingsConfigDict

from ccp_operator.children import TELEMETRY_ENV, AcdTemplate


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCP_", frozen=True, extra="ignore")

    # host:port of the etcd the ACD nodes share; the operator writes routing config there.
    etcd_endpoint: str = "127.0.0.1:2379"
    # Image of the ACD nodes the operator creates for each tenant.
    acd_image: str = AcdTemplate.image
    # etcd as the ACD pods reach it (a Service name in the cluster); defaults to etcd_endpoint.
    acd_etcd_endpoint: str = ""

    def acd_template(self) -> AcdTemplate:
        return AcdTemplate(
            image=self.acd_image,
            etcd_endpoint=self.acd_etcd_endpoint or self.etcd_endpoint,
            telemetry_env=tuple((name, os.environ[name]) for name in TELEMETRY_ENV if os.environ.get(name)),
        )
