"""`charlm experiment cells --seeds 1,2,3`: each cell trained once per seed at one budget, then
the spread over seeds per column (mean, sample standard deviation, min–max) and how many seeds
crossed the transition to carrying the subject's number (agreement accuracy ≥ a threshold).

A single run can land either side of that transition (docs/probes.md), so a claim about a cell
type holds only if it holds over seeds; this module turns the per-seed rows into that summary,
its Markdown tables and its chart. charlm.experiments.cells trains and probes.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from charlm.errors import UserError

# A seed "crossed" when its agreement accuracy on the probe suite (the known-words half by
# default) is at least this: the models that carry number score 98–100% there, those that agree
# with the nearest noun 60–70% (docs/probes.md), so 90% separates the two with room either side.
CROSSING_ACCURACY = 0.9
BREAKDOWNS = ("by_distance", "by_n_attr", "by_construction")  # per-seed accuracy tables


def parse_seeds(text: str) -> list[int]:
    """--seeds "1,2,3" or "1-5" (or both: "1-3,7") → distinct seeds in the order given."""
    seeds, ranges = [], []
    try:
        for item in (part.strip() for part in text.split(",")):
            first, _, last = item.partition("-")
            ranges.append(range(int(first), int(last or first) + 1))  # "3-1": empty, an error
            seeds += ranges[-1]
    except ValueError:
        ranges = []
    if (not ranges or not all(ranges) or len(set(seeds)) != len(seeds)
            or not all(0 <= s < 2**32 for s in seeds)):
        raise UserError(f"--seeds takes distinct integers ≥ 0 separated by commas, or a range "
                        f"(1,2,3 or 1-5), not {text!r}")
    return seeds


def check_crossing(accuracy: float) -> float:
    if not 0 < accuracy <= 1:
        raise UserError(f"--crossing-accuracy is a fraction in (0, 1] ({CROSSING_ACCURACY} for "
                        f"{100 * CROSSING_ACCURACY:g}%), not {accuracy:g}")
    return accuracy


def seed_row(row: dict, summary: dict, crossing: float) -> dict:
    """One seed's row: `row` (cell, seed, units, params, lr, steps, val_bpc, accuracy) plus
    whether it crossed and its accuracy per distance bucket, attractor count and construction
    (probe group), with the probe summary it came from (n and 95% intervals per column)."""
    def accuracies(table: dict) -> dict:
        return {key: stats["accuracy"] for key, stats in table.items()}

    many = len({g["source"] for g in summary["groups"]}) > 1
    constructions = {_construction(g, many): g for g in summary["groups"]}
    accuracy = row["accuracy"]
    return {**row, "crossed": accuracy is not None and accuracy >= crossing,
            "by_distance": accuracies(summary.get("by_distance", {})),
            "by_n_attr": accuracies(summary.get("by_n_attr", {})),
            "by_construction": accuracies(constructions),
            "probe": {k: summary[k] for k in ("overall", "by_distance", "by_n_attr", "groups")
                      if k in summary}}


def _construction(group: dict, many_sources: bool) -> str:
    if not group["category"]:
        return group["source"]
    return f"{group['source']}/{group['category']}" if many_sources else group["category"]


def spread(values: list) -> dict:
    """{"mean", "sd" (sample, n−1; None for one value), "min", "max", "n"} of the values that are
    numbers (a seed without a validation row has val_bpc NaN; an empty bucket None)."""
    found = [float(v) for v in values if v is not None and not math.isnan(v)]
    if not found:
        return {"mean": None, "sd": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(found),
            "sd": statistics.stdev(found) if len(found) > 1 else None,
            "min": min(found), "max": max(found), "n": len(found)}


def cell_summaries(runs: list[dict]) -> list[dict]:
    """Per cell (first-seen order), from its seeds' rows: units, params and lr (the same for
    every seed), the seeds, how many crossed, and the spread of every column."""
    cells = {}
    for run in runs:
        cells.setdefault(run["cell"], []).append(run)
    out = []
    for cell, rows in cells.items():
        entry = {"cell": cell, **{k: rows[0][k] for k in ("units", "params", "lr")},
                 "seeds": [r["seed"] for r in rows], "crossed": sum(r["crossed"] for r in rows)}
        for column in ("steps", "val_bpc", "accuracy"):
            entry[column] = spread([r[column] for r in rows])
        for table in BREAKDOWNS:
            keys = list(dict.fromkeys(k for r in rows for k in r[table]))
            entry[table] = {k: spread([r[table].get(k) for r in rows]) for k in keys}
        out.append(entry)
    return out


def _fmt(s: dict, scale: float = 100, digits: int = 1) -> str:
    """mean ± sd (min–max), e.g. "97.3 ± 1.2 (95.1–99.0)"; "–" when no seed has a value."""
    if s["mean"] is None:
        return "–"
    f = lambda v: f"{scale * v:.{digits}f}"  # noqa: E731
    if s["sd"] is None:
        return f(s["mean"])
    return f"{f(s['mean'])} ± {f(s['sd'])} ({f(s['min'])}–{f(s['max'])})"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(row) + " |" for row in rows] + [""])


def seeds_markdown(result: dict) -> str:
    """The summary per cell, accuracy by distance and attractors, by construction, then each
    seed's row."""
    cells, runs, seeds = result["cells"], result["runs"], result["seeds"]
    dists, attrs = list(cells[0]["by_distance"]), list(cells[0]["by_n_attr"])
    threshold = f"{100 * result['crossing_accuracy']:g}%"
    lines = [f"# Cells experiment: {result['budget_per_cell']} each on {result['corpus']}, "
             f"seeds {', '.join(map(str, seeds))}", "",
             f"Agreement accuracy % on the probe suite, as mean ± sd (min–max) over "
             f"{len(seeds)} seeds (sd: sample standard deviation). Crossed: seeds whose "
             f"agreement accuracy is at least {threshold} (--crossing-accuracy).", ""]
    lines += _table(["cell", "units", "params", "lr", "steps", "val bpc", "all %", "crossed"],
                    [[c["cell"], str(c["units"]), f"{c['params']:,}", f"{c['lr']:g}",
                      _steps(c["steps"]), _fmt(c["val_bpc"], 1, 3), _fmt(c["accuracy"]),
                      f"{c['crossed']}/{len(c['seeds'])}"] for c in cells])
    lines += ["## By distance and attractors", ""]
    lines += _table(["cell"] + [f"dist {d}" for d in dists] + [f"{a} attr." for a in attrs],
                    [[c["cell"]] + [_fmt(c["by_distance"][d]) for d in dists]
                     + [_fmt(c["by_n_attr"][a]) for a in attrs] for c in cells])
    constructions = list(dict.fromkeys(k for c in cells for k in c["by_construction"]))
    lines += ["## By construction", ""]
    lines += _table(["construction"] + [c["cell"] for c in cells],
                    [[k] + [_fmt(c["by_construction"].get(k, {"mean": None})) for c in cells]
                     for k in constructions])
    lines += ["## Each seed", ""]
    lines += _table(["cell", "seed", "steps", "val bpc", "all %"] + [f"dist {d}" for d in dists]
                    + [f"{a} attr." for a in attrs] + ["crossed"],
                    [[r["cell"], str(r["seed"]), str(r["steps"]), f"{r['val_bpc']:.3f}",
                      _pct(r["accuracy"])] + [_pct(r["by_distance"].get(d)) for d in dists]
                     + [_pct(r["by_n_attr"].get(a)) for a in attrs]
                     + ["yes" if r["crossed"] else "no"] for r in runs])
    return "\n".join(lines)


