// Select and match on the page: the same rules as charlm/inspect/match.py (read its docstring),
// on the same bits: one row per step, the units packed 8 to a byte, most significant bit first
// (np.packbits), rows of Hb = ceil(H / 8) bytes.
var charlmMatch = (function () {
"use strict";
const MIN_LENGTH = 2, TOP = 50, MAX_CANDIDATES = 10000;
const POP = new Uint8Array(256);
for (let i = 1; i < 256; i++) POP[i] = (i & 1) + POP[i >> 1];

function bit(bits, Hb, t, u) { return (bits[t * Hb + (u >> 3)] >> (7 - (u & 7))) & 1; }

// units on at every step of [b0, b1), off at b0 - 1 (left) and at b1 (right) when inside
function select(bits, H, T, b0, b1, left, right) {
  const Hb = (H + 7) >> 3, out = [];
  for (let u = 0; u < H; u++) {
    let ok = true;
    for (let t = b0; t < b1 && ok; t++) ok = bit(bits, Hb, t, u) === 1;
    if (ok && left && b0 > 0) ok = bit(bits, Hb, b0 - 1, u) === 0;
    if (ok && right && b1 < T) ok = bit(bits, Hb, b1, u) === 0;
    if (ok) out.push(u);
  }
  return out;
}

// spans where count >= k, k = |S| .. 1, each scored by the units active over it
function match(bits, H, N, S, left, right, phrase, top, limit) {
  const Hb = (H + 7) >> 3;
  top = top || TOP; limit = limit || MAX_CANDIDATES;
  const result = {matches: [], candidates: 0, fuzzy: [], strict: []};
  if (!S.length) return result;
  const count = new Uint16Array(N);
  for (const u of S) {
    const byte = u >> 3, shift = 7 - (u & 7);
    for (let t = 0, i = byte; t < N; t++, i += Hb) count[t] += (bits[i] >> shift) & 1;
  }
  const seen = new Set(), found = [];
  for (let k = S.length; k >= 1 && found.length < limit; k--) {
    let start = -1;
    for (let t = 0; t <= N; t++) {
      const on = t < N && count[t] >= k;
      if (on && start < 0) start = t;
      if (!on && start >= 0) {
        const length = t - start;
        if (phrase ? length === phrase : length >= MIN_LENGTH) {
          const key = start + "," + length;
          if (!seen.has(key)) { seen.add(key); found.push([start, length]); }
        }
        start = -1;
      }
    }
  }
  const mask = new Uint8Array(Hb), acc = new Uint8Array(Hb);
  for (const u of S) mask[u >> 3] |= 1 << (7 - (u & 7));
  const scored = [];
  for (const [start, length] of found.slice(0, limit)) {
    const end = start + length;
    acc.fill(255);
    for (let t = start; t < end; t++)
      for (let j = 0, i = t * Hb; j < Hb; j++, i++) acc[j] &= bits[i];
    if (left && start > 0) for (let j = 0; j < Hb; j++) acc[j] &= ~bits[(start - 1) * Hb + j];
    if (right && end < N) for (let j = 0; j < Hb; j++) acc[j] &= ~bits[end * Hb + j];
    if (H & 7) acc[Hb - 1] &= (0xff << (8 - (H & 7))) & 0xff;  // padding bits are no units
    let inter = 0, union = 0;
    for (let j = 0; j < Hb; j++) { inter += POP[acc[j] & mask[j]]; union += POP[acc[j] | mask[j]]; }
    scored.push({start: start, end: end, length: length, intersection: inter, union: union,
                 ratio: union ? inter / union : 0});
  }
  const bump = (h, n) => { while (h.length <= n) h.push(0); h[n]++; };
  for (const m of scored) {
    bump(result.fuzzy, m.length);
    if (m.intersection === S.length) bump(result.strict, m.length);
  }
  scored.sort((a, b) => (b.intersection - a.intersection) || (a.union - b.union) ||
                        (b.length - a.length) || (a.start - b.start));
  result.candidates = scored.length;
  result.matches = scored.slice(0, top);
  return result;
}

return {select: select, match: match};
})();
