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
             '<div class="ci-tip"></div>',
             '<noscript>The colours, picker and tooltips need JavaScript.</noscript>',
             f'<script type="application/json" class="ci-data">{_script_json(data)}</script>']
    parts += [f'<script type="application/octet-stream" class="ci-block" data-key="{key}" '
              f'data-encoding="deflate">{value}</script>' for key, value in blocks.items()]
    parts.append(f"<script>{JS}({json.dumps(element_id)}, document.currentScript);</script>"
                 "</div>")
    return "\n".join(parts)


CONTROLS = """<div class="ci-controls">
<label>layer <select class="ci-layer"></select></label>
<label>quantity <select class="ci-quantity"></select></label>
<label>unit <button type="button" class="ci-prev" title="previous unit">◀</button>
<input class="ci-unit" type="number" min="0" value="0"><span class="ci-of"></span>
<button type="button" class="ci-next" title="next unit">▶</button></label>
<input class="ci-slider" type="range" min="0" value="0">
</div>
<div class="ci-legend"><span class="ci-lo"></span><span class="ci-bar"></span>
<span class="ci-hi"></span><span class="ci-explain"></span></div>"""

CSS = """
.charlm-inspect{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#222;
 max-width:100%}
.charlm-inspect .ci-head{margin:0 0 8px;font-size:14px}
.charlm-inspect .ci-controls{display:flex;flex-wrap:wrap;gap:6px 14px;align-items:center;
 margin-bottom:6px}
.charlm-inspect .ci-controls select,.charlm-inspect .ci-controls input,
.charlm-inspect .ci-controls button{font:inherit}
.charlm-inspect .ci-unit{width:5em}
.charlm-inspect .ci-slider{flex:1 1 160px;min-width:120px;max-width:420px}
.charlm-inspect .ci-legend{display:flex;flex-wrap:wrap;align-items:center;gap:6px;
 margin-bottom:8px;color:#444}
.charlm-inspect .ci-bar{display:inline-block;width:180px;height:12px;border:1px solid #999}
.charlm-inspect .ci-explain{margin-left:8px}
.charlm-inspect .ci-main{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}
.charlm-inspect .ci-text{flex:1 1 480px;min-width:0;max-height:74vh;overflow:auto;
 white-space:pre-wrap;overflow-wrap:anywhere;font:15px/1.75 ui-monospace,"DejaVu Sans Mono",
 Menlo,Consolas,monospace;border:1px solid #ddd;padding:8px;background:#fff}
.charlm-inspect .ci-text span{padding:2px 0;cursor:default}
.charlm-inspect .ci-text span:hover,.charlm-inspect .ci-text span.ci-hover{
 outline:2px solid #000;outline-offset:-1px}
.charlm-inspect .ci-text .ci-nl{opacity:.55}
.charlm-inspect .ci-side{flex:0 1 380px;max-height:74vh;overflow:auto;font-size:12px}
.charlm-inspect .ci-side-title{font-weight:600;margin-bottom:4px}
.charlm-inspect .ci-feat{margin:0 0 10px}
.charlm-inspect .ci-feat-title{font-weight:600;margin:6px 0 2px}
.charlm-inspect .ci-feat-note{color:#777;font-style:italic}
.charlm-inspect table{border-collapse:collapse;width:100%}
.charlm-inspect .ci-rank td,.charlm-inspect .ci-rank th{padding:1px 5px;text-align:left}
.charlm-inspect .ci-rank th{color:#666;font-weight:normal;border-bottom:1px solid #ddd}
.charlm-inspect .ci-rank tbody tr{cursor:pointer}
.charlm-inspect .ci-rank tbody tr:hover{background:#eef}
.charlm-inspect .ci-rank tr.ci-on{background:#ffe9a8}
.charlm-inspect .ci-rank td.ci-r{text-align:right;font-variant-numeric:tabular-nums}
.charlm-inspect .ci-tip{position:fixed;display:none;z-index:1000;pointer-events:none;
 background:#fff;border:1px solid #888;border-radius:4px;padding:6px 8px;
 box-shadow:0 2px 8px rgba(0,0,0,.25);font-size:12px;min-width:190px}
.charlm-inspect .ci-tip .ci-ch{font:16px ui-monospace,"DejaVu Sans Mono",monospace;
 background:#f2f2f2;padding:0 4px}
.charlm-inspect .ci-tip td{padding:0 4px}
.charlm-inspect .ci-tip .ci-pbar{display:inline-block;height:8px;background:#6a8fd8}
.charlm-inspect .ci-tip .ci-dim{color:#666}
.charlm-inspect .ci-error{color:#b00;font-weight:600}
"""

