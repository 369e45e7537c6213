"""`charlm export`: a checkpoint as a stock-Keras `.keras` model plus a SavedModel that generates."""

from __future__ import annotations

from charlm.cli.common import add_checkpoint_flags


def add_parser(sub) -> None:
    p = sub.add_parser("export", help="write a .keras model and a SavedModel that generates")
    add_checkpoint_flags(p)
    p.add_argument("--out", required=True, help="new folder to write (must not exist)")


def run(args) -> int:
    from charlm.generate.export import export

    out = export(args.checkpoint, args.out, which=args.which)
    print(f"exported {args.checkpoint} to {out}: model.keras, saved_model/ (serving_default: "
          "prompt, length, seed, num_samples, temperature, top_k, top_p → text)")
    return 0
