"""`charlm probe --data suite.json` and `lm.probe(suite)` on a trained checkpoint: the files it
writes, one item's surprisals recomputed from per-character scores and from `charlm score`'s
requests, and bad suites refused in one line with nothing written."""

import json

import pytest

from charlm.errors import UserError
from charlm.probes import syntaxgym
from charlm.probes.scoring import ModelScorer
from tests.helpers import assert_one_line_error, run_cli

REGIONS = {"1": "subject", "2": "attractor", "3": "verb"}


def tiny_suite():
    """Agreement across a PP in the words of TINY_TEXT (the trained checkpoint's corpus)."""
    items = []
    for n, (a, b, v, w) in enumerate([("cat", "dogs", "sleeps", "sleep"),
                                      ("bus", "trees", "stops", "stop"),
                                      ("girl", "boys", "sings", "sing"),
                                      ("key", "doors", "fits", "fit")], 1):
        conditions = [("match", f"The {a}", v), ("mismatch", f"The {a}", w),
                      ("match_pl", f"The {a}s", w), ("mismatch_pl", f"The {a}s", v)]
        items.append({"item_number": n, "conditions": [
            {"condition_name": name, "regions": [
                {"region_number": 1, "content": subject},
                {"region_number": 2, "content": f"near the {b}"},
                {"region_number": 3, "content": verb + "."}]}
            for name, subject, verb in conditions]})
    return {"meta": {"name": "tiny_pp", "metric": "sum"}, "region_meta": REGIONS,
            "predictions": [{"type": "formula", "formula": "(3;%mismatch%) > (3;%match%)"},
                            {"type": "formula", "formula":
                             "(3;%mismatch_pl%) > (3;%match_pl%) & (*;%mismatch%) > 0"}],
            "items": items}


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny_pp.json"
    path.write_text(json.dumps(tiny_suite()))
    return path


