"""Regenerate the Python code for protos/ccpapi/**.proto, in place.

The generated *_pb2.py, *_pb2_grpc.py and *.pyi files are committed so the
package installs without grpcio-tools; tests/test_protos_drift.py runs this
script into a temporary folder and fails if the committed files differ.

Usage: python scripts/gen_protos.py [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent.parent / "protos"


def generate(out: Path) -> list[Path]:
    """Compile every .proto under protos/ into `out`; return the .proto files compiled."""
    protos = sorted(PROTO_ROOT.rglob("*.proto"))
    well_known = resources.files("grpc_tools") / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return protos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=PROTO_ROOT)
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for proto in generate(out):
        print(f"generated {proto.relative_to(PROTO_ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
