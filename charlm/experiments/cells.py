"""`charlm experiment cells`: does an LSTM remember agreement further back than a GRU or an RNN?

Each cell type is trained on the same corpus with the same time budget and (as nearly as integer
unit counts allow) the same number of parameters, then probed on the agreement suite. Accuracy
is plotted against subject-verb distance and attractor count (PNG), with a table (Markdown, JSON).

Parameters of a 1-layer model, vocabulary V, embedding E, H units (Keras' own counts):
    embedding V·E + dense H·V + V, plus the recurrent layer (input d = E, or H above layer 0):
    lstm 4·(d·H + H·H + H)   gru (reset_after) 3·(d·H + H·H + 2H)   rnn d·H + H·H + H
    peephole 4·(d·H + H·H + H) + 3H (peephole vectors)   cifg 3·(d·H + H·H + H)
On a shared machine a time budget buys each cell whatever steps it gets then: the table reports
the steps and validation bpc each cell reached, so a difference in training can be seen.
"""

from __future__ import annotations

import sys
from pathlib import Path

from charlm.cell_types import CELL_TYPES
from charlm.errors import UserError
from charlm.experiments.seeds import CROSSING_ACCURACY, check_crossing, parse_seeds

# --lr overrides a cell's experiment_lr (charlm.cell_types, which says why each differs).
DEFAULT_LRS = {name: cell.experiment_lr for name, cell in CELL_TYPES.items()
               if cell.experiment_lr is not None}


def count_params(cell: str, units: int, vocab: int, embedding_dim: int, layers: int = 1) -> int:
    total = vocab * embedding_dim + units * vocab + vocab  # embedding, output kernel and bias
    for i in range(layers):
        total += CELL_TYPES[cell].params_per_layer(embedding_dim if i == 0 else units, units)
    return total


