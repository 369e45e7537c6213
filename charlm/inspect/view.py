"""The inspector's page and heatmaps: a text coloured by one unit's gate or state, per character.

`inspect_text(model, tokenizer, text)` → `Inspection`: the Trace (every quantity of every layer
as NumPy [T, H]), the next-character predictions, the feature ranking (charlm.inspect.features),
and the views:

- `Inspection.html()`: one self-contained HTML page (inline CSS and JS, the data embedded; it
  loads nothing, no fonts, no scripts, no images). The text is rendered once as one span per
  token; a picker (layer, quantity, unit) recolours the spans; hovering a character shows the
  unit's value there and the model's top five next characters; a ranked list shows the units
  that track the features best, and clicking one selects it. `_repr_html_` is the same view for
  a notebook, with its own element id so that several can share a page.
- `Inspection.save("view.html")`: the page, and beside it one PNG heatmap (units × characters)
  per layer and quantity, view-<layer>-<quantity>.png.

Size. Every value goes in the page: a 2×256 LSTM on 10,000 characters has 30.7M of them. Each
(layer, quantity) is quantised to one byte per value (gates: v·255 over [0, 1]; signed
quantities: v/s·127 + 128 with s the unit's largest |v| in the text, so each unit keeps 8 bits of
its own range), laid out unit-major (a unit's values over the text are contiguous: one picker
change reads one run), zlib-compressed and base64-encoded in its own <script> block. The page
decodes a block (the browser's DecompressionStream) the first time it is shown. The tooltip's
values are therefore within half a step of the truth: 1/510 for gates, s/254 for the others;
`--json` and the NumPy arrays are exact.
"""

from __future__ import annotations

import base64
import html
import importlib.resources
import io
import json
import uuid
import zlib
from pathlib import Path

import numpy as np

from charlm.fileio import atomic_write

GATES = ("input_gate", "forget_gate", "output_gate", "update_gate", "reset_gate")
ABOUT = {  # quantity → what it is, in the explanation line under the picker
    "input_gate": "input gate i (how much of the candidate is written into the cell)",
    "forget_gate": "forget gate f (how much of the cell is kept)",
    "output_gate": "output gate o (how much of the cell reaches the hidden state)",
    "candidate": "candidate (the new value offered to the memory)",
    "cell": "cell state c (the memory)",
    "hidden": "hidden state h (the layer's output)",
    "update_gate": "update gate z (how much of the previous state is kept)",
    "reset_gate": "reset gate r (how much of the previous state enters the candidate)",
}
HEATMAP_CHARS = 300  # a heatmap shows the first HEATMAP_CHARS tokens of a longer text
HEATMAP_LABELS = 150  # up to this many tokens, the x axis is labelled with the characters
VISIBLE = {" ": "\u2423", "\n": "\u23ce", "\t": "\u21e5"}
TOP_K = 5


def visible(token: str) -> str:
    return "".join(VISIBLE.get(c, c) for c in token)


def kind(quantity: str) -> str:
    """"gate" (in [0, 1], sequential colours) or "signed" (diverging colours around 0)."""
    return "gate" if quantity in GATES else "signed"


def quantise(values: np.ndarray, quantity: str) -> tuple[np.ndarray, list | None]:
    """[T, H] float → ([H, T] uint8, per-unit scale or None for gates); see the docstring."""
    v = np.asarray(values, np.float64)
    if kind(quantity) == "gate":
        return np.clip(np.rint(v * 255), 0, 255).astype(np.uint8).T.copy(), None
    scale = np.abs(v).max(axis=0, initial=0.0)
    scale = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint(v / scale * 127) + 128, 1, 255).astype(np.uint8).T.copy()
    return q, [float(f"{s:.6g}") for s in scale]


def dequantise(q: np.ndarray, quantity: str, scale) -> np.ndarray:
    """The inverse of `quantise` ([H, T] uint8 → [T, H] float), what the page shows."""
    q = np.asarray(q, np.float64).T
    if scale is None:
        return q / 255
    return (q - 128) / 127 * np.asarray(scale)


def _block(data: bytes) -> str:
    return base64.b64encode(zlib.compress(data, 1)).decode("ascii")


