"""Batched log-probabilities of text continuations under a charlm checkpoint.

A request is `(context, target)`; its score is log P(target | "\\n" + context) in nats, the state
primed with a line break as `charlm eval` does, and log P(context | "\\n") comes along for free.
Requests that share a context (the two halves of a minimal pair) read it once:

    phase A  contexts of equal length, side by side from a zero state:
             x = "\\n" + context [b, L+1] → log P(context) [b], state after it ([b, H] each),
             log-softmax at its last position [b, V] (which scores the target's first character)
    phase B  the targets of those contexts, sorted by length and right-padded, from the states
             gathered for their contexts: x = target[:-1], y = target[1:] [b', m-1]

Phase A batches only contexts of one length, because a recurrent state read at the end of a
right-padded row would have run over the padding; phase B can pad on the right since nothing
after a target's last character feeds back into its score. Duplicate requests are scored once,
so identical texts get bit-identical scores (a tie, never a rounding win).

`PrefixScorer` scores one fixed set of agreement pairs many times over (ablation), reading
contexts of different lengths side by side; its docstring says when to use which.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from charlm import backend
from charlm.errors import UserError
from charlm.model.model import zero_states
from charlm.probes.pairs import requests


def _compile(model):
    """fn(x [B,T], y [B,T], w [B,T], states) → (Σ_t w·log p(y_t) [B],
    log p(· | row) after position T-1 [B,V], new states). On TensorFlow: one traced graph,
    generalised to any B and T after the first shapes (reduce_retracing)."""
    from keras import ops

    def fn(x, y, w, states):
        logits, *new_states = model([x, *states], training=False)
        logp = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)  # [B, T, V]
        picked = ops.squeeze(ops.take_along_axis(logp, ops.expand_dims(y, -1), axis=-1), -1)
        return ops.sum(picked * w, axis=1), logp[:, -1, :], new_states

    return backend.compile_function(fn, model.variables)


class ModelScorer:
    """Scores requests with a charlm model (any cell: LSTM, GRU, RNN) and a char tokenizer."""

    def __init__(self, model, tokenizer, batch_size: int = 256, unknown: str = "error"):
        if getattr(tokenizer, "kind", "char") != "char":
            raise UserError("probe and score need a character-level checkpoint (--tokenizer "
                            f"char); this one uses {tokenizer.kind}, whose tokens do not split "
                            "at the character boundaries scoring needs")
        self.model, self.tokenizer, self.unknown = model, tokenizer, unknown
        self.batch_size = max(1, int(batch_size))
        self.prime = tokenizer.prime_id()
        self._fn = _compile(model)

    def has_char(self, char: str) -> bool:
        return self.tokenizer.token_id(char) is not None

    def _encode(self, text: str) -> np.ndarray:
        return self.tokenizer.encode(text, unknown=self.unknown)

    def score(self, reqs, progress=None) -> tuple[np.ndarray, np.ndarray]:
        """(log P(context | "\\n"), log P(target | "\\n" + context)) per request, float64 nats."""
        contexts, targets = {}, {}  # text → index; (context index, target text) → index
        req_keys = []
        for context, target in reqs:
            if not target:
                raise ValueError("empty target")
            c = contexts.setdefault(context, len(contexts))
            req_keys.append((c, targets.setdefault((c, target), len(targets))))
        ctx_lp, tgt_lp = np.zeros(len(contexts)), np.zeros(len(targets))
        by_context = defaultdict(list)  # context index → [(target index, target ids)]
        for (c, target), t in targets.items():
            by_context[c].append((t, self._encode(target)))
        ctx_ids = [np.concatenate([[self.prime], self._encode(c)]).astype(np.int32)
                   for c in contexts]
        by_length = defaultdict(list)
        for c, ids in enumerate(ctx_ids):
            by_length[len(ids)].append(c)
        for length in sorted(by_length):
            members = by_length[length]
            for start in range(0, len(members), self.batch_size):
                chunk = members[start:start + self.batch_size]
                self._phase_a_b(chunk, ctx_ids, by_context, ctx_lp, tgt_lp)
                if progress is not None:
                    progress.update(sum(len(by_context[c]) for c in chunk))
        ctx_index = np.array([c for c, _ in req_keys], dtype=np.int64)
        tgt_index = np.array([t for _, t in req_keys], dtype=np.int64)
        return ctx_lp[ctx_index], tgt_lp[tgt_index]

    def _phase_a_b(self, chunk, ctx_ids, by_context, ctx_lp, tgt_lp):
        # --- phase A: contexts of one length L+1 (prime included), [b, L+1] -------------------
        x = np.stack([ctx_ids[c] for c in chunk])  # [b, L+1]
        y = np.zeros_like(x)
        y[:, :-1] = x[:, 1:]  # each position predicts the next context character…
        w = np.ones(x.shape, np.float32)
        w[:, -1] = 0.0  # …except the last, whose prediction is the target's first character
        lp, last_logp, states = self._fn(x, y, w, zero_states(self.model, len(chunk)))
        ctx_lp[chunk] = np.asarray(lp, dtype=np.float64)
        last_logp = np.asarray(last_logp)  # [b, V]
        states = [np.asarray(s) for s in states]  # [b, H] each
        # --- phase B: every target of these contexts, sorted by length -------------------------
        rows = [(len(ids), row, t, ids) for row, c in enumerate(chunk) for t, ids in by_context[c]]
        rows.sort(key=lambda r: r[0])
        for start in range(0, len(rows), self.batch_size):
            part = rows[start:start + self.batch_size]
            ctx_row = np.array([r[1] for r in part])
            t_index = np.array([r[2] for r in part])
            first = np.array([r[3][0] for r in part])
            total = last_logp[ctx_row, first].astype(np.float64)  # log p(target[0] | context)
            width = max(r[0] for r in part) - 1
            if width > 0:
                xb = np.zeros((len(part), width), np.int32)  # [b', m-1], right-padded
                yb = np.zeros_like(xb)
                wb = np.zeros(xb.shape, np.float32)
                for i, (m, _, _, ids) in enumerate(part):
                    xb[i, :m - 1], yb[i, :m - 1], wb[i, :m - 1] = ids[:-1], ids[1:], 1.0
                lp, _, _ = self._fn(xb, yb, wb, [s[ctx_row] for s in states])
                total += np.asarray(lp, dtype=np.float64)
            tgt_lp[t_index] = total


class PrefixScorer:
    """log P(good) − log P(bad) per agreement pair (`charlm.probes.pairs.Pair`) under the
    model's current weights, with the requests and the priming of `charlm probe`
    (`charlm.probes.pairs.requests`: log P(target | "\\n" + context)).

    When to use which: `ModelScorer` scores any requests once (`charlm probe`, `charlm score`);
    `PrefixScorer` is for one fixed set of pairs scored many times over while the weights change
    (an `ablated` block changes the margins). It encodes the pairs once and keeps the plan of
    each subset it is asked about (`plan`), which `charlm.inspect.masked_ablation` also runs, for
    many ablations at once (what `charlm inspect number-units` uses).

    The plan is a trie of every text read, "\\n" + context + target[:-1] for both targets of
    every pair: a shared beginning (the same subject and attractors, "The keys to the cabinet";
    the bad verb "rescue" inside the good "rescues") is read once. The trie runs level by level,
    one character per model call: level d is every distinct text of d characters, its state
    gathered from its parent's at level d-1 ([n_d, H] each), its next-character log-softmax
    [n_d, V] kept only where a target character is scored. On the 8,000 shipped pairs that is
    250,119 steps where reading each context once and then each target takes 435,896 (1.74x
    fewer); one-character calls run fewer steps per second, so a run over them was ~1.4-1.9x
    faster on 2 cores than the context-then-targets reading. Identical texts are one node, so
    pairs with identical texts get identical margins. The margins agree with ModelScorer's to
    float rounding (tests/inspect/test_number_units.py): the target's log-probabilities are
    summed in float64 here, in float32 there."""

    def __init__(self, model, tokenizer, pairs: list, batch_size: int = 256):
        self.model, self.batch_size = model, max(1, int(batch_size))
        prime = tokenizer.prime_id()
        contexts: dict = {}  # text → "\\n" + text as ids, shared by the pairs that read it
        self.requests = []  # per pair: [(context ids, target ids)] for good, then bad
        for pair in pairs:
            reqs = []
            for context, target in requests(pair)[:2]:
                if context not in contexts:
                    contexts[context] = np.concatenate(
                        [[prime], tokenizer.encode(context, unknown="replace")]).astype(np.int32)
                reqs.append((contexts[context],
                             np.asarray(tokenizer.encode(target, unknown="replace"), np.int32)))
            self.requests.append(reqs)

        def step(x, states):
            from keras import ops

            logits, *new_states = model([x, *states], training=False)
            return ops.log_softmax(ops.cast(logits[:, -1, :], "float32"), axis=-1), new_states

        units = [inp.shape[-1] for inp in model.inputs[1:]]
        signature = [((None, 1), "int32"), [((None, h), "float32") for h in units]] \
            if backend.name() == "tensorflow" else None
        self._step = backend.compile_function(step, model.variables, signature=signature)
        self._plans: dict = {}

    def plan(self, subset) -> list:
        """The trie of the pairs at indices `subset`, per level: (parent row at the level above
        [n_d], character [n_d, 1], and the scored characters read from this level's
        distributions: rows [q], characters [q], request keys [q] (2·position + 0 for good, 1
        for bad)). Level 0's parent is the root, row 0 of one zero state."""
        subset = tuple(int(i) for i in subset)
        if subset in self._plans:
            return self._plans[subset]
        node: dict = {}  # (parent node, char) → node; node = (level, row)
        levels: list = []  # per level: [parents], [chars], [(row, char, key)]
        for n, p in enumerate(subset):
            for k, (context, target) in enumerate(self.requests[p]):
                text = np.concatenate([context, target[:-1]])
                parent = (0, 0)  # the root: one zero state
                for depth, char in enumerate(text.tolist(), 1):
                    key = (parent, char)
                    if key not in node:
                        while len(levels) < depth:
                            levels.append(([], [], []))
                        rows = levels[depth - 1]
                        node[key] = (depth, len(rows[0]))
                        rows[0].append(parent[1])
                        rows[1].append(char)
                    parent = node[key]
                    scored = depth - len(context)  # this node predicts target[scored]
                    if scored >= 0:
                        levels[depth - 1][2].append((parent[1], int(target[scored]), 2 * n + k))
        plan = []
        for parents, chars, queries in levels:
            q = np.array(queries, np.int64).reshape(-1, 3)
            plan.append((np.array(parents, np.int64), np.array(chars, np.int32)[:, None],
                         q[:, 0], q[:, 1], q[:, 2]))
        if len(self._plans) >= 8:
            self._plans.clear()
        self._plans[subset] = plan
        return plan

    def margins(self, subset) -> np.ndarray:
        """[len(subset)] float64: log P(good) − log P(bad) for the pairs at these indices."""
        subset = tuple(int(i) for i in subset)
        logprob = np.zeros(2 * len(subset), np.float64)
        above = [np.asarray(s) for s in zero_states(self.model, 1)]  # the root's state
        for parents, chars, rows, targets, keys in self.plan(subset):
            states = [np.zeros((len(parents), s.shape[1]), np.float32) for s in above]
            logp = None  # [n_d, V]: each node's next-character log-softmax
            for start in range(0, len(parents), self.batch_size):
                part = slice(start, start + self.batch_size)
                out, new = self._step(chars[part], [s[parents[part]] for s in above])
                for keep, value in zip(states, new):
                    keep[part] = np.asarray(value)
                if len(rows):
                    out = np.asarray(out)
                    if logp is None:
                        logp = np.zeros((len(parents), out.shape[1]), np.float32)
                    logp[part] = out
            if len(rows):
                np.add.at(logprob, keys, logp[rows, targets].astype(np.float64))
            above = states
        return logprob[0::2] - logprob[1::2]


def score_lines(scorer, lines: list[str], progress=None) -> list[dict]:
    """`charlm score`: each line as a line of its own, its line break counted as the end marker."""
    _, lp = scorer.score([("", line + "\n") for line in lines], progress=progress)
    return [{"line": i, "logprob": float(v), "chars": len(line) + 1}
            for i, (line, v) in enumerate(zip(lines, lp), 1)]
