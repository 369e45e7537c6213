"""Pair formats, requests, grouping, Wilson intervals, the shipped suite, and `charlm probe`."""

import json
from collections import Counter

import pytest

from charlm.corpora import grammar
from charlm.probes import pairs as probes
from charlm.probes import stats
from charlm.cli import main
from charlm.errors import UserError
from charlm.probes.experiment import DEFAULT_LRS, count_params, parse_learning_rates, units_for
from conftest import TINY_TEXT

BLIMP = {"sentence_good": "Boys that aren't disturbing Natalie suffer.",
         "sentence_bad": "Boys that aren't disturbing Natalie suffers.",
         "one_prefix_prefix": "Boys that aren't disturbing Natalie", "one_prefix_word_good":
         "suffer", "one_prefix_word_bad": "suffers", "UID": "distractor_agreement_relative_clause",
         "simple_LM_method": True, "one_prefix_method": True, "two_prefix_method": False,
         "dependency_length": 4, "pairID": "7"}
BLIMP_TWO = {"sentence_good": "The students perform.", "sentence_bad": "The student perform.",
             "two_prefix_prefix_good": "The students", "two_prefix_prefix_bad": "The student",
             "two_prefix_word": "perform", "UID": "regular_plural_subject_verb_agreement_2",
             "one_prefix_method": False, "two_prefix_method": True, "pairID": "0"}
PAIR = {"id": "p1", "source": "mine", "category": "across_pp", "condition": "singular_subject",
        "n_attr": 1, "distance": 3, "sentence_good": "The key to the doors is old.",
        "sentence_bad": "The key to the doors are old.", "method": "one_prefix",
        "prefix": "The key to the doors", "good": "is", "bad": "are", "suffix": "old."}


def _jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("k,n,lo,hi", [(8, 10, 0.4902, 0.9433), (0, 10, 0.0, 0.2775),
                                       (10, 10, 0.7225, 1.0), (50, 100, 0.4038, 0.5962),
                                       (1, 1, 0.2065, 1.0), (0, 0, 0.0, 1.0)])
def test_wilson_interval_known_values(k, n, lo, hi):
    got = stats.wilson(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-4) and got[1] == pytest.approx(hi, abs=1e-4)


def test_formats_are_detected_per_file_and_grouped(tmp_path):
    a = _jsonl(tmp_path / "blimp.jsonl", [BLIMP, BLIMP_TWO])
    b = _jsonl(tmp_path / "mine.jsonl", [PAIR, {**PAIR, "id": "p2", "n_attr": 2, "distance": 6},
                                         {"sentence_good": "A b.", "sentence_bad": "A c."}])
    pairs, formats = probes.load_pairs([a, b])
    assert formats == {str(a): "blimp", str(b): "pairs"}
    assert [p.group() for p in pairs] == [
        ("blimp", BLIMP["UID"]), ("blimp", BLIMP_TWO["UID"]), ("mine", "across_pp"),
        ("mine", "across_pp"), ("mine", "")]  # no source/category: the file's name
    assert [p.method for p in pairs] == ["full", "full", "one_prefix", "one_prefix", "full"]
    summary = stats.summarize(pairs, [True, False, True, False, True])
    groups = {(g["source"], g["category"]): g for g in summary["groups"]}
    pp = groups[("mine", "across_pp")]
    assert pp["n"] == 2 and pp["correct"] == 1
    assert set(pp["by_n_attr"]) == {"1", "2"} and pp["by_condition"]["singular_subject"]["n"] == 2
    assert pp["by_distance"] == {"2-3": stats.stats([True]), "4-6": stats.stats([False])}
    assert "by_n_attr" not in groups[("blimp", BLIMP["UID"])]
    assert summary["overall"]["n"] == 5 and summary["overall"]["correct"] == 3
    assert stats.summarize(pairs, [True, None, None, True, True])["skipped"] == 2
    with pytest.raises(UserError, match="--format"):
        probes.load_pairs([a], fmt="csv")


