"""The README's "Run it in plain Lava" snippet, executed as a user pastes it, on a trained
net: its accuracy equals ``netx_export.run``'s on the same samples (a real Lava run)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lava_sast.config import TrainConfig
from netx_export.hardware_eval import train_and_deploy
from netx_export.run import evaluate_network

ROOT = Path(__file__).resolve().parents[1]


def readme_snippet() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Run it in plain Lava", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_snippet_runs_and_matches_netx_export_run(tmp_path):
    run = tmp_path / "runs" / "default"
    train_and_deploy(TrainConfig(method="slayer", epochs=2, out=str(run), quiet=True))
    code = readme_snippet()
    assert 'NET = "runs/default/network_int8.net"' in code
    (tmp_path / "snippet.py").write_text(code)
    r = subprocess.run([sys.executable, "snippet.py"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    snippet_acc = float(re.search(r"accuracy: ([0-9.]+)", r.stdout).group(1))
    samples = int(re.search(r"max_samples=(\d+)", code).group(1))
    ref = evaluate_network(str(run / "network_int8.net"), "digits", None, "test", samples,
                           engine="lava", timeout_s=600)
    assert snippet_acc == pytest.approx(ref["accuracy"], abs=1e-3)
