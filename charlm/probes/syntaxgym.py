"""SyntaxGym test suites (syntaxgym-core's test_suite.json format) on a character-level model.

A suite has `meta` {name, metric}, `region_meta` {"1": "subject", ...}, `predictions`
[{"type": "formula", "formula": "(3;%mismatch%) > (3;%match%)"}] and `items`, each with
`item_number` and `conditions` [{"condition_name", "regions": [{"region_number", "content"}]}].

Surprisal, in bits, per character: an item's sentence in one condition is its non-empty regions
joined by single spaces, read as a line of its own (primed with a line break, as `charlm score`
reads a line; the end-of-line marker is not scored, it belongs to no region). The space that joins
two regions belongs to the region that follows it, so a region's characters are " " + content
(the first region: content alone). A region's value is the suite's metric (sum, mean, median,
max, min or range) of its characters' surprisals; an empty region is worth 0. Predictions are
evaluated per item on those values (charlm.probes.formula).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from charlm.errors import UserError
from charlm.probes import formula
from charlm.probes.charscores import LN2
from charlm.probes.stats import stats

METRICS = {"sum": np.sum, "mean": np.mean, "median": np.median, "max": np.max, "min": np.min,
           "range": np.ptp}


@dataclass
class Prediction:
    index: int  # 1-based, as reports number them
    text: str
    tree: object  # charlm.probes.formula node


@dataclass
class Suite:
    name: str
    metric: str
    region_meta: dict  # region number (int) → region name
    predictions: list  # [Prediction]
    items: list  # [(item_number, {condition: [(region_number, content)]})]
    where: str  # the file, or "suite" for a dict

    def sentences(self):
        """(item_number, condition, sentence, [(region_number, start, end)]) for every pair."""
        for number, conditions in self.items:
            for condition, regions in conditions.items():
                text, spans = "", []
                for region, content in regions:
                    start = len(text)
                    if content:
                        text += (" " if text else "") + content
                    spans.append((region, start, len(text)))
                yield number, condition, text, spans


def is_suite(path: Path) -> bool:
    """A .json file, or a file whose whole text is one JSON object with `items` and
    `predictions` (pair files are JSON Lines: one object per line)."""
    path = Path(path)
    if path.suffix == ".json":
        return True
    if path.suffix == ".jsonl" or not path.is_file():
        return False
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(obj, dict) and "items" in obj and "predictions" in obj


def load_suite(source) -> Suite:
    """A suite from a path or an already-read dict; every mistake is a one-line UserError that
    names the item and the field."""
    if isinstance(source, dict):
        obj, where = source, "suite"
    else:
        path = Path(source)
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"suite file {path} does not exist; pass an existing .json file")
        except UnicodeDecodeError as e:
            raise UserError(f"{path} is not UTF-8 text (bad byte at offset {e.start})")
        except json.JSONDecodeError as e:
            raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno} column "
                            f"{e.colno}); a SyntaxGym suite is one JSON object")
        where = str(path)
    if not isinstance(obj, dict):
        raise UserError(f"{where}: a suite is a JSON object, not {type(obj).__name__}")
    missing = [k for k in ("meta", "predictions", "region_meta", "items") if k not in obj]
    if missing:
        raise UserError(f"{where}: missing {', '.join(missing)} (a SyntaxGym suite has meta, "
                        "predictions, region_meta and items)")
    name, metric = _meta(obj["meta"], where)
    region_meta = _region_meta(obj["region_meta"], where)
    items = [_item(item, i, region_meta, where) for i, item in
             enumerate(_list(obj["items"], "items", where, nonempty=True))]
    numbers = [number for number, _ in items]
    repeated = sorted({n for n in numbers if numbers.count(n) > 1})
    if repeated:
        raise UserError(f"{where}: item_number {repeated[0]} appears more than once; number "
                        "the items uniquely")
    predictions = [_prediction(p, i, items, region_meta, where) for i, p in
                   enumerate(_list(obj["predictions"], "predictions", where, nonempty=True), 1)]
    return Suite(name, metric, region_meta, predictions, items, where)


def _list(value, field: str, where: str, nonempty: bool = False) -> list:
    if not isinstance(value, list) or (nonempty and not value):
        raise UserError(f"{where}: {field} must be a non-empty list" if nonempty
                        else f"{where}: {field} must be a list")
    return value


def _meta(meta, where: str) -> tuple[str, str]:
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise UserError(f"{where}: meta needs a name (a string)")
    metric = meta.get("metric", "sum")
    if metric not in METRICS:
        raise UserError(f"{where}: meta.metric {metric!r} is not one of {', '.join(METRICS)}")
    return meta["name"], metric


def _region_meta(region_meta, where: str) -> dict:
    if not isinstance(region_meta, dict) or not region_meta:
        raise UserError(f"{where}: region_meta must map region numbers to names, e.g. "
                        '{"1": "subject", "2": "verb"}')
    try:
        numbered = {int(k): str(v) for k, v in region_meta.items()}
    except ValueError:
        raise UserError(f"{where}: region_meta keys must be region numbers (\"1\", \"2\", ...), "
                        f"not {sorted(region_meta)}")
    if sorted(numbered) != list(range(1, len(numbered) + 1)):
        raise UserError(f"{where}: region_meta numbers must run 1, 2, ... without gaps, not "
                        f"{sorted(numbered)}")
    return dict(sorted(numbered.items()))


def _item(item, i: int, region_meta: dict, where: str):
    place = f"{where}: items[{i}]"
    if not isinstance(item, dict) or not isinstance(item.get("item_number"), int) \
            or isinstance(item.get("item_number"), bool):
        raise UserError(f"{place}: needs an integer item_number")
    place = f"{where}: item {item['item_number']}"
    conditions = {}
    for c in _list(item.get("conditions"), f"item {item['item_number']}: conditions", where,
                   nonempty=True):
        if not isinstance(c, dict) or not isinstance(c.get("condition_name"), str):
            raise UserError(f"{place}: every condition needs a condition_name (a string)")
        name = c["condition_name"]
        if name in conditions:
            raise UserError(f"{place}: condition {name!r} appears twice")
        regions = []
        for r in _list(c.get("regions"), f"item {item['item_number']}, condition {name!r}: "
                       "regions", where, nonempty=True):
            number = r.get("region_number") if isinstance(r, dict) else None
            content = r.get("content") if isinstance(r, dict) else None
            if not isinstance(number, int) or not isinstance(content, str):
                raise UserError(f"{place}, condition {name!r}: every region needs an integer "
                                "region_number and a string content")
            if number not in region_meta:
                raise UserError(f"{place}, condition {name!r}: region {number} is not in "
                                f"region_meta (regions {', '.join(map(str, region_meta))})")
            regions.append((number, content.strip()))
        numbers = [n for n, _ in regions]
        if numbers != sorted(set(numbers)):
            raise UserError(f"{place}, condition {name!r}: region numbers must rise without "
                            f"repeats, not {numbers}")
        conditions[name] = regions
    return item["item_number"], conditions


def _prediction(p, index: int, items: list, region_meta: dict, where: str) -> Prediction:
    place = f"{where}: prediction {index}"
    if not isinstance(p, dict) or not isinstance(p.get("formula"), str):
        raise UserError(f"{place}: needs a formula (a string)")
    if p.get("type", "formula") != "formula":
        raise UserError(f"{place}: type {p['type']!r} is not supported (only formula)")
    try:
        tree = formula.parse(p["formula"])
    except formula.FormulaError as e:
        raise UserError(f"{place} {p['formula']!r}: {e}")
    for ref in tree.regions():
        if ref.number != formula.ALL_REGIONS and ref.number not in region_meta:
            raise UserError(f"{place} {p['formula']!r}: region {ref.number} is not in "
                            f"region_meta (regions {', '.join(map(str, region_meta))})")
        for number, conditions in items:
            if ref.condition not in conditions:
                raise UserError(f"{place} {p['formula']!r}: item {number} has no condition "
                                f"{ref.condition!r} (it has {', '.join(conditions)})")
            if ref.number != formula.ALL_REGIONS and \
                    ref.number not in {n for n, _ in conditions[ref.condition]}:
                raise UserError(f"{place} {p['formula']!r}: item {number}, condition "
                                f"{ref.condition!r} has no region {ref.number}")
    return Prediction(index, p["formula"], tree)


# --- scoring and evaluation ------------------------------------------------------------------
def lowercase_suite(suite: Suite) -> None:
    suite.items = [(n, {c: [(r, t.lower()) for r, t in regions] for c, regions in conds.items()})
                   for n, conds in suite.items]


def suite_characters(suite: Suite) -> set[str]:
    return {ch for _, _, text, _ in suite.sentences() for ch in text}


def region_surprisals(char_scorer, suite: Suite, progress=None) -> dict:
    """{(item_number, condition): {region_number: value in bits}}, the suite's metric of each
    region's per-character surprisals (charlm.probes.charscores.CharScorer)."""
    rows = list(suite.sentences())
    scored = char_scorer.logprobs([text for _, _, text, _ in rows], progress=progress)
    reduce = METRICS[suite.metric]
    out = {}
    for (number, condition, _, spans), (logp, _) in zip(rows, scored):
        bits = -logp / LN2  # [len(text)]
        out[number, condition] = {r: float(reduce(bits[a:b])) if b > a else 0.0
                                  for r, a, b in spans}
    return out


