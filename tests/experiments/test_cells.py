"""charlm.experiments.cells: equal parameter budgets across cells, per-cell learning rates."""

import pytest

from charlm.errors import UserError
from charlm.experiments.cells import count_params, parse_learning_rates, units_for


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
