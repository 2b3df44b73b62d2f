"""What every benchmark does last: write its result as JSON and say where."""

import json
from pathlib import Path


def write_result(result, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  written to {path}")
