"""The benchmark suite: how fast the platform routes, against the physical limit of its state store.

Run ``python -m bench <name> [--quick]`` from the repository root (names: etcd,
routing, latency, scaling, memory, quality, all, report). Each benchmark starts
its own etcd (with fsync) and ACD node processes on loopback, prints its figures
beside the reference they are compared with, and writes
``bench/results/<name>.json``; ``report`` turns those into ``BENCHMARKS.md``.

Not for: asserting behaviour (tests do that, without wall-clock thresholds).
Figures taken while other work runs on the machine are noisy; the machine's
load average at start is recorded with every result for that reason.
"""
