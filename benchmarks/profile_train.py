"""Where the time of one training step goes: a measured profile of `charlm bench train`'s step.
Usage: python benchmarks/profile_train.py [--json] [--units 256 --layers 2 --batch-size 64 ...]
Same model and step as bench_train.py (embedding -> L x LSTM(H) -> Dense(V), charlm's TrainStep,
Adam, clipping, random batches), in one process. All measured except the FLOP count:
  1. chars/s of the full step: median of --rounds rounds of --steps steps, as bench_train does.
  2. achieved GFLOP/s: matmul FLOPs counted from the shapes (forward in-proj, h@U; backward
     dz@U^T for T-1 steps, dx, dK, dU, db; logits fwd, dW, dx; not gate math, softmax,
     embedding, optimizer) over the step time, as a share of the best matmul rate timed here
     (best of 5): big single tf.matmuls [T*B, E|H] @ [E|H, 4H], and the serial chains of 3. The
     ceiling: the chars/s of a step that did only those matmuls, at the best rate on every core
     (the best single matmul's rate x cores, or a 2-chain rate if higher), and nothing else.
  3. the serial recurrent matmuls alone: h@U then dz@U^T, L*T times, dependent, in a tf.function,
     as one chain of B rows and as the kernel splits it (BATCH_SPLIT chains; median ms of 5 calls).
  4. a tf.profiler trace of --profile-steps steps (xplane.pb, read with TF's own proto): kernel
     durations on TF's inter-op (tf_Compute) threads by role (matmuls by shape: per-step serial vs
     batched, with GFLOP/s per thread) and op type. They are wall time on their thread: a kernel
     split over the intra-op pool counts once; time the OS gives other processes mid-kernel counts
     in it. Shares are of cores x wall; the rest is idle cores and executor overhead.
Absolute figures move with a shared machine's load; shares within one run are comparable.
"""

import argparse
import collections
import glob
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # bench_train.py beside this file; charlm
from charlm import backend  # noqa: E402
backend.import_quietly()

# The graph's op types, and the oneDNN kernels TensorFlow's graph rewrite swaps in for them (the
# trace names the kernel that ran).
MATMULS = {"MatMul", "_FusedMatMul", "BatchMatMulV2", "BatchMatMulV3", "_MklMatMul",
           "_MklNativeMatMul", "_MklFusedMatMul", "_MklNativeFusedMatMul"}
MOVES = {"Transpose", "Pack", "Unpack", "ConcatV2", "Split", "SplitV", "StridedSlice", "Slice"}
GATES = {"Sigmoid", "Tanh", "Mul", "AddV2", "Add", "BiasAdd"}
FWD, BWD, BATCHED = ("serial h@U forward", "serial dz@U^T backward",
                     "batched matmuls (in-proj, dx, dK, dU, db, logits)")


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("layers", 2), ("units", 256), ("embedding-dim", 64), ("vocab-size", 65),
                          ("batch-size", 64), ("seq-len", 100), ("steps", 10), ("rounds", 3),
                          ("profile-steps", 3)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--json", action="store_true")
    return p


def matmul_flops(a):
    N, H, T = a.batch_size * a.seq_len, a.units, a.seq_len
    serial = a.layers * 2 * N * H * 4 * H
    # logits: forward, dW, dx; per layer: forward in-proj; backward dx, dK, dU, db
    batched = 3 * 2 * N * H * a.vocab_size + sum(
        2 * N * 4 * H * (3 * I + H + 1) for I in [a.embedding_dim] + [H] * (a.layers - 1))
    return {FWD: serial, BWD: serial * (T - 1) / T, BATCHED: batched}


def timed(thunk):
    t = time.perf_counter()
    thunk()
    return time.perf_counter() - t


def call_times(fn, *args, n=5):
    fn(*args).numpy()  # trace
    return [timed(lambda: fn(*args).numpy()) for _ in range(n)]