def evaluate(suite: Suite, surprisals: dict) -> list[list[tuple[int, bool]]]:
    """Per prediction: [(item_number, holds)] in item order."""
    results = []
    for prediction in suite.predictions:
        verdicts = []
        for number, conditions in suite.items:
            values = {(c, r): v for c in conditions
                      for r, v in surprisals[number, c].items()}
            verdicts.append((number, bool(prediction.tree.evaluate(values))))
        results.append(verdicts)
    return results


def region_table(suite: Suite, surprisals: dict) -> dict:
    """The suite's mean (and 95% interval half-width) per condition and region, in bits."""
    conditions = list(dict.fromkeys(c for _, conds in suite.items for c in conds))
    table = {}
    for condition in conditions:
        row = {}
        for region, name in suite.region_meta.items():
            values = [surprisals[n, condition][region] for n, conds in suite.items
                      if condition in conds and region in surprisals[n, condition]]
            if values:
                sem = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 \
                    else 0.0
                row[name] = {"region": region, "mean": round(float(np.mean(values)), 4),
                             "ci95": round(1.96 * sem, 4), "n": len(values)}
        table[condition] = row
    return table


def summarize_suite(suite: Suite, results: list, surprisals: dict) -> dict:
    predictions = []
    for prediction, verdicts in zip(suite.predictions, results):
        predictions.append({"prediction": prediction.index, "formula": prediction.text,
                            **stats([ok for _, ok in verdicts]),
                            "items": {str(n): ok for n, ok in verdicts}})
    return {"suite": suite.name, "metric": suite.metric, "unit": "bits",
            "n_items": len(suite.items),
            "regions": {str(k): v for k, v in suite.region_meta.items()},
            "predictions": predictions, "region_means": region_table(suite, surprisals)}


