(function (rootId, script) {
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

// select and match (LSTMVis): brush a span of the text; the units of the shown layer on over it
// and off just before it; the corpus spans where they are on together (view_match.js)
const M = data.match, panel = $("ci-match");
let brush = null, anchor = null, runs = 0;
function setBrush(a, b) {
  if (brush) for (let t = brush[0]; t < brush[1]; t++) spans[t].classList.remove("ci-brush");
  brush = [a, b];
  for (let t = a; t < b; t++) spans[t].classList.add("ci-brush");
}
function tokensText(ids, a, b) {
  let out = "";
  for (let t = Math.max(0, a); t < Math.min(ids.length, b); t++)
    out += data.vocab[ids[t]].replace(/\n/g, "\u23ce").replace(/\t/g, "\u21e5");
  return out;
}
async function runMatch() {
  if (!brush) return;
  const ticket = ++runs, li = state.layer, ML = M.layers[li], H = data.layers[li].units;
  const right = panel.querySelector(".ci-right").checked;
  const phrase = Math.max(0, +panel.querySelector(".ci-phrase").value | 0);
  const out = panel.querySelector(".ci-match-out");
  out.textContent = "matching\u2026";
  let b;
  try {
    b = await Promise.all([block(ML.text_key), block(ML.corpus_key), block("corpus_ids")]);
  } catch (err) {
    out.innerHTML = ""; out.appendChild(el("span", "ci-error", String(err.message || err)));
    return;
  }
  if (ticket !== runs) return;
  const ids = u16(b[2]), [b0, b1] = brush;
  const S = charlmMatch.select(b[0], H, T, b0, b1, true, right);
  out.innerHTML = "";
  const head = el("div", "ci-match-head");
  head.appendChild(el("span", "", "\u00ab" + visible(data.tokens.slice(b0, b1).join("")) +
    "\u00bb [" + b0 + ":" + b1 + "] \u00b7 " + data.layers[li].name + " " +
    ML.quantity.replace(/_/g, " ") + ": " + S.length + " unit(s) on (\u2265 " + M.threshold +
    (ML.quantity === "cell" ? " after tanh" : "") + ") over it and off " +
    (right ? "on both sides" : "just before it") + (S.length ? ": " : ".")));
  const qi = data.layers[li].quantities.findIndex((Q) => Q.name === ML.quantity);
  S.forEach((u) => {
    const a = el("a", "ci-unit-link", String(u));
    a.href = "#"; a.title = "show unit " + u;
    a.addEventListener("click", (e) => { e.preventDefault(); select(li, qi, u); });
    head.appendChild(a); head.appendChild(document.createTextNode(" "));
  });
  out.appendChild(head);
  if (!S.length) {
    out.appendChild(el("div", "ci-feat-note", "Brush another span, or read the corpus with a " +
                       "lower --threshold."));
    return;
  }
  const r = charlmMatch.match(b[1], H, ids.length, S, true, right, phrase);
  out.appendChild(el("div", "ci-feat-note", num(r.candidates) + " candidate span(s) in " +
    num(ids.length) + " corpus tokens; the best " + r.matches.length + ", by shared units " +
    "|I| (of " + S.length + "), then fewest units |U|, then length."));
  const table = el("table", "ci-match-table"), thead = el("thead"), hr = el("tr");
  ["#", "position", "len", "|I|", "|U|", "I/U", "context"].forEach((h) =>
    hr.appendChild(el("th", "", h)));
  thead.appendChild(hr); table.appendChild(thead);
  const body = el("tbody");
  r.matches.forEach((m, i) => {
    const tr = el("tr");
    [String(i + 1), num(m.start), String(m.length), String(m.intersection), String(m.union),
     m.ratio.toFixed(2)].forEach((v) => tr.appendChild(el("td", "ci-r", v)));
    const ctx = el("td", "ci-ctx");
    ctx.appendChild(el("span", "ci-dim", tokensText(ids, m.start - 30, m.start).padStart(30)));
    ctx.appendChild(el("mark", "", tokensText(ids, m.start, m.end)));
    ctx.appendChild(el("span", "ci-dim", tokensText(ids, m.end, m.end + 30)));
    tr.appendChild(ctx);
    body.appendChild(tr);
  });
  table.appendChild(body); out.appendChild(table);
  const hist = r.strict.map((c, n) => c ? n + ":" + c : "").filter((x) => x);
  out.appendChild(el("div", "ci-feat-note", "lengths of the spans where all " + S.length +
    " units are on (length:count): " + (hist.length ? hist.join(" ") : "none")));
}
if (M && panel && typeof charlmMatch !== "undefined") {
  panel.style.display = "block";
  panel.appendChild(el("div", "ci-side-title", "Select & match \u2014 drag across the text " +
    "to brush a span; its units' matches in the corpus (" + num(M.tokens) + " tokens" +
    (M.streams > 1 ? ", read as " + M.streams + " parallel parts after " + M.warmup +
     " tokens of warm-up each" : "") + ")"));
  const opts = el("div", "ci-match-opts");
  const rl = el("label"), rc = el("input", "ci-right");
  rc.type = "checkbox"; rl.appendChild(rc); rl.appendChild(document.createTextNode(
    " off just after the span too"));
  const pl = el("label", "", "phrase length "), pi = el("input", "ci-phrase");
  pi.type = "number"; pi.min = "0"; pi.value = "0"; pi.title = "0: any length of 2 or more";
  pl.appendChild(pi);
  opts.appendChild(rl); opts.appendChild(pl); panel.appendChild(opts);
  panel.appendChild(el("div", "ci-match-out ci-feat-note", "No span brushed yet."));
  rc.addEventListener("change", runMatch); pi.addEventListener("change", runMatch);
  layerSel.addEventListener("change", runMatch);
  text.addEventListener("mousedown", (e) => {
    const span = e.target.closest ? e.target.closest("span") : null;
    if (!span || span.ciIndex === undefined || e.button !== 0) return;
    e.preventDefault();
    anchor = span.ciIndex;
    setBrush(anchor, anchor + 1);
  });
  text.addEventListener("mouseover", (e) => {
    const span = e.target.closest ? e.target.closest("span") : null;
    if (anchor === null || !span || span.ciIndex === undefined) return;
    const t = span.ciIndex;
    setBrush(Math.min(anchor, t), Math.max(anchor, t) + 1);
  });
  document.addEventListener("mouseup", () => {
    if (anchor === null) return;
    anchor = null;
    runMatch();
  });
  if (M.span) { setBrush(M.span[0], M.span[1]); runMatch(); }
}

fillQuantities();
select(state.layer, state.quantity, state.unit);
})
