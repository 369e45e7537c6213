"""A fast LSTM over a whole sequence for TensorFlow on CPU, taking Keras-layout weights.

Keras layout: kernel [I, 4H], recurrent_kernel [H, 4H], bias [4H], gate order i, f, c, o.
`fused_lstm_sequence` computes exactly what `keras.layers.LSTM` (tanh / sigmoid) computes
(outputs and all gradients agree to ~1e-6 relative) but trains ~1.6-1.9x faster on CPU: on a
2-core Zen 4, embedding 64 -> 2 x LSTM(256) -> Dense(65), batch 64 x 100 steps, a train step runs
at ~30k chars/s vs ~16-17k for keras.layers.LSTM and ~27k for PyTorch's oneDNN nn.LSTM.

charlm.model.variant_kernels applies the same design to the peephole and cifg cells.

How (each point measured; see the helper report for the numbers):
  * Hand-written BPTT in a `tf.custom_gradient`, loop unrolled in the graph (T is static).
    Forward: the input projection for all steps is ONE matmul [T*B, I] @ [I, 4H]; each step
    does only h @ U plus the gate math. Backward: each step does the gate-gradient math and
    dh = dz @ U^T; the weight gradients are ONE matmul each after the loop (per-step weight-grad
    accumulation, as in Keras' while-loop gradient or BlockLSTMGrad, is far slower).
  * The backward gate math is TF's fused `LSTMBlockCellGrad` kernel (1 op instead of ~20). It
    returns gate gradients in i, c, f, o order, so we keep dZ in that order and permute the small
    weight-shaped tensors instead of the big [T*B, 4H] one.
  * Never MatMul(transpose_b=True) in hot paths: oneDNN runs [64,1024]@[1024,256]^T 2.3x slower than
    the same product against a materialized transpose, and grappler folds a plain 2-D
    tf.transpose into transpose_b. `_transposed` goes through a 3-D transpose it cannot fold.
  * The batch is split in two independent halves (`BATCH_SPLIT`): the two recurrences have no data
    dependence, so TF's inter-op pool runs them on both cores at once; small per-step matmuls
    scale poorly across 2 threads (1.47x), two independent ones scale ~2x.
  * One intra-op thread per chain (charlm.backend sets TF_NUM_INTRAOP_THREADS to cores / 2): with
    two, each chain's small ops are split over both cores while the other chain needs them too;
    one thread per op trained 1.19-1.25x faster on 2 cores (benchmarks/RESULTS.md, "Training throughput").
  * Bias gradient as ones @ dZ (a column reduce_sum over [T*B, 4H] is ~4x slower).

Not used, and why: tf.raw_ops.BlockLSTMV2 (same IFCO gate order as Keras, cell_clip=0 disables
clipping) is correct forward, but TF 2.21 registers the V1 gradient (BlockLSTMGrad, ICFO layout)
for it, so its autodiff gradients are WRONG; with a correct BlockLSTMGradV2 wrapper it trains at
only ~11k chars/s (Eigen per-step matmuls, per-step weight-grad accumulation). XLA: the unrolled
graph takes minutes to compile and runs slower; LSTMBlockCellGrad has no XLA kernel, so a layer
using this must not be jit-compiled (set `supports_jit = False`).
"""

from __future__ import annotations

import os

from charlm import backend

BATCH_SPLIT = backend.CPU_CHAINS  # independent batch chains per layer (one per core on 2 cores)
MAX_UNROLL = 200  # longer (or unknown-length) sequences use the tf.while_loop fallback: an
# unrolled graph of 1000 steps (eval reads 1000-character chunks) takes long to trace


def is_enabled() -> bool:
    """Used by charlm.model.model.FusedLSTM on TensorFlow without a GPU (on a GPU, Keras' cuDNN
    path is faster); CHARLM_FUSED_LSTM=0 turns it off (Keras' generic while loop then runs),
    e.g. to compare speeds."""
    if os.environ.get("CHARLM_FUSED_LSTM") == "0" or backend.name() != "tensorflow":
        return False
    return backend.on_cpu()


