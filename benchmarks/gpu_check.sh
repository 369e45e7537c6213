#!/usr/bin/env bash
# charlm on one GPU, on the JAX backend (no TensorFlow needed), in one run of about 9 minutes:
#   1. nvidia-smi; jax, keras, torch versions; jax.devices()
#   2. training throughput: charlm's train step (JAX) vs PyTorch nn.LSTM (cuDNN) on the same GPU,
#      1 x 384 LSTM, embedding 64, seq 128, at each batch of GPU_CHECK_BATCHES ("32 512")
#   3. time to quality: `charlm train` on Tiny Shakespeare (val = last 10%) for
#      GPU_CHECK_MINUTES (3) at batch GPU_CHECK_TRAIN_BATCH (128): the loop's wall time when val
#      first reaches <= 1.45 nats/char, and the best val; then `charlm eval` of the last 10%
#   4. generation chars/s on the trained model's shape at batch 1, 64 and 4096
#      (`charlm bench generate`), and charlm.load(checkpoint).generate at batch 4096
# Each step has its own time limit, so a hang costs that step only.
#
#   KERAS_BACKEND=jax bash benchmarks/gpu_check.sh [corpus]   # default .gpu_data/tinyshakespeare.txt
#   GPU_CHECK_QUICK=1 KERAS_BACKEND=jax bash benchmarks/gpu_check.sh   # tiny sizes, seconds each (CPU)
#
# Writes $OUT/gpu_check.log (everything printed) and $OUT/gpu_check.json (the figures, rewritten
# after every step, so a run cut short keeps what it measured). OUT defaults to /tmp/gpu_check.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 KERAS_BACKEND=${KERAS_BACKEND:-jax} TF_CPP_MIN_LOG_LEVEL=3
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
# JAX takes 75% of the GPU's memory up front by default; step 2 runs PyTorch in the same process
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.45}
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
log=$out/gpu_check.log
work=$(mktemp -d)
corpus=${1:-.gpu_data/tinyshakespeare.txt}
[ -f "$corpus" ] || corpus=../shared/corpora/tinyshakespeare.txt
quick=${GPU_CHECK_QUICK:-0}
if [ "$quick" = 1 ]; then  # every step in seconds, on a CPU too: checks the script, not speed
  batches=${GPU_CHECK_BATCHES:-"4 8"} units=16 seq=10 steps=2 rounds=1
  minutes=${GPU_CHECK_MINUTES:-0.15} train_batch=${GPU_CHECK_TRAIN_BATCH:-16}
  train_flags="--units 32 --seq-len 32 --eval-every 20 --eval-max-tokens 3000"
  gen_batches="1 4 64" gen_length=50 eval_fraction=0.005
else
  batches=${GPU_CHECK_BATCHES:-"32 512"} units=384 seq=128 steps=20 rounds=3
  minutes=${GPU_CHECK_MINUTES:-3} train_batch=${GPU_CHECK_TRAIN_BATCH:-128}
  train_flags="--units 384 --seq-len 128 --eval-every 100"
  gen_batches="1 64 4096" gen_length=2000 eval_fraction=0.1
fi
train_units=$(echo "$train_flags" | awk '{print $2}')
target=1.45
budget=${GPU_CHECK_BUDGET:-560}  # seconds for the whole script, compiles included
echo "gpu_check: quick=$quick corpus=$corpus out=$out backend=$KERAS_BACKEND $(date -u)" | tee "$log"

summarize() {  # $work/*.json and steps.tsv -> $out/gpu_check.json
  python3 - "$work" "$out/gpu_check.json" "$quick" <<'EOF'
import json, sys
from pathlib import Path
work, dest, quick = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
summary = {"quick": quick, "steps": {}}
steps = work / "steps.tsv"
for line in steps.read_text().splitlines() if steps.exists() else []:
    name, rc, wall = line.split("\t")
    summary["steps"][name] = {"rc": int(rc), "wall_s": float(wall)}
for path in sorted(work.glob("*.jsonl")):  # one JSON object per line, from the steps' stdout
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    summary[path.stem] = rows
for path in sorted(work.glob("*.json")):
    summary[path.stem] = json.loads(path.read_text())
dest.write_text(json.dumps(summary, indent=1) + "\n")
EOF
}

step() {  # step NAME SECONDS COMMAND...: run with its own limit, log it, note rc and wall time
  local name=$1 limit=$2
  shift 2
  local left=$((budget - SECONDS))  # the whole script ends within GPU_CHECK_BUDGET seconds
  ((limit > left)) && limit=$left
  if ((limit < 10)); then
    echo "=== $name: skipped, the ${budget} s budget is spent" | tee -a "$log"
    return
  fi
  echo "=== $name (limit ${limit}s) $(date -u +%T)" | tee -a "$log"
  local start=$SECONDS
  # bash -c: a step may be one of the functions below (exported); stdin (a heredoc) passes on
  timeout -k 10 "$limit" bash -c '"$@"' step "$@" 2>&1 | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" >>"$work/steps.tsv"
  echo "=== $name: rc=$rc, $((SECONDS - start)) s" | tee -a "$log"
  summarize
}

json_lines() {  # json_lines FILE COMMAND...: the command's JSON lines go to FILE and the log
  local file=$1
  shift
  set -o pipefail  # the command's exit status, not tee's
  "$@" | tee "$file"
}

# --- 1. the machine ----------------------------------------------------------------------------
step nvidia_smi 30 nvidia-smi
step versions 90 python3 - "$work/versions.json" <<'EOF'
import json, platform, sys
info = {"python": platform.python_version()}
for name in ("numpy", "jax", "jaxlib", "keras", "optree", "torch"):
    try:
        info[name] = __import__(name).__version__
    except Exception as e:
        info[name] = f"missing: {e}"