# The page's script: scoped to its root element (several views can share a page), no network.
JS = r"""(function (rootId, script) {
"use strict";
// the view's own root: found from this script (notebooks may run it before the output is in
// the document), else by its id (unique per view)
const root = (script && script.closest && script.closest(".charlm-inspect")) ||
  document.getElementById(rootId);
if (!root || root.dataset.ciReady) return;
root.dataset.ciReady = "1";
const $ = (c) => root.querySelector("." + c);
const data = JSON.parse($("ci-data").textContent);
const T = data.tokens.length;
const spans = Array.from($("ci-text").children);
spans.forEach((s, i) => { s.ciIndex = i; });
const blockEls = {};
root.querySelectorAll("script.ci-block").forEach((s) => { blockEls[s.dataset.key] = s; });
const cache = {};

function bytesOf(b64) {
  const bin = atob(b64.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
async function inflate(bytes) {
  if (typeof DecompressionStream === "undefined")
    throw new Error("this browser has no DecompressionStream: open the page in a current " +
                    "Chrome, Edge, Firefox or Safari");
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
function block(key) {
  if (!cache[key]) {
    const el = blockEls[key];
    const raw = bytesOf(el.textContent);
    cache[key] = el.dataset.encoding === "deflate" ? inflate(raw) : Promise.resolve(raw);
  }
  return cache[key];
}
function u16(bytes) { return new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2); }

function lut(stops) {
  const out = [];
  for (let i = 0; i < 256; i++) {
    const x = i / 255 * (stops.length - 1);
    const k = Math.min(Math.floor(x), stops.length - 2), f = x - k;
    const c = [0, 1, 2].map((j) => Math.round(stops[k][j] + f * (stops[k + 1][j] - stops[k][j])));
    const lum = (0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]) / 255;
    out.push({bg: "rgb(" + c.join(",") + ")", fg: lum < 0.52 ? "#fff" : "#111"});
  }
  return out;
}
// gates: white → green (ColorBrewer Greens); signed: blue → white → red (RdBu)
const SEQ = lut([[255, 255, 255], [199, 233, 192], [116, 196, 118], [35, 139, 69], [0, 68, 27]]);
const DIV = lut([[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247],
                 [253, 219, 199], [239, 138, 98], [178, 24, 43]]);
const gradient = (m) => "linear-gradient(to right," +
  [0, 32, 64, 96, 128, 160, 192, 224, 255].map((i) => m[i].bg).join(",") + ")";

const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const VIS = {" ": "\u2423", "\n": "\u23ce", "\t": "\u21e5"};
const visible = (s) => Array.from(s).map((c) => VIS[c] || c).join("") || "\u2205";
const fmt = (v) => (v < 0 ? "\u2212" : "") + Math.abs(v).toFixed(3);
const num = (n) => n.toLocaleString("en-US");
const pct = (p) => (100 * p).toFixed(p >= 0.1 ? 1 : 2) + "%";

const layerSel = $("ci-layer"), qSel = $("ci-quantity"), unitIn = $("ci-unit"),
  slider = $("ci-slider"), tip = $("ci-tip");
const state = Object.assign({layer: 0, quantity: 0, unit: 0}, data.start || {});
let shown = null;  // {Q, bytes, scale, range} of what the colours show
let pending = 0;
let top = null;

data.layers.forEach((L, i) => layerSel.add(new Option(L.name + " (" + L.cell + ", " +
                                                       L.units + " units)", i)));
function fillQuantities() {
  qSel.innerHTML = "";
  data.layers[state.layer].quantities.forEach((Q, i) => qSel.add(new Option(Q.label, i)));
  qSel.value = state.quantity;
  const H = data.layers[state.layer].units;
  unitIn.max = slider.max = H - 1;
  $("ci-of").textContent = " of 0\u2013" + (H - 1);
}
function select(layer, quantity, unit) {
  const layerChanged = layer !== state.layer;
  state.layer = layer;
  const Qs = data.layers[layer].quantities;
  state.quantity = Math.max(0, Math.min(Qs.length - 1, quantity));
  state.unit = Math.max(0, Math.min(data.layers[layer].units - 1, unit | 0));
  layerSel.value = layer;
  if (layerChanged || qSel.options.length !== Qs.length) fillQuantities();
  qSel.value = state.quantity;
  unitIn.value = slider.value = state.unit;
  recolour();
}
function valueAt(t) {
  const Q = shown.Q;
  const q = shown.bytes[state.unit * T + t];
  return Q.kind === "gate" ? q / 255 : (q - 128) / 127 * shown.scale;
}
async function recolour() {
  const ticket = ++pending;
  const L = data.layers[state.layer], Q = L.quantities[state.quantity];
  let bytes;
  try {
    bytes = await block(Q.key);
  } catch (err) {
    $("ci-explain").innerHTML = "";
    $("ci-explain").appendChild(el("span", "ci-error", String(err.message || err)));
    return;
  }
  if (ticket !== pending) return;
  const u = state.unit, off = u * T;
  const scale = Q.scale ? Q.scale[u] : 1, range = Q.range === "unit" ? scale : 1;
  shown = {Q: Q, bytes: bytes, scale: scale, range: range};
  if (Q.kind === "gate") {
    for (let t = 0; t < T; t++) {
      const c = SEQ[bytes[off + t]], s = spans[t].style;
      s.backgroundColor = c.bg; s.color = c.fg;
    }
  } else {
    const f = scale / range;
    for (let t = 0; t < T; t++) {
      let x = (bytes[off + t] - 128) / 127 * f;
      x = x < -1 ? -1 : x > 1 ? 1 : x;
      const c = DIV[Math.round((x + 1) * 127.5)], s = spans[t].style;
      s.backgroundColor = c.bg; s.color = c.fg;
    }
  }
  const gate = Q.kind === "gate";
  $("ci-bar").style.background = gradient(gate ? SEQ : DIV);
  $("ci-lo").textContent = gate ? "0" : fmt(-range);
  $("ci-hi").textContent = gate ? "1" : fmt(range);
  $("ci-explain").textContent = "Colour: " + Q.about + " of unit " + u + " in " + L.name +
    " after reading each character: " + (gate ? "white 0 (closed) \u2026 dark green 1 (open)."
    : Q.range === "unit" ? "blue negative, white 0, red positive, scaled to this unit's " +
      "largest |value| in the text (" + fmt(range) + ")."
    : "blue \u22121 \u2026 white 0 \u2026 red +1.") +
    " Hover a character for its value and the model's top " + data.top_k + " next characters.";
  root.querySelectorAll(".ci-rank tbody tr").forEach((tr) => {
    tr.classList.toggle("ci-on", +tr.dataset.layer === state.layer &&
                        tr.dataset.quantity === Q.name && +tr.dataset.unit === u);
  });
}

layerSel.addEventListener("change", () => {  // keep the quantity by name where it exists
  const name = data.layers[state.layer].quantities[state.quantity].name;
  const Qs = data.layers[+layerSel.value].quantities;
  const i = Qs.findIndex((Q) => Q.name === name);
  select(+layerSel.value, i >= 0 ? i : Qs.length - 1, state.unit);
});
qSel.addEventListener("change", () => select(state.layer, +qSel.value, state.unit));
unitIn.addEventListener("change", () => select(state.layer, state.quantity, +unitIn.value));
slider.addEventListener("input", () => select(state.layer, state.quantity, +slider.value));
$("ci-prev").addEventListener("click", () => select(state.layer, state.quantity, state.unit - 1));
$("ci-next").addEventListener("click", () => select(state.layer, state.quantity, state.unit + 1));

// the ranked units
const rank = $("ci-rank");
Object.keys(data.ranking).forEach((name) => {
  const F = data.ranking[name], box = el("div", "ci-feat");
  box.appendChild(el("div", "ci-feat-title", F.description));
  if (!F.units.length) {
    box.appendChild(el("div", "ci-feat-note", F.note || "not present in this text"));
  } else {
    box.appendChild(el("div", "ci-feat-note", "defined at " + num(F.defined) + " of " + num(T) +
                       " characters; |Pearson r|, click a row to show the unit"));
    const table = el("table"), head = el("tr"), body = el("tbody");
    ["#", "layer", "quantity", "unit", "r"].forEach((h) => head.appendChild(el("th", "", h)));
    const thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
    F.units.forEach((U, i) => {
      const tr = el("tr");
      tr.dataset.layer = U.layer; tr.dataset.quantity = U.quantity; tr.dataset.unit = U.unit;
      [String(i + 1), U.layer_name, U.quantity.replace(/_/g, " "), String(U.unit)]
        .forEach((v) => tr.appendChild(el("td", "", v)));
      tr.appendChild(el("td", "ci-r", (U.r < 0 ? "\u2212" : "+") + Math.abs(U.r).toFixed(3)));
      tr.addEventListener("click", () => select(U.layer,
        data.layers[U.layer].quantities.findIndex((Q) => Q.name === U.quantity), U.unit));
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.appendChild(table);
  }
  rank.appendChild(box);
});

// the tooltip
Promise.all([block("top_ids"), block("top_p"), block("next_p")]).then((b) => {
  top = {ids: u16(b[0]), p: u16(b[1]), next: u16(b[2])};
}).catch(() => {});
const text = $("ci-text");
let hovered = null;
text.addEventListener("mouseover", (e) => {
  const span = e.target.closest ? e.target.closest("span") : null;
  if (!span || span.ciIndex === undefined || !shown) return;
  const t = span.ciIndex;
  if (hovered) hovered.classList.remove("ci-hover");
  hovered = span;
  span.classList.add("ci-hover");
  tip.innerHTML = "";
  const head = el("div");
  head.appendChild(el("span", "ci-ch", visible(data.tokens[t])));
  head.appendChild(el("span", "ci-dim", "  character " + num(t + 1) + " of " + num(T)));
  tip.appendChild(head);
  const L = data.layers[state.layer];
  const line = el("div", "", L.name + " \u00b7 " + shown.Q.label + " \u00b7 unit " +
                  state.unit + " = ");
  line.appendChild(el("b", "", fmt(valueAt(t))));
  tip.appendChild(line);
  if (top) {
    tip.appendChild(el("div", "ci-dim", "next character, top " + data.top_k + ":"));
    const table = el("table");
    for (let j = 0; j < data.top_k; j++) {
      const p = top.p[t * data.top_k + j] / 65535, tr = el("tr");
      const ch = el("td"); ch.appendChild(el("span", "ci-ch",
                                             visible(data.vocab[top.ids[t * data.top_k + j]])));
      const bar = el("td"), fill = el("span", "ci-pbar");
      fill.style.width = Math.max(1, Math.round(p * 90)) + "px"; bar.appendChild(fill);
      tr.appendChild(ch); tr.appendChild(bar); tr.appendChild(el("td", "ci-r", pct(p)));
      table.appendChild(tr);
    }
    tip.appendChild(table);
    if (t + 1 < T) {
      const next = el("div", "ci-dim", "in the text: ");
      next.appendChild(el("span", "ci-ch", visible(data.tokens[t + 1])));
      next.appendChild(document.createTextNode(" " + pct(top.next[t] / 65535)));
      tip.appendChild(next);
    }
  }
  tip.style.display = "block";
  const r = span.getBoundingClientRect(), w = tip.offsetWidth, h = tip.offsetHeight;
  let x = r.left, y = r.bottom + 6;
  if (x + w > window.innerWidth - 4) x = Math.max(4, window.innerWidth - w - 4);
  if (y + h > window.innerHeight - 4) y = Math.max(4, r.top - h - 6);
  tip.style.left = x + "px"; tip.style.top = y + "px";
});
text.addEventListener("mouseleave", () => {
  tip.style.display = "none";
  if (hovered) hovered.classList.remove("ci-hover");
  hovered = null;
});

fillQuantities();
select(state.layer, state.quantity, state.unit);
})"""


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
