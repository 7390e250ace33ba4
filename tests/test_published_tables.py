"""The published tables are regenerated from committed per-sample predictions: every block
of ``docs/results.md`` and ``README.md`` marked ``<!-- crossval PREDICTIONS.npz -->`` (the
full comparison), ``<!-- summary PREDICTIONS.npz BAR -->`` (the README's compact table) or
``<!-- signs PREDICTIONS.npz REPLICATE.npz -->`` (every significant difference against a
replicate with unused seeds and fold shuffle) must equal what :mod:`lava_sast.crossval`
computes from those files today; ``<!-- landscape DIR -->`` what
``benchmarks/transfer_gap_landscape.py --predictions DIR`` prints."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lava_sast import landscape
from lava_sast.crossval import (compare, load_predictions, sign_check, sign_table,
                                summary_table, to_markdown)

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- (crossval|summary|signs|landscape) (\S+)(?: ([^\n]+?))? -->\n(.*?)<!-- /\1 -->", re.S)


def _blocks():
    found = []
    for doc in ("docs/results.md", "README.md"):
        for m in BLOCK.finditer((ROOT / doc).read_text()):
            found.append(pytest.param(doc, *m.groups(), id=f"{doc}:{m.group(2)}"))
    return found


def test_the_documents_carry_regenerated_tables():
    found = {(doc, kind, predictions) for doc, kind, predictions, *_ in
             (p.values for p in _blocks())}
    committed = {str(p.relative_to(ROOT)) for p in ROOT.glob("docs/results/*/predictions.npz")}
    assert committed <= {pred for doc, kind, pred in found if doc == "docs/results.md" and
                         kind == "crossval"}  # every committed study has its full table
    assert {pred for doc, kind, pred in found if doc == "README.md"} == {
        "docs/results/cv-conv5/predictions.npz", "docs/results/cv-dense/predictions.npz"}
    assert ("docs/results.md", "signs", "docs/results/cv-dense/predictions.npz") in found
    assert ("docs/results.md", "signs", "docs/results/cv-conv5/predictions.npz") in found
    assert ("docs/results.md", "landscape", "docs/results/landscape") in found


@pytest.mark.parametrize("doc,kind,predictions,bar,text", _blocks())
def test_a_published_table_equals_its_predictions(doc, kind, predictions, bar, text):
    if kind == "landscape":
        table = landscape.tabulate(ROOT / predictions)
        want = landscape.markdown(table, landscape.regimes(table, near=3.0, gap=15.0))
        assert text.strip() == want.strip(), f"{doc}: regenerate with python " \
            f"benchmarks/transfer_gap_landscape.py --predictions {predictions}"
        return
    cv = compare(load_predictions(ROOT / predictions))
    if kind == "signs":
        want = sign_table(sign_check(cv, compare(load_predictions(ROOT / bar))))
        how = f" --replicate {bar}"
    else:
        want = to_markdown(cv) if kind == "crossval" else summary_table(cv, bar)
        how = f" --bar '{bar}'" if bar else ""
    assert text.strip() == want.strip(), f"{doc}: regenerate with python -m " \
        f"lava_sast.crossval --predictions {predictions}{how}"
