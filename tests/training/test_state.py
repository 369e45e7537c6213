"""charlm.training.state: what last/trainer.json holds, and the budgets that stop a run."""

from charlm.config import TrainConfig
from charlm.training.state import Budgets, TrainState


def test_trainer_json_keeps_its_keys_and_reads_back():
    state = TrainState(step=40, elapsed=12.5, best_bpc=2.25, bad_evals=1, chars=5120,
                       lr_scale=0.5, nan_retries=1)
    saved = state.to_saved({"cursor": 7}, {"lr": 0.002})
    assert list(saved) == ["step", "elapsed", "best_bpc", "bad_evals", "chars", "lr_scale",
                           "nan_retries", "data", "config"]
    assert (saved["data"], saved["config"]) == ({"cursor": 7}, {"lr": 0.002})
    assert TrainState.from_saved(saved) == state


def test_a_trainer_json_without_rollback_counters_resumes_at_full_learning_rate():
    old = {"step": 6, "elapsed": 1.0, "best_bpc": None, "bad_evals": 0, "chars": 480,
           "data": {}, "config": {}}
    state = TrainState.from_saved(old)
    assert (state.step, state.chars, state.lr_scale, state.nan_retries) == (6, 480, 1.0, 0)


def test_progress_is_the_furthest_budget_and_the_first_reached_is_named():
    budgets = Budgets(max_steps=100, max_seconds=600.0, max_epochs=2.0)
    state = TrainState(step=25, elapsed=300.0)
    assert budgets.progress(state, epochs_done=0.2) == 0.5  # the clock: 300 of 600 s
    assert budgets.progress(state, epochs_done=1.5) == 0.75  # the epochs: 1.5 of 2
    assert budgets.reached(state, epochs_done=1.5) is None
    assert budgets.reached(TrainState(step=100, elapsed=600.0), 2.0) == "reached --max-steps 100"
    assert budgets.reached(state, 2.0) == "reached --epochs 2"
    assert (budgets.reached(TrainState(step=3, elapsed=601.0), 0.0)
            == "reached the time budget of 10 minutes")
    assert Budgets(None, None, None).progress(state, 1.0) == 0.0


def test_patience_counts_validations_without_improvement():
    budgets = Budgets.of(TrainConfig(corpus="x", max_steps=50, patience=2))
    assert (budgets.max_steps, budgets.max_seconds, budgets.max_epochs) == (50, None, None)
    assert budgets.out_of_patience(TrainState(bad_evals=1)) is None
    assert (budgets.out_of_patience(TrainState(bad_evals=2))
            == "early stopping: no improvement in 2 validations")
    assert Budgets(50, None, None).out_of_patience(TrainState(bad_evals=99)) is None  # patience 0
