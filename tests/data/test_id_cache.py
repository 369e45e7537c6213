"""charlm.data.id_cache: the token ids of a whole corpus, encoded chunk by chunk and cached."""

import gzip

import numpy as np
import pytest

from charlm.data.corpus import Corpus
from charlm.data.id_cache import encode_corpus
from charlm.data.tokenizers import CharTokenizer, SentencePieceTokenizer

TEXT = "Grüße, Zoë! 漢字 and emoji 🙂\nnaïve café — “quotes”\n\tend"


def test_encode_corpus_is_cached_memmap_equal_to_encode(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(TEXT * 100, encoding="utf-8")
    corpus = Corpus("c", [path])
    tok = CharTokenizer.fit(corpus.iter_chunks())
    first = encode_corpus(tok, corpus)
    assert isinstance(first, np.memmap)
    assert np.array_equal(first, tok.encode(TEXT * 100))
    again = encode_corpus(tok, corpus)
    assert again.filename == first.filename  # served from the cache file


@pytest.mark.parametrize("kind", ["char", "bpe", "unigram"])
def test_a_corpus_read_in_small_chunks_gets_the_ids_of_the_whole_text(kind, tmp_path,
                                                                        monkeypatch):
    """Subword pieces may span any two characters of a line, so encode_corpus cuts the streamed
    chunks at line ends: the ids must be exactly those of encoding the whole text at once, with
    many chunk edges mid-line, mid-character and (two files, the first without a final line
    break, the second gzipped as the Gutenberg split is) across files."""
    lines = [f"The {a} near the {b}s {v}, naïve café — “{i}” 🙂"
             for i, (a, b, v) in enumerate([("cat", "dog", "sleeps"), ("key", "door", "fits"),
                                            ("girl", "boy", "sings")] * 40)]
    text = "\n".join(line * (1 + i % 4) for i, line in enumerate(lines)) + "\nno final newline"
    cut = text.index("\n", len(text) // 2) - 7  # the first file stops mid-line
    (tmp_path / "a.txt").write_text(text[:cut], encoding="utf-8")
    with gzip.open(tmp_path / "b.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text[cut:])
    corpus = Corpus("c", [tmp_path / "a.txt", tmp_path / "b.txt.gz"])
    assert corpus.read_text() == text
    if kind == "char":
        tok = CharTokenizer.fit([text])
    else:
        tok = SentencePieceTokenizer.fit([text], kind, vocab_size=400)
    whole = tok.encode(text)

    chunk_bytes = 97
    chunks = list(corpus.iter_chunks(chunk_bytes))
    assert len(chunks) > 100 and sum(not c.endswith("\n") for c in chunks) > 100
    raw = text[:cut].encode("utf-8")  # some edge cuts a multi-byte character in two
    assert any(raw[edge] & 0xC0 == 0x80 for edge in range(chunk_bytes, len(raw), chunk_bytes))
    if kind != "char":  # the test means something: encoding the chunks one by one differs
        assert not np.array_equal(np.concatenate([tok.encode(c) for c in chunks]), whole)

    read = Corpus.iter_chunks
    monkeypatch.setattr(Corpus, "iter_chunks",
                        lambda self, chunk_bytes=chunk_bytes: read(self, chunk_bytes))
    monkeypatch.setenv("CHARLM_CACHE_DIR", str(tmp_path / "cache"))
    ids = encode_corpus(tok, corpus)
    assert len(list((tmp_path / "cache").iterdir())) == 1  # encoded here, not an older cache
    np.testing.assert_array_equal(ids, whole)
