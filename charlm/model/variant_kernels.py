"""The fused CPU kernel of charlm.model.lstm_kernels for the two LSTM variants of
charlm.model.cells: peephole and cifg, taking the cells' own weight layouts.

The same design as the LSTM's (see lstm_kernels' docstring for why each point is there): one
input-projection matmul for all steps, the recurrence unrolled in the graph, hand-written BPTT in
a `tf.custom_gradient` with TF's fused `LSTMBlockCellGrad` for the per-step gate gradients, weight
gradients as one matmul each after the loop, the batch split in independent chains. Only
sequences of static length 1..MAX_UNROLL come here; charlm.model.model runs anything else in
keras.layers.RNN's generic loop.

peephole: i and f see c_{t-1} (p_i, p_f), o sees the new c_t (p_o). LSTMBlockCellGrad runs without
its own peephole option (see _backward for why): each step adds do ⊙ p_o to dc_t before the op
and di ⊙ p_i + df ⊙ p_f to the dc_{t-1} it returns, and the peephole gradients are three
reductions over all steps after the loop.

cifg (f = 1 − i, blocks i, c, o): LSTMBlockCellGrad is fed f = 1 − i and returns, for the
independent-gate cell, dz_i' = dc ⊙ g ⊙ i(1 − i) and dz_f' = dc ⊙ c_{t-1} ⊙ f(1 − f). As f(1 − f)
= i(1 − i) and f depends on z_i only through −σ(z_i), the cifg cell's dz_i = dz_i' − dz_f'; its
dc_{t-1} = dc ⊙ f is the kernel's. Each step folds the [B, 4H] gradient to the cell's [B, 3H]
(3 small ops) so that dh, and the weight gradients after the loop, are matmuls 3H wide: mapping
the weights to four blocks (W_i, W_c, −W_i, W_o) instead, with no per-step fold, gives the same
numbers, but one layer's forward + backward (B 64, T 100, H 256) took ~1.5x as long on a 2-core
Zen 2 (25% more matmul work).
"""

from __future__ import annotations

import os

from charlm.model import lstm_kernels


def is_enabled() -> bool:
    """Where the LSTM's kernel runs (TensorFlow without a GPU), unless CHARLM_FUSED_VARIANTS=0
    (Keras' generic loop then runs, e.g. to compare speeds)."""
    return os.environ.get("CHARLM_FUSED_VARIANTS") != "0" and lstm_kernels.is_enabled()


def fused_peephole_sequence(inputs, initial_h, initial_c, kernel, recurrent_kernel, bias,
                            peephole):
    """inputs [B, T, I], states [B, H], Keras-order weights ([I, 4H], [H, 4H], [4H]) and
    peephole [3H] (p_i, p_f, p_o) -> (outputs [B, T, H], final h [B, H], final c [B, H]).
    Differentiable wrt the inputs, both initial states and all four weights."""
    return _unrolled_sequence(_Peephole, inputs, initial_h, initial_c, kernel, recurrent_kernel,
                              bias, peephole)


def fused_cifg_sequence(inputs, initial_h, initial_c, kernel, recurrent_kernel, bias):
    """As fused_peephole_sequence for the cifg cell: weights [I, 3H], [H, 3H], [3H] (i, c, o)."""
    return _unrolled_sequence(_Cifg, inputs, initial_h, initial_c, kernel, recurrent_kernel, bias)


def _unrolled_sequence(variant, inputs, *states_and_weights):
    import tensorflow as tf

    x = tf.convert_to_tensor(inputs)
    args = [x] + [tf.cast(tf.convert_to_tensor(a), x.dtype) for a in states_and_weights]
    steps = x.shape[1]
    if steps is None or not 0 < steps <= lstm_kernels.MAX_UNROLL:
        raise ValueError(f"the fused kernel unrolls 1..{lstm_kernels.MAX_UNROLL} steps of a "
                         f"static length, not {steps}")
    return tf.custom_gradient(lambda *a: _chains(variant, *a))(*args)