def _steps(s: dict) -> str:
    if s["mean"] is None:
        return "–"
    return f"{s['min']:,.0f}" if s["min"] == s["max"] else f"{s['min']:,.0f}–{s['max']:,.0f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def seeds_chart(result: dict, path: Path, title: str) -> None:
    """Three panels: overall accuracy per cell (a bar at the mean, a dot per seed, the crossing
    threshold dashed), then accuracy vs distance and vs attractors (a line through each cell's
    means, a dot per seed, nudged sideways per cell so that cells do not hide each other)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from charlm.fileio import atomic_write
    from charlm.probes.reports import figure_png

    cells, runs = result["cells"], result["runs"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), sharey=True,
                             gridspec_kw={"width_ratios": [0.8, 1, 1]})
    colors = {c["cell"]: f"C{i}" for i, c in enumerate(cells)}
    ax = axes[0]
    for i, c in enumerate(cells):
        ax.bar(i, c["accuracy"]["mean"] or 0, color=colors[c["cell"]], alpha=0.35)
        ys = [r["accuracy"] for r in runs if r["cell"] == c["cell"] and r["accuracy"] is not None]
        ax.scatter([i + _jitter(j, len(ys), 0.3) for j in range(len(ys))], ys, s=18,
                   color=colors[c["cell"]], zorder=3)
        ax.annotate(f"{c['crossed']}/{len(c['seeds'])}", (i, 1.0), ha="center", fontsize=8)
    ax.axhline(result["crossing_accuracy"], color="black", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(cells)))
    ax.set_xticklabels([c["cell"] for c in cells], rotation=30 if len(cells) > 3 else 0)
    ax.set_xlabel(f"all pairs (dotted: {100 * result['crossing_accuracy']:g}%; "
                  f"k/{len(result['seeds'])}: seeds at or above it)")
    for ax, key, xlabel in ((axes[1], "by_distance", "words between subject and verb"),
                            (axes[2], "by_n_attr", "attractors")):
        labels = list(cells[0][key])
        for i, c in enumerate(cells):
            shift = _jitter(i, len(cells), 0.3)
            ax.plot([x + shift for x in range(len(labels))],
                    [c[key][k]["mean"] for k in labels], marker="_", color=colors[c["cell"]],
                    label=c["cell"])
            points = [(x + shift, r[key][k]) for r in runs if r["cell"] == c["cell"]
                      for x, k in enumerate(labels) if r[key].get(k) is not None]
            ax.scatter(*zip(*points), s=12, color=colors[c["cell"]], alpha=0.7, zorder=3)
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels)
        ax.set_xlabel(xlabel)
    for ax in axes:
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_ylim(0.3, 1.05)
    axes[0].set_ylabel("agreement accuracy")
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{title}\nbars and lines: mean over seeds; dots: one per seed", fontsize=10)
    atomic_write(Path(path), figure_png(fig))
    plt.close(fig)


def _jitter(i: int, n: int, width: float) -> float:
    """The i-th of n offsets spread evenly over `width`, centred on 0."""
    return 0.0 if n < 2 else width * (i / (n - 1) - 0.5)
