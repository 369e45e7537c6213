import json

from charlm.cli import main
from charlm.evaluate import evaluate_text
from charlm.api import load
from conftest import TINY_TEXT


def test_memorised_text_gets_low_bpc(trained_checkpoint):
    lm = load(trained_checkpoint)
    result = evaluate_text(lm.model, lm.tokenizer, TINY_TEXT[:3000])
    assert result["chars"] == 3000 and result["unknown_chars"] == 0
    assert result["bpc"] < 0.6, result  # 4 sentence shapes repeated: nearly deterministic


def test_unrelated_text_gets_high_bpc(trained_checkpoint):
    lm = load(trained_checkpoint)
    result = evaluate_text(lm.model, lm.tokenizer, "stop dogs sing near the cat keys. " * 20)
    assert result["bpc"] > 1.0


def test_streams_split_gives_nearly_the_same_bpc(trained_checkpoint):
    lm = load(trained_checkpoint)
    one = evaluate_text(lm.model, lm.tokenizer, TINY_TEXT)
    four = evaluate_text(lm.model, lm.tokenizer, TINY_TEXT, streams=4)
    assert abs(one["bpc"] - four["bpc"]) < 0.05 and four["streams"] == 4


def test_cli_eval_json(trained_checkpoint, tmp_path, capsys):
    text = tmp_path / "t.txt"
    text.write_text(TINY_TEXT[:2000] + "§", encoding="utf-8")  # one unseen character
    assert main(["eval", "--checkpoint", str(trained_checkpoint), "--text", str(text),
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= {"bpc", "nats_per_char", "chars"}
    assert result["chars"] == 2001 and result["unknown_chars"] == 1
    assert abs(result["bpc"] * 0.6931471805599453 - result["nats_per_char"]) < 1e-9
