"""Number units, the report: number_units.md and the chart number_units.png from the JSON
dict of `charlm.inspect.number_units.search.number_units_report`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from charlm.fileio import atomic_write
from charlm.inspect.number_units.stats import pct, points
from charlm.probes.reports import figure_png


# --- Markdown and PNG ------------------------------------------------------------------------
def _table(header, rows) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _acc_ci(st: dict) -> str:
    if not st or st["accuracy"] is None:
        return "–"
    return f"{pct(st['accuracy'])} [{pct(st['ci95'][0])}, {pct(st['ci95'][1])}]"


def _chance_cell(row: dict) -> str:
    if row["ablated_at_chance"] is None:
        return "–"
    if not (row["intact"]["n"] and row["intact"]["ci95"][0] > 0.5):
        return "intact too"
    return "**yes**" if row["ablated_at_chance"] else "no"


def _random_cell(spread: dict) -> str:
    if spread["mean"] is None:
        return "–"
    return (f"{pct(spread['mean'])} ± {pct(spread['std'])} "
            f"({pct(spread['min'])}…{pct(spread['max'])})")


def markdown(report: dict) -> str:
    lines = _summary(report) + _classifier_section(report)
    for entry in report["ablation"]:
        classifier = next(c for c in report["classifier"] if c["name"] == entry["name"])
        lines += _ablation_section(entry, classifier)
        for key, title in (("best_unit", "Best unit"), ("best_pair", "Best pair")):
            if key in entry:
                lines += _best_section(entry[key], title)
    s = report["seconds"]
    lines += ["", "Time: " + ", ".join(f"{k} {v:.0f} s" for k, v in s.items()) + "; per layer: "
              + "; ".join(f"{e['name']}: " + ", ".join(f"{k} {v:.0f} s"
                                                       for k, v in e["seconds"].items())
                          for e in report["ablation"]) + "."]
    return "\n".join(lines) + "\n"


def _summary(report: dict) -> list[str]:
    """The title, the verdict and what the pairs were used for."""
    p = report["pairs"]
    lines = ["# Number units", "", f"**{report['best'].get('sentence', '')}**", "",
             f"{p['total']:,} pairs: {p['classifier']:,} for the classifier; {p['attractor']:,} "
             f"{p['attractor_basis']}, of which {p['screen']:,} screen every unit and the other "
             f"{p['evaluation_attractor']:,} measure the drops. All accuracies below are on the "
             f"{p['evaluation']:,} pairs outside the screen. {p['skipped_no_number']} pairs "
             f"without a subject number, {p['skipped_no_prefix']} without a prefix. "
             f"Seed {report['seed']}.", ""]
    return lines + [f"- {note}" for note in report["notes"]] + ([""] if report["notes"] else [])


def _classifier_section(report: dict) -> list[str]:
    """The classifier per layer, then the intact model's accuracy."""
    lines = ["## Diagnostic classifier (subject number from the state before the verb)", ""]
    rows = []
    for c in report["classifier"]:
        if "skipped" in c:
            rows.append([c["name"], c["state"], "–", "–", "–", c["skipped"]])
            continue
        top = ", ".join(f"{t['unit']} ({t['weight']:+.2f}, {t['higher_for']})"
                        for t in c["top_units"][:5])
        rows.append([c["name"], c["state"], pct(c["train_accuracy"]),
                     f"{pct(c['heldout_accuracy'])} [{pct(c['heldout_ci95'][0])}, "
                     f"{pct(c['heldout_ci95'][1])}] (n={c['n_test']})", pct(c["chance"]), top])
    lines += _table(["layer", "state", "train %", "held-out % [95% CI]", "chance %",
                     "top units by |weight| (weight, higher for)"], rows)
    intact = report["intact"]
    return lines + ["", f"Intact model: {_acc_ci(intact['overall'])}% on all pairs, "
                    f"{_acc_ci(intact['attractor'])}% on the attractor pairs.", ""]


