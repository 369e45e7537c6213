"""The diagnostic classifier of `charlm.inspect.number_units`: an L2-penalised logistic
regression (NumPy Newton iterations, penalty `L2` on the mean log-loss, bias unpenalised) that
predicts a label (1 = plural) from recurrent states, standardised with the training split's mean
and standard deviation, on a seeded train / held-out split."""

from __future__ import annotations

import numpy as np

from charlm.probes.stats import wilson

L2 = 1e-2  # logistic regression penalty on standardised inputs (mean log-loss + L2/2 |w|^2)
TEST_FRACTION = 0.2


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = L2, iterations: int = 100):
    """L2-penalised logistic regression by Newton's method with backtracking:
    min mean(log(1 + e^z) − y z) + l2/2 |w|², z = x w + b. → (w [D], b)."""
    n, d = x.shape
    a = np.hstack([x, np.ones((n, 1))]).astype(np.float64)
    reg = np.full(d + 1, float(l2))
    reg[-1] = 0.0

    def loss(v):
        z = a @ v
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(reg * v * v))

    v = np.zeros(d + 1)
    current = loss(v)
    for _ in range(iterations):
        p = _sigmoid(a @ v)
        grad = a.T @ (p - y) / n + reg * v
        hess = (a.T * (p * (1 - p))) @ a / n + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while t > 1e-10:
            candidate = loss(v - t * step)
            if candidate <= current - 1e-4 * t * float(grad @ step):
                break
            t /= 2
        v, current = v - t * step, candidate
        if float(np.max(np.abs(t * step))) < 1e-9:
            break
    return v[:-1], float(v[-1])


def diagnostic_classifier(states: np.ndarray, labels: np.ndarray, seed: int = 0,
                          l2: float = L2, test_fraction: float = TEST_FRACTION) -> dict:
    """states [N, H], labels [N] (1 = plural) → weights per unit (on standardised inputs),
    train / held-out accuracy and chance, with a seeded split by pair."""
    states, labels = np.asarray(states, np.float64), np.asarray(labels, np.float64)
    n = len(labels)
    order = np.random.default_rng(seed).permutation(n)
    n_test = max(1, int(round(test_fraction * n))) if n > 1 else 0
    test, train = order[:n_test], order[n_test:]
    mean, std = states[train].mean(axis=0), states[train].std(axis=0)
    std[std < 1e-8] = 1.0  # a constant unit stays 0 after centring
    xs = (states - mean) / std
    w, b = fit_logistic(xs[train], labels[train], l2)
    predicted = (xs @ w + b) > 0
    right = predicted == (labels > 0.5)
    k_test = int(right[test].sum())
    share = float(labels[test].mean()) if n_test else 0.5
    return {"n_train": int(len(train)), "n_test": int(n_test), "l2": l2,
            "train_accuracy": float(right[train].mean()) if len(train) else None,
            "heldout_accuracy": k_test / n_test if n_test else None,
            "heldout_ci95": [round(v, 4) for v in wilson(k_test, n_test)],
            "chance": max(share, 1.0 - share), "weights": w, "bias": b}
