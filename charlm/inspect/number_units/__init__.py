"""Number units: which recurrent units carry the subject's number to the verb (Lakretz et al.
2019), as `charlm inspect number-units` finds them.

    search.py       the three steps (diagnostic classifier, ablation screen, report); the method
                    in full is its docstring
    states.py       the state each layer holds right before the verb
    diagnostic.py   the diagnostic classifier (L2 logistic regression in NumPy)
    stats.py        each pair's subject number and attractors, accuracies, the verdict
    report.py       number_units.md and number_units.png from the JSON dict
"""

from charlm.inspect.number_units.search import (SCREEN_PAIRS, TOP_K,  # noqa: F401 (re-exported)
                                                number_units_report)
from charlm.inspect.number_units.states import verb_states  # noqa: F401 (re-exported)