# --- reports ---------------------------------------------------------------------------------
def items_tsv(summary: dict) -> str:
    """prediction, item, result (True/False) per line, after a header."""
    lines = ["prediction\titem\tresult"]
    for p in summary["predictions"]:
        lines += [f"{p['prediction']}\t{item}\t{ok}" for item, ok in p["items"].items()]
    return "\n".join(lines) + "\n"


def accuracy_lines(summary: dict) -> list[str]:
    out = []
    for p in summary["predictions"]:
        lo, hi = p["ci95"]
        out.append(f"{summary['suite']}: prediction {p['prediction']} {p['formula']}: "
                   f"{p['correct']}/{p['n']} items = {100 * p['accuracy']:.1f}% "
                   f"(95% CI {100 * lo:.1f}-{100 * hi:.1f}%)")
    return out


def suite_chart(summary: dict, path: Path) -> None:
    """Grouped bars: mean surprisal (bits) per region, one bar per condition, ±95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from charlm.fileio import atomic_write
    from charlm.probes.reports import figure_png

    table = summary["region_means"]
    regions = list(summary["regions"].values())
    conditions = list(table)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(regions) + 2.5), 4.2))
    width = 0.8 / max(1, len(conditions))
    colors = plt.get_cmap("tab20")  # pairs of dark and light: match_sg, mismatch_sg, ...
    for s, condition in enumerate(conditions):
        xs, ys, err = [], [], []
        for i, region in enumerate(regions):
            cell = table[condition].get(region)
            if cell:
                xs.append(i - 0.4 + width * (s + 0.5))
                ys.append(cell["mean"])
                err.append(cell["ci95"])
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=condition, color=colors(s % 20))
    ax.set_xticks(range(len(regions)))
    ax.set_xticklabels(regions, rotation=20, ha="right", fontsize=9)
    unit = "bits" if summary["metric"] == "sum" else f"bits, {summary['metric']} per character"
    ax.set_ylabel(f"mean surprisal ({unit}), ±95% CI")
    accuracy = "; ".join(f"prediction {p['prediction']}: {100 * p['accuracy']:.0f}%"
                         for p in summary["predictions"])
    ax.set_title(f"{summary['suite']} ({summary['n_items']} items) — {accuracy}", fontsize=10)
    ax.legend(fontsize=8, title="condition", title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="y", alpha=0.3)
    atomic_write(Path(path), figure_png(fig))
    plt.close(fig)


def write_reports(summary: dict, out: Path) -> list[Path]:
    """suite.json (everything), suite-regions.json (the region table), suite.tsv (per item),
    suite.png (the chart), in `out`."""
    from charlm.fileio import atomic_write, atomic_write_json

    paths = [out / "suite.json", out / "suite-regions.json", out / "suite.tsv", out / "suite.png"]
    atomic_write_json(paths[0], summary)
    atomic_write_json(paths[1], {"suite": summary["suite"], "metric": summary["metric"],
                                 "unit": "bits", "regions": summary["regions"],
                                 "region_means": summary["region_means"]})
    atomic_write(paths[2], items_tsv(summary))
    suite_chart(summary, paths[3])
    return paths
