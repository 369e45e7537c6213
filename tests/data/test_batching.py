"""charlm.data.batching: the tail split and the stream / random-window batchers."""

import numpy as np
import pytest

from charlm.data.batching import RandomWindowBatcher, StreamBatcher, split_tail
from charlm.errors import UserError


def test_split_tail_is_contiguous_tail():
    ids = np.arange(1000)
    train, val = split_tail(ids, 0.1)
    assert len(val) == 100 and val[0] == 900 and train[-1] == 899


@pytest.mark.parametrize("cls", [StreamBatcher, RandomWindowBatcher])
def test_targets_are_inputs_shifted_by_one(cls):
    ids = np.arange(5000) % 251
    batcher = cls(ids, batch_size=4, seq_len=16, seed=0)
    for _ in range(5):
        x, y, _ = batcher.next_batch()
        assert x.shape == y.shape == (4, 16)
        assert np.array_equal(x[:, 1:], y[:, :-1])
        assert np.array_equal((x[:, -1] + 1) % 251, y[:, -1])


def test_stream_windows_continue_each_row():
    ids = np.arange(10_000)
    batcher = StreamBatcher(ids, batch_size=4, seq_len=10)
    x1, _, reset1 = batcher.next_batch()
    x2, _, reset2 = batcher.next_batch()
    assert reset1.all() and not reset2.any()
    assert np.array_equal(x2[:, 0], x1[:, -1] + 1)  # row b of batch 2 continues row b of batch 1


def test_stream_rows_restart_staggered():
    batcher = StreamBatcher(np.arange(100_000), batch_size=4, seq_len=10, reset_every=3)
    resets = np.array([batcher.next_batch()[2] for _ in range(6)])  # [steps, rows]
    assert resets[0].all()
    expected = [[(p + b) % 3 == 0 for b in range(4)] for p in range(1, 6)]
    assert resets[1:].tolist() == expected  # each row every 3 windows, staggered
    # the same over a longer run, without the formula: every row restarts every 3rd window, and
    # at every window after the first some rows restart but never all at once
    later = np.array([batcher.next_batch()[2] for _ in range(30)])  # windows 7..36
    for b in range(4):
        gaps = np.diff(np.nonzero(later[:, b])[0])
        assert len(gaps) >= 8 and set(gaps.tolist()) == {3}, (b, later[:, b])
    assert (later.sum(axis=1) >= 1).all() and not later.all(axis=1).any()
    assert (resets[1:].sum(axis=1) >= 1).all() and not resets[1:].all(axis=1).any()


def test_stream_epoch_wraps_and_state_dict_resumes():
    ids = np.arange(1000)
    a = StreamBatcher(ids, batch_size=4, seq_len=10)
    for _ in range(a.steps_per_epoch + 3):
        a.next_batch()
    assert a.epoch == 1
    b = StreamBatcher(ids, batch_size=4, seq_len=10)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.next_batch()[0], b.next_batch()[0])


def test_random_windows_resume_from_rng_state():
    ids = np.arange(1000)
    a = RandomWindowBatcher(ids, 4, 10, seed=3)
    a.next_batch()
    b = RandomWindowBatcher(ids, 4, 10, seed=99)
    b.load_state_dict(a.state_dict())
    assert np.array_equal(a.next_batch()[0], b.next_batch()[0])


def test_too_short_corpus_is_a_user_error():
    with pytest.raises(UserError, match="too short"):
        StreamBatcher(np.arange(50), batch_size=8, seq_len=10)
    with pytest.raises(UserError, match="fewer than one sequence"):
        RandomWindowBatcher(np.arange(5), batch_size=8, seq_len=10)
