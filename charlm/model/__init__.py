"""Stage 2: the Keras model (embedding → recurrent layers → logits), its cells, the CPU LSTM
kernel and the one-token step."""

from charlm.backend import import_quietly

import_quietly()