def matmul_rates(a, tf):
    """Best GFLOP/s of big matmuls and serial chains; the split chain's median seconds."""
    from charlm.model.lstm_kernels import BATCH_SPLIT
    rows, H = a.batch_size * a.seq_len, a.units
    rates = {}
    for k in sorted({a.embedding_dim, H}):
        x, w = tf.random.normal([rows, k]), tf.random.normal([k, 4 * H])
        rates[f"single [{rows},{k}]@[{k},{4 * H}]"] = (
            2 * rows * k * 4 * H / min(call_times(tf.function(tf.matmul), x, w)) / 1e9)
    U = tf.random.normal([H, 4 * H], stddev=H ** -0.5)  # keeps values O(1): no denormals
    Ut = tf.random.normal([4 * H, H], stddev=(4 * H) ** -0.5)
    pairs = a.layers * a.seq_len
    @tf.function
    def chains(hs):  # independent chains: TF's inter-op pool may run them side by side
        for _ in range(pairs):
            hs = [tf.matmul(tf.matmul(h, U), Ut) for h in hs]
        return tf.add_n([tf.reduce_sum(h) for h in hs])
    for n in (1, BATCH_SPLIT):
        r = a.batch_size // n
        times = call_times(chains, [tf.random.normal([r, H]) for _ in range(n)])
        rates[f"serial chain {n} x [{r},{H}]@[{H},{4 * H}]@[{4 * H},{H}]"] = (
            2 * 2 * r * H * 4 * H * pairs * n / min(times) / 1e9)
    return rates, statistics.median(times)


def run_steps(step, x, y, states, n):
    for _ in range(n):
        loss, _, _ = step(x, y, states, 1e-3)
    float(loss)  # wait for the last step


def role(op_type, name, shapes, a):
    if op_type in MATMULS:
        lhs = shapes.get(name, (None, None))
        if lhs[0] is not None and lhs[0] <= a.batch_size and lhs[1] in (a.units, 4 * a.units):
            return FWD if lhs[1] == a.units else BWD
        return BATCHED
    return next((label for hit, label in (
        (op_type == "LSTMBlockCellGrad", "backward gate math (LSTMBlockCellGrad)"),
        (name.startswith("adam/"), "optimizer (Adam update)"),
        (op_type in MOVES, "data movement (transpose/split/stack/concat)"),
        (op_type in GATES and "lstm_" in name, "forward gate math (sigmoid/tanh/mul/add)"))
                 if hit), "other (loss, clipping, embedding, reads)")


def profile(step, x, y, states, a, tf):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    graph = step._fn.get_concrete_function(x, y, states).graph  # the trace already compiled
    shapes = {op.name: tuple(op.inputs[0].shape.as_list()) for op in graph.get_operations()
              if op.type in MATMULS and op.inputs[0].shape.rank == 2
              and not op.get_attr("transpose_a")}
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        wall = timed(lambda: run_steps(step, x, y, states, a.profile_steps)) / a.profile_steps
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace.FromString(
            Path(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0]).read_bytes())
    by_role, by_type = collections.Counter(), collections.Counter()
    for plane, event in ((p, e) for p in space.planes if p.name == "/host:CPU" for ln in p.lines
                         if ln.name.startswith("tf_Compute") for e in ln.events):
        meta = plane.event_metadata[event.metadata_id]
        if meta.display_name:  # a kernel: "op_name:OpType"
            ms = event.duration_ps / 1e9 / a.profile_steps
            by_type[meta.display_name] += ms
            by_role[role(meta.display_name, meta.name.rsplit(":", 1)[0], shapes, a)] += ms
    return wall, by_role, by_type


