"""The Kubernetes side of the operator's I/O: server-side apply of child objects, secrets.

The kubernetes client is synchronous; calls run in a thread so the operator's
event loop keeps serving other resources.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import kubernetes
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ConflictError, NotFoundError

FIELD_MANAGER = "ccp-operator"


def api_client() -> kubernetes.client.ApiClient:
    """In a pod: the service account; elsewhere: KUBECONFIG as it is now."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(config_file=os.environ.get("KUBECONFIG"), client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


class Kube:
    def __init__(self, client: kubernetes.client.ApiClient):
        self._client = client
        self._dynamic = DynamicClient(client)

    def close(self) -> None:
        self._client.close()

    def _apply(self, obj: dict[str, Any]) -> None:
        resource = self._dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        resource.server_side_apply(
            body=obj,
            name=obj["metadata"]["name"],
            namespace=obj["metadata"]["namespace"],
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )

    async def apply(self, obj: dict[str, Any]) -> None:
        """Create or converge ``obj`` (idempotent: applying twice changes nothing)."""
        await asyncio.to_thread(self._apply, obj)

    def _create(self, obj: dict[str, Any]) -> bool:
        resource = self._dynamic.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        try:
            resource.create(body=obj, namespace=obj["metadata"]["namespace"], field_manager=FIELD_MANAGER)
        except ConflictError:
            return False
        return True

    async def create(self, obj: dict[str, Any]) -> bool:
        """Create ``obj`` unless it exists (then nothing is changed: False). For objects that must never be
        overwritten, where an apply would replace what a concurrent writer put there."""
        return await asyncio.to_thread(self._create, obj)

    def _get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        resource = self._dynamic.resources.get(api_version=api_version, kind=kind)
        try:
            return resource.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return None

    async def get(self, api_version: str, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
        """The object as the API server has it, or None."""
        return await asyncio.to_thread(self._get, api_version, kind, name, namespace)

    def _exists(self, api_version: str, kind: str, name: str, namespace: str) -> bool:
        resource = self._dynamic.resources.get(api_version=api_version, kind=kind)
        try:
            resource.get(name=name, namespace=namespace)
            return True
        except NotFoundError:
            return False

    async def exists(self, api_version: str, kind: str, name: str, namespace: str) -> bool:
        return await asyncio.to_thread(self._exists, api_version, kind, name, namespace)
