"""The page's select-and-match panel (`charlm inspect view --corpus FILE`): brush a span of the
text, see the units on over it, and list their matches in the corpus, in the page itself.

What goes in the page, beside the view's own data (charlm.inspect.view):

    data["match"]   {"threshold", "tokens": corpus length, "streams", "warmup", "span": [b0, b1]
                    or null (brushed when the page opens), "layers": [{"quantity", "text_key",
                    "corpus_key"}]}
    blocks          corpus_ids: uint16 [N] (the corpus' token ids, shown with data["vocab"]);
                    match/<layer>/text, match/<layer>/corpus: the on/off bits of that layer's
                    quantity over the text and over the corpus, [T or N, ⌈H/8⌉] uint8 rows
                    (np.packbits of value ≥ θ, tanh'd for the cell), as charlm.inspect.match
                    keeps them.

The text's bits come from its exact values (the page's colours are quantised and could fall on
either side of θ); the corpus is read in parallel streams (charlm.inspect.corpus_states). The
page runs the same select and match (view_match.js) on these bits; one threshold per page.
A corpus costs ⌈H/8⌉ + 2 bytes per token before compression: 50 bytes for 384 units, so a
million characters make a page of tens of megabytes.
"""

from __future__ import annotations

import numpy as np

from charlm.inspect.corpus_states import (WARMUP, check_quantity, corpus_activity,
                                          default_quantity, stream_count)
from charlm.inspect.match import THRESHOLD, Activity


def attach_corpus(ins, model, tokenizer, corpus: str, quantity: str | None = None,
                  threshold: float = THRESHOLD, streams: int | None = None, span=None,
                  unknown: str = "error", progress=None) -> None:
    """Read `corpus` and put what the panel needs on `ins` (an Inspection of the same model):
    `quantity` (default: the cell state where a layer has one, else the hidden state) of every
    recurrent layer. `span` (b0, b1) is brushed when the page opens."""
    ids = np.asarray(tokenizer.encode(corpus, unknown=unknown), np.int64)
    if len(ids) == 0:
        raise ValueError("the corpus is empty")
    if len(ins.vocab) > 1 << 16:
        raise ValueError(f"the page holds token ids in 16 bits; this vocabulary has "
                         f"{len(ins.vocab)} tokens")
    if span is not None and not 0 <= span[0] < span[1] <= len(ins.tokens):
        raise ValueError(f"the span {span[0]}:{span[1]} is not inside the text, which has "
                         f"{len(ins.tokens)} token(s)")
    streams = stream_count(len(ids)) if streams is None else streams
    layers, blocks = [], {"corpus_ids": ids.astype("<u2").tobytes()}
    for index, layer in enumerate(ins.layers):
        name = quantity or default_quantity(model, index)
        check_quantity(model, index, name)
        text_on = Activity.from_values(layer.values[name], name, threshold)
        corpus_on = corpus_activity(model, ids, index, name, threshold, streams=streams,
                                    progress=progress)
        keys = {"text_key": f"match/{index}/text", "corpus_key": f"match/{index}/corpus"}
        blocks[keys["text_key"]] = text_on.bits.tobytes()
        blocks[keys["corpus_key"]] = corpus_on.bits.tobytes()
        layers.append({"quantity": name, **keys})
    ins.corpus_match = ({"threshold": float(threshold), "tokens": int(len(ids)),
                         "streams": int(streams), "warmup": WARMUP if streams > 1 else 0,
                         "span": list(span) if span is not None else None, "layers": layers},
                        blocks)
