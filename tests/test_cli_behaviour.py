"""What a user meets at the command line (issue 20): logs off a terminal, one run per
folder, bad numbers named, and attaching a study to a Ray cluster."""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lava_sast.lock import FolderInUse, folder_lock
from lava_sast.parallel import ray_available

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def _run(args, **kw):
    return subprocess.run([PY, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, **kw)


def test_main_job_off_a_terminal_writes_one_line_per_epoch(tmp_path):
    log = tmp_path / "log"
    with open(log, "w") as f:
        r = subprocess.run([PY, "-m", "lava_sast.train", "--out", str(tmp_path / "run")],
                           cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, timeout=900)
    assert r.returncode == 0
    lines = log.read_text().splitlines()
    assert len(lines) <= 60, lines
    assert sum(line.startswith("epoch ") for line in lines) == 20
    assert not any("\r" in line for line in lines)


def test_quiet_drops_the_epoch_lines(tmp_path):
    r = _run(["lava_sast.train", "--epochs", "1", "--train-samples", "100", "--quiet",
              "--no-hardware-eval", "--out", str(tmp_path / "run")])
    assert r.returncode == 0 and "epoch 1/1" not in r.stdout


@pytest.mark.parametrize("args, option", [
    (["netx_export.run", "x.net", "--timeout", "nan"], "--timeout"),
    (["lava_sast.evaluate", "x.pt", "--samples", "0"], "--samples"),
    (["lava_sast.evaluate", "x.pt", "--samples", "-1"], "--samples"),
    (["lava_sast.sweep", "--rho", "-1", "--out", "OUT"], "--rho"),
])
def test_bad_numbers_name_the_option_and_value(args, option, tmp_path):
    args = [str(tmp_path / "sweep") if a == "OUT" else a for a in args]
    r = _run(args)
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert option in last and args[args.index(option) + 1] in last
    assert not (tmp_path / "sweep").exists()


def test_a_held_folder_is_refused_and_released(tmp_path):
    with folder_lock(tmp_path):
        with pytest.raises(FolderInUse, match=str(tmp_path)):
            with folder_lock(tmp_path):
                pass
        r = _run(["lava_sast.train", "--epochs", "1", "--out", str(tmp_path)])
        assert r.returncode != 0 and "in use" in r.stderr.strip().splitlines()[-1]
        assert str(tmp_path) in r.stderr
    with folder_lock(tmp_path):  # released on exit
        pass


def test_two_trains_at_once_on_one_folder(tmp_path):
    out = tmp_path / "run"
    cmd = [PY, "-m", "lava_sast.train", "--epochs", "3", "--train-samples", "200",
           "--no-hardware-eval", "--out", str(out)]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes[0] == 0 and codes[1] != 0, results
    err = next(e for code, e in results if code != 0).strip().splitlines()[-1]
    assert str(out) in err and ("in use" in err or "already holds a run" in err)
    assert (out / "report.json").exists()


@pytest.mark.slow
@pytest.mark.skipif(not ray_available(), reason="the Ray extra is not installed")
def test_attaching_without_the_token_names_authentication(tmp_path):
    ray_cli = shutil.which("ray", path=str(Path(PY).parent)) or shutil.which("ray")
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    port = "6391"
    start = subprocess.run([ray_cli, "start", "--head", "--port", port, "--num-cpus", "1",
                            "--include-dashboard", "false"], capture_output=True, text=True,
                           timeout=120, env=env)
    if start.returncode != 0:
        pytest.skip(f"ray start failed here: {start.stderr.strip().splitlines()[-1:]}")
    try:
        t0 = time.time()
        r = _run(["lava_sast.study", "--methods", "slayer", "--seeds", "0", "--epochs", "1",
                  "--ray-address", f"127.0.0.1:{port}", "--out", str(tmp_path / "s")], env=env)
        assert r.returncode != 0
        last = r.stderr.strip().splitlines()[-1]
        if "authentication" not in last:  # a Ray without token authentication
            pytest.skip(f"this Ray cluster did not ask for a token: {last}")
        assert "RAY_AUTH_MODE=token" in last
        assert len(r.stderr.strip().splitlines()) <= 2, r.stderr  # Ray's retries are hidden
        assert not (tmp_path / "s").exists() and time.time() - t0 < 300
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=120)
