"""Training: the run config, the compiled train step, and the loop that writes checkpoints."""

from charlm.backend import import_quietly

import_quietly()