class _Peephole:
    """Gate math of the peephole cell; weights (K, U, b, p) in the cell's layout."""

    @staticmethod
    def step(z, c, weights):
        import tensorflow as tf

        p_i, p_f, p_o = weights[3]
        zi, zf, zg, zo = tf.split(z, 4, axis=-1)  # [B, H] each
        i, f, g = tf.sigmoid(zi + p_i * c), tf.sigmoid(zf + p_f * c), tf.tanh(zg)
        c = f * c + i * g
        o = tf.sigmoid(zo + p_o * c)  # sees the new c
        return c, (i, f, g, o)

    @staticmethod
    def split_weights(weights):
        import tensorflow as tf

        K, U, b, p = weights
        return K, U, b, tf.split(p, 3)

    @staticmethod
    def gate_gradients(dz):
        """LSTMBlockCellGrad's [B, 4H] (i, c, f, o) gradient is the cell's, in that order."""
        return dz

    @staticmethod
    def backward_weights(weights):
        """(U^T, K^T) [4H, H], [4H, I] in LSTMBlockCellGrad's i, c, f, o order."""
        K, U = weights[0], weights[1]
        return (lstm_kernels._transposed(lstm_kernels._ifco_icfo(U)),
                lstm_kernels._transposed(lstm_kernels._ifco_icfo(K)))

    @staticmethod
    def to_cell_layout(dK, dU, db):
        """Weight gradients in i, c, f, o order -> the cell's i, f, c, o."""
        return tuple(lstm_kernels._ifco_icfo(d) for d in (dK, dU, db))


class _Cifg:
    """Gate math of the cifg cell; weights (K, U, b) with blocks i, c, o."""

    @staticmethod
    def step(z, c, weights):
        import tensorflow as tf

        zi, zg, zo = tf.split(z, 3, axis=-1)  # [B, H] each
        i, g, o = tf.sigmoid(zi), tf.tanh(zg), tf.sigmoid(zo)
        f = 1.0 - i
        return f * c + i * g, (i, f, g, o)

    @staticmethod
    def split_weights(weights):
        return (*weights, None)

    @staticmethod
    def gate_gradients(dz):
        """LSTMBlockCellGrad's [B, 4H] (i, c, f, o) gradient for independent i and f -> the
        cifg cell's [B, 3H] (i, c, o): dz_i = dz_i' - dz_f' (see the module docstring)."""
        import tensorflow as tf

        i, g, f, o = tf.split(dz, 4, axis=-1)
        return tf.concat([i - f, g, o], axis=-1)

    @staticmethod
    def backward_weights(weights):
        """(U^T, K^T) [3H, H], [3H, I]."""
        K, U = weights[0], weights[1]
        return lstm_kernels._transposed(U, blocks=3), lstm_kernels._transposed(K, blocks=3)

    @staticmethod
    def to_cell_layout(dK, dU, db):
        """Weight gradients already in the cell's i, c, o order."""
        return dK, dU, db


def _forward(variant, x, h, c, weights):
    """One batch chain: returns what the backward pass needs, and the per-step h and c."""
    import tensorflow as tf

    K, U, b, _ = weights
    steps, width, batch = x.shape[1], U.shape[1], tf.shape(x)[0]
    x_flat = tf.reshape(tf.transpose(x, [1, 0, 2]), [-1, tf.shape(x)[2]])  # [T*B, I] time-major
    xp = tf.unstack(tf.reshape(tf.matmul(x_flat, K) + b, [steps, batch, width]))
    hs, cs, gates = [], [], []
    for t in range(steps):
        c, (i, f, g, o) = variant.step(xp[t] + tf.matmul(h, U), c, weights)
        tanh_c = tf.tanh(c)
        h = o * tanh_c
        hs.append(h)
        cs.append(c)
        gates.append((i, f, g, o, tanh_c))
    return x_flat, hs, cs, gates


