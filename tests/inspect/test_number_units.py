"""Number units (charlm.inspect.number_units): reading conditions, the diagnostic classifier on
synthetic states, the ablation scorer against `charlm probe`'s scores, and the whole report on
the tiny trained checkpoint with a handmade pairs file."""

import itertools
import json

import numpy as np
import pytest

from charlm.inspect.ablation import ablated
from charlm.inspect.number_units.diagnostic import diagnostic_classifier
from charlm.inspect.number_units.stats import number_from_verbs, pair_info, parse_condition
from charlm.inspect.number_units import number_units_report, verb_states
from charlm.probes.pairs import load_pairs, score_pairs
from charlm.probes.scoring import PrefixScorer
from tests.helpers import tiny_model


def test_parse_condition():
    assert parse_condition("singular_subject") == ("singular", [])
    assert parse_condition("plural_subject__singular_plural_attractors") == \
        ("plural", ["singular", "plural"])
    assert parse_condition("singular_subject__plural_matrix_subject__plural_attractor") == \
        ("singular", ["plural"])  # the matrix subject is not an attractor
    assert parse_condition("singular subject, plural attractor") == ("singular", ["plural"])
    assert parse_condition("whatever") == (None, None)
    assert parse_condition(None) == (None, None)


def test_number_from_verbs():
    assert number_from_verbs("sleeps.", "sleep.") == "singular"
    assert number_from_verbs("watch", "watches") == "plural"
    assert number_from_verbs("cries", "cry") == "singular"
    assert number_from_verbs("were", "was") == "plural"
    assert number_from_verbs("is", "are") == "singular"
    assert number_from_verbs("ran", "run") is None


def _row(prefix, good, bad, suffix="", condition=None, n_attr=None, category="handmade"):
    join = lambda word: " ".join(w for w in (prefix, word, suffix) if w)  # noqa: E731
    row = {"sentence_good": join(good), "sentence_bad": join(bad), "method": "one_prefix",
           "prefix": prefix, "good": good, "bad": bad, "suffix": suffix, "category": category}
    if condition:
        row["condition"] = condition
    if n_attr is not None:
        row["n_attr"] = n_attr
    return row


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_pair_info_classes(tmp_path):
    rows = [_row("The cat near the dogs", "sleeps.", "sleep.",
                 condition="singular_subject__plural_attractor", n_attr=1),
            _row("The cats near the dogs", "sleep.", "sleeps.",
                 condition="plural_subject__plural_attractor", n_attr=1),
            _row("The cat", "sleeps.", "sleep."),  # no condition: number from the verbs
            _row("The cat", "ran.", "run.")]  # no number at all
    pairs, _ = load_pairs([_write(tmp_path / "p.jsonl", rows)])
    infos = [pair_info(p) for p in pairs]
    assert [(i.number, i.attractors) for i in infos] == [
        ("singular", "different"), ("plural", "same"), ("singular", None), (None, None)]
    assert infos[0].coarse == "singular subject, attractor of the other number"


def test_classifier_finds_the_unit_that_carries_number():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300).astype(float)
    states = rng.normal(0, 1, (300, 12))
    states[:, 7] = np.where(labels > 0, -1.0, 1.0) + rng.normal(0, 0.1, 300)  # unit 7: singular
    fit = diagnostic_classifier(states, labels, seed=1)
    w = fit["weights"]
    assert int(np.argmax(np.abs(w))) == 7 and w[7] < 0  # higher for singular: negative weight
    assert np.abs(w[7]) > 3 * np.delete(np.abs(w), 7).max()
    assert fit["heldout_accuracy"] == 1.0 and fit["train_accuracy"] == 1.0
    assert fit["n_test"] == 60 and fit["n_train"] == 240
    assert 0.5 <= fit["chance"] < 0.7

    noise = diagnostic_classifier(rng.normal(0, 1, (300, 12)), labels, seed=1)
    assert noise["heldout_accuracy"] < 0.75  # nothing to find: near chance