def test_requests_per_method(tmp_path):
    pairs, _ = probes.load_pairs([_jsonl(tmp_path / "b.jsonl", [BLIMP, BLIMP_TWO])],
                                 method="prefix")
    one, two = pairs
    prefix = "Boys that aren't disturbing Natalie"
    # BLiMP words stop before the period, which is then the mandatory next character
    assert probes.requests(one) == ((prefix, " suffer."), (prefix, " suffers."), False)
    assert probes.requests(two) == (("The students", " perform.\n"),
                                    ("The student", " perform.\n"), False)
    full, _ = probes.load_pairs([_jsonl(tmp_path / "b.jsonl", [BLIMP])])
    # whole sentences: shared characters are the context, totals add log P(context) back
    assert probes.requests(full[0]) == ((prefix + " suffer", ".\n"), (prefix + " suffer", "s.\n"),
                                        True)
    mine, _ = probes.load_pairs([_jsonl(tmp_path / "m.jsonl", [PAIR, {
        **PAIR, "sentence_good": "The keys to the door admire.", "sentence_bad":
        "The keys to the door admires.", "prefix": "The keys to the door", "good": "admire.",
        "bad": "admires.", "suffix": ""}])])
    assert probes.requests(mine[0])[:2] == (("The key to the doors", " is "),
                                            ("The key to the doors", " are "))
    assert probes.requests(mine[1])[:2] == (("The keys to the door", " admire.\n"),
                                            ("The keys to the door", " admires.\n"))


@pytest.mark.parametrize("line,pattern", [
    ('{"sentence_good": "A b."', ":2: not valid JSON"),
    ('["A b.", "A c."]', ":2: expected a JSON object"),
    ('{"sentence_bad": "A c."}', ":2: field 'sentence_good' must be a string and is missing"),
    ('{"sentence_good": "A b.", "sentence_bad": "A c.", "n_attr": "two"}', ":2: field 'n_attr'"),
    ('{"sentence_good": "A b.", "sentence_bad": "A c.", "method": "guess"}', ":2: method must"),
    ('{"sentence_good": "A b.", "sentence_bad": "A c.", "method": "one_prefix", "prefix": "A", '
     '"good": "x.", "bad": "c.", "suffix": ""}', ":2: prefix + good + suffix gives 'A x.'"),
])
def test_malformed_lines_get_a_line_numbered_error(tmp_path, line, pattern):
    path = _jsonl(tmp_path / "bad.jsonl", [PAIR, line])
    with pytest.raises(UserError, match=pattern.replace("+", r"\+").replace("(", r"\(")) as e:
        probes.load_pairs([path])
    assert str(path) in str(e.value)


def test_lowercase_and_unknown_policies():
    lower, note = probes.should_lowercase("auto", lambda c: c.islower() or not c.isalpha())
    assert lower and "no capital letters" in note
    assert probes.should_lowercase("auto", lambda c: True) == (False, None)
    assert probes.should_lowercase("no", lambda c: False)[0] is False
    pair = probes.Pair({}, "f:3", "s", "c", "full", "The Bus.", "The Buses.")
    probes.lowercase_pair(pair)
    assert (pair.good_text, pair.bad_text) == ("the bus.", "the buses.")
    flags, first = probes.unknown_chars([pair], lambda c: c != "u")
    assert flags == [True] and first == {"u": "f:3"}


