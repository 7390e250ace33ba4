"""The README's Python example runs as a user pastes it (train with SAST on the embedded
digits, export INT8, run it in Lava fixed_pt), and the README stays an entry point: at
most 12,000 characters, the three commands CI runs, the citation."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def example() -> str:
    section = README.split("## A Python example", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_is_short_and_says_what_ci_runs():
    assert len(README) <= 12_000, len(README)
    ci = [line for line in (ROOT / ".ci/run").read_text().splitlines()
          if line.startswith(("./", ".venv/"))]
    bash = re.search(r"## Install, run, test.*?```bash\n(.*?)```", README, re.S).group(1)
    commands = [line.split("#")[0].strip() for line in bash.splitlines() if line.strip()]
    assert [c.split()[0] for c in ci] == [c.split()[0] for c in commands]  # install, run, test
    assert ci[0] == commands[0] and ci[2] == commands[2]
    assert ci[1].split(" --out")[0] == commands[1]  # CI adds only its --out
    assert "arXiv:2604.09696" in README and "arXiv:2603.18039" in README
    assert "(LICENSE)" in README and (ROOT / "LICENSE").read_text().startswith("BSD 3-Clause")
    assert 15 <= len(example().strip().splitlines()) <= 25


@pytest.mark.slow
def test_the_python_example_runs(tmp_path):
    code = example()
    assert "L.train(" in code and "export_network" in code and 'engine="lava"' in code
    (tmp_path / "example.py").write_text(code)
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    hard, int8 = map(float, re.search(r"hard spikes ([\d.]+), INT8 ([\d.]+)",
                                      done.stdout).groups())
    lava, samples = re.search(r"Lava fixed_pt accuracy ([\d.]+) on (\d+) samples",
                              done.stdout).groups()
    assert int(samples) == 20
    assert hard > 0.3 and int8 > 0.3 and float(lava) > 0.3  # chance is 0.1: it learned
    assert (tmp_path / "runs/example/sast_int8.net").is_file()
