"""The count of cases the security suites tried, printed in pytest's terminal summary.

The suites share one tally per session (pytest's stash): the isolation suite counts each (token, request)
case, the fuzzers each example per method with the status code answered, the spec fuzzer each spec and
whether it was accepted. Under pytest-xdist every worker has its own tally: a worker hands it to the
controller in ``workeroutput`` at the end of its session, and the controller adds them up before printing.
The hooks that do this live in tests/conftest.py, the one conftest the xdist controller loads.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import grpc
import pytest


@dataclass
class Tally:
    """What the security suites tried, for the terminal summary."""

    isolation: Counter[str] = field(default_factory=Counter)  # method -> cases
    fuzz: dict[str, Counter[str]] = field(default_factory=dict)  # method -> status code name -> examples
    specs: dict[str, Counter[str]] = field(default_factory=dict)  # spec kind -> outcome -> examples

    def fuzzed(self, method: str, code: grpc.StatusCode) -> None:
        self.fuzz.setdefault(method, Counter())[code.name] += 1

    def spec(self, kind: str, outcome: str) -> None:
        self.specs.setdefault(kind, Counter())[outcome] += 1

    def __bool__(self) -> bool:
        return bool(self.isolation or self.fuzz or self.specs)

    def dumps(self) -> str:
        return json.dumps({"isolation": self.isolation, "fuzz": self.fuzz, "specs": self.specs})

    def add(self, dumped: str) -> None:
        """Add a worker's tally (``dumps``) to this one."""
        other = json.loads(dumped)
        self.isolation.update(other["isolation"])
        for mine, theirs in ((self.fuzz, other["fuzz"]), (self.specs, other["specs"])):
            for key, counts in theirs.items():
                mine.setdefault(key, Counter()).update(counts)

    def summary(self) -> list[str]:
        fuzz_cases = sum(sum(c.values()) for c in self.fuzz.values())
        spec_cases = sum(sum(c.values()) for c in self.specs.values())
        lines = [
            f"isolation: {sum(self.isolation.values())} cases across {len(self.isolation)} methods; "
            f"fuzz: {fuzz_cases} cases across {len(self.fuzz)} methods; specs: {spec_cases} cases"
        ]
        if self.fuzz:
            lines.append(f"{'method':<45} {'examples':>8}  status codes")
            for method in sorted(self.fuzz):
                codes = self.fuzz[method]
                seen = ", ".join(f"{name} {n}" for name, n in codes.most_common())
                lines.append(f"{method:<45} {sum(codes.values()):>8}  {seen}")
        for kind in sorted(self.specs):
            outcomes = ", ".join(f"{name} {n}" for name, n in self.specs[kind].most_common())
            lines.append(f"spec {kind:<40} {sum(self.specs[kind].values()):>8}  {outcomes}")
        return lines


TALLY = pytest.StashKey[Tally]()
WORKER_OUTPUT_KEY = "ccp_security_tally"
