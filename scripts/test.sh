#!/usr/bin/env bash
# The test command (README, .ci/run): lint, then the whole suite against a real
# etcd, real gRPC servers on loopback and sipp. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."

.venv/bin/ruff check . || exit 1

# Two workers (pytest-xdist), a test file per worker at a time (module fixtures stay whole): most tests wait on
# etcd, leases and timers rather than compute, so two run in the time of one. CCP_TEST_WORKERS=0 runs in-process.
.venv/bin/python -m pytest -p no:cacheprovider -n "${CCP_TEST_WORKERS:-2}" --dist loadfile "$@"
status=$?
if [[ $status -eq 5 ]]; then
    # pytest's "no tests collected" is neither a pass nor an ordinary failure: refuse it.
    echo "test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit $status