def units_for(cell: str, target: int, vocab: int, embedding_dim: int, layers: int = 1) -> int:
    """The unit count whose parameter count is closest to `target`."""
    best, best_gap = 1, None
    for units in range(1, 4097):
        gap = abs(count_params(cell, units, vocab, embedding_dim, layers) - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = units, gap
    return best


def run_cells(*, cells: str, corpus: str, minutes: float, steps: int | None, lstm_units: int,
              embedding_dim: int, batch_size: int | None, seq_len: int | None, seed: int,
              lr: str | None, data: list[str] | None, out: str | Path,
              seeds: str | list[int] | None = None,
              crossing_accuracy: float | None = None) -> int:
    """The experiment, with the settings of `charlm experiment cells` (charlm.cli.experiment
    holds their defaults and help): `cells` and `lr` as their flags spell them (comma-separated
    names; a rate or cell=rate pairs), `steps` None to train `minutes` per cell instead,
    `batch_size` / `seq_len` None for train's defaults, `data` None for the shipped suite's
    known-words half. Writes out/<cell>/ (a checkpoint per cell) and out/cells.json, .md, .png.
    `seeds` ("1,2,3" as --seeds spells it, or a list) trains each cell once per seed instead of once with
    `seed`, in out/<cell>/seed-<S>/, and reports the spread over seeds (charlm.experiments.seeds)
    with the seeds whose accuracy reached `crossing_accuracy` (None: CROSSING_ACCURACY)."""
    from charlm.data.corpus import resolve_corpus
    from charlm.probes import pairs as probes

    names = [c.strip() for c in cells.split(",") if c.strip()]
    bad = [c for c in names if c not in CELL_TYPES]
    if bad or not names:
        raise UserError(f"--cells takes a comma-separated list of {', '.join(CELL_TYPES)}, "
                        f"not {cells!r}")
    if minutes <= 0 or lstm_units < 1 or (steps is not None and steps < 1):
        raise UserError("--minutes, --steps and --lstm-units must be positive")
    if seeds is not None and not isinstance(seeds, str):
        seeds = ",".join(map(str, seeds))
    seed_list = parse_seeds(seeds) if seeds is not None else None
    if crossing_accuracy is not None and seed_list is None:
        raise UserError("--crossing-accuracy counts the seeds that crossed; pass --seeds too")
    crossing = check_crossing(CROSSING_ACCURACY if crossing_accuracy is None
                              else crossing_accuracy)
    lrs = {**{c: rate for c, rate in DEFAULT_LRS.items() if c in names},
           **parse_learning_rates(lr, names)}
    out = Path(out)
    _check_layout(out, names, seed_list is not None)
    # Known words by default: the question is how far back each cell carries number, not
    # whether it generalises to new words' morphology (the held-out half of the suite).
    files = [Path(f) for f in data] if data else probes.default_suite(heldout=False)
    pairs, _ = probes.load_pairs(files)
    corpus_file = resolve_corpus(corpus)
    vocab = len(set(corpus_file.read_text())) + 1  # char tokenizer: every character plus <unk>
    target = count_params("lstm", lstm_units, vocab, embedding_dim)
    training = dict(corpus=corpus, embedding_dim=embedding_dim, minutes=minutes, steps=steps,
                    batch_size=batch_size, seq_len=seq_len)
    units = {cell: units_for(cell, target, vocab, embedding_dim) for cell in names}
    runs = _train_and_probe(units, seed_list or [seed], seed_list is not None, out, lrs,
                            pairs, training)
    head = {"corpus": corpus_file.name, "budget_per_cell": _budget(minutes, steps),
            "target_params": target, "data": [str(f) for f in files]}
    title = (f"Agreement vs distance: {', '.join(names)} at ~{target:,} parameters, "
             f"{head['budget_per_cell']} each on {corpus_file.name}")
    if seed_list is None:
        _report_one_seed(head, runs, out, title)
    else:
        _report_seeds(head, runs, seed_list, crossing, out, title)
    return 0


def _train_and_probe(units: dict, seeds: list[int], per_seed_folders: bool, out: Path,
                     lrs: dict, pairs, training: dict) -> list[tuple[dict, dict]]:
    """Train and probe every cell for every seed (cells × seeds runs, under one progress bar
    with an ETA, on stderr when it is a terminal) → (row, probe summary) per run."""
    from tqdm import tqdm

    runs = []
    with tqdm(total=len(units) * len(seeds), desc="experiment", unit="run", disable=None,
              leave=False, file=sys.stderr) as bar:
        for cell, cell_units in units.items():
            for seed in seeds:
                folder = out / cell / f"seed-{seed}" if per_seed_folders else out / cell
                label = f"{cell} seed {seed}" if per_seed_folders else cell
                bar.set_postfix_str(label)
                _train_cell(cell, cell_units, folder, lrs.get(cell), seed=seed, label=label,
                            **training)
                row, summary = _probe_cell(folder, pairs)
                runs.append(({"cell": cell, **({"seed": seed} if per_seed_folders else {}),
                              "units": cell_units, **row}, summary))
                _say(f"{label}: {cell_units} units, {row['params']:,} parameters, "
                     f"{row['steps']} steps, val {row['val_bpc']:.3f} bpc, "
                     f"agreement {100 * row['accuracy']:.1f}%")
                bar.update(1)
    return runs


def _report_one_seed(head: dict, runs: list[tuple[dict, dict]], out: Path, title: str) -> None:
    from charlm.fileio import atomic_write, atomic_write_json

    summaries = {row["cell"]: summary for row, summary in runs}
    result = {**head, "cells": [row for row, _ in runs],
              "summaries": {c: {k: s[k] for k in ("overall", "by_distance", "by_n_attr",
                                                  "groups")} for c, s in summaries.items()}}
    table = cells_markdown(result)
    atomic_write_json(out / "cells.json", result)
    atomic_write(out / "cells.md", table)
    cells_chart(summaries, out / "cells.png", title)
    print(table)
    print(f"wrote {out / 'cells.json'}, {out / 'cells.md'}, {out / 'cells.png'}")


def _report_seeds(head: dict, runs: list[tuple[dict, dict]], seeds: list[int], crossing: float,
                  out: Path, title: str) -> None:
    from charlm.experiments.seeds import cell_summaries, seed_row, seeds_chart, seeds_markdown
    from charlm.fileio import atomic_write, atomic_write_json

    rows = [seed_row(row, summary, crossing) for row, summary in runs]
    result = {**head, "seeds": seeds, "crossing_accuracy": crossing,
              "cells": cell_summaries(rows), "runs": rows}
    table = seeds_markdown(result)
    atomic_write_json(out / "cells.json", result)
    atomic_write(out / "cells.md", table)
    seeds_chart(result, out / "cells.png", f"{title}, {len(seeds)} seeds")
    print(table)
    print(f"wrote {out / 'cells.json'}, {out / 'cells.md'}, {out / 'cells.png'}")


def _check_layout(out: Path, names: list[str], per_seed_folders: bool) -> None:
    """--seeds keeps each seed's run in out/<cell>/seed-<S>/; a model trained without --seeds
    in out/<cell>/ itself would then hold other runs' folders."""
    from charlm import checkpoint as ckpt

    for cell in names:
        if per_seed_folders and ckpt.has_weights(out / cell):
            raise UserError(f"{out / cell} holds a run trained without --seeds; choose another "
                            "--out for --seeds")
        if not per_seed_folders and any((out / cell).glob("seed-*")):
            raise UserError(f"{out / cell} holds runs trained with --seeds; pass --seeds too, "
                            "or choose another --out")


def _say(message: str) -> None:
    """A line on stderr that leaves the progress bar whole."""
    from tqdm import tqdm

    tqdm.write(message, file=sys.stderr)


def parse_learning_rates(text: str | None, cells: list[str]) -> dict:
    """--lr "0.01" → that rate for every cell; "rnn=3e-3,gru=0.01" → per cell; None → {}."""
    if not text:
        return {}
    try:
        if "=" not in text:
            rates = {cell: float(text) for cell in cells}
        else:
            rates = {name.strip(): float(value)
                     for name, value in (item.split("=") for item in text.split(","))}
    except ValueError:
        raise UserError(f"--lr takes a number or cell=number pairs (rnn=3e-3,lstm=0.012), "
                        f"not {text!r}")
    unknown = sorted(set(rates) - set(cells))
    if unknown or any(rate <= 0 for rate in rates.values()):
        raise UserError(f"--lr names cells not in --cells or a rate ≤ 0: {text!r}")
    return rates


def _budget(minutes: float, steps: int | None) -> str:
    return f"{steps} steps" if steps else f"{minutes:g} min"


def _train_cell(cell: str, units: int, folder: Path, lr: float | None, *, corpus: str,
                embedding_dim: int, minutes: float, steps: int | None, batch_size: int | None,
                seq_len: int | None, seed: int, label: str) -> None:
    from charlm import checkpoint as ckpt
    from charlm.config import TrainConfig
    from charlm.training.trainer import prepare_resume, train

    config = TrainConfig(corpus=corpus, cell=cell, units=units, layers=1,
                         embedding_dim=embedding_dim,
                         max_minutes=None if steps else minutes, max_steps=steps,
                         seed=seed, eval_max_tokens=50_000, out=str(folder))
    # only when given: else the trainer's defaults
    for name, value in (("batch_size", batch_size), ("seq_len", seq_len)):
        if value is not None:
            setattr(config, name, value)
    if lr is not None:
        config.lr = lr
    if ckpt.has_weights(folder, "last"):  # last/ is written at step 0 and on every stop
        # Reuse only a model trained exactly as this run would train it (any folder name).
        saved = TrainConfig.from_dict(ckpt.read_config(folder)["train"]).to_dict()
        changed = [f"{k} {saved.get(k)} → {v}" for k, v in config.to_dict().items()
                   if k not in ("out", "extra") and saved.get(k) != v]
        if changed:
            raise UserError(f"{folder} holds a model trained with other settings "
                            f"({', '.join(changed)}); remove it or choose another --out")
        # A run stopped part-way (a kill, Ctrl-C) resumes exactly where it stopped; a finished
        # one resumes to its budget at once and trains nothing.
        _say(f"{label}: reusing the run in {folder}")
        train(prepare_resume(str(folder), {}), resume=True, quiet=True)
        return
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} has an unfinished run; remove it or choose another --out")
    _say(f"{label}: training {units} units for {_budget(minutes, steps)} → {folder}")
    train(config, quiet=True)


