"""Pure builders from ccp.dev custom resources to the routing config in etcd.

``schema`` is the one schema (validation here, CRD OpenAPI through ``model_json_schema()``);
``tenants``, ``trunks`` and ``queues`` build one resource each; ``loader`` checks a set.
"""

from ccp_operator.specs.errors import SpecError
from ccp_operator.specs.loader import Desired, load_paths, parse_documents
from ccp_operator.specs.queues import queue_config
from ccp_operator.specs.tenants import tenant_config
from ccp_operator.specs.trunks import trunk_config

__all__ = ["Desired", "SpecError", "load_paths", "parse_documents", "queue_config", "tenant_config", "trunk_config"]
