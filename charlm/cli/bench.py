"""`charlm bench train|generate`: run a benchmark script of the source checkout's benchmarks/.

The benchmarks, and the PyTorch baseline, live in benchmarks/, not in the package: this command
finds benchmarks/bench_<name>.py beside the charlm package (a source checkout or an editable
install) and runs its `main(argv)` with the remaining flags, e.g.
`charlm bench train --json` is `python benchmarks/bench_train.py --json`.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from charlm.errors import UserError

BENCHMARKS = {"train": "training chars/s, with a PyTorch nn.LSTM baseline",
              "generate": "sampling chars/s, with a window-recompute baseline"}


def benchmarks_dir() -> Path:
    return Path(__file__).resolve().parent.parent.parent / "benchmarks"


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help="benchmarks: " + "; ".join(
        f"{name}: {text}" for name, text in BENCHMARKS.items()), add_help=False)
    p.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    p.add_argument("flags", nargs=argparse.REMAINDER,
                   help="the benchmark's own flags (charlm bench NAME --help lists them)")


def run(args) -> int:
    path = benchmarks_dir() / f"bench_{args.name}.py"
    if not path.is_file():  # an installed wheel: benchmarks/ is not in it
        raise UserError(f"charlm bench needs a source checkout: the benchmarks ({path.parent.name}"
                        f"/{path.name}, with the PyTorch baseline) ship with the repository, not "
                        "the installed package; clone the charlm repository, pip install -e . "
                        "in it, and run charlm bench there")
    spec = importlib.util.spec_from_file_location(f"charlm_bench_{args.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main(args.flags)
