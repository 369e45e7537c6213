"""charlm.data.tokenizers: characters and sentencepiece pieces, round trips, the unknown-character
policy, save/load."""

import pytest

from charlm.data.corpus import Corpus
from charlm.data.tokenizers import (CharTokenizer, SentencePieceTokenizer, load_tokenizer,
                                    unknown_in_corpus)
from charlm.errors import UserError

TEXT = "Grüße, Zoë! 漢字 and emoji 🙂\nnaïve café — “quotes”\n\tend"


def test_char_round_trip_non_ascii():
    tok = CharTokenizer.fit([TEXT])
    ids = tok.encode(TEXT)
    assert tok.decode(ids) == TEXT
    assert ids.min() >= 1  # 0 is reserved for <unk>
    assert tok.vocab_size == len(set(TEXT)) + 1


def test_char_vocab_keeps_case():
    tok = CharTokenizer.fit(["aA"])
    assert tok.encode("a")[0] != tok.encode("A")[0]


def test_unseen_characters_error_by_default_and_replace_on_request():
    tok = CharTokenizer.fit(["abc \n"])
    with pytest.raises(UserError, match=r"2 character\(s\) not in the model's vocabulary.*'x'.*'é'"):
        tok.encode("abx é")
    ids = tok.encode("abx é", unknown="replace")
    assert ids.tolist()[2] == 0 and ids.tolist()[4] == 0
    assert tok.count_unknown("abx é") == 2
    assert tok.decode(ids) == "ab\ufffd \ufffd"


def test_unknown_characters_of_a_corpus_are_found_chunk_by_chunk(tmp_path, monkeypatch):
    """A --val-corpus is checked against the vocabulary without reading it whole."""
    (tmp_path / "val.txt").write_text("abc 🙂\n" * 50 + "xé\n" + "abc\n" * 50, encoding="utf-8")
    corpus = Corpus("val", [tmp_path / "val.txt"])
    read = Corpus.iter_chunks
    monkeypatch.setattr(Corpus, "iter_chunks", lambda self: read(self, chunk_bytes=64))
    assert unknown_in_corpus(CharTokenizer.fit(["abc \n"]), corpus) == ["x", "é", "🙂"]
    assert unknown_in_corpus(CharTokenizer.fit([TEXT + "abcx🙂"]), corpus) == []


@pytest.mark.parametrize("kind", ["bpe", "unigram"])
def test_sentencepiece_round_trip_and_save_load(kind, tmp_path):
    corpus = (TEXT + "\nThe quick brown fox jumps over the lazy dog.\n") * 50
    tok = SentencePieceTokenizer.fit([corpus], kind, vocab_size=400)
    odd = "Ωmega  double  spaces\n\nnew lines ✓"  # unseen characters: byte fallback
    assert tok.decode(tok.encode(odd)) == odd
    assert tok.decode(tok.encode(TEXT)) == TEXT
    assert len(tok.encode("The quick brown fox")) < len("The quick brown fox")
    tok.save(tmp_path)
    again = load_tokenizer(tmp_path)
    assert again.encode(TEXT).tolist() == tok.encode(TEXT).tolist()


def test_sentencepiece_too_small_vocab_is_a_user_error():
    with pytest.raises(UserError, match="raise --vocab-size"):
        SentencePieceTokenizer.fit([TEXT * 10], "bpe", vocab_size=100)


def test_char_save_load(tmp_path):
    tok = CharTokenizer.fit([TEXT])
    tok.save(tmp_path)
    assert load_tokenizer(tmp_path).encode(TEXT).tolist() == tok.encode(TEXT).tolist()