def _probe_cell(folder: Path, pairs) -> tuple[dict, dict]:
    from charlm import checkpoint as ckpt
    from charlm.probes.pairs import score_pairs
    from charlm.probes.scoring import ModelScorer
    from charlm.probes.stats import summarize

    lm = ckpt.load(folder)
    results = score_pairs(ModelScorer(lm.model, lm.tokenizer), pairs)
    summary = summarize(pairs, [r["correct"] for r in results])
    vals = [m for m in ckpt.read_metrics(folder) if m.get("kind") == "val"]
    return {"params": int(lm.model.count_params()), "lr": lm.config["train"]["lr"],
            "steps": vals[-1]["step"] if vals else 0,
            "val_bpc": min(m["bpc"] for m in vals) if vals else float("nan"),
            "accuracy": summary["overall"]["accuracy"]}, summary


def cells_markdown(result: dict) -> str:
    from charlm.probes.reports import pct

    rows = result["cells"]
    first = result["summaries"][rows[0]["cell"]]
    dists, attrs = list(first.get("by_distance", {})), list(first.get("by_n_attr", {}))
    header = (["cell", "units", "params", "lr", "steps", "val bpc", "all %"]
              + [f"dist {d}" for d in dists] + [f"{a} attr." for a in attrs])
    lines = [f"# Cells experiment: {result['budget_per_cell']} each on {result['corpus']}",
             "", "Agreement accuracy % on the probe suite (n per column as in probe.md).", "",
             "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        s = result["summaries"][row["cell"]]
        cells = ([row["cell"], str(row["units"]), f"{row['params']:,}", f"{row['lr']:g}",
                  str(row["steps"]),
                  f"{row['val_bpc']:.3f}", pct(s["overall"])]
                 + [pct(s["by_distance"].get(d)) for d in dists]
                 + [pct(s["by_n_attr"].get(a)) for a in attrs])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def cells_chart(results: dict, path: Path, title: str) -> None:
    """Two panels: accuracy vs distance bucket and vs attractor count, one line per cell type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from charlm.fileio import atomic_write
    from charlm.probes.reports import figure_png

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, key, xlabel in ((axes[0], "by_distance", "words between subject and verb"),
                            (axes[1], "by_n_attr", "attractors")):
        for name, summary in results.items():
            table = summary.get(key, {})
            labels = list(table)
            ys = [table[k]["accuracy"] for k in labels]
            lo = [table[k]["ci95"][0] for k in labels]
            hi = [table[k]["ci95"][1] for k in labels]
            line, = ax.plot(range(len(labels)), ys, marker="o", label=name)
            ax.fill_between(range(len(labels)), lo, hi, alpha=0.15, color=line.get_color())
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels)
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel(xlabel)
        ax.set_ylim(0.3, 1.02)
    axes[0].set_ylabel("agreement accuracy")
    axes[0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    atomic_write(Path(path), figure_png(fig))
    plt.close(fig)

