"""Many ablations in one run: each a 0/1 mask on a recurrent layer's output, not zeroed weights.

`charlm.inspect.ablation` ablates unit u of layer l by zeroing row u of every weight that reads
h_u: the layer's own recurrent_kernel and the next layer's kernel (or the logits kernel). Row u of
a weight W only ever multiplies h_u, so x W with row u zeroed equals (x ⊙ m) W with m_u = 0:
multiplying the layer's h by a mask m [H] (0 at the ablated units, 1 elsewhere) where it leaves
the layer, as the state the next step reads and as the input of the layer above, gives the same
logits. (A GRU's h_{t-1} also enters its own unit's update, z ⊙ h_{t-1}: a masked unit's own state
then runs differently, but nothing reads it. Peephole and LSTM cell states c are not masked, as
ablation leaves them.) The mask is an input, so conditions can run side by side: the rows of one
model call are (condition, trie node), condition-major, each condition with its own mask.

`AblationScorer.margins` runs the `PrefixScorer` trie (charlm.probes.scoring) of a set of pairs
for a whole list of unit sets: as many conditions per pass as fit `rows` model rows at the
trie's widest level, one model call per trie level and pass, the states staying in the backend's
tensors between calls. Against one `ablated` block per condition this turns ~400 runs of ~100
small calls (the screen's 200 pairs are ~100 trie nodes per level) into a few runs of calls
thousands of rows wide. The margins agree with the `ablated` path's to float rounding
(tests/inspect/test_masked_ablation.py).
"""

from __future__ import annotations

import numpy as np

from charlm import backend
from charlm.inspect.ablation import resolve_layer, unit_indices
from charlm.inspect.trace import recurrent_layers
from charlm.model.one_step import lstm_update

# model rows per call at the trie's widest level: 16,384 rows of a 384-unit LSTM hold ~100 MB of
# gate pre-activations [rows, 4H]; the calls are wide enough that per-call overhead is small.
ROWS = 16384


def _state_counts(layers) -> list[int]:
    """States per recurrent layer: 2 for (h, c), 1 for h; h first."""
    counts = []
    for layer in layers:
        size = layer.cell.state_size
        counts.append(len(size) if isinstance(size, (list, tuple)) else 1)
    return counts


def masked_step(model, layer_index: int):
    """The compiled step of one trie level for many conditions at once:

        (chars [n] int32, parents [n] int32: rows of the level above, states: per model state
         [G·n_above, H], masks [G, H_l] (1 keep, 0 ablated) for recurrent layer `layer_index`,
         rows [q] int32: the distinct nodes whose next character is scored)
        → (log-softmax of the next character at those nodes [G, q, V], new states [G·n, H]
           each)

    Row g·n + i is node i under condition g. The model's own layers compute each step (a
    sequence of length 1, as `PrefixScorer` runs the whole model), except a first layer that is
    a Keras LSTM (`_lstm_by_table`); Dropout layers are skipped (inference)."""
    import keras
    from keras import ops

    embedding, dense = model.get_layer("embedding"), model.get_layer("logits")
    layers = recurrent_layers(model)
    counts = _state_counts(layers)
    units = [layer.cell.units for layer in layers]
    by_table = isinstance(layers[0], keras.layers.LSTM)

    def step(chars, parents, states, masks, rows):
        groups, n, q = ops.shape(masks)[0], ops.shape(chars)[0], ops.shape(rows)[0]

        def gather(state):  # [G·n_above, H] → [G·n, H]: each node's parent, per condition
            width = state.shape[-1]
            grouped = ops.reshape(state, (groups, -1, width))
            return ops.reshape(ops.take(grouped, parents, axis=1), (groups * n, width))

        states = [gather(s) for s in states]
        tokens = ops.tile(chars, [groups])  # [G·n]
        x = None if by_table else embedding(ops.expand_dims(tokens, -1))  # [G·n, 1, E]
        new_states, start = [], 0
        for i, layer in enumerate(layers):
            layer_states = states[start:start + counts[i]]
            start += counts[i]
            if i == 0 and by_table:
                x, *out = _lstm_by_table(embedding, layer.cell, tokens, *layer_states)
            else:
                x, *out = layer(x, initial_state=layer_states, training=False)
            if i == layer_index:  # x [G·n, 1, H]: the layer's h, masked where it leaves
                x = ops.reshape(ops.reshape(x, (groups, n, units[i])) * masks[:, None, :],
                                (groups * n, 1, units[i]))
                out[0] = x[:, 0]  # h: what the next step's recurrent_kernel reads
            new_states += out
        top = ops.reshape(x, (groups, n, units[-1]))
        picked = ops.reshape(ops.take(top, rows, axis=1), (groups * q, units[-1]))
        logp = ops.log_softmax(ops.cast(dense(picked), "float32"), axis=-1)  # [G·q, V]
        return ops.reshape(logp, (groups, q, -1)), new_states

    signature = None
    if backend.name() == "tensorflow":
        vector = ((None,), "int32")
        state_units = [inp.shape[-1] for inp in model.inputs[1:]]
        signature = [vector, vector, [((None, h), "float32") for h in state_units],
                     ((None, units[layer_index]), "float32"), vector]
    return backend.compile_function(step, model.variables, signature=signature)