def _tiny_rows():
    """TINY_TEXT's sentence shapes, plus unseen ones: 24 pairs, attractors of both numbers."""
    rows = []
    for a, b, v in [("cat", "dog", "sleeps"), ("bus", "tree", "stops"),
                    ("girl", "boy", "sings"), ("key", "door", "fits")]:
        w = v[:-1]
        rows += [
            _row(f"The {a} near the {b}s", f"{v}.", f"{w}.", n_attr=1,
                 condition="singular_subject__plural_attractor"),
            _row(f"The {a}s near the {b}s", f"{w}.", f"{v}.", n_attr=1,
                 condition="plural_subject__plural_attractor"),
            _row(f"The {a} near the {b}", f"{v}.", f"{w}.", n_attr=1,
                 condition="singular_subject__singular_attractor"),
            _row(f"The {a}s near the {b}", f"{w}.", f"{v}.", n_attr=1,
                 condition="plural_subject__singular_attractor"),
            _row(f"The {a}", f"{v}.", f"{w}.", n_attr=0, condition="singular_subject",
                 category="simple"),
            _row(f"The {a}s", f"{w}.", f"{v}.", n_attr=0, condition="plural_subject",
                 category="simple"),
        ]
    return rows


def test_scorer_matches_probe_scores_and_sees_ablation(tmp_path):
    from charlm.probes.scoring import ModelScorer

    tokenizer = _tokenizer()
    model = tiny_model(vocab_size=tokenizer.vocab_size, layers=2, units=8)
    pairs, _ = load_pairs([_write(tmp_path / "p.jsonl", _tiny_rows())])
    scorer = PrefixScorer(model, tokenizer, pairs, batch_size=5)  # several batches
    subset = [3, 0, 7, 21, 12]
    margins = scorer.margins(subset)
    reference = score_pairs(ModelScorer(model, tokenizer), [pairs[i] for i in subset])
    expected = [r["logprob_good"] - r["logprob_bad"] for r in reference]
    np.testing.assert_allclose(margins, expected, atol=1e-4)
    with ablated(model, 1, [0, 1, 2, 3]):
        assert np.abs(scorer.margins(subset) - margins).max() > 1e-4
    np.testing.assert_allclose(scorer.margins(subset), margins, atol=1e-6)  # restored


@pytest.mark.parametrize("cell", ["lstm"])
def test_trie_scorer_matches_each_pair_scored_alone_with_each_unit_ablated(cell, tmp_path):
    """The trie reads shared beginnings once; ablating one unit at a time, its margins must be
    those of every pair scored on its own (`charlm probe`'s scorer on an ablated copy), and two
    pairs with the same texts must get bit-identical margins."""
    from charlm.inspect.ablation import ablated_copy
    from charlm.probes.scoring import ModelScorer

    tokenizer = _tokenizer()
    model = tiny_model(vocab_size=tokenizer.vocab_size, layers=2, units=6, cell=cell)
    rows = _tiny_rows() + _tiny_rows()[:1]  # pair 24 repeats pair 0
    pairs, _ = load_pairs([_write(tmp_path / "p.jsonl", rows)])
    scorer = PrefixScorer(model, tokenizer, pairs, batch_size=3)  # levels split into calls
    subset = [24, 0, 1, 5, 12, 13, 23]
    for layer, unit in [(0, 0), (0, 4), (1, 2), (1, 5)]:
        with ablated(model, layer, [unit]):
            margins = scorer.margins(subset)
        alone = ModelScorer(ablated_copy(model, layer, [unit]), tokenizer, batch_size=1)
        expected = [r["logprob_good"] - r["logprob_bad"]
                    for r in score_pairs(alone, [pairs[i] for i in subset])]
        np.testing.assert_allclose(margins, expected, atol=1e-5)
        assert margins[0] == margins[1]


def _tokenizer():
    from charlm.data.tokenizers import CharTokenizer

    return CharTokenizer(sorted(set("The cats near dogs sleep bus tre stop girl boy sing key "
                                    "door fit.\n")))


@pytest.mark.parametrize("cell", ["gru", "cifg"])
def test_report_on_every_layer_of_other_cells(cell, tmp_path):
    tokenizer = _tokenizer()
    model = tiny_model(vocab_size=tokenizer.vocab_size, cell=cell, layers=2, units=6)
    pairs, _ = load_pairs([_write(tmp_path / "p.jsonl", _tiny_rows())])
    report = number_units_report(model, tokenizer, pairs, tmp_path / "out", draws=2,
                                 progress=False, screen_pairs=3, top_k=2)
    state = "hidden" if cell == "gru" else "cell"
    assert [c["state"] for c in report["classifier"]] == [state, state]
    assert [e["name"] for e in report["ablation"]] == [f"{cell}_0", f"{cell}_1"]
    for entry in report["ablation"]:
        assert len(entry["screen"]["drop"]) == 6 and len(entry["top_units"]) == 2
        assert len(entry["best_pair"]["random"]["draws"]) == 2
    assert (tmp_path / "out" / "number_units.png").stat().st_size > 1000


