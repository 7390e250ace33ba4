"""The published tables are regenerated from committed per-sample predictions: every block
of ``docs/results.md`` and ``README.md`` marked ``<!-- crossval PREDICTIONS.npz -->`` (the
full comparison) or ``<!-- summary PREDICTIONS.npz BAR -->`` (the README's compact table)
must equal what :mod:`lava_sast.crossval` computes from that file today."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lava_sast.crossval import compare, load_predictions, summary_table, to_markdown

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- (crossval|summary) (\S+)(?: ([^\n]+?))? -->\n(.*?)<!-- /\1 -->", re.S)


def _blocks():
    found = []
    for doc in ("docs/results.md", "README.md"):
        for m in BLOCK.finditer((ROOT / doc).read_text()):
            found.append(pytest.param(doc, *m.groups(), id=f"{doc}:{m.group(2)}"))
    return found


def test_the_documents_carry_regenerated_tables():
    found = {(doc, predictions) for doc, _, predictions, *_ in (p.values for p in _blocks())}
    assert found == {(doc, f"docs/results/{study}/predictions.npz")
                     for doc in ("docs/results.md", "README.md")
                     for study in ("cv-conv", "cv-nmnist-rerun")}


@pytest.mark.parametrize("doc,kind,predictions,bar,text", _blocks())
def test_a_published_table_equals_its_predictions(doc, kind, predictions, bar, text):
    cv = compare(load_predictions(ROOT / predictions))
    want = to_markdown(cv) if kind == "crossval" else summary_table(cv, bar)
    assert text.strip() == want.strip(), f"{doc}: regenerate with python -m " \
        f"lava_sast.crossval --predictions {predictions}" + (f" --bar '{bar}'" if bar else "")