def _ablation_section(entry: dict, classifier: dict) -> list[str]:
    """One layer's screen, its top units, and the two rankings side by side."""
    lines = [f"## Ablation, {entry['name']} ({entry['units']} units)", "",
             f"Screen: every unit alone on {entry['screen']['pairs']} attractor pairs "
             f"(intact {pct(entry['screen']['intact_accuracy'])}%), "
             f"{entry['screen']['seconds']:.0f} s "
             f"({entry['screen']['seconds_per_unit']:.2f} s per unit). Spearman "
             f"correlation of |weight| with the screen drop: "
             f"{entry['spearman_weight_vs_screen_drop']}.", ""]
    rows = [[m["unit"], pct(m["screen_drop"]), _acc_ci(m["attractor"]), pct(m["drop"]),
             "–" if m["weight_rank"] is None else m["weight_rank"] + 1]
            for m in entry["top_units"]]
    lines += _table(["unit", "screen drop (points)", "attractor acc. % ablated [95% CI]",
                     "drop (points)", "rank by |weight|"], rows)
    lines += ["", "The two rankings, top 10 (screen drop in points; weight on standardised "
              "states):", ""]
    drops, weights = entry["screen"]["drop"], classifier.get("weights")
    by_weight, by_ablation = entry["rank_by_weight"], entry["rank_by_ablation"]
    rank_w = {u: r for r, u in enumerate(by_weight)}
    rank_a = {u: r for r, u in enumerate(by_ablation)}
    rows = []
    for r in range(min(10, entry["units"])):
        row = [r + 1]
        if by_weight:
            u = by_weight[r]
            row += [f"{u} ({weights[u]:+.2f}; screen drop {points(drops[u])}, ablation "
                    f"rank {rank_a[u] + 1})"]
        else:
            row += ["–"]
        u = by_ablation[r]
        row += [f"{u} ({points(drops[u])}; weight rank "
                f"{rank_w[u] + 1 if u in rank_w else '–'})"]
        rows.append(row)
    return lines + _table(["rank", "by |classifier weight|", "by single-unit ablation (screen)"],
                          rows)


def _best_section(best: dict, title: str) -> list[str]:
    """The best unit's (or pair's) accuracies before and after ablation, by condition."""
    c = best["comparison"]
    lines = ["", f"### {title}: {best['units']} (random units: "
             f"{len(best['random']['draws'])} draws of {len(best['units'])} from "
             f"{best['random']['pool']})", ""]
    rows = []
    for label, row in ([("**all pairs**", c["overall"]), ("**attractor pairs**", c["attractor"])]
                       + [(f"construction: {k}", v) for k, v in c["by_construction"].items()]
                       + [(k, v) for k, v in c["by_condition"].items()]):
        rows.append([label, row["n"], _acc_ci(row["intact"]), _acc_ci(row["ablated"]),
                     pct(row["drop"]), _random_cell(row["random_drop"]), _chance_cell(row)])
    return lines + _table(["", "n", "intact % [95% CI]", "ablated % [95% CI]", "drop (points)",
                           "random-unit drop: mean ± sd (min…max)", "at chance"], rows)


def _short(label: str) -> str:
    """A coarse condition as a two-line tick label."""
    for long, short in ((" subject, ", " subject\n"), ("attractors all singular", "attractors:\n"
                        "same number"), ("attractors all plural", "attractors:\nsame number"),
                        ("attractor of the other number", "attractor:\nother number")):
        label = label.replace(long, short)
    return label


