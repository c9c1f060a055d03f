"""Pure builders from ccp.dev custom resources to the routing config in etcd."""

from ccp_operator.specs.build import queue_config, tenant_config, trunk_config
from ccp_operator.specs.errors import SpecError
from ccp_operator.specs.loader import Desired, load_paths, parse_documents

__all__ = ["Desired", "SpecError", "load_paths", "parse_documents", "queue_config", "tenant_config", "trunk_config"]
