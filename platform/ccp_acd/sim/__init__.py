"""A bounded simulated load for the embedded platform, the drills and the routing-quality test.

``workload`` draws the calls (pure), ``driver`` plays them against real nodes
over gRPC with simulated agents, ``history`` judges what happened (pure).
"""