def test_verb_states_are_the_states_before_the_verb():
    from charlm.inspect.trace import trace_ids

    model = tiny_model(cell="lstm", layers=2, units=5)
    rng = np.random.default_rng(2)
    contexts = [rng.integers(1, 11, n).astype(np.int32) for n in (4, 9, 4, 6)]
    states = verb_states(model, contexts, batch_size=2, progress=False)
    for n, ids in enumerate(contexts):
        layers, _ = trace_ids(model, ids)
        for layer, trace in enumerate(layers):
            np.testing.assert_allclose(states[layer][n], trace.values["cell"][-1], atol=1e-5)


@pytest.mark.slow
def test_report_on_the_tiny_checkpoint(trained_checkpoint, tmp_path):
    import charlm

    lm = charlm.load(trained_checkpoint)
    pairs, _ = load_pairs([_write(tmp_path / "pairs.jsonl", _tiny_rows())])
    out = tmp_path / "out"
    report = number_units_report(lm.model, lm.tokenizer, pairs, out, draws=3, seed=1,
                                 progress=False, screen_pairs=6, top_k=3)
    for name in ("number_units.json", "number_units.md", "number_units.png"):
        assert (out / name).stat().st_size > 100, name
    assert json.loads((out / "number_units.json").read_text()) == json.loads(json.dumps(report))
    assert (out / "number_units.png").read_bytes().startswith(b"\x89PNG")
    assert "Number units" in (out / "number_units.md").read_text()

    assert report["pairs"]["total"] == 24 and report["pairs"]["attractor"] == 8
    assert report["pairs"]["screen"] == 4  # at most half of the attractor pairs
    assert report["pairs"]["evaluation"] == 20 and report["pairs"]["evaluation_attractor"] == 4
    assert report["pairs"]["classifier"] == 24 and report["pairs"]["skipped_no_number"] == 0
    (classifier,) = report["classifier"]
    assert classifier["state"] == "cell" and len(classifier["weights"]) == 64
    assert 0 <= classifier["heldout_accuracy"] <= 1 and classifier["n_test"] == 5
    (layer,) = report["ablation"]
    assert layer["screen"]["pairs"] == 4 and len(layer["screen"]["drop"]) == 64
    assert len(layer["top_units"]) == 3 and sorted(layer["rank_by_ablation"]) == list(range(64))
    assert len(layer["pair_screen"]) == 3
    for key, size in (("best_unit", 1), ("best_pair", 2)):
        best = layer[key]
        assert len(best["units"]) == size
        assert len(best["random"]["draws"]) == 3
        excluded = {m["unit"] for m in layer["top_units"]} | set(classifier["rank_by_weight"][:3])
        for draw in best["random"]["draws"]:
            assert len(draw["units"]) == size and not set(draw["units"]) & excluded
            assert 0 <= draw["attractor"] <= 1
        comparison = best["comparison"]
        assert set(comparison) == {"overall", "attractor", "by_construction", "by_condition"}
        assert set(comparison["by_construction"]) == {"handmade", "simple"}
        assert len(comparison["by_condition"]) == 6
    assert report["intact"]["attractor"]["n"] == 4 and report["intact"]["overall"]["n"] == 20
    assert isinstance(report["best"]["number_units_found"], bool) and report["best"]["sentence"]
    assert report["seconds"]["total"] > 0


# A hand-built SimpleRNN whose unit 0 is a number unit: a latch that the subject's plural "s"
# sets (kernel 5, self-weight 3: tanh stays ≈ 1 for the rest of the line) and that moves the
# verb's logits from "x" (singular) to "y" (plural). Attractors mark their plural with "z",
# which sets unit 1, a weaker latch pulling towards "y" (attraction the intact model resists).
# Units 2-5 follow the letters but reach no logit. Subjects and attractors hold no other s or z.
SUBJECTS, ATTRACTORS = ("cat", "key", "girl"), ("dog", "tree", "door", "boy")
PLANTED_TEXT = "The near the xy.\n" + "".join(SUBJECTS + ATTRACTORS) + "sz"