def _backward(variant, d_out, dh, dc, h0, c0, x_flat, hs, cs, gates, U_t, K_t, peephole):
    """One batch chain: gradients wrt (x, h0, c0), the weight gradients dK [I, nH], dU [H, nH],
    db [nH] in the order of U_t's rows, and the peephole's [3H] (or None)."""
    import tensorflow as tf

    steps, units, batch, dt = len(hs), U_t.shape[1], tf.shape(h0)[0], h0.dtype
    d_out = tf.unstack(tf.transpose(d_out, [1, 0, 2]))
    # LSTMBlockCellGrad reads only shapes from x, h_prev, w, b, wc* (no matmul inside).
    no_x, no_w = tf.zeros([batch, 0], dt), tf.zeros([units, 4 * units], dt)
    no_b, no_p = tf.zeros([4 * units], dt), tf.zeros([units], dt)
    dz = [None] * steps
    for t in reversed(range(steps)):
        i, f, g, o, tanh_c = gates[t]
        c_prev, h_grad = cs[t - 1] if t > 0 else c0, d_out[t] + dh
        if peephole is not None:
            # The peephole paths by hand, not LSTMBlockCellGrad(use_peephole=True): that op
            # may write its peephole gradients into the buffers of its wc* inputs (TF's
            # forward_input_or_allocate_output), which both batch chains read; with it, 4 of 6
            # identical peephole runs ended with different weights (2-core Zen 2), without it
            # 6 of 6 matched bit for bit.
            # o sees the new c, so dc_t gains do * p_o before the gate gradients are formed.
            dc = dc + h_grad * tanh_c * o * (1.0 - o) * peephole[2]
        dc_prev, dz4, _, _, _ = tf.raw_ops.LSTMBlockCellGrad(
            x=no_x, cs_prev=c_prev, h_prev=h0, w=no_w, wci=no_p, wcf=no_p, wco=no_p, b=no_b,
            i=i, cs=cs[t], f=f, o=o, ci=g, co=tanh_c, cs_grad=dc, h_grad=h_grad,
            use_peephole=False)  # dz4: [B, 4H] i,c,f,o
        if peephole is not None:  # i and f see c_{t-1} through p_i and p_f
            di, _, df, _ = tf.split(dz4, 4, axis=-1)
            dc_prev = dc_prev + di * peephole[0] + df * peephole[1]
        dc = dc_prev
        dz[t] = variant.gate_gradients(dz4)  # [B, nH] in the order of U_t's rows
        dh = tf.matmul(dz[t], U_t)
    dZ, dx, dK, dU, db = lstm_kernels.batched_gradients(dz, h0, hs, x_flat, K_t)
    dp = None if peephole is None else _peephole_gradient(dZ, c0, cs, units)
    return dx, dh, dc, dK, dU, db, dp


def _peephole_gradient(dZ, c0, cs, units):
    """d(p_i, p_f, p_o) [3H] from all steps at once: the gate gradients dZ [T*B, 4H] (i, c, f,
    o) times the cell state each gate saw (c_{t-1} for i and f, c_t for o), summed."""
    import tensorflow as tf

    c_prev = tf.reshape(tf.stack([c0] + cs[:-1]), [-1, units])  # [T*B, H]
    c_new = tf.reshape(tf.stack(cs), [-1, units])
    di, _, df, do = tf.split(dZ, 4, axis=-1)
    return tf.concat([tf.reduce_sum(di * c_prev, 0), tf.reduce_sum(df * c_prev, 0),
                      tf.reduce_sum(do * c_new, 0)], 0)


def _chains(variant, x, h0, c0, *weights):
    """The batch split in lstm_kernels.BATCH_SPLIT independent chains, forward and backward."""
    import tensorflow as tf

    batch = tf.shape(x)[0]
    sizes = [batch - batch // 2, batch // 2] if lstm_kernels.BATCH_SPLIT == 2 else [batch]
    xs, h0s, c0s = tf.split(x, sizes, 0), tf.split(h0, sizes, 0), tf.split(c0, sizes, 0)
    split = variant.split_weights(weights)
    chains = [_forward(variant, xs[k], h0s[k], c0s[k], split) for k in range(len(sizes))]

    def grad(d_out, d_h_last, d_c_last):
        d_out = tf.zeros_like(x[..., :1]) + tf.zeros_like(h0)[:, None] if d_out is None else d_out
        d_h_last = tf.zeros_like(h0) if d_h_last is None else d_h_last
        d_c_last = tf.zeros_like(c0) if d_c_last is None else d_c_last
        U_t, K_t = variant.backward_weights(weights)
        parts = [_backward(variant, d, dh, dc, h, c, *chain, U_t, K_t, split[3])
                 for d, dh, dc, h, c, chain in zip(
                     tf.split(d_out, sizes, 0), tf.split(d_h_last, sizes, 0),
                     tf.split(d_c_last, sizes, 0), h0s, c0s, chains)]
        dx, dh0, dc0 = (tf.concat([p[j] for p in parts], 0) for j in range(3))
        dK, dU, db = variant.to_cell_layout(*(tf.add_n([p[j] for p in parts]) for j in range(3, 6)))
        d_peephole = [] if split[3] is None else [tf.add_n([p[6] for p in parts])]
        return (dx, dh0, dc0, dK, dU, db, *d_peephole)

    outputs = tf.concat([tf.transpose(tf.stack(hs), [1, 0, 2]) for _, hs, _, _ in chains], 0)
    h_last = tf.concat([hs[-1] for _, hs, _, _ in chains], 0)
    c_last = tf.concat([cs[-1] for _, _, cs, _ in chains], 0)
    return (outputs, h_last, c_last), grad
