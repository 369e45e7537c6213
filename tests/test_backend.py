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


def test_cpu_count_is_the_cores_this_process_may_use(monkeypatch):
    # pinned to cores 0 and 3 of 16 (taskset, a container's cpuset): 2, not the machine's 16
    monkeypatch.setattr(backend.os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    monkeypatch.setattr(backend.os, "cpu_count", lambda: 16)
    assert backend.cpu_count() == 2
    # no affinity call (macOS, Windows): every core the OS reports, at least one
    monkeypatch.delattr(backend.os, "sched_getaffinity", raising=False)
    assert backend.cpu_count() == 16
    monkeypatch.setattr(backend.os, "cpu_count", lambda: None)
    assert backend.cpu_count() == 1
