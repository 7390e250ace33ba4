"""Studies on Ray: --workers 2 gives the sequential study's numbers; without Ray a clear
message says how to install the extra."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lava_sast.parallel import ray_available

STUDY = ["--dataset", "digits", "--methods", "slayer", "slayer-sam", "--seeds", "0", "1",
         "--epochs", "2", "--train-samples", "120", "--test-samples", "60"]


def _numbers(out) -> dict:
    summary = json.loads((out / "summary.json").read_text())["summary"]
    return {(name, key): stat["values"] for name, row in summary.items()
            for key, stat in row.items()
            if isinstance(stat, dict) and "values" in stat and key != "seconds_per_epoch"}


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="the ray extra is not installed")
def test_two_ray_workers_give_the_sequential_numbers(tmp_path):
    from lava_sast.experiments import study
    assert study.main(STUDY + ["--out", str(tmp_path / "seq"), "--workers", "1"]) == 0
    assert study.main(STUDY + ["--out", str(tmp_path / "ray"), "--workers", "2"]) == 0
    seq, par = _numbers(tmp_path / "seq"), _numbers(tmp_path / "ray")
    assert seq == par and ("slayer", "int8_accuracy") in seq
    assert max(seq[("slayer", "hard_accuracy")]) > 0.3  # it learned something
    # every run has its own finished folder: a rerun resumes with nothing to train
    assert len(list((tmp_path / "ray").glob("*_seed*/report.json"))) == 4


def test_workers_without_ray_says_how_to_install(tmp_path):
    code = ("import sys; sys.modules['ray'] = None\n"  # as if the extra were not installed
            "from lava_sast.experiments import study\n"
            f"sys.exit(study.main({STUDY + ['--out', str(tmp_path / 'x'), '--workers', '2']!r}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 2
    assert "pip install 'lava-sast[ray]'" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="the ray extra is not installed")
def test_a_failing_ray_run_is_named_and_the_others_are_kept(tmp_path):
    """A worker's error comes back as one line naming the run; finished runs stay."""
    small = ["--dataset", "digits", "--methods", "slayer", "--epochs", "1",
             "--train-samples", "60", "--test-samples", "30", "--out", str(tmp_path / "s")]
    from lava_sast.experiments import study
    assert study.main(small + ["--seeds", "0"]) == 0
    # the same folder with another learning rate: seed 0's run folder no longer matches
    code = ("import sys\nfrom lava_sast.experiments import study\n"
            f"sys.exit(study.main({small + ['--seeds', '0', '1', '--lr', '0.01', '--workers', '2']!r}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 2, res.stderr[-2000:]
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 run(s) failed") and "slayer_seed0" in last
    assert "other settings" in last and "Traceback" not in res.stderr
    assert (tmp_path / "s" / "slayer_seed1" / "report.json").exists()
