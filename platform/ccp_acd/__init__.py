"""The ACD node: routing domain, etcd state, gRPC API, embedded platform.

Importable as ``ccp_acd`` (never ``platform``: see DESIGN.md, "Packaging trap").
"""