def main(argv=None):
    a = parser().parse_args(argv)
    import tensorflow as tf
    from bench_train import build_charlm_step  # beside this file: the step bench_train times
    x, y = (tf.random.uniform((a.batch_size, a.seq_len), 0, a.vocab_size, tf.int32, seed=seed)
            for seed in (1, 2))
    step, states = build_charlm_step(a, "lstm")
    states = [tf.convert_to_tensor(s) for s in states]
    run_steps(step, x, y, states, 3)  # compile and warm up
    rounds = [timed(lambda: run_steps(step, x, y, states, a.steps)) / a.steps
              for _ in range(a.rounds)]
    step_s, chars, flops = statistics.median(rounds), a.batch_size * a.seq_len, matmul_flops(a)
    rates, chain_s = matmul_rates(a, tf)
    wall, by_role, by_type = profile(step, x, y, states, a, tf)
    core_ms = (cores := backend.cpu_count()) * wall * 1e3
    achieved = sum(flops.values()) / step_s / 1e9
    r = {"chars_per_sec": chars / step_s, "step_ms": step_s * 1e3,
         "round_ms": [round(s * 1e3, 1) for s in rounds],
         "matmul_flops_per_char": sum(flops.values()) / chars, "achieved_gflops": achieved,
         "matmul_gflops": rates, "share_of_peak": achieved / max(rates.values()),
         "matmul_bound_chars_per_sec": ceiling(rates, cores) * 1e9 / sum(flops.values()) * chars,
         "serial_chain_ms": chain_s * 1e3, "serial_chain_share_of_step": chain_s / step_s,
         "profiled_step_ms": wall * 1e3, "profiled_chars_per_sec": chars / wall, "cores": cores,
         "kernel_ms_by_role": dict(by_role.most_common()),
         "idle_or_overhead_ms": core_ms - sum(by_role.values()),
         "gflops_per_thread_by_role": {k: f / by_role[k] / 1e6 for k, f in flops.items()
                                       if by_role[k]},
         "kernel_ms_by_op_type": dict(by_type.most_common(12)),
         **{k: v for k, v in vars(a).items() if k != "json"}}
    print(json.dumps(r)) if a.json else report(r)
    return 0


def ceiling(rates: dict, cores: int) -> float:
    """GFLOP/s on all cores at once: the best single matmul (one thread each) times the cores,
    or a measured multi-chain rate if that is higher."""
    singles = [v for k, v in rates.items() if k.startswith("single")]
    return max([max(singles) * cores] + [v for k, v in rates.items() if not k.startswith("single")])


def report(r):
    print(f"step {r['step_ms']:.1f} ms (median of {r['round_ms']}): "
          f"{r['chars_per_sec']:,.0f} chars/s")
    print(f"matmul work {r['matmul_flops_per_char'] / 1e6:.2f} MFLOP/char: achieved "
          f"{r['achieved_gflops']:.1f} GFLOP/s = {r['share_of_peak']:.0%} of the best rate below")
    print("".join(f"  {k}: {v:.1f} GFLOP/s\n" for k, v in r["matmul_gflops"].items()), end="")
    print(f"ceiling: those matmuls alone at {ceiling(r['matmul_gflops'], r['cores']):.0f} GFLOP/s "
          f"(every core at the best rate), nothing else: {r['matmul_bound_chars_per_sec']:,.0f} "
          f"chars/s; this step reaches {r['chars_per_sec'] / r['matmul_bound_chars_per_sec']:.0%}")
    print(f"serial chain alone ({r['layers']}x{r['seq_len']} steps each way, kernel's split): "
          f"{r['serial_chain_ms']:.1f} ms = {r['serial_chain_share_of_step']:.0%} of the step")
    core_ms, rates = r["cores"] * r["profiled_step_ms"], r["gflops_per_thread_by_role"]
    print(f"\nprofiled step {r['profiled_step_ms']:.1f} ms ({r['profiled_chars_per_sec']:,.0f} "
          f"chars/s while tracing); {r['cores']} cores x wall = {core_ms:.1f} ms\n  "
          f"{'kernel time on TF compute threads, by role':<50}{'ms':>7}{'of cores x wall':>16}"
          f"{'GFLOP/s per thread':>20}")
    idle = ("idle cores / executor overhead", r["idle_or_overhead_ms"])
    for k, v in [*r["kernel_ms_by_role"].items(), idle]:
        tail = f"{rates[k]:>20.1f}" if k in rates else ""
        print(f"  {k:<50}{v:>7.1f}{v / core_ms:>16.0%}{tail}")
    print("top op types (ms): " + ", ".join(
        f"{k} {v:.1f}" for k, v in list(r["kernel_ms_by_op_type"].items())[:8]))


if __name__ == "__main__":
    raise SystemExit(main())
