"""Two local workers (MultiWorkerMirroredStrategy) against one process, same global batch.

    python benchmarks/bench_multiworker.py [--steps 120] [--json]

Trains the same run three ways on this machine, one after the other: one process (all cores),
two worker processes under `--distribute multiworker` (TF_CONFIG on localhost ports, one
TensorFlow thread pool of cores/2 each), and one process under `--distribute mirrored` over its
CPU split in two (CHARLM_CPU_REPLICAS=2). Prints each one's training chars/s (the mean of
metrics.jsonl's rows after the first, which holds the compile) and its validation loss after the
same number of global steps. On one machine the workers share its cores and talk over loopback
gRPC, so this measures the overhead of the strategy, not a speed-up; the speed-up comes from
hosts (or GPUs) that add compute.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--units", "256", "--embedding-dim", "64", "--seq-len", "100", "--batch-size", "64",
         "--dropout", "0", "--sample-chars", "0", "--eval-max-tokens", "20000", "--quiet"]


def free_ports(count: int) -> list[int]:
    """`count` localhost ports free now (for TF_CONFIG; also used by the tests)."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train(out: Path, steps: int, extra: list[str], env: dict) -> subprocess.Popen:
    argv = [sys.executable, "-m", "charlm", "train", *MODEL, "--max-steps", str(steps),
            "--eval-every", str(steps), "--out", str(out), *extra]
    return subprocess.Popen(argv, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                 "TF_CPP_MIN_LOG_LEVEL": "3", **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(processes) -> float:
    started = time.perf_counter()
    for p in processes:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"a training process exited {p.returncode}:\n{err[-2000:]}")
    return time.perf_counter() - started


def _figures(run: Path, wall: float) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    speeds = [r["chars_per_sec"] for r in rows if r["kind"] == "train"][1:]
    val = [r for r in rows if r["kind"] == "val"][-1]
    return {"chars_per_sec": round(sum(speeds) / max(len(speeds), 1)),
            "val_nats_per_char": round(val["nats_per_char"], 4), "step": val["step"],
            "wall_s": round(wall, 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 2
    half = {"TF_NUM_INTRAOP_THREADS": str(max(1, cores // 2)), "TF_NUM_INTEROP_THREADS": "1"}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results["one process"] = _figures(folder / "one", _wait([_train(
            folder / "one", args.steps, [], {})]))
        cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
        workers = [_train(folder / "two", args.steps, ["--distribute", "multiworker"], {
            **half, "TF_CONFIG": json.dumps({"cluster": cluster,
                                             "task": {"type": "worker", "index": i}})})
                   for i in range(2)]
        results["two local workers"] = _figures(folder / "two", _wait(workers))
        results["mirrored, 2 logical CPUs"] = _figures(folder / "mirrored", _wait([_train(
            folder / "mirrored", args.steps, ["--distribute", "mirrored"],
            {"CHARLM_CPU_REPLICAS": "2"})]))
    base = results["one process"]["chars_per_sec"]
    for row in results.values():
        row["vs_one_process"] = round(row["chars_per_sec"] / base, 2)
    if args.json:
        print(json.dumps({"steps": args.steps, "model": MODEL, "results": results}))
        return 0
    print(f"{args.steps} global steps, 1×256 LSTM, batch 64 × 100 (global), "
          f"embedded agreement corpus")
    print(f"{'':<26}{'chars/s':>9}{'× one':>7}{'val nats/char':>15}{'wall s':>8}")
    for name, row in results.items():
        print(f"{name:<26}{row['chars_per_sec']:>9,}{row['vs_one_process']:>7}"
              f"{row['val_nats_per_char']:>15}{row['wall_s']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