def fused_lstm_sequence(inputs, initial_h, initial_c, kernel, recurrent_kernel, bias):
    """inputs [B, T, I], states [B, H] -> (outputs [B, T, H], final h [B, H], final c [B, H]).

    Differentiable wrt inputs, both initial states and all three weights.
    """
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    args = [x] + [tf.cast(tf.convert_to_tensor(a), x.dtype)
                  for a in (initial_h, initial_c, kernel, recurrent_kernel, bias)]
    steps = x.shape[1]
    if steps is None or steps == 0 or steps > MAX_UNROLL:
        return _lstm_while_loop(*args)
    return tf.custom_gradient(_lstm_unrolled)(*args)


def _transposed(m, blocks=4):
    """[R, nH] -> [nH, R] materialized (see the module docstring: avoids transpose_b)."""
    import tensorflow as tf

    rows, cols = m.shape
    return tf.reshape(tf.transpose(tf.reshape(m, [rows, blocks, cols // blocks]), [1, 2, 0]),
                      [cols, rows])


def _ifco_icfo(m):
    """Swap the f and c gate blocks of the last axis (the permutation is its own inverse)."""
    import tensorflow as tf

    i, f, c, o = tf.split(m, 4, axis=-1)
    return tf.concat([i, c, f, o], axis=-1)


def _forward(x, h, c, K, U, b):
    """One batch chain: returns what the backward pass needs, and the per-step h and c."""
    import tensorflow as tf

    steps, units, batch = x.shape[1], U.shape[0], tf.shape(x)[0]
    x_flat = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, tf.shape(x)[2]])  # [T*B, I] time-major
    xp = tf.unstack(tf.reshape(tf.matmul(x_flat, K) + b, [steps, batch, 4 * units]))
    hs, cs, gates = [], [], []
    for t in range(steps):
        i, f, g, o = tf.split(xp[t] + tf.matmul(h, U), 4, axis=-1)
        i, f, g, o = tf.sigmoid(i), tf.sigmoid(f), tf.tanh(g), tf.sigmoid(o)
        c = f * c + i * g
        tanh_c = tf.tanh(c)
        h = o * tanh_c
        hs.append(h)
        cs.append(c)
        gates.append((i, f, g, o, tanh_c))
    return x_flat, hs, cs, gates


def _backward(d_out, dh, dc, h0, c0, x_flat, hs, cs, gates, U_t, K_t):
    """One batch chain: gradients wrt (x, h0, c0, K, U, b), weight grads in i,c,f,o order."""
    import tensorflow as tf

    steps, units, batch, dt = len(hs), U_t.shape[1], tf.shape(h0)[0], h0.dtype
    d_out = tf.unstack(tf.transpose(d_out, [1, 0, 2]))
    # LSTMBlockCellGrad only reads shapes from x, h_prev, w, b (no peepholes, no matmul inside).
    no_x, no_w = tf.zeros([batch, 0], dt), tf.zeros([units, 4 * units], dt)
    no_b, no_peep = tf.zeros([4 * units], dt), tf.zeros([units], dt)
    dz = [None] * steps
    for t in reversed(range(steps)):
        i, f, g, o, tanh_c = gates[t]
        dc, dz[t], _, _, _ = tf.raw_ops.LSTMBlockCellGrad(
            x=no_x, cs_prev=cs[t - 1] if t > 0 else c0, h_prev=h0, w=no_w, wci=no_peep,
            wcf=no_peep, wco=no_peep, b=no_b, i=i, cs=cs[t], f=f, o=o, ci=g, co=tanh_c,
            cs_grad=dc, h_grad=d_out[t] + dh, use_peephole=False)  # dz: [B, 4H], i,c,f,o order
        dh = tf.matmul(dz[t], U_t)
    _, dx, dK, dU, db = batched_gradients(dz, h0, hs, x_flat, K_t)
    return dx, dh, dc, dK, dU, db


def batched_gradients(dz, h0, hs, x_flat, K_t):
    """After a chain's backward loop: its per-step gate gradients dz (T × [B, nH]) → dZ
    [T*B, nH] and the gradients that are one matmul each over all steps: dx [B, T, I], dK [I, nH],
    dU [H, nH], db [nH] (charlm.model.variant_kernels ends its loop with this too)."""
    import tensorflow as tf

    steps, batch, units = len(hs), tf.shape(h0)[0], h0.shape[1]
    dZ = tf.reshape(tf.stack(dz), [-1, K_t.shape[0]])  # [T*B, nH]
    h_prev = tf.reshape(tf.stack([h0] + hs[:-1]), [-1, units])
    dx = tf.transpose(tf.reshape(tf.matmul(dZ, K_t), [steps, batch, K_t.shape[1]]), [1, 0, 2])
    db = tf.matmul(tf.ones([1, tf.shape(dZ)[0]], h0.dtype), dZ)[0]
    dK = tf.matmul(x_flat, dZ, transpose_a=True)
    dU = tf.matmul(h_prev, dZ, transpose_a=True)
    return dZ, dx, dK, dU, db


def _lstm_unrolled(x, h0, c0, K, U, b):
    import tensorflow as tf

    batch = tf.shape(x)[0]
    sizes = [batch - batch // 2, batch // 2] if BATCH_SPLIT == 2 else [batch]
    xs, h0s, c0s = tf.split(x, sizes, 0), tf.split(h0, sizes, 0), tf.split(c0, sizes, 0)
    chains = [_forward(xs[k], h0s[k], c0s[k], K, U, b) for k in range(len(sizes))]

    def grad(d_out, d_h_last, d_c_last):
        d_out = tf.zeros_like(x[..., :1]) + tf.zeros_like(h0)[:, None] if d_out is None else d_out
        d_h_last = tf.zeros_like(h0) if d_h_last is None else d_h_last
        d_c_last = tf.zeros_like(c0) if d_c_last is None else d_c_last
        U_t, K_t = _transposed(_ifco_icfo(U)), _transposed(_ifco_icfo(K))
        parts = [_backward(d, dh, dc, h, c, *chain, U_t, K_t) for d, dh, dc, h, c, chain in zip(
            tf.split(d_out, sizes, 0), tf.split(d_h_last, sizes, 0), tf.split(d_c_last, sizes, 0),
            h0s, c0s, chains)]
        dx, dh0, dc0 = (tf.concat([p[j] for p in parts], 0) for j in range(3))
        dK, dU, db = (_ifco_icfo(tf.add_n([p[j] for p in parts])) for j in range(3, 6))
        return dx, dh0, dc0, dK, dU, db

    outputs = tf.concat([tf.transpose(tf.stack(hs), [1, 0, 2]) for _, hs, _, _ in chains], 0)
    h_last = tf.concat([hs[-1] for _, hs, _, _ in chains], 0)
    c_last = tf.concat([cs[-1] for _, _, cs, _ in chains], 0)
    return (outputs, h_last, c_last), grad


def _lstm_while_loop(x, h0, c0, K, U, b):
    """Unknown/long/empty T: same math in a tf.while_loop (hoisted projection), TF autodiff."""
    import tensorflow as tf

    units = tf.shape(U)[0]
    xt = tf.transpose(x, [1, 0, 2])
    xp = tf.einsum("tbi,ig->tbg", xt, K) + b  # [T, B, 4H]
    steps = tf.shape(xt)[0]
    out = tf.TensorArray(x.dtype, size=steps, element_shape=h0.shape)

    def body(t, h, c, out):
        i, f, g, o = tf.split(xp[t] + tf.matmul(h, U), 4, axis=-1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        return t + 1, h, c, out.write(t, h)

    _, h, c, out = tf.while_loop(lambda t, *_: t < steps, body, (0, h0, c0, out))
    outputs = tf.reshape(tf.transpose(out.stack(), [1, 0, 2]), [tf.shape(x)[0], steps, units])
    return outputs, h, c
