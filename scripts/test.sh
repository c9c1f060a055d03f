#!/usr/bin/env bash
# The test command (README, .ci/run): lint, then the whole suite against a real
# etcd, real gRPC servers on loopback and sipp. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."

.venv/bin/ruff check . || exit 1

.venv/bin/python -m pytest -p no:cacheprovider "$@"
status=$?
if [[ $status -eq 5 ]]; then
    # pytest's "no tests collected" is neither a pass nor an ordinary failure: refuse it.
    echo "test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit $status
