"""Published results, regenerated from committed per-sample predictions.

A document (``README.md``, ``docs/results.md``) holds its result tables and result
sentences only inside marked blocks; each block is what this module computes today from
the committed files it names:

- ``<!-- crossval PREDICTIONS.npz -->``: the full comparison (:func:`crossval.to_markdown`);
- ``<!-- summary PREDICTIONS.npz BAR -->``: the README's compact table against row BAR;
- ``<!-- signs PREDICTIONS.npz REPLICATE.npz -->``: every significant difference against
  a replicate with unused seeds and fold partitions;
- ``<!-- landscape DIR -->``: the transfer-gap landscape (:mod:`.landscape`);
- ``<!-- verdict PREDICTIONS.npz BAR -->``: one sentence per row: its INT8 difference
  from BAR with interval, p and verdict (the README's conclusions in words);
  ``<!-- verdict PREDICTIONS.npz A vs B; C vs D -->``: those pairs only.

``python -m lava_sast.published README.md docs/results.md`` rewrites every block in place
(atomically); ``--check`` only says which blocks differ (exit 1).  ``tests/
test_published_tables.py`` requires every block to equal its regeneration.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..atomic import write_text_atomic
from . import landscape
from .crossval import (PRIMARY, compare, load_predictions, oriented, sign_check, sign_table,
                       summary_table, to_markdown)

KINDS = ("crossval", "summary", "signs", "landscape", "verdict")
BLOCK = re.compile(r"<!-- (" + "|".join(KINDS) + r") (\S+)(?: ([^\n]+?))? -->\n(.*?)"
                   r"<!-- /\1 -->", re.S)


def verdict_text(cv: dict, bar: str) -> str:
    """Each row against ``bar`` in words: INT8 difference, its interval, p and Holm's
    verdict (the README's result sentences).  ``bar`` may instead list pairs, ``A vs B;
    C vs D``: those rows only (Holm's p stays over every pair of the file's rows)."""
    explicit = " vs " in bar
    if explicit:
        pairs = [tuple(p.strip() for p in pair.split(" vs ")) for pair in bar.split(";")
                 if pair.strip()]
        bad = [p for p in pairs if len(p) != 2 or not all(p)]
        if bad:
            raise ValueError(f"verdict: {' vs '.join(bad[0])!r} is not one pair 'A vs B'")
    else:
        pairs = [(name, bar) for name in cv["methods"] if name != bar]
    lines = []
    for name, bar in pairs:
        for row in (name, bar):
            if row not in cv["methods"]:
                raise ValueError(f"verdict: no row {row!r} (rows: {list(cv['methods'])})")
        c = oriented(cv, name, bar).get(PRIMARY)
        if c is None:
            if explicit:
                raise ValueError(f"verdict: no INT8 comparison of {name!r} with {bar!r}")
            continue
        lo, hi = c["ci95"]
        where = {"better": "better than", "worse": "worse than", "level": "level with",
                 "unresolved": "not resolved against"}[c["verdict"]]
        lines.append(f"- `{name}` is **{where}** `{bar}` on INT8: {c['diff']:+.1f} points "
                     f"[{lo:+.1f}, {hi:+.1f}], p = {c['p']:.2g}, Holm p = {c['p_holm']:.2g}.")
    return "\n".join(lines) + "\n"


def render(kind: str, source: str, extra: Optional[str], root: Path) -> str:
    """The text of one block of ``kind`` from ``source`` (a path relative to ``root``)."""
    if kind == "landscape":
        table = landscape.tabulate(root / source)
        return landscape.markdown(table, landscape.regimes(table, near=3.0, gap=15.0))
    cv = compare(load_predictions(root / source))
    if kind == "crossval":
        return to_markdown(cv)
    if extra is None:
        raise ValueError(f"<!-- {kind} {source} --> needs a third field")
    if kind == "signs":
        return sign_table(sign_check(cv, compare(load_predictions(root / extra))))
    if extra not in cv["methods"] and not (kind == "verdict" and " vs " in extra):
        raise ValueError(f"<!-- {kind} {source} {extra} -->: no row {extra!r} (rows: "
                         f"{list(cv['methods'])})")
    return summary_table(cv, extra) if kind == "summary" else verdict_text(cv, extra)


def regenerate(text: str, root: Path) -> str:
    """``text`` with every marked block replaced by its regeneration."""
    def sub(m: re.Match) -> str:
        kind, source, extra = m.group(1), m.group(2), m.group(3)
        head = f"<!-- {kind} {source}" + (f" {extra}" if extra else "") + " -->\n"
        body = render(kind, source, extra, root).strip() + "\n"
        return f"{head}{body}<!-- /{kind} -->"
    return BLOCK.sub(sub, text)


def blocks(text: str) -> list[tuple[str, str, Optional[str], str]]:
    """``(kind, source, extra, body)`` of every marked block in ``text``."""
    return [(m.group(1), m.group(2), m.group(3), m.group(4)) for m in BLOCK.finditer(text)]


def outside_blocks(text: str) -> str:
    """``text`` without its marked blocks (what no regeneration checks)."""
    return BLOCK.sub("", text)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lava_sast.published", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("documents", nargs="+", help="Markdown files with marked blocks")
    p.add_argument("--root", default=".", help="where the blocks' paths start (default .)")
    p.add_argument("--check", action="store_true", help="only report stale documents")
    a = p.parse_args(argv)
    stale = []
    for doc in a.documents:
        path = Path(doc)
        try:
            text = path.read_text()
            new = regenerate(text, Path(a.root))
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: {doc}: {exc}", file=sys.stderr)
            return 2
        if new != text:
            stale.append(doc)
            if not a.check:
                write_text_atomic(path, new)
    verb = "stale" if a.check else "regenerated"
    print(f"{verb}: {', '.join(stale)}" if stale else "every block is current")
    return 1 if a.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