def test_cli_writes_verdicts_region_table_and_chart(trained_checkpoint, suite_file, tmp_path,
                                                    capsys):
    out = tmp_path / "report"
    code, stdout, stderr = run_cli(capsys, ["probe", "--checkpoint", str(trained_checkpoint),
                                            "--data", str(suite_file), "--out", str(out)])
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == "prediction\titem\tresult" and len(lines) == 1 + 2 * 4
    assert all(line.split("\t")[2] in ("True", "False") for line in lines[1:])
    summary = json.loads((out / "suite.json").read_text())
    assert (out / "suite.tsv").read_text() == stdout
    assert (out / "suite.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = json.loads((out / "suite-regions.json").read_text())
    assert table["region_means"] == summary["region_means"]
    assert set(table["region_means"]) == {"match", "mismatch", "match_pl", "mismatch_pl"}
    assert list(table["region_means"]["match"]) == list(REGIONS.values())
    for p in summary["predictions"]:
        n_true = sum(line.endswith("True") for line in lines[1:] if
                     line.startswith(f"{p['prediction']}\t"))
        assert p["correct"] == n_true and p["n"] == 4
        assert f"prediction {p['prediction']} {p['formula']}: {n_true}/4 items" in stderr
    # the memorised model agrees: "The cat near the dogs sleep." is the corpus' plural form
    assert summary["predictions"][0]["correct"] >= 3
    code, stdout, _ = run_cli(capsys, ["probe", "--checkpoint", str(trained_checkpoint),
                                       "--data", str(suite_file), "--out", str(out), "--json"])
    assert json.loads(stdout)["predictions"] == summary["predictions"]


def test_one_item_recomputed_by_hand(trained_checkpoint, trained_lm, suite_file, capsys):
    summary = trained_lm.probe(str(suite_file))
    suite = syntaxgym.load_suite(suite_file)
    surprisals = syntaxgym.region_surprisals(trained_lm._chars("error"), suite)
    _, conditions = suite.items[1]
    regions = conditions["mismatch"]
    sentence = " ".join(text for _, text in regions)
    # 1. from the per-character scores: the joining space goes to the region after it
    chars = trained_lm.token_scores(sentence, surprisal=True, base_two=True)[0]
    assert "".join(c for c, _ in chars) == sentence
    bounds = [len("The bus"), len("The bus near the trees"), len(sentence)]
    by_hand = [sum(v for _, v in chars[a:b]) for a, b in zip([0] + bounds[:-1], bounds)]
    assert [surprisals[2, "mismatch"][r] for r in (1, 2, 3)] == pytest.approx(by_hand, abs=1e-3)
    # 2. from `charlm score`'s scorer: log P(region | "\n" + the regions before it)
    scorer = ModelScorer(trained_lm.model, trained_lm.tokenizer)
    reqs = [("", "The bus"), ("The bus", " near the trees"),
            ("The bus near the trees", " stop.")]
    _, logp = scorer.score(reqs)
    assert by_hand == pytest.approx(list(-logp / syntaxgym.LN2), abs=1e-3)
    # 3. the line's total, as `charlm score` prints it, is the regions plus the end marker
    text_file = suite_file.parent / "line.txt"
    text_file.write_text(sentence + "\n")
    code, stdout, _ = run_cli(capsys, ["score", "--checkpoint", str(trained_checkpoint),
                                       "--text-file", str(text_file), "--json"])
    line = json.loads(stdout)
    end = trained_lm.conditional_score([sentence], ["\n"], reduction=sum, separator="")[0]
    assert line["logprob"] == pytest.approx(-sum(by_hand) * syntaxgym.LN2 + end, abs=1e-3)
    verdict = summary["predictions"][0]["items"]["2"]
    assert verdict == (surprisals[2, "mismatch"][3] > surprisals[2, "match"][3])


@pytest.mark.parametrize("edit, pattern", [
    (lambda s: s["items"][2]["conditions"][1].pop("regions"),
     "item 3, condition 'mismatch': regions must be a non-empty list"),
    (lambda s: s["predictions"].append({"type": "formula", "formula": "(3;%plural%) > 0"}),
     "prediction 3 '(3;%plural%) > 0': item 1 has no condition 'plural'"),
    (lambda s: s["predictions"].append({"type": "formula", "formula": "(9;%match%) > 0"}),
     "prediction 3 '(9;%match%) > 0': region 9 is not in region_meta"),
    (lambda s: s["predictions"].append({"type": "formula", "formula": "(3;%match%) > > 0"}),
     "prediction 3 '(3;%match%) > > 0': does not parse at column"),
])
def test_bad_suite_one_line_error_and_nothing_written(trained_checkpoint, tmp_path, capsys, edit,
                                                      pattern):
    suite = tiny_suite()
    edit(suite)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(suite))
    out = tmp_path / "report"
    assert_one_line_error(capsys, ["probe", "--checkpoint", str(trained_checkpoint), "--data",
                                   str(path), "--out", str(out)], pattern)
    assert not out.exists()


def test_unknown_characters_refused_before_scoring(trained_checkpoint, tmp_path, capsys):
    suite = tiny_suite()
    suite["items"][0]["conditions"][0]["regions"][0]["content"] = "The cat!"
    path = tmp_path / "bang.json"
    path.write_text(json.dumps(suite))
    assert_one_line_error(capsys, ["probe", "--checkpoint", str(trained_checkpoint), "--data",
                                   str(path), "--out", str(tmp_path / "r")], "'!'")
    assert not (tmp_path / "r").exists()


def test_api_probe_takes_a_dict_or_a_path(trained_lm, suite_file):
    from_dict = trained_lm.probe(tiny_suite())
    from_path = trained_lm.probe(suite_file)
    assert from_dict == from_path and from_dict["suite"] == "tiny_pp"
    with pytest.raises(UserError, match="no condition 'nope'"):
        broken = tiny_suite()
        broken["predictions"] = [{"type": "formula", "formula": "(1;%nope%) > 0"}]
        trained_lm.probe(broken)
