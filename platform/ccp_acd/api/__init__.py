"""The gRPC API of the ACD node (grpc.aio servicers).

``auth`` resolves bearer tokens to a tenant principal, ``validate`` checks
every request field, ``convert`` is the only protobuf <-> domain translation,
``status`` maps ``ccp_acd.errors`` to status codes in one place. One module per
service: ``agents``, ``interactions``, ``admin``, ``sites``. Wiring is in
``ccp_acd.server``.
"""