def _script_json(obj) -> str:
    """JSON safe inside <script>: no "<", ">" or "&" (so no "</script>" from the text)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    for c in "<>&\u2028\u2029":
        text = text.replace(c, f"\\u{ord(c):04x}")
    return text


class Inspection:
    """A text read through a model: the arrays (NumPy), the predictions, the page.

        ins = charlm.load(DIR).inspect("The keys to the cabinet are on the table.")
        ins["lstm_0", "forget_gate"]        # [T, H] float32 (also ins.layers[0].values[...])
        ins.top_next()                      # per character: 5 × (next character, probability)
        ins.ranking                         # units that track line position, quotes, ...
        ins.to_json()                       # the `charlm inspect --json` contract
        ins                                 # in a notebook: the page, inline
        ins.save("view.html")               # the page and its PNG heatmaps
    """

    def __init__(self, trace, vocab: list, title: str = ""):
        self.trace = trace
        self.vocab = list(vocab)
        self.title = title
        self._ranking = None
        self._features = None
        self.corpus_match = None  # (data, blocks) of the select-and-match panel (view_match)

    # --- the arrays ---
    @property
    def text(self) -> str:
        return self.trace.text

    @property
    def tokens(self) -> list:
        return self.trace.tokens

    @property
    def ids(self) -> np.ndarray:
        return self.trace.ids

    @property
    def layers(self) -> list:
        return self.trace.layers

    @property
    def logits(self) -> np.ndarray:
        return self.trace.logits

    def probabilities(self) -> np.ndarray:
        return self.trace.probabilities()

    def layer(self, key):
        """A LayerTrace by index or name ("lstm_0")."""
        if isinstance(key, (int, np.integer)):
            return self.layers[key]
        for layer in self.layers:
            if layer.name == key:
                return layer
        raise KeyError(f"no layer {key!r}; the layers are "
                       f"{', '.join(layer.name for layer in self.layers)}")

    def __getitem__(self, key) -> np.ndarray:
        """ins[layer, quantity] → [T, H] (layer: index or name); ins[layer] → its {quantity:}."""
        if isinstance(key, tuple):
            layer, quantity = key
            values = self.layer(layer).values
            if quantity not in values:
                raise KeyError(f"{quantity!r} is not a quantity of {self.layer(layer).name}; "
                               f"it has {', '.join(values)}")
            return values[quantity]
        return self.layer(key).values

    def top_next(self, k: int = TOP_K) -> list:
        """Per step: the k likeliest next tokens as [(token, probability)]."""
        return self.trace.top_next(self.vocab, k)

    def to_json(self) -> dict:
        return self.trace.to_json()

    def json_text(self) -> str:
        return self.trace.json_text()

    # --- what the units track ---
    @property
    def features(self) -> dict:
        if self._features is None:
            from charlm.inspect.features import features

            self._features = features(self.tokens, self.text)
        return self._features

    @property
    def ranking(self) -> dict:
        if self._ranking is None:
            from charlm.inspect.features import rank_units

            self._ranking = rank_units(self.layers, self.features)
        return self._ranking

    # --- the views ---
    def describe(self) -> str:
        layers = self.layers
        if not layers:
            return "no recurrent layers"
        units = {layer.units for layer in layers}
        cells = {layer.cell for layer in layers}
        if len(units) == 1 and len(cells) == 1:
            return f"{len(layers)}×{units.pop()} {cells.pop().upper()}"
        return " + ".join(f"{layer.name} ({layer.units})" for layer in layers)

    def html(self, element_id: str = "charlm-inspect", standalone: bool = True) -> str:
        """The page (standalone) or the same view as a fragment for a notebook."""
        body = _fragment(self, element_id)
        if not standalone:
            return body
        title = html.escape(f"charlm inspect: {self.title or self.describe()}")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{title}</title>"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "</head><body style=\"margin:12px;background:#fff\">\n" + body
                + "\n</body></html>\n")

    def _repr_html_(self) -> str:
        return self.html(f"charlm-inspect-{uuid.uuid4().hex[:12]}", standalone=False)

    def save(self, path, heatmaps: bool = True) -> list[Path]:
        """Write the page to `path` and (heatmaps) its PNGs beside it → the paths written."""
        path = Path(path)
        atomic_write(path, self.html())
        return [path] + (write_heatmaps(self, path) if heatmaps else [])

    def __repr__(self) -> str:
        return (f"<Inspection of {len(self.tokens)} tokens through {self.describe()}: "
                f"{', '.join(self.layers[0].quantities) if self.layers else ''}>")


def inspect_text(model, tokenizer, text: str, unknown: str = "error", title: str = "",
                 chunk: int | None = None, progress=None) -> Inspection:
    """Read `text` from a zero state (no priming) → Inspection."""
    from charlm.inspect import trace as tracing

    trace = tracing.trace_text(model, tokenizer, text, unknown=unknown,
                               chunk=chunk or tracing.CHUNK, progress=progress)
    return Inspection(trace, vocab_of(tokenizer), title)


def vocab_of(tokenizer) -> list:
    """id → the token's text (CharTokenizer.vocab; decoded pieces for subword tokenizers)."""
    vocab = getattr(tokenizer, "vocab", None)
    if vocab is not None:
        return list(vocab)
    return [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]