def number_units_chart(report: dict, path: Path) -> None:
    """Top: accuracy per condition, intact vs the best unit and pair ablated vs random units
    (mean ± sd, whiskers min…max); below: the classifier's weight per unit, per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = report["ablation"]
    classifiers = [c for c in report["classifier"] if "weights" in c]
    rows = 1 + len(classifiers)
    fig, axes = plt.subplots(rows, 1, figsize=(11, 4.4 + 2.6 * len(classifiers)), squeeze=False,
                             gridspec_kw={"height_ratios": [1.8] + [1] * len(classifiers),
                                          "hspace": 0.45})
    _conditions_panel(axes[0][0], report, plt.get_cmap("tab10"))
    for row, c in enumerate(classifiers, 1):
        _weights_panel(axes[row][0], c, next((e for e in entries if e["name"] == c["name"]), None))
    axes[-1][0].set_xlabel("unit")
    atomic_write(Path(path), figure_png(fig))
    plt.close(fig)


def _conditions_panel(ax, report: dict, colors) -> None:
    """Accuracy per condition: intact, the verdict's layer's best unit and pair ablated (95% CI),
    and as many random units (mean ± sd, a line from min to max)."""
    entries = report["ablation"]
    verdict = report["best"]
    layer = next((e for e in entries if "best_unit" in e
                  and e["name"] == verdict.get("best_pair", verdict.get("best_unit", {}))
                  .get("layer")), entries[0] if entries else None)
    intact = report["intact"]
    labels = ["attractor pairs"] + list(intact["by_condition"])
    keys = [("attractor", None)] + [("by_condition", k) for k in intact["by_condition"]]

    def get(b, key, name):
        return b[key] if name is None else b[key].get(name)

    series = [("intact", [get(intact, k, n) for k, n in keys], None)]
    if layer is not None:
        for key, title in (("best_unit", "best unit"), ("best_pair", "best pair")):
            if key in layer:
                best = layer[key]
                series.append((f"{title} {best['units']} ablated",
                               [get(best["breakdown"], k, n) for k, n in keys], None))
                draws = best["random"]["draws"]
                values = [[d[k] if n is None else d[k].get(n) for d in draws] for k, n in keys]
                series.append((f"{len(best['units'])} random unit(s) ({len(draws)} draws)",
                               None, values))
    width = 0.8 / len(series)
    for s, (label, stats_list, random_values) in enumerate(series):
        xs = [i - 0.4 + width * (s + 0.5) for i in range(len(keys))]
        if stats_list is not None:
            _interval_bars(ax, xs, stats_list, width, label, colors(s))
        else:
            _random_bars(ax, xs, random_values, width, label, colors(s))
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([_short(lab) for lab in labels], fontsize=7)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("agreement accuracy")
    ax.set_title(("" if layer is None else f"{layer['name']}: ") + "agreement by condition, "
                 "intact vs ablated", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _interval_bars(ax, xs, stats_list, width, label, color) -> None:
    ys = [st["accuracy"] if st and st["accuracy"] is not None else np.nan for st in stats_list]
    err = [[y - st["ci95"][0] if st and st["n"] else 0 for y, st in zip(ys, stats_list)],
           [st["ci95"][1] - y if st and st["n"] else 0 for y, st in zip(ys, stats_list)]]
    ax.bar(xs, ys, width, yerr=err, capsize=2, label=label + " (95% CI)", color=color)


def _random_bars(ax, xs, random_values, width, label, color) -> None:
    vals = [[v for v in vs if v is not None] for vs in random_values]
    ys = [np.mean(v) if v else np.nan for v in vals]
    sd = [np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals]
    ax.bar(xs, ys, width, yerr=sd, capsize=2, label=label + " (mean ± sd)", color=color,
           alpha=0.55)
    for x, v in zip(xs, vals):
        if v:
            ax.plot([x, x], [min(v), max(v)], color="black", linewidth=0.7)


def _weights_panel(ax, classifier: dict, entry: dict | None) -> None:
    """One layer's classifier weight per unit; its best unit and pair labelled."""
    w = np.array(classifier["weights"])
    ax.bar(np.arange(len(w)), w, width=1.0, color=["tab:red" if v > 0 else "tab:blue" for v in w])
    marked = set()
    if entry is not None:
        for key in ("best_unit", "best_pair"):
            marked |= set(entry.get(key, {}).get("units", []))
    for u in marked:
        ax.annotate(str(u), (u, w[u]), fontsize=7, ha="center",
                    va="bottom" if w[u] >= 0 else "top")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xlim(-1, len(w))
    ax.set_ylabel("weight", fontsize=8)
    ax.set_title(f"{classifier['name']}: classifier weight per unit (red: higher for plural; "
                 f"held-out accuracy {pct(classifier['heldout_accuracy'])}%)", fontsize=9)
