"""The routing domain: pure functions over immutable snapshots.

No I/O here (enforced by the import-linter contract in pyproject.toml): the
state layer loads a snapshot, the domain decides, the state layer commits the
decisions as guarded etcd transactions.
"""
