"""Gate saturation (Karpathy, Johnson & Fei-Fei 2015, "Visualizing and understanding recurrent
networks", section 4.2): per layer, gate and unit, the fraction of the characters of a text at
which the gate is left-saturated (activation < 0.1) or right-saturated (> 0.9).

The gate values come from `charlm.inspect.trace.trace_text` (the cell equations recomputed in
NumPy on the model's own weights, from a zero state; characters outside the vocabulary read as
<unk>). Gates are a cell kind's quantities named "*_gate": input/forget/output for an LSTM,
update/reset for a GRU, none for a simple RNN (the JSON says so). A fraction is the count of
steps strictly beyond the threshold divided by the number of steps, so it is exact.

    saturation.json  {"thresholds", "steps", "layers": [{"name", "cell", "units", "gates":
                      {gate: {"left": [H], "right": [H], "summary": {...}}}, "note"?}],
                      "summary": {gate: counts over all layers}}
    saturation.png   one panel per gate: x = fraction left-saturated, y = fraction
                      right-saturated, one point per unit, a colour per layer (the paper's plot)
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from charlm.fileio import atomic_write, atomic_write_json
from charlm.inspect.equations import EQUATIONS
from charlm.inspect.trace import trace_text
from charlm.probes.reports import figure_png

LEFT, RIGHT = 0.1, 0.9  # the paper's thresholds
DECIMALS = 6


def gate_names(kind: str) -> list[str]:
    """The gates of a cell kind, in display order (e.g. lstm: input, forget, output)."""
    return [q for q in EQUATIONS[kind][1] if q.endswith("_gate")]


def fractions(values: np.ndarray, left: float = LEFT, right: float = RIGHT):
    """values [T, H] → (fraction of steps < left, fraction > right), each [H] float64."""
    steps = values.shape[0]
    if steps == 0:
        return np.zeros(values.shape[1]), np.zeros(values.shape[1])
    return ((values < left).sum(axis=0) / steps, (values > right).sum(axis=0) / steps)


def gate_summary(left: np.ndarray, right: np.ndarray) -> dict:
    """Counts of units by how they saturate, and the mean fractions."""
    return {"units": int(left.size),
            "mostly_left": int((left > 0.5).sum()),  # left-saturated over half the time
            "mostly_right": int((right > 0.5).sum()),
            "always_left": int((left == 1.0).sum()),
            "always_right": int((right == 1.0).sum()),
            "never_saturated": int(((left == 0.0) & (right == 0.0)).sum()),
            "mean_left": round(float(left.mean()), DECIMALS) if left.size else None,
            "mean_right": round(float(right.mean()), DECIMALS) if right.size else None}


def saturation(trace) -> dict:
    """The JSON-ready statistics of a Trace (without writing anything)."""
    layers, totals = [], {}
    for layer in trace.layers:
        entry = {"name": layer.name, "cell": layer.cell, "units": layer.units, "gates": {}}
        gates = gate_names(layer.cell)
        if not gates:
            entry["note"] = (f"a {layer.cell} cell has no gates: nothing can saturate "
                             "(its hidden state is a tanh of the input and the previous state)")
        for gate in gates:
            left, right = fractions(layer.values[gate])
            entry["gates"][gate] = {"left": np.round(left, DECIMALS).tolist(),
                                    "right": np.round(right, DECIMALS).tolist(),
                                    "summary": gate_summary(left, right)}
            totals.setdefault(gate, ([], []))
            totals[gate][0].append(left)
            totals[gate][1].append(right)
        layers.append(entry)
    summary = {gate: gate_summary(np.concatenate(l), np.concatenate(r))
               for gate, (l, r) in totals.items()}
    return {"thresholds": {"left": LEFT, "right": RIGHT},
            "definition": "per unit: share of steps with the gate < left (left-saturated) and "
                          "> right (right-saturated)",
            "steps": int(len(trace.ids)), "layers": layers, "summary": summary}


def saturation_chart(report: dict, path: Path) -> None:
    """Karpathy et al.'s scatter: a panel per gate, a point per unit, a colour per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gates = []
    for layer in report["layers"]:
        gates += [g for g in layer["gates"] if g not in gates]
    panels = max(1, len(gates))
    fig, axes = plt.subplots(1, panels, figsize=(3.6 * panels + 0.6, 3.9), squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, gate in zip(axes[0], gates):
        for n, layer in enumerate(report["layers"]):
            if gate in layer["gates"]:
                values = layer["gates"][gate]
                ax.scatter(values["left"], values["right"], s=9, alpha=0.6, color=colors(n % 10),
                           label=f"{layer['name']}", edgecolors="none")
        ax.plot([0, 1], [1, 0], color="grey", linewidth=0.8, linestyle="--")  # left + right = 1
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_aspect("equal")
        ax.set_title(gate.replace("_", " "), fontsize=10)
        ax.set_xlabel("fraction left-saturated (< 0.1)", fontsize=8)
        ax.set_ylabel("fraction right-saturated (> 0.9)", fontsize=8)
        ax.tick_params(labelsize=7)
    if gates:
        axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0))
    else:
        ax = axes[0][0]
        ax.axis("off")
        cells = ", ".join(sorted({layer["cell"] for layer in report["layers"]}))
        ax.text(0.5, 0.5, f"no gates to saturate ({cells} cells)", ha="center", va="center")
    fig.suptitle(f"Gate saturation over {report['steps']:,} characters", fontsize=10)
    atomic_write(Path(path), figure_png(fig))
    plt.close(fig)


def saturation_report(model, tokenizer, text: str, out_dir) -> dict:
    """Trace `text`, write out_dir/saturation.json and out_dir/saturation.png; → the JSON dict."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    start = time.perf_counter()
    n = len(tokenizer.encode(text, unknown="replace"))
    with tqdm(total=n, unit="char", desc="saturation", disable=None, leave=False,
              file=sys.stderr) as bar:
        trace = trace_text(model, tokenizer, text, unknown="replace", progress=bar)
    report = saturation(trace)
    report["seconds"] = round(time.perf_counter() - start, 2)
    atomic_write_json(out_dir / "saturation.json", report)
    saturation_chart(report, out_dir / "saturation.png")
    return report
