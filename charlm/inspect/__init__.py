"""Looking inside the network: every gate, cell and hidden value per character (trace), the
page that shows them (view), gate saturation, and the units that carry the subject's number."""

from charlm.backend import import_quietly

import_quietly()