@pytest.mark.parametrize("half", ["heldout", "known"])
def test_shipped_suite_covers_the_constructions(half):
    files = probes.default_suite(heldout=half == "heldout", known_words=half == "known")
    pairs, formats = probes.load_pairs(files)
    assert set(formats.values()) == {"pairs"} and len(pairs) == 8000
    assert {p.source for p in pairs} == {grammar.PAIR_WORDS[half][1]}
    by_category = Counter(p.category for p in pairs)
    assert set(by_category) == set(grammar.CONSTRUCTIONS)  # both object relatives, coordination…
    assert set(by_category.values()) == {1000}
    assert {p.n_attr for p in pairs} == {0, 1, 2, 3}
    buckets = {stats.distance_bucket(p.distance) for p in pairs}
    assert buckets == {"0-1", "2-3", "4-6", "7-9", "10+"}
    for category in grammar.CONSTRUCTIONS:
        subjects = Counter(p.condition.split("__")[0] for p in pairs if p.category == category)
        assert abs(subjects["singular_subject"] - subjects["plural_subject"]) <= 2
        attrs = {p.n_attr for p in pairs if p.category == category}
        assert attrs == set(grammar.ATTRACTORS[category])
    assert all(p.method == "one_prefix" for p in pairs)


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


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_experiment_parameter_budget(cell):
    from charlm.model.model import build_model

    assert count_params(cell, 24, 43, 16) == build_model(43, 16, cell, 1, 24).count_params()
    units = units_for(cell, count_params("lstm", 256, 43, 64), 43, 64)
    assert abs(count_params(cell, units, 43, 64) / count_params("lstm", 256, 43, 64) - 1) < 0.01


def test_experiment_learning_rates():
    assert parse_learning_rates(None, ["rnn", "lstm"]) == {}
    assert parse_learning_rates("0.02", ["rnn", "lstm"]) == {"rnn": 0.02, "lstm": 0.02}
    assert parse_learning_rates("rnn=3e-3", ["rnn", "lstm"]) == {"rnn": 0.003}
    for bad in ("gru=0.01", "rnn=fast", "rnn=-1", "rnn=1=2"):
        with pytest.raises(UserError, match="--lr"):
            parse_learning_rates(bad, ["rnn", "lstm"])


def test_experiment_cells_end_to_end(tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text(TINY_TEXT)
    rows = [{**PAIR, "sentence_good": f"The {a} near the dogs {v}.", "sentence_bad":
             f"The {a} near the dogs {w}.", "prefix": f"The {a} near the dogs", "good": f"{v}.",
             "bad": f"{w}.", "suffix": "", "n_attr": 1, "distance": n}
            for a, v, w, n in [("cat", "sleeps", "sleep", 3), ("cats", "sleep", "sleeps", 3),
                               ("girl", "sings", "sing", 8)]]
    data = _jsonl(tmp_path / "d.jsonl", rows)
    argv = ["experiment", "cells", "--cells", "rnn,lstm", "--steps", "3", "--corpus",
            str(corpus), "--lstm-units", "16", "--embedding-dim", "8", "--batch-size", "4",
            "--seq-len", "20", "--data", str(data), "--out", str(tmp_path / "exp"),
            "--lr", "lstm=0.005"]
    assert main(argv) == 0
    result = json.loads((tmp_path / "exp" / "cells.json").read_text())
    assert [c["cell"] for c in result["cells"]] == ["rnn", "lstm"]
    rnn, lstm = result["cells"]
    assert abs(rnn["params"] - lstm["params"]) / lstm["params"] < 0.02 and rnn["units"] > 16
    assert (rnn["lr"], lstm["lr"]) == (DEFAULT_LRS["rnn"], 0.005)  # --lr names lstm only
    assert rnn["steps"] == lstm["steps"] == 3 and result["budget_per_cell"] == "3 steps"
    assert set(result["summaries"]["rnn"]["by_distance"]) == {"2-3", "7-9"}
    assert (tmp_path / "exp" / "cells.png").stat().st_size > 1000
    assert "| rnn |" in capsys.readouterr().out
    assert main(argv) == 0  # trained cells are reused, not retrained
    assert "reusing" in capsys.readouterr().err
    before = (tmp_path / "exp" / "rnn" / "config.json").read_bytes()
    assert main(argv[:5] + ["4"] + argv[6:]) == 2  # --steps 4: not the run the folder holds
    assert "steps 3 → 4" in capsys.readouterr().err
    assert (tmp_path / "exp" / "rnn" / "config.json").read_bytes() == before
