"""Every fact about each recurrent cell type, in one table: the one place to add a cell.

Keras-free (it imports nothing), so the config, the model, the inspector and the experiments all
read it without pulling each other in. What each consumer derives from it:

    charlm.config           CELLS, the values `--cell` accepts
    charlm.model.model      how many states a layer returns (state_count)
    charlm.inspect          which quantities a cell exposes, whether it has a cell state c
    charlm.experiments      parameter counts (gate blocks, biases, extra vectors), learning rates

Adding a cell: a row here, its Keras cell in charlm/model/cells.py (CELL_CLASSES) and its NumPy
equations in charlm/inspect/equations.py (EQUATIONS); tests/test_cell_types.py checks that the
three agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

LSTM_QUANTITIES = ("input_gate", "forget_gate", "candidate", "output_gate", "cell", "hidden")
GRU_QUANTITIES = ("update_gate", "reset_gate", "candidate", "hidden")
RNN_QUANTITIES = ("hidden",)


@dataclass(frozen=True)
class CellType:
    name: str
    summary: str  # one line for help texts and docs
    state_count: int  # states a layer carries: 2 for (h, c), 1 for h
    gate_blocks: int  # blocks of H columns in the kernel and the recurrent kernel
    bias_vectors: int  # bias vectors of 4H/3H/H per layer (GRU's reset-after form has 2)
    extra_vectors: int  # further [H] vectors per layer (peephole's p_i, p_f, p_o)
    quantities: tuple[str, ...]  # what `charlm inspect` exposes per step, in display order
    # The learning rate the cells experiment uses unless --lr names one; None: train's default
    # (TrainConfig.lr, tuned for the LSTM). `charlm train --cell X` always uses TrainConfig.lr.
    experiment_lr: Optional[float] = None

    @property
    def lstm_like(self) -> bool:
        """Has a cell state c beside h (the state the number-unit classifier reads)."""
        return "cell" in self.quantities

    def params_per_layer(self, input_dim: int, units: int) -> int:
        """Weights of one layer reading `input_dim` features with `units` units."""
        per_block = input_dim * units + units * units + self.bias_vectors * units
        return self.gate_blocks * per_block + self.extra_vectors * units


# A simple RNN at 1.2e-2 reached 1.35 bpc on the agreement corpus after 750 steps, at 3e-3 1.08
# (1e-3: 1.70). A GRU at 1.2e-2 diverged after 1,100 of 3,762 steps (9 bpc); at 6e-3 it trained
# smoothly to 0.85. peephole and cifg keep train's 1.2e-2: 300 steps on the agreement corpus
# reached val 1.10 and 1.02 bpc (lstm 1.04), and with the lr held at 1.2e-2 (no decay) 1.04 and
# 1.02, no divergence.
CELL_TYPES = {cell.name: cell for cell in (
    CellType("lstm", "long short-term memory (Keras LSTM; charlm's fused CPU kernel)",
             state_count=2, gate_blocks=4, bias_vectors=1, extra_vectors=0,
             quantities=LSTM_QUANTITIES),
    CellType("gru", "gated recurrent unit (Keras GRU, reset after the matmul)",
             state_count=1, gate_blocks=3, bias_vectors=2, extra_vectors=0,
             quantities=GRU_QUANTITIES, experiment_lr=6e-3),
    CellType("rnn", "simple tanh RNN (Keras SimpleRNN)",
             state_count=1, gate_blocks=1, bias_vectors=1, extra_vectors=0,
             quantities=RNN_QUANTITIES, experiment_lr=3e-3),
    CellType("peephole", "LSTM whose gates also see the cell state (Gers & Schmidhuber 2000)",
             state_count=2, gate_blocks=4, bias_vectors=1, extra_vectors=3,
             quantities=LSTM_QUANTITIES),
    CellType("cifg", "LSTM with coupled input and forget gates, f = 1 - i",
             state_count=2, gate_blocks=3, bias_vectors=1, extra_vectors=0,
             quantities=LSTM_QUANTITIES),
)}

CELLS = tuple(CELL_TYPES)  # the names, in the order help texts list them
LSTM_LIKE = tuple(name for name, cell in CELL_TYPES.items() if cell.lstm_like)
