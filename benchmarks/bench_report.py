"""How every benchmark prints its result: one JSON object (for scripts) or aligned lines."""

import json


def print_result(result: dict, as_json: bool) -> None:
    """One JSON object (for scripts), or aligned `key: value` lines (for people)."""
    if as_json:
        print(json.dumps(result))
        return
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:>{width}}: {value:,.1f}" if isinstance(value, float)
              else f"{key:>{width}}: {value}")