def _lstm_by_table(embedding, cell, tokens, h, c):
    """A first LSTM layer's step: tokens [B], h and c [B, H] → (h as [B, 1, H], h, c).

    embedding · W + b is a [V, 4H] table (a gather replaces the input matmul, ~1/7 of the step's
    multiply-adds at E = 64, H = 384), and the rows run in two halves, independent chains that
    TensorFlow's inter-op pool puts on both cores (charlm.backend.CPU_CHAINS; one intra-op thread
    each). The same formula as the layer's, to float rounding."""
    from keras import ops

    table = ops.matmul(embedding.embeddings, cell.kernel)  # [V, 4H]
    if cell.use_bias:
        table = table + cell.bias
    half = ops.shape(tokens)[0] // 2
    parts = []
    for rows in (slice(None, half), slice(half, None)):
        z = ops.take(table, tokens[rows], axis=0) + ops.matmul(h[rows], cell.recurrent_kernel)
        parts.append(lstm_update(cell, z, c[rows]))  # h, c [B/2, H] each
    h, c = (ops.concatenate([part[k] for part in parts], axis=0) for k in (0, 1))
    return ops.expand_dims(h, 1), h, c


class AblationScorer:
    """log P(good) − log P(bad) of a `PrefixScorer`'s pairs under many ablations of one layer at
    once, each a set of units (the empty set: the intact model). The model's weights are never
    modified."""

    def __init__(self, scorer, rows: int = ROWS):
        self.scorer, self.model, self.rows = scorer, scorer.model, max(1, int(rows))
        self._steps: dict = {}

    def _step(self, layer_index: int):
        if layer_index not in self._steps:
            self._steps[layer_index] = masked_step(self.model, layer_index)
        return self._steps[layer_index]

    def margins(self, subset, layer, unit_sets: list, bar=None) -> np.ndarray:
        """[len(unit_sets), len(subset)] float64: the margins of the pairs at indices `subset`
        with each unit set of recurrent `layer` (index or name) ablated. `bar` (an object with
        update(n), or None) advances by one per unit set, in parts as the trie is read."""
        index, found = resolve_layer(self.model, layer)
        masks = np.ones((len(unit_sets), found.cell.units), np.float32)  # [C, H]
        for c, units in enumerate(unit_sets):
            masks[c, unit_indices(units, found.cell.units)] = 0.0
        plan = self.scorer.plan(subset)
        out = np.zeros((len(unit_sets), len(subset)), np.float64)
        if not len(unit_sets) or not plan:
            return out
        widest = max(len(level[0]) for level in plan)
        passes = -(-len(unit_sets) // max(1, self.rows // widest))
        per_pass = -(-len(unit_sets) // passes)  # the same number of conditions in each pass
        ticker = _Ticker(bar, sum(len(level[0]) for level in plan))
        for start in range(0, len(unit_sets), per_pass):
            out[start:start + per_pass] = self._run(plan, index, masks[start:start + per_pass],
                                                    len(subset), ticker)
        return out

    def _run(self, plan: list, layer_index: int, masks: np.ndarray, pairs: int,
             ticker) -> np.ndarray:
        """One pass of the trie for the conditions of `masks` [G, H] → margins [G, pairs]."""
        step, groups = self._step(layer_index), len(masks)
        logprob = np.zeros((groups, 2 * pairs), np.float64)
        # the root: one zero state per condition
        states = [np.zeros((groups, inp.shape[-1]), np.float32) for inp in self.model.inputs[1:]]
        for parents, chars, rows, targets, keys in plan:
            # a node scored twice (the good and the bad target after a shared context; identical
            # texts) is read once, so the same node and character get bit-identical values
            nodes, which = np.unique(rows, return_inverse=True)
            logp, states = step(chars[:, 0], parents.astype(np.int32), states, masks,
                                nodes.astype(np.int32))
            if len(rows):  # keys are distinct within a level: one node per request and depth
                logprob[:, keys] += np.asarray(logp)[:, which, targets].astype(np.float64)
            ticker.advance(groups * len(parents))
        return logprob[:, 0::2] - logprob[:, 1::2]


class _Ticker:
    """Advances `bar` by one per condition, in fractions: a condition is `nodes` node steps."""

    def __init__(self, bar, nodes: int):
        self.bar, self.nodes, self.done, self.shown = bar, max(1, nodes), 0, 0

    def advance(self, node_steps: int) -> None:
        if self.bar is None:
            return
        self.done += node_steps
        whole = self.done // self.nodes
        if whole > self.shown:
            self.bar.update(whole - self.shown)
            self.shown = whole
