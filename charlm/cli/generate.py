"""`charlm generate`: flags → charlm.generate.generator.

Kept light at import (the CLI builds every subcommand's parser on each run); the work is imported
when the command runs.

    charlm generate --checkpoint DIR --prompt "ROMEO:" --length 500 --temperature 0.8
        streams the prompt and its continuation to stdout as each compiled chunk finishes;
        --num-samples N generates N continuations in one batch (printed when done, one after the
        other), --json prints one JSON object per sample instead, --novelty adds the share of
        generated 20-character substrings found verbatim in the training corpus.
"""

from __future__ import annotations

import json
import sys
import warnings

from charlm import defaults
from charlm.cli.common import add_checkpoint_flags, add_text_file_flag, add_unknown_flag
from charlm.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("generate", help="generate text from a prompt (also: python generate.py)")
    add_checkpoint_flags(p)
    p.add_argument("--prompt", default="", help="text to continue (default: a line break)")
    add_text_file_flag(p, "read the prompt from this file instead of --prompt",
                       flag="--prompt-file")
    p.add_argument("--length", type=int, default=defaults.LENGTH,
                   help=f"characters to generate ({defaults.LENGTH})")
    p.add_argument("--temperature", type=float, default=defaults.TEMPERATURE,
                   help=f"softmax temperature; 0 = greedy ({defaults.TEMPERATURE:g})")
    p.add_argument("--top-k", type=int, default=None, help="draw among the k likeliest tokens")
    p.add_argument("--top-p", type=float, default=None,
                   help="draw among the smallest set of likeliest tokens whose mass reaches p")
    p.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help="stop a sample where it generates TEXT (cut before it); repeatable")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed in [0, 2^32); same seed, same text (default: random)")
    p.add_argument("--num-samples", type=int, default=1,
                   help="continuations generated in parallel, one batch (1)")
    add_unknown_flag(p, "prompt characters")
    p.add_argument("--novelty", action="store_true",
                   help="report the share of generated 20-character substrings that occur "
                        "verbatim in the training corpus (memorisation check)")
    p.add_argument("--json", action="store_true", help="one JSON object per sample, no streaming")


def run(args) -> int:
    from charlm import checkpoint
    from charlm.generate.generator import Generator, encode_prompt
    from charlm.generate.samplers import make_sampler

    sampler = make_sampler(args.temperature, args.top_k, args.top_p)  # flag errors first
    if args.prompt_file is not None:
        if args.prompt:
            raise UserError("pass --prompt TEXT or --prompt-file FILE, not both")
        from charlm.data.corpus import read_text_file

        args.prompt = read_text_file(args.prompt_file, "--prompt-file")
    if args.length < 0:
        raise UserError(f"--length must be 0 or more, not {args.length}")
    if args.num_samples < 1:
        raise UserError(f"--num-samples must be at least 1, not {args.num_samples}")
    lm = checkpoint.load(args.checkpoint, args.which)
    encode_prompt(lm.tokenizer, args.prompt, args.unknown)  # unknown characters: fail before output
    corpus = None
    if args.novelty:
        from charlm.generate.novelty import corpus_from_config

        corpus = corpus_from_config(lm.config, args.checkpoint)  # fail before generating
    generator = Generator(lm.model, lm.tokenizer)
    streaming = not args.json and args.num_samples == 1 and args.length > 0
    out = sys.stdout
    if streaming:
        out.write(args.prompt)
        out.flush()

    def show(deltas):
        out.write(deltas[0])
        out.flush()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples = generator.run(args.prompt, args.length, sampler, seed=args.seed,
                                num_samples=args.num_samples, stop=args.stop,
                                unknown=args.unknown, on_text=show if streaming else None)
    for w in caught:
        print(f"charlm: warning: {w.message}", file=sys.stderr)
    scores = _novelty([s.text for s in samples], corpus) if corpus is not None else None
    if args.length == 0:
        return 0
    for i, sample in enumerate(samples):
        if args.json:
            record = {"sample": i, "seed": sample.seed, "stream": sample.stream,
                      "prompt": args.prompt, "text": sample.text,
                      "finish_reason": sample.finish_reason, "chars": len(sample.text),
                      "temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}
            if scores is not None:
                record["novelty"] = scores[i]
            print(json.dumps(record, ensure_ascii=False))
            continue
        if not streaming:
            print(f"--- sample {i} (seed {sample.seed}, stream {sample.stream}) ---")
            out.write(args.prompt + sample.text)
        out.write("\n")
        out.flush()
    if scores is not None and not args.json:
        for i, score in enumerate(scores):
            share = "n/a" if score["copied_share"] is None else f"{score['copied_share']:.1%}"
            label = f"sample {i}: " if len(scores) > 1 else ""
            print(f"novelty: {label}{share} of {score['ngrams']} generated 20-character "
                  f"substrings occur verbatim in the training corpus", file=sys.stderr)
    return 0


def _novelty(texts, corpus):
    from charlm.generate.novelty import novelty

    return novelty(texts, corpus.iter_chunks(), n=20)