import jax
info["jax_backend"] = jax.default_backend()
info["jax_devices"] = [str(d) for d in jax.devices()]
try:
    import torch
    info["torch_cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    info["torch_cudnn"] = torch.backends.cudnn.version()
except ImportError:
    pass
from charlm.backend import import_quietly
import_quietly()
from charlm import backend
info["charlm_backend"], info["charlm_device"] = backend.name(), backend.device()
info["tensorflow_imported"] = "tensorflow" in sys.modules
print(json.dumps(info, indent=1))
open(sys.argv[1], "w").write(json.dumps(info))
EOF

# --- 2. training throughput, charlm (JAX) vs PyTorch nn.LSTM, same process and GPU -------------
bench_train() {
  python3 - "$@" <<'EOF'
import sys
from charlm.cli import main
units, seq, steps, rounds, *batches = sys.argv[1:]
for batch in batches:  # one process: JAX and PyTorch start once; each batch compiles its step
    print(f"# batch {batch}", file=sys.stderr)
    main(["bench", "train", "--json", "--layers", "1", "--units", units, "--embedding-dim", "64",
          "--vocab-size", "65", "--seq-len", seq, "--batch-size", batch, "--steps", steps,
          "--rounds", rounds, "--torch-device", "auto"])
EOF
}
# shellcheck disable=SC2086
export -f json_lines bench_train
step train_throughput 150 json_lines "$work/train_throughput.jsonl" \
  bench_train $units $seq $steps $rounds $batches

# --- 3. time to quality on Tiny Shakespeare ----------------------------------------------------
run=$work/ttq
# shellcheck disable=SC2086
step time_to_quality $(python3 -c "print(int($minutes * 60 + 60))") \
  python3 -m charlm train --corpus "$corpus" --out "$run" --batch-size "$train_batch" \
  --max-minutes "$minutes" --sample-chars 0 --quiet $train_flags
step ttq_metrics 20 python3 - "$run/metrics.jsonl" "$work/time_to_quality.json" "$target" \
  "$train_batch" "$minutes" <<'EOF'
import json, statistics, sys
metrics, dest, target, batch, minutes = sys.argv[1:]
rows = [json.loads(line) for line in open(metrics)]
val = [r for r in rows if r["kind"] == "val"]
train = [r for r in rows if r["kind"] == "train"]
for r in val:
    print(f"step {r['step']:>6}  {r['elapsed']:>7.1f} s  val {r['nats_per_char']:.4f} nats/char")
first = next((r for r in val if r["nats_per_char"] <= float(target)), None)
best = min(val, key=lambda r: r["nats_per_char"]) if val else None
result = {"target_nats_per_char": float(target), "batch_size": int(batch),
          "max_minutes": float(minutes), "validations": len(val),
          "steps": rows[-1]["step"] if rows else 0, "epochs": rows[-1]["epoch"] if rows else 0,
          "first_at_target": first and {k: first[k] for k in ("step", "elapsed", "epoch",
                                                               "nats_per_char")},
          "best": best and {k: best[k] for k in ("step", "elapsed", "epoch", "nats_per_char",
                                                 "bpc")},
          "train_chars_per_sec_median": (statistics.median(r["chars_per_sec"] for r in train)
                                         if train else None),
          "val_curve": [[r["step"], r["elapsed"], round(r["nats_per_char"], 4)] for r in val]}
print(json.dumps({k: v for k, v in result.items() if k != "val_curve"}, indent=1))
open(dest, "w").write(json.dumps(result))
EOF
step eval_tail 60 json_lines "$work/eval_tail.jsonl" python3 -m charlm eval --checkpoint "$run" \
  --text "$corpus" --tail-fraction "$eval_fraction" --json

# --- 4. generation -----------------------------------------------------------------------------
bench_generate() {  # bench_generate UNITS LENGTH BATCH...
  local units=$1 length=$2
  shift 2
  for batch in "$@"; do
    baseline=--no-baseline
    [ "$batch" = 1 ] && baseline="--baseline-chars 8"  # the window-recompute sampler, batch 1
    # shellcheck disable=SC2086
    python3 -m charlm bench generate --json --layers 1 --units "$units" \
      --embedding-dim 64 --vocab-size 65 --batch-size "$batch" --length "$length" \
      --rounds 3 $baseline || return
  done
}
export -f bench_generate
# shellcheck disable=SC2086
step generate_bench 100 json_lines "$work/generate_bench.jsonl" \
  bench_generate $train_units $gen_length $gen_batches
big=${gen_batches##* }
step generate_checkpoint 60 python3 - "$run" "$big" "$gen_length" "$work/generate_checkpoint.json" <<'EOF'
import json, sys, time
import charlm
run, batch, length, dest = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lm = charlm.load(run)
times = []
for seed in range(3):  # the first call compiles
    start = time.perf_counter()
    texts = lm.generate("\n", length=length, temperature=1.0, seed=seed, num_samples=batch)
    times.append(time.perf_counter() - start)
    assert len(texts) == batch and all(len(t) == length for t in texts)
best = min(times[1:])
result = {"batch_size": batch, "length": length, "first_call_s": times[0],
          "seconds": times[1:], "chars_per_sec": batch * length / best, "sample": texts[0][:200]}
print(json.dumps(result, indent=1))
open(dest, "w").write(json.dumps(result))
EOF

echo "gpu_check: done $(date -u); summary: $out/gpu_check.json" | tee -a "$log"
rm -rf "$work"
