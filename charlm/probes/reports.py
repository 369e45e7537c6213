"""Probe reports: Markdown tables and PNG charts (matplotlib, Agg backend).

Every figure is rendered to memory and written with `atomic_write`, so a chart on disk is
always complete.
"""

from __future__ import annotations

import io
from pathlib import Path

from charlm.fileio import atomic_write
from charlm.probes.stats import group_label


def pct(stats: dict | None) -> str:
    if not stats or stats["accuracy"] is None:
        return "–"
    return f"{100 * stats['accuracy']:.1f}"


def ci(stats: dict) -> str:
    lo, hi = stats["ci95"]
    return f"[{100 * lo:.1f}, {100 * hi:.1f}]"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def markdown(summary: dict, title: str = "Agreement probes", conditions: bool = False) -> str:
    """Accuracy (%) per group, with n and a 95% Wilson interval, then by attractors and distance;
    with `conditions`, also per condition (e.g. singular subject, plural attractor), which shows
    agreement attraction: right when the nearest noun matches the subject, wrong when not."""
    groups = summary["groups"]
    many = len({g["source"] for g in groups}) > 1
    attrs = sorted({int(k) for g in groups for k in g.get("by_n_attr", {})})
    dists = list(summary.get("by_distance", {}))
    m = summary.get("model", {})
    lines = [f"# {title}", ""]
    if m:
        lines += [f"model: {describe_model(m)}  ", ""]
    if summary.get("notes"):
        lines += [f"- {note}" for note in summary["notes"]] + [""]
    header = ["group", "n", "accuracy %", "95% CI"] + [f"{a} attr." for a in attrs]
    rows = [[group_label(g, many), str(g["n"]), pct(g), ci(g)]
            + [_cell(g.get("by_n_attr", {}).get(str(a))) for a in attrs] for g in groups]
    overall = summary["overall"]
    rows.append(["**all**", str(overall["n"]), pct(overall), ci(overall)]
                + [_cell(summary.get("by_n_attr", {}).get(str(a))) for a in attrs])
    lines += _table(header, rows)
    if dists:
        lines += ["", "Accuracy % by subject-verb distance (words between them), n in brackets:",
                  ""]
        rows = [[group_label(g, many)] + [_cell(g.get("by_distance", {}).get(d)) for d in dists]
                for g in groups if g.get("by_distance")]
        rows.append(["**all**"] + [_cell(summary["by_distance"].get(d)) for d in dists])
        lines += _table(["group"] + dists, rows)
    if conditions and any(g.get("by_condition") for g in groups):
        lines += ["", "Accuracy % by condition:", ""]
        rows = [[group_label(g, many), cond.replace("__", ", ").replace("_", " "), str(st["n"]),
                 pct(st), ci(st)]
                for g in groups for cond, st in g.get("by_condition", {}).items()]
        lines += _table(["group", "condition", "n", "accuracy %", "95% CI"], rows)
    if summary.get("skipped"):
        lines += ["", f"{summary['skipped']} pair(s) skipped (characters outside the vocabulary)."]
    return "\n".join(lines) + "\n"


def _cell(stats: dict | None) -> str:
    return "–" if not stats else f"{pct(stats)} ({stats['n']})"


def describe_model(m: dict) -> str:
    if m.get("kind") == "ngram":
        return (f"character {m['order']}-gram (Witten-Bell) on {m.get('corpus', '?')}, "
                f"{m['vocab']} characters")
    return (f"{m.get('layers')}×{m.get('units')} {m.get('cell', '').upper()}, "
            f"{m.get('params', 0):,} parameters, {m.get('checkpoint')}")


def figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def probe_chart(summary: dict, path: Path, title: str = "Agreement probes") -> None:
    """Grouped bars: for each group, one bar per attractor count (or one for all), ±95% CI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = summary["groups"]
    many = len({g["source"] for g in groups}) > 1
    attrs = sorted({int(k) for g in groups for k in g.get("by_n_attr", {})})
    series = [(f"{a} attractor{'s' * (a != 1)}", str(a)) for a in attrs] or [("all", None)]
    colors = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(groups) + 2), 4.2))
    width = 0.8 / len(series)
    for s, (label, key) in enumerate(series):
        xs, ys, err = [], [], [[], []]
        for i, g in enumerate(groups):
            stats = g if key is None else g.get("by_n_attr", {}).get(key)
            if not stats or not stats["n"]:
                continue
            acc = stats["accuracy"]
            xs.append(i - 0.4 + width * (s + 0.5))
            ys.append(acc)
            err[0].append(acc - stats["ci95"][0])
            err[1].append(stats["ci95"][1] - acc)
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=label,
               color=colors(s / max(1, len(series) - 1) * 0.85))
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([group_label(g, many) for g in groups], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy (good > bad)")
    ax.set_title(f"{title}: {100 * (summary['overall']['accuracy'] or 0):.1f}% of "
                 f"{summary['overall']['n']:,} pairs", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    atomic_write(Path(path), figure_png(fig))
    plt.close(fig)
