#!/usr/bin/env bash
# Set up a fresh Debian 12 machine for ccp: the etcd server and sipp from Debian,
# a virtualenv in .venv with the project and its pinned dev dependencies.
# Idempotent: re-running only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(etcd-server sip-tester iproute2 curl xz-utils chromium fonts-dejavu-core)
# kubectl for the operator tests against kube-lite: keep one that is there, else Debian's.
command -v kubectl >/dev/null || APT_PACKAGES+=(kubernetes-client)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    echo "setup: apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    # Debian's etcd-server would start a system etcd on 2379 where systemd runs; we start our own.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $PYTHON"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'
echo "setup: done (etcd $(etcd --version | head -1 | awk '{print $3}'), sipp $(sipp -v 2>/dev/null | grep -o 'v[0-9.]*' | head -1))"
