"""Make a preset from a tuning's ``best.json``: each method's settings rounded to 3
significant digits, with the tuning's command and record kept.

``python -m lava_sast.presets runs/tune-conv/best.json --name conv-nmnist --description
"..."`` writes ``lava_sast/presets/conv-nmnist.json`` (refused when it exists, unless
``--force``).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, Optional, Sequence

from ..atomic import write_text_atomic
from ..config import read_settings
from . import FOLDER, tuning_record


def rounded(value: Any) -> Any:
    """Floats to 3 significant digits; everything else as it is."""
    if isinstance(value, float):
        return float(f"{value:.3g}")
    return value


def preset_from(best: dict[str, Any], description: str) -> dict[str, Any]:
    """The preset of a ``best.json``: its methods' settings rounded, its facts kept."""
    return {"description": description, "command": best.get("command"),
            "objective": best.get("objective"), "dataset": best.get("dataset"),
            "epochs": best.get("epochs"), "seed": best.get("seed"),
            "trials": best.get("trials"), "tuned_on": tuning_record(best),
            "methods": {m: {k: rounded(v) for k, v in s.items()}
                        for m, s in best["methods"].items()}}


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lava_sast.presets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("best", help="a tuning's best.json")
    p.add_argument("--name", required=True, help="preset name (file name without .json)")
    p.add_argument("--description", required=True)
    p.add_argument("--methods", nargs="*", default=None,
                   help="methods to keep (default: all in best.json)")
    p.add_argument("--force", action="store_true", help="overwrite an existing preset")
    a = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", a.name):
        p.error(f"--name {a.name!r}: letters, digits, '-' and '_' only (a file name)")
    path = FOLDER / f"{a.name}.json"
    try:
        read_settings(a.best)  # every method, setting and value checked, the file named
        best = json.loads(open(a.best).read())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if path.exists() and not a.force:
        print(f"error: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    if a.methods is not None:
        best = {**best, "methods": {m: s for m, s in best["methods"].items() if m in a.methods}}
    write_text_atomic(path, json.dumps(preset_from(best, a.description), indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
