"""charlm.data.corpus: corpus resolution, chunked reading, and the named-corpus download path
(against a local HTTP server)."""

import functools
import gzip
import http.server
import shutil
import threading

import pytest

from charlm.data.corpus import REGISTRY, Corpus, resolve_corpus
from charlm.errors import UserError
from tests.helpers import SHARED


@pytest.fixture
def serve(tmp_path):
    """Serve a folder on 127.0.0.1; yields a function folder → base URL."""
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.mark.skipif(not (SHARED / "corpora" / "tinyshakespeare.txt").is_file(),
                    reason="needs ../shared/corpora")
def test_named_corpus_downloads_once_and_verifies(serve, tmp_path, monkeypatch):
    monkeypatch.setenv("CHARLM_CORPUS_MIRROR", serve(SHARED / "corpora"))
    monkeypatch.setenv("CHARLM_DOWNLOAD_DIR", str(tmp_path / "dl"))
    corpus = resolve_corpus("tinyshakespeare")
    assert corpus.paths == [tmp_path / "dl" / "tinyshakespeare.txt"]
    assert corpus.sha256() == REGISTRY["tinyshakespeare"].sha256
    assert corpus.read_text().startswith("First Citizen:")
    monkeypatch.setenv("CHARLM_CORPUS_MIRROR", "http://127.0.0.1:9/")  # now unreachable
    assert resolve_corpus("tinyshakespeare").paths == corpus.paths  # cached: no download


def test_checksum_mismatch_discards_the_file(serve, tmp_path, monkeypatch):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "tinyshakespeare.txt").write_text("not the real thing\n")
    monkeypatch.setenv("CHARLM_CORPUS_MIRROR", serve(tmp_path / "www"))
    monkeypatch.setenv("CHARLM_DOWNLOAD_DIR", str(tmp_path / "dl"))
    with pytest.raises(UserError, match="has sha256 .* expected"):
        resolve_corpus("tinyshakespeare")
    assert not list((tmp_path / "dl").iterdir())


def test_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CHARLM_CORPUS_MIRROR", "http://127.0.0.1:9/")
    monkeypatch.setenv("CHARLM_DOWNLOAD_DIR", str(tmp_path / "dl"))
    with pytest.raises(UserError, match="could not download .*pass a local copy instead: --corpus"):
        resolve_corpus("warpeace")


def test_gz_and_directory_corpora(tmp_path):
    with gzip.open(tmp_path / "a.txt.gz", "wt", encoding="utf-8") as f:
        f.write("alpha\n")
    (tmp_path / "b.txt").write_text("beta\n")
    assert resolve_corpus(str(tmp_path / "a.txt.gz")).read_text() == "alpha\n"
    assert resolve_corpus(str(tmp_path)).read_text() == "alpha\nbeta\n"
    copy = tmp_path.parent / "copy"
    shutil.copytree(tmp_path, copy)
    assert resolve_corpus(str(copy)).sha256() == resolve_corpus(str(tmp_path)).sha256()


def test_corpus_chunks_split_multibyte_characters_correctly(tmp_path):
    path = tmp_path / "u.txt"
    path.write_text("é" * 1000, encoding="utf-8")
    chunks = list(Corpus("u", [path]).iter_chunks(chunk_bytes=333))  # odd size splits a char
    assert "".join(chunks) == "é" * 1000
