"""The page's select-and-match panel: what `charlm inspect view --corpus` embeds, and the page's
own select and match (view_match.js, run under Node when it is installed) against
charlm.inspect.match on the same bits."""

import base64
import json
import re
import shutil
import subprocess
import zlib
from importlib import resources

import numpy as np
import pytest

from charlm.inspect.match import Activity, match, select
from tests.helpers import run_cli
from tests.inspect.test_match import CORPUS, S, _on

TEXT = "The cat near the dogs sleeps."


def _node(bits: Activity, calls: list) -> list:
    """Run view_match.js's functions under Node: calls = [(name, args)] with the bits first."""
    source = (resources.files("charlm.inspect") / "view_match.js").read_text(encoding="utf-8")
    script = (source + "\nconst bits = Uint8Array.from(" + json.dumps(bits.bits.ravel().tolist())
              + ");\nconst calls = " + json.dumps(calls) + ";\nconsole.log(JSON.stringify("
              "calls.map(([f, a]) => charlmMatch[f](bits, ...a))));\n")
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js to run the page's script")
def test_page_script_selects_and_matches_as_python_does():
    rng = np.random.default_rng(3)
    corpus = _on(80, CORPUS) | (rng.random((80, 6)) < 0.15)  # the hand-built spans, plus noise
    wide = rng.random((300, 13)) < 0.3  # 13 units: padding bits in each row's last byte
    bits, wide_bits = Activity.from_bool(corpus), Activity.from_bool(wide)
    cases = [(bits, S, True, False, 0), (bits, S, True, True, 0), (bits, S, False, False, 3),
             (wide_bits, [0, 5, 12], True, False, 0), (wide_bits, [3, 9], True, True, 2)]
    for on, selected, left, right, phrase in cases:
        (js,) = _node(on, [("match", [on.units, len(on), selected, left, right, phrase])])
        py = match(on, selected, left=left, right=right, phrase_length=phrase or None)
        assert [{k: m[k] for k in ("start", "end", "intersection", "union")}
                for m in js["matches"]] == \
            [{k: m.to_dict()[k] for k in ("start", "end", "intersection", "union")}
             for m in py.matches]
        assert js["candidates"] == py.candidates
        assert js["fuzzy"] == py.fuzzy_histogram and js["strict"] == py.strict_histogram
    spans = [(3, 6), (10, 14), (0, 2), (78, 80)]
    js = _node(bits, [("select", [6, 80, a, b, True, right]) for a, b in spans
                      for right in (False, True)])
    assert js == [select(corpus, a, b, right=right) for a, b in spans for right in (False, True)]


def _blocks(html: str) -> dict:
    return {key: zlib.decompress(base64.b64decode(value)) for key, value in
            re.findall(r'class="ci-block" data-key="([^"]+)" data-encoding="deflate">([^<]*)<',
                       html)}


def test_page_embeds_the_corpus_bits_and_opens_on_the_span(trained_checkpoint, trained_lm,
                                                           tmp_path, capsys):
    corpus = trained_checkpoint.parent / "tiny.txt"
    page = tmp_path / "view.html"
    code, out, err = run_cli(capsys, ["inspect", "--checkpoint", str(trained_checkpoint),
                                      "--text", TEXT, "--corpus", str(corpus), "--span", "4:7",
                                      "--streams", "1", "--out", str(page)])
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    data = json.loads(re.search(r'class="ci-data">(.*?)</script>', html, re.S).group(1))
    text = corpus.read_text(encoding="utf-8")
    assert data["match"]["span"] == [4, 7] and data["match"]["tokens"] == len(text)
    assert data["match"]["layers"] == [{"quantity": "cell", "text_key": "match/0/text",
                                        "corpus_key": "match/0/corpus"}]
    assert "var charlmMatch" in html and 'class="ci-match"' in html
    blocks = _blocks(html)
    ids = np.frombuffer(blocks["corpus_ids"], "<u2")
    assert "".join(data["vocab"][i] for i in ids) == text
    # the bits are the exact values thresholded: tanh(cell) ≥ 0.3
    exact = np.tanh(trained_lm.inspect(text)["lstm_0", "cell"]) >= 0.3
    got = np.unpackbits(np.frombuffer(blocks["match/0/corpus"], np.uint8).reshape(len(text), -1),
                        axis=1, count=exact.shape[1]).astype(bool)
    assert (got == exact).all()
    mine = np.tanh(trained_lm.inspect(TEXT)["lstm_0", "cell"]) >= 0.3
    assert (np.unpackbits(np.frombuffer(blocks["match/0/text"], np.uint8).reshape(len(TEXT), -1),
                          axis=1, count=mine.shape[1]).astype(bool) == mine).all()


def test_page_without_a_corpus_has_no_panel_and_corpus_options_need_one(trained_checkpoint,
                                                                         tmp_path, capsys):
    from tests.helpers import assert_one_line_error

    page = tmp_path / "plain.html"
    code, _, err = run_cli(capsys, ["inspect", "--checkpoint", str(trained_checkpoint), "--text",
                                    TEXT, "--out", str(page)])
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    assert "var charlmMatch" not in html and "match/0/corpus" not in html
    assert_one_line_error(capsys, ["inspect", "--checkpoint", str(trained_checkpoint), "--text",
                                   TEXT, "--threshold", "0.5"], "--threshold (without --corpus)")
    assert_one_line_error(capsys, ["inspect", "--checkpoint", str(trained_checkpoint), "--text",
                                   TEXT, "--corpus", str(tmp_path / "none.txt")], "does not exist")
