"""The published tables are regenerated from committed per-sample predictions: every block
of ``docs/results.md`` and ``README.md`` marked ``<!-- crossval PREDICTIONS.npz -->`` (the
full comparison), ``<!-- summary PREDICTIONS.npz BAR -->`` (the README's compact table) or
``<!-- signs PREDICTIONS.npz REPLICATE.npz -->`` (every significant difference against a
replicate with unused seeds and fold shuffle), ``<!-- verdict PREDICTIONS.npz BAR -->``
(the conclusions in words) and ``<!-- landscape DIR -->`` must equal what
:mod:`lava_sast.experiments.published` computes from those files today."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from lava_sast.experiments import published
from lava_sast.experiments.crossval import load_predictions

ROOT = Path(__file__).resolve().parents[1]
BLOCK = published.BLOCK
#: The documents whose result blocks are regenerated (the archive keeps superseded ones).
DOCS = ("docs/results.md", "docs/archive/results-superseded.md", "README.md")


def _blocks():
    found = []
    for doc in DOCS:
        for m in BLOCK.finditer((ROOT / doc).read_text()):
            found.append(pytest.param(doc, *m.groups(), id=f"{doc}:{m.group(2)}"))
    return found


def test_the_documents_carry_regenerated_tables():
    found = {(doc, kind, predictions) for doc, kind, predictions, *_ in
             (p.values for p in _blocks())}
    committed = {str(p.relative_to(ROOT)) for p in ROOT.glob("docs/results/*/predictions.npz")}
    assert committed <= {pred for doc, kind, pred in found if doc != "README.md" and
                         kind == "crossval"}  # every committed study has its full table
    assert {pred for doc, kind, pred in found if doc == "README.md"} == {
        "docs/results/cv-conv6/predictions.npz", "docs/results/cv-dense2/predictions.npz"}
    assert ("docs/results.md", "signs", "docs/results/cv-dense/predictions.npz") in found
    assert ("docs/results.md", "signs", "docs/results/cv-conv5/predictions.npz") in found
    assert ("docs/results.md", "landscape", "docs/results/landscape") in found
    assert ("docs/results.md", "verdict", "docs/results/gap-pairs/old-preset.npz") in found


@pytest.mark.parametrize("doc,kind,predictions,bar,text", _blocks())
def test_a_published_table_equals_its_predictions(doc, kind, predictions, bar, text):
    want = published.render(kind, predictions, bar, ROOT)
    assert text.strip() == want.strip(), f"{doc}: regenerate with python -m " \
        f"lava_sast.published {doc}"


def test_regeneration_rewrites_a_stale_block_and_only_it(tmp_path):
    block = "<!-- crossval docs/results/cv-dense/predictions.npz -->\nstale\n<!-- /crossval -->"
    doc = tmp_path / "doc.md"
    doc.write_text(f"# Title\n\nprose 1.5\n\n{block}\n")
    assert published.main([str(doc), "--root", str(ROOT), "--check"]) == 1
    assert published.main([str(doc), "--root", str(ROOT)]) == 0
    text = doc.read_text()
    assert text.startswith("# Title\n\nprose 1.5\n\n") and "stale" not in text
    assert published.main([str(doc), "--root", str(ROOT), "--check"]) == 0


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    nxt = text.find("\n## ", start + len(heading))
    return text[start:nxt if nxt >= 0 else len(text)]


@pytest.mark.parametrize("doc,heading", [("README.md", "## Results"),
                                         ("docs/results.md", "## Current conclusions")])
def test_every_result_number_in_the_readme_and_the_conclusions_is_regenerated(doc, heading):
    """The README's results and docs/results.md's conclusions hold numbers only inside
    regenerated blocks (and commands, file names, section references): editing any result
    number makes the block test above fail."""
    text = (ROOT / doc).read_text()
    results = published.outside_blocks(_section(text, heading))
    results = re.sub(r"§\d+(\.\d+)?|\bINT[48]\b", "", results)  # references, mode names
    prose = re.sub(r"```.*?```", "", results, flags=re.S)  # commands may hold numbers
    prose = re.sub(r"`[^`]*`", "", prose)  # so may inline code (file names, options)
    prose = re.sub(r"\[[^\]]*\]\([^)]*\)", "", prose)  # and links
    assert not re.findall(r"\d", prose), "a number outside a regenerated block: " + \
        repr(re.findall(r"[^\n]*\d[^\n]*", prose)[:3])


def _float3(value):
    return float(f"{value:.3g}") if isinstance(value, float) else value


def test_a_run_at_the_defaults_trains_what_the_readme_tables_report():
    """Each README row that records its settings was trained at today's defaults of its
    method and net (presets rounded to 3 significant digits), apart from the protocol's
    own options (patience)."""
    from lava_sast.config import DEFAULTED, TrainConfig, resolve
    text = (ROOT / "README.md").read_text()
    checked = []
    for kind, source, bar, _ in published.blocks(text):
        if kind != "summary":
            continue
        for label, reps in load_predictions(ROOT / source).items():
            s = reps[0].get("settings")
            if s is None:
                continue
            cfg = resolve(TrainConfig(dataset=s["dataset"], arch=s["arch"], method=s["method"],
                                      conv_channels=s.get("conv_channels"),
                                      hidden=s.get("hidden")))
            for key in sorted(DEFAULTED - {"patience"}):
                assert _float3(getattr(cfg, key)) == _float3(s[key]), \
                    f"{label}: {key} is {s[key]!r} in the table, {getattr(cfg, key)!r} at the defaults"
            checked.append(label)
    assert len(checked) >= 3, checked  # the conv table records its rows' settings


@pytest.mark.parametrize("tuning", ["tune-conv3", "tune-conv3-sam"])
def test_the_published_tunings_start_from_each_methods_defaults(tuning):
    import csv
    rows = list(csv.DictReader((ROOT / "docs/results" / tuning / "trials.csv").open()))
    first = {}
    for r in sorted(rows, key=lambda r: int(r["number"])):
        first.setdefault(r["method"], r)
    assert first and all(r["number"] == "0" and r["defaults"] == "True"
                         for r in first.values())
