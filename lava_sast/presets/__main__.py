"""Make a preset from tunings' ``best.json``: each method's settings rounded to 3
significant digits, with the tunings' commands and record kept.

``python -m lava_sast.presets runs/tune-conv/best.json --name conv-nmnist --description
"..."`` writes ``lava_sast/presets/conv-nmnist.json`` (refused when it exists, unless
``--force``).  Several files merge, the later winning for a method they share (e.g. the
surrogate forward's tuning, then SAST's radius tuned over it); they must have been tuned
on the same samples.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any, Optional, Sequence

from ..atomic import write_text_atomic
from ..config import TrainConfig, read_settings
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
            **({"sources": best["sources"]} if "sources" in best else {}),
            "methods": {m: {k: rounded(v) for k, v in s.items()}
                        for m, s in best["methods"].items()}}


def merged(bests: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """One ``best.json`` from several, the later winning per method; ``ValueError`` when
    they were tuned on different samples."""
    records = {json.dumps(tuning_record(b), sort_keys=True) for b in bests}
    if len(records) > 1:
        raise ValueError(f"{', '.join(names)} were tuned on different samples; a preset "
                         f"merges tunings of one tuning block only")
    out = dict(bests[-1])
    out["methods"] = {m: s for b in bests for m, s in b["methods"].items()}
    if len(bests) > 1:
        out["command"] = "; ".join(str(b.get("command")) for b in bests)
        out["sources"] = [{"command": b.get("command"), "epochs": b.get("epochs"),
                           "trials": b.get("trials"), "methods": sorted(b["methods"])}
                          for b in bests]
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lava_sast.presets", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("best", nargs="+", help="tunings' best.json (merged, the later winning)")
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
        for f in a.best:
            read_settings(f)  # every method, setting and value checked, the file named
        best = merged([json.loads(open(f).read()) for f in a.best], a.best)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if path.exists() and not a.force:
        print(f"error: {path} exists; pass --force to overwrite it", file=sys.stderr)
        return 2
    if a.methods is not None:  # by name or alias (``smooth``): a config names the method
        keep = {TrainConfig(method=m).method for m in a.methods}
        best = {**best, "methods": {m: s for m, s in best["methods"].items()
                                    if TrainConfig(method=m).method in keep}}
    write_text_atomic(path, json.dumps(preset_from(best, a.description), indent=2) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
