"""charlm.backend: TensorFlow's threads per op follow the cores and the kernel's chains."""

from charlm import backend


def test_intra_op_threads_share_the_cores_among_the_chains(monkeypatch):
    for cores, threads in ((1, 1), (2, 1), (3, 1), (4, 2), (16, 8)):
        monkeypatch.setattr(backend, "cpu_count", lambda cores=cores: cores)
        assert backend.intra_op_threads() == threads


def test_import_sets_the_threads_unless_the_user_did(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.setattr(backend, "cpu_count", lambda: 6)
    backend.import_quietly()
    assert backend.os.environ["TF_NUM_INTRAOP_THREADS"] == "3"
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "5")
    backend.import_quietly()
    assert backend.os.environ["TF_NUM_INTRAOP_THREADS"] == "5"


def test_cpu_count_is_the_cores_this_process_may_use():
    assert 1 <= backend.cpu_count() <= (backend.os.cpu_count() or 1)