# --- the page -----------------------------------------------------------------------------------
def page_data(ins: Inspection) -> tuple[dict, dict]:
    """(the JSON embedded in the page, {block key: base64 of the zlib of the bytes})."""
    blocks = {}
    layers = []
    for li, layer in enumerate(ins.layers):
        quantities = []
        for quantity in layer.quantities:
            q, scale = quantise(layer.values[quantity], quantity)
            key = f"{li}/{quantity}"
            blocks[key] = _block(q.tobytes())
            quantities.append({"name": quantity, "label": quantity.replace("_", " "),
                               "kind": kind(quantity), "key": key, "scale": scale,
                               "range": "unit" if quantity == "cell" else "fixed",
                               "about": ABOUT.get(quantity, quantity.replace("_", " "))})
        layers.append({"name": layer.name, "cell": layer.cell, "units": layer.units,
                       "quantities": quantities})
    p = ins.probabilities()
    top = np.argsort(-p, axis=1, kind="stable")[:, :TOP_K]
    top_p = np.take_along_axis(p, top, axis=1)
    nxt = np.zeros(len(p))
    if len(p) > 1:
        nxt[:-1] = p[np.arange(len(p) - 1), np.asarray(ins.ids[1:], np.int64)]
    blocks["top_ids"] = _block(top.astype("<u2").tobytes())
    blocks["top_p"] = _block(np.rint(top_p * 65535).astype("<u2").tobytes())
    blocks["next_p"] = _block(np.rint(nxt * 65535).astype("<u2").tobytes())
    data = {"text": ins.text, "tokens": list(ins.tokens), "vocab": ins.vocab,
            "top_k": int(top.shape[1]) if top.ndim == 2 else 0, "layers": layers,
            "ranking": ins.ranking, "model": ins.describe(), "title": ins.title,
            "start": _start(ins)}
    if ins.corpus_match is not None:
        data["match"], extra = ins.corpus_match
        blocks.update({key: _block(value) for key, value in extra.items()})
    return data, blocks


def _start(ins: Inspection) -> dict:
    """What the page shows first: the unit with the strongest correlation to any feature."""
    best = None
    for entry in ins.ranking.values():
        if entry["units"] and (best is None or abs(entry["units"][0]["r"]) > abs(best["r"])):
            best = entry["units"][0]
    if best is None:
        if not ins.layers:
            return {"layer": 0, "quantity": 0, "unit": 0}
        return {"layer": 0, "quantity": len(ins.layers[0].quantities) - 1, "unit": 0}
    quantity = ins.layers[best["layer"]].quantities.index(best["quantity"])
    return {"layer": best["layer"], "quantity": quantity, "unit": best["unit"]}


def _spans(tokens) -> str:
    out = []
    for token in tokens:
        if token == "\n":
            out.append('<span class="ci-nl">\u23ce</span>\n')
        else:
            out.append(f"<span>{html.escape(token, quote=False)}</span>")
    return "".join(out)


