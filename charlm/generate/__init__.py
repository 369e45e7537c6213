"""Generation: samplers (how a token is chosen) → decoding (the compiled on-device loop) →
generator (prompt in, text out), plus the SavedModel export and the novelty check."""

from charlm.backend import import_quietly

import_quietly()
