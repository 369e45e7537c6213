"""Sampling throughput at batch 1 and 64: runs `python -m charlm bench generate --json` for each
and prints the figures (chars/s, and the ratio to the window-recompute sampler measured in the
same run). Extra arguments go to both runs, e.g. `python benchmarks/bench_generate_bars.py --rounds 5`.

Bars (2×256 LSTM, embedding 64, vocab 65, 2 CPU cores): batch 1 ≥ 500× window recompute,
batch 64 ≥ 100,000 chars/s. The machine is shared: the baseline runs interleaved with ours, so
the ratio is robust to load; the absolute chars/s is not.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bench(batch: int, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "charlm", "bench", "generate", "--json", "--batch-size",
           str(batch), *extra]
    run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if run.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{run.stderr}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    for batch, bar in ((1, "ratio ≥ 500"), (64, "chars/s ≥ 100,000")):
        r = bench(batch, sys.argv[1:])
        ratio = r["ratio_vs_window_recompute"]
        print(f"batch {batch:>2}: {r['chars_per_sec']:>10,.0f} chars/s | window recompute "
              f"{r['baseline_chars_per_sec']:.1f} chars/s | ratio {ratio:,.0f}x   (bar: {bar})")
        print(f"          {r['shards']} shard(s), {r['cpu_utilisation']:.2f} cores used, "
              f"{r['chars_per_cpu_sec']:,.0f} chars per CPU-second, load {r['load_average']:.1f}")
        print(f"          {json.dumps(r)}")


if __name__ == "__main__":
    main()