def _fragment(ins: Inspection, element_id: str) -> str:
    data, blocks = page_data(ins)
    ident = html.escape(element_id)
    head = html.escape(f"{ins.title + ' · ' if ins.title else ''}{ins.describe()} · "
                       f"{len(ins.tokens):,} characters read from a zero state")
    parts = [f'<div class="charlm-inspect" id="{ident}">', f"<style>{CSS}</style>",
             f'<div class="ci-head"><b>charlm inspect</b> · {head}</div>',
             CONTROLS,
             f'<div class="ci-main"><div class="ci-text">{_spans(ins.tokens)}</div>'
             '<div class="ci-side"><div class="ci-side-title">Units that track…</div>'
             '<div class="ci-rank"></div></div></div>',
             '<div class="ci-match"></div>',
             '<div class="ci-tip"></div>',
             '<noscript>The colours, picker and tooltips need JavaScript.</noscript>',
             f'<script type="application/json" class="ci-data">{_script_json(data)}</script>']
    parts += [f'<script type="application/octet-stream" class="ci-block" data-key="{key}" '
              f'data-encoding="deflate">{value}</script>' for key, value in blocks.items()]
    if ins.corpus_match is not None:
        parts.append(f"<script>{MATCH_JS}</script>")
    parts.append(f"<script>{JS}({json.dumps(element_id)}, document.currentScript);</script>"
                 "</div>")
    return "\n".join(parts)


def _asset(name: str) -> str:
    """A file of the page beside this module (package data: view_controls.html, view.css,
    view.js), as text."""
    return (importlib.resources.files("charlm.inspect") / name).read_text(encoding="utf-8")


# The page's parts, inlined into every page: the controls' HTML, the style sheet, and the script
# (scoped to its root element, so several views can share a page; no network). Each file ends
# with one line break, which the page does not have.
CONTROLS = _asset("view_controls.html").removesuffix("\n")
CSS = "\n" + _asset("view.css")
JS = _asset("view.js").removesuffix("\n")
MATCH_JS = _asset("view_match.js").removesuffix("\n")  # select and match, when a corpus is given


# --- the heatmaps -------------------------------------------------------------------------------
def heatmap_path(page: Path, layer_name: str, quantity: str) -> Path:
    stem = page.name[:-len(page.suffix)] if page.suffix else page.name
    return page.with_name(f"{stem}-{layer_name}-{quantity}.png")


def write_heatmaps(ins: Inspection, page) -> list[Path]:
    """One PNG per layer and quantity, units (rows) × characters (columns), beside `page`: the
    first HEATMAP_CHARS characters of a longer text (said in the title); the x axis shows the
    characters when there are at most HEATMAP_LABELS of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    page = Path(page)
    n = min(len(ins.tokens), HEATMAP_CHARS)
    written = []
    if n == 0:
        return written
    for layer in ins.layers:
        for quantity in layer.quantities:
            values = np.asarray(layer.values[quantity][:n], np.float64).T  # [H, n]
            H = values.shape[0]
            labelled = n <= HEATMAP_LABELS
            width = min(max(0.11 * n + 2.5, 7.0), 19.0) if labelled else 14.0
            height = min(max(0.02 * H + 2.4, 3.2), 7.0)
            fig, ax = plt.subplots(figsize=(width, height), dpi=100)
            if kind(quantity) == "gate":
                image = ax.imshow(values, aspect="auto", cmap="Greens", vmin=0, vmax=1,
                                  interpolation="nearest")
                label = "gate value (0 closed, 1 open)"
            else:
                m = float(np.abs(values).max(initial=0)) or 1.0
                m = 1.0 if quantity in ("hidden", "candidate") else m
                image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-m, vmax=m,
                                  interpolation="nearest")
                label = "value"
            fig.colorbar(image, ax=ax, fraction=0.025, pad=0.01).set_label(label)
            shown = (f"all {n:,} characters" if n == len(ins.tokens) else
                     f"the first {n:,} of {len(ins.tokens):,} characters")
            ax.set_title(f"{layer.name} {quantity.replace('_', ' ')}: {H} units × {shown}",
                         fontsize=11)
            ax.set_ylabel("unit")
            if labelled:
                ax.set_xticks(range(n))
                ax.set_xticklabels([visible(t) for t in ins.tokens[:n]],
                                   fontsize=7 if n > 60 else 9, family="monospace")
                ax.tick_params(axis="x", length=0)
                ax.set_xlabel("character read")
            else:
                for x in [t for t in range(n) if ins.tokens[t] == "\n"]:
                    ax.axvline(x, color="black", linewidth=0.5, alpha=0.4)
                ax.set_xlabel("character position (thin lines: line breaks)" if "\n" in
                              ins.tokens[:n] else "character position")
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png")
            plt.close(fig)
            path = heatmap_path(page, layer.name, quantity)
            atomic_write(path, buffer.getvalue())
            written.append(path)
    return written
