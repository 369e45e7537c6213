"""`charlm` command line: one module per command, each with `add_parser(subparsers)` and
`run(args) -> exit code`. Command modules import only argparse-level code at the top; the work
(and Keras) is imported when a command runs, so `charlm --help` is instant.

Errors a user can fix (`UserError`, bad flags) print one line to stderr and exit 2, with no
traceback; nothing already on disk is overwritten.
"""

from __future__ import annotations

import importlib
import sys

from charlm.cli.common import Parser
from charlm.errors import Interrupted, TrainingFailed, UserError

COMMANDS = ("train", "eval", "generate", "export", "probe", "score", "experiment", "bench",
            "inspect", "doctor")
MODULES = {"eval": "evaluate"}  # command → module name where they differ


def command_module(command: str):
    return importlib.import_module(f"charlm.cli.{MODULES.get(command, command)}")


def build_parser() -> Parser:
    parser = Parser(prog="charlm", description="Character-level language models: train, "
                    "evaluate, generate, and probe what they learned.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command_module(command).add_parser(sub)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        return command_module(args.command).run(args)
    except UserError as e:
        print(f"charlm: error: {e}", file=sys.stderr)
        return 2
    except TrainingFailed as e:
        print(f"charlm: training stopped: {e}", file=sys.stderr)
        return 3
    except Interrupted as e:
        print(f"charlm: {e}", file=sys.stderr)
        return 128 + e.signum
    except KeyboardInterrupt:
        print("charlm: interrupted", file=sys.stderr)
        return 130
