"""Execute every tutorial and commit-ready save it with its outputs (figures inline).

    python tutorials/execute.py [NAME.ipynb ...]

Each notebook runs in a fresh temporary folder (its ``runs/`` stay out of the repo) and
is written back in place with its outputs; progress bars are off (not a terminal), figures
are small PNGs.  ``tests/test_tutorials.py`` checks that every notebook still executes
and that the committed ones hold outputs with at least one image.
"""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def execute(path: Path, workdir: str, timeout: int = 900) -> nbformat.NotebookNode:
    """``path`` executed top to bottom in ``workdir``."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": workdir}}).execute()
    return nb


def main(argv: list[str]) -> int:
    paths = [HERE / a for a in argv] or sorted(HERE.glob("*.ipynb"))
    for path in paths:
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            nb = execute(path, tmp)
        for cell in nb.cells:  # no execution-count noise in diffs
            if cell.cell_type == "code":
                cell.execution_count = None
                for out in cell.get("outputs", []):
                    out.pop("execution_count", None)
        nbformat.write(nb, path)
        print(f"{path.name}: executed in {time.perf_counter() - start:.0f} s, "
              f"{path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
