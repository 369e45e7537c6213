"""`charlm doctor DIR`: check a checkpoint or export folder; say what works and how to recover."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("doctor", help="check a checkpoint or export folder (manifests, config, "
                       "tokenizer, weights, resumability) and say how to recover")
    p.add_argument("folder", help="a training run's --out folder, or an export")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    """Exit 0 when nothing is wrong, 1 when something is (the report says what and the fix)."""
    from charlm import doctor

    report = doctor.examine(args.folder)
    print(doctor.to_json(report) if args.json else doctor.render(report))
    return 1 if any(f.status == "problem" for f in report["findings"]) else 0