def _planted_model(tokenizer):
    from charlm.model.model import build_model

    v = tokenizer.vocab_size
    model = build_model(v, v, "rnn", 1, 6)
    ids = {c: tokenizer.token_id(c) for c in "szxy"}
    kernel, recurrent, bias = (np.zeros(w.shape, np.float32)
                               for w in model.get_layer("rnn_0").weights)
    kernel[ids["s"], 0], recurrent[0, 0] = 5.0, 3.0  # unit 0: the subject's number
    kernel[ids["z"], 1], recurrent[1, 1] = 5.0, 3.0  # unit 1: an attractor's number
    letters = [i for i in range(v) if i not in (ids["s"], ids["z"])]
    kernel[letters, 2:] = np.random.default_rng(0).normal(0, 0.5, (len(letters), 4))
    recurrent[2:, 2:] = 0.5 * np.eye(4)
    logits, logit_bias = np.zeros((6, v), np.float32), np.zeros(v, np.float32)
    logit_bias[ids["x"]], logit_bias[ids["y"]] = 1.0, -1.0  # singular unless unit 0 says plural
    logits[0, ids["x"]], logits[0, ids["y"]] = -4.0, 4.0
    logits[1, ids["x"]], logits[1, ids["y"]] = -0.5, 0.5
    model.get_layer("embedding").set_weights([np.eye(v, dtype=np.float32)])
    model.get_layer("rnn_0").set_weights([kernel, recurrent, bias])
    model.get_layer("logits").set_weights([logits, logit_bias])
    return model


def _planted_rows():
    """Every subject and attractor in both numbers: 48 pairs, 24 with an attractor of the other
    number; the singular verb is "x.", the plural one "y."."""
    rows = []
    for a in SUBJECTS:
        for b in ATTRACTORS:
            for subject, attractor in itertools.product(("singular", "plural"), repeat=2):
                good, bad = ("x.", "y.") if subject == "singular" else ("y.", "x.")
                rows.append(_row(f"The {a}{'s' * (subject == 'plural')} near the "
                                 f"{b}{'z' * (attractor == 'plural')}", good, bad, n_attr=1,
                                 condition=f"{subject}_subject__{attractor}_attractor"))
    return rows


def test_a_planted_number_unit_is_found_and_its_ablation_breaks_agreement(tmp_path):
    from charlm.data.tokenizers import CharTokenizer

    tokenizer = CharTokenizer(sorted(set(PLANTED_TEXT)))
    model = _planted_model(tokenizer)
    pairs, _ = load_pairs([_write(tmp_path / "p.jsonl", _planted_rows())])
    report = number_units_report(model, tokenizer, pairs, tmp_path / "out", draws=4, seed=0,
                                 progress=False, screen_pairs=8, top_k=2)

    (classifier,) = report["classifier"]
    assert classifier["rank_by_weight"][0] == 0 and classifier["heldout_accuracy"] == 1.0
    assert classifier["top_units"][0]["higher_for"] == "plural"
    (layer,) = report["ablation"]
    assert layer["rank_by_ablation"][0] == 0 and layer["best_unit"]["units"] == [0]
    assert 0 in layer["best_pair"]["units"]
    assert layer["screen"]["margin_drop"][1] < 0  # without the attraction, margins widen
    assert layer["screen"]["drop"][1:] == [0.0] * 5

    # Ablated, every plural subject's verb turns singular and every singular one stays.
    intact, ablated = report["intact"], layer["best_unit"]["breakdown"]
    assert intact["overall"]["accuracy"] == 1.0 and intact["attractor"]["n"] == 16
    for condition, row in ablated["by_condition"].items():
        assert row["accuracy"] == (1.0 if condition.startswith("singular") else 0.0), condition
    other = {n: ablated["by_condition"][f"{n} subject, attractor of the other number"]["n"]
             for n in ("singular", "plural")}  # of the 12 each, those outside the screen
    assert layer["screen"]["drop"][0] == (12 - other["plural"]) / 8
    assert ablated["attractor"]["accuracy"] == other["singular"] / 16
    assert ablated["overall"]["accuracy"] == (12 + other["singular"]) / 40
    excluded = {m["unit"] for m in layer["top_units"]} | set(classifier["rank_by_weight"][:2])
    draws = layer["best_unit"]["random"]["draws"]
    assert not any(set(d["units"]) & excluded for d in draws)
    assert all(d["drop"] == 0.0 for d in draws)  # no other unit moves the verb that far
    best = report["best"]
    assert best["number_units_found"] is True and best["best_unit"]["units"] == [0]
    assert best["sentence"].startswith("yes: ablating unit 0 of rnn_0")
