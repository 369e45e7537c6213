"""`charlm probe` on the command line: the n-gram baseline end to end (report, chart, scored
pairs), one-line errors, lowercasing for a lowercase vocabulary."""

import json

from charlm.cli import main
from charlm.probes import stats
from tests.helpers import TINY_TEXT
from tests.probes.examples import BLIMP_TWO, PAIR, write_jsonl as _jsonl


def test_cli_probe_ngram_writes_everything(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT)
    rows = [{"id": f"q{i}", "category": "pp", "n_attr": 1,
             "condition": f"{'plural' if i == 1 else 'singular'}_subject__plural_attractor",
             "sentence_good": f"The {a} near the {b} {v}.",
             "sentence_bad": f"The {a} near the {b} {w}.",
             "method": "one_prefix", "prefix": f"The {a} near the {b}", "good": f"{v}.",
             "bad": f"{w}.", "suffix": ""}
            for i, (a, b, v, w) in enumerate([("cat", "dogs", "sleeps", "sleps"),
                                               ("cats", "dogs", "sleep", "slep"),
                                               ("key", "doors", "fits", "fts")])]
    data = _jsonl(tmp_path / "mine.jsonl", rows + [BLIMP_TWO])
    out, pairs_out = tmp_path / "report", tmp_path / "scored.jsonl"
    assert main(["probe", "--baseline", "ngram", "--order", "4", "--corpus", str(corpus),
                 "--data", str(data), "--out", str(out), "--pairs-out", str(pairs_out),
                 "--unknown", "skip", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["model"]["kind"] == "ngram" and summary["n_pairs"] == 4
    # "The students perform." uses letters TINY_TEXT lacks: skipped, and still listed below
    assert summary["skipped"] == 1 and summary["overall"] == {**stats.stats([True] * 3)}
    report = (out / "probe.md").read_text()
    assert (out / "probe.png").stat().st_size > 1000 and "| pp |" in report
    # per condition: the singular-subject rows (q0, q2) apart from the plural one (q1)
    assert "| pp | singular subject, plural attractor | 2 | 100.0 |" in report
    assert "| pp | plural subject, plural attractor | 1 | 100.0 |" in report
    assert json.loads((out / "probe.json").read_text())["overall"] == summary["overall"]
    scored = [json.loads(line) for line in pairs_out.read_text().splitlines()]
    assert [s.get("id", s.get("pairID")) for s in scored] == ["q0", "q1", "q2", "0"]
    assert scored[0]["prefix"] == rows[0]["prefix"] and scored[0]["correct"] is True
    assert scored[0]["logprob_good"] > scored[0]["logprob_bad"]
    assert scored[3]["correct"] is None and scored[3]["UID"] == BLIMP_TWO["UID"]


def test_cli_probe_errors_are_one_line(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT.lower())
    data = _jsonl(tmp_path / "d.jsonl", [PAIR, '{"sentence_good": 3}'])
    for argv, pattern in [
        (["--data", str(data)], "d.jsonl:2: field 'sentence_good' must be a string"),
        (["--data", str(tmp_path / "none.jsonl")], "does not exist"),
        (["--data", str(_jsonl(tmp_path / "q.jsonl", [{**PAIR, "sentence_good": "The key is!",
                                                       "method": "full"}]))],
         "not in the model's vocabulary: '!'"),
    ]:
        assert main(["probe", "--baseline", "ngram", "--corpus", str(corpus), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and pattern in err, err
    assert main(["probe", "--data", str(_jsonl(tmp_path / "ok.jsonl", [PAIR]))]) == 2
    assert "either --checkpoint" in capsys.readouterr().err


def test_lowercase_auto_with_a_lowercase_vocabulary(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT.lower())
    data = _jsonl(tmp_path / "d.jsonl", [{**PAIR, "sentence_good": "The cat near the dogs sleeps.",
                                          "sentence_bad": "The cat near the dogs slep.",
                                          "method": "full"}])
    assert main(["probe", "--baseline", "ngram", "--corpus", str(corpus), "--data", str(data),
                 "--out", str(tmp_path / "o"), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["lowercased"] and "no capital letters" in captured.err
    assert summary["overall"]["accuracy"] == 1.0
