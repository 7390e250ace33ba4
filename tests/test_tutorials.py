"""Every tutorial notebook runs top to bottom (nbclient), as a newcomer would, and the
committed notebooks carry their outputs (``python tutorials/execute.py`` writes them)."""
import base64
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tutorials"))
from execute import execute  # noqa: E402

TUTORIALS = sorted((ROOT / "tutorials").glob("*.ipynb"))


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_notebook_executes(path, tmp_path):
    nb = execute(path, str(tmp_path))
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_committed_notebook_holds_outputs_and_a_small_image(path):
    nb = nbformat.read(path, as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs, f"{path.name} is committed without outputs: python tutorials/execute.py"
    images = [o["data"]["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert images, f"{path.name} shows no figure"
    assert all(len(base64.b64decode(i)) < 150_000 for i in images)
    text = "".join(o.get("text", "") for o in outputs)
    assert "\r" not in text and "it/s" not in text  # no progress-bar noise


def test_there_are_tutorials():
    assert len(TUTORIALS) >= 3
