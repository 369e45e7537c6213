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


def run_cells(args) -> int:
    """The experiment; `args` has the attributes `charlm experiment cells` parses (see
    charlm.cli.experiment)."""
    from charlm.data.corpus import resolve_corpus
    from charlm.fileio import atomic_write, atomic_write_json
    from charlm.probes import pairs as probes
    from charlm.probes.reports import experiment_chart

    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    bad = [c for c in cells if c not in CELL_TYPES]
    if bad or not cells:
        raise UserError(f"--cells takes a comma-separated list of {', '.join(CELL_TYPES)}, "
                        f"not {args.cells!r}")
    if args.minutes <= 0 or args.lstm_units < 1 or (args.steps is not None and args.steps < 1):
        raise UserError("--minutes, --steps and --lstm-units must be positive")
    budget = _budget(args)
    lrs = {**{c: lr for c, lr in DEFAULT_LRS.items() if c in cells},
           **parse_learning_rates(args.lr, cells)}
    out = Path(args.out)
    # Known words by default: the question is how far back each cell carries number, not
    # whether it generalises to new words' morphology (the held-out half of the suite).
    files = [Path(f) for f in args.data] if args.data else probes.default_suite(heldout=False)
    pairs, _ = probes.load_pairs(files)
    corpus = resolve_corpus(args.corpus)
    vocab = len(set(corpus.read_text())) + 1  # char tokenizer: every character plus <unk>
    target = count_params("lstm", args.lstm_units, vocab, args.embedding_dim)
    rows, summaries = [], {}
    for cell in cells:
        units = units_for(cell, target, vocab, args.embedding_dim)
        folder = out / cell
        _train_cell(args, cell, units, folder, lrs.get(cell))
        row, summary = _probe_cell(folder, pairs)
        summaries[cell] = summary
        rows.append({"cell": cell, "units": units, **row})
        print(f"{cell}: {units} units, {row['params']:,} parameters, {row['steps']} steps, "
              f"val {row['val_bpc']:.3f} bpc, agreement {100 * row['accuracy']:.1f}%",
              file=sys.stderr)
    result = {"corpus": corpus.name, "budget_per_cell": budget, "target_params": target,
              "data": [str(f) for f in files], "cells": rows,
              "summaries": {c: {k: s[k] for k in ("overall", "by_distance", "by_n_attr",
                                                  "groups")} for c, s in summaries.items()}}
    table = cells_markdown(result)
    atomic_write_json(out / "cells.json", result)
    atomic_write(out / "cells.md", table)
    experiment_chart(summaries, out / "cells.png",
                     f"Agreement vs distance: {', '.join(cells)} at ~{target:,} parameters, "
                     f"{budget} each on {corpus.name}")
    print(table)
    print(f"wrote {out / 'cells.json'}, {out / 'cells.md'}, {out / 'cells.png'}")
    return 0


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


def _budget(args) -> str:
    return f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"


def _train_cell(args, cell: str, units: int, folder: Path, lr: float | None) -> None:
    from charlm import checkpoint as ckpt
    from charlm.config import TrainConfig
    from charlm.training.trainer import train

    config = TrainConfig(corpus=args.corpus, cell=cell, units=units, layers=1,
                         embedding_dim=args.embedding_dim,
                         max_minutes=None if args.steps else args.minutes, max_steps=args.steps,
                         seed=args.seed, eval_max_tokens=50_000, out=str(folder))
    for name in ("batch_size", "seq_len"):  # only when given: else the trainer's defaults
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    if lr is not None:
        config.lr = lr
    if ckpt.has_weights(folder):
        # Reuse only a model trained exactly as this run would train it (any folder name).
        saved = TrainConfig.from_dict(ckpt.read_config(folder)["train"]).to_dict()
        changed = [f"{k} {saved.get(k)} → {v}" for k, v in config.to_dict().items()
                   if k not in ("out", "extra") and saved.get(k) != v]
        if changed:
            raise UserError(f"{folder} holds a model trained with other settings "
                            f"({', '.join(changed)}); remove it or choose another --out")
        print(f"{cell}: reusing the model trained in {folder}", file=sys.stderr)
        return
    if folder.exists() and any(folder.iterdir()):
        raise UserError(f"{folder} has an unfinished run; remove it or choose another --out")
    print(f"{cell}: training {units} units for {_budget(args)} → {folder}", file=sys.stderr)
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
