"""The Optuna tuning command: equal budgets, resume after SIGKILL without repeating
finished trials, two processes on one study file, and ``--config`` for train."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("optuna")

from lava_sast.train import parse_args  # noqa: E402
from lava_sast.experiments.tune import main as tune_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TUNE = [sys.executable, "-m", "lava_sast.tune", "--train-samples", "200", "--epochs", "1",
        "--quiet"]


def _counts(db: Path) -> dict[str, int]:
    try:
        with sqlite3.connect(db) as c:
            return dict(c.execute("select state, count(*) from trials group by state")
                        .fetchall())
    except sqlite3.OperationalError:  # the file exists before Optuna has made its tables
        return {}


def test_tune_writes_best_settings_that_train_reads(tmp_path):
    out = tmp_path / "tune"
    assert tune_main(["--methods", "surrogate", "slayer", "--trials", "2", "--epochs", "1",
                      "--train-samples", "200", "--objective", "hard", "--no-hardware-eval",
                      "--out", str(out), "--quiet"]) == 0
    best = json.loads((out / "best.json").read_text())
    assert set(best["methods"]) == {"surrogate", "slayer"}
    assert (out / "tuning.png").stat().st_size > 0
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 1 + 4  # equal budget: two trials per method
    settings = best["methods"]["surrogate"]
    cfg, _, _ = parse_args(["--method", "surrogate", "--config", str(out / "best.json")])
    assert cfg.beta == settings["beta"] and cfg.lr == settings["lr"]
    cfg, _, _ = parse_args(["--method", "surrogate", "--config", str(out / "best.json"),
                            "--beta", "2.5"])
    assert cfg.beta == 2.5  # the command line wins


def test_bad_config_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "c.json"
    f.write_text(json.dumps({"methods": {"slayer": {"nonsense": 1}}}))
    with pytest.raises(SystemExit):
        parse_args(["--method", "slayer", "--config", str(f)])
    assert "nonsense" in capsys.readouterr().err
    f.write_text(json.dumps({"methods": {"slayer": {"lr": 0.01}}}))
    with pytest.raises(SystemExit):
        parse_args(["--method", "sast", "--config", str(f)])
    assert "no settings for method 'sast'" in capsys.readouterr().err


@pytest.mark.slow
def test_tune_survives_sigkill_and_two_processes_share_the_file(tmp_path):
    out = tmp_path / "tune"
    db = out / "tune.db"
    cmd = TUNE + ["--methods", "slayer", "--trials", "4", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill it once one trial is finished and one runs
        if db.exists() and _counts(db).get("COMPLETE", 0) >= 1 and \
                _counts(db).get("RUNNING", 0) >= 1:
            break
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _counts(db)
    assert before.get("COMPLETE", 0) >= 1
    finished = {p.name for p in (out / "slayer").iterdir() if (p / "report.json").exists()}
    stamps = {n: (out / "slayer" / n / "report.json").stat().st_mtime_ns for n in finished}
    # the same command twice at once: both work on the one study file and finish it
    procs = [subprocess.Popen(cmd, cwd=ROOT) for _ in range(2)]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    after = _counts(db)
    assert after.get("COMPLETE", 0) + after.get("PRUNED", 0) >= 4
    for n in finished:  # finished trials were not run again
        assert (out / "slayer" / n / "report.json").stat().st_mtime_ns == stamps[n]


def test_synops_as_a_second_objective_plots_the_pareto_front(tmp_path):
    out = tmp_path / "tune"
    assert tune_main(["--methods", "slayer", "--trials", "2", "--epochs", "1",
                      "--train-samples", "200", "--synops", "--out", str(out), "--quiet"]) == 0
    rows = (out / "trials.csv").read_text().splitlines()
    assert rows[0].split(",")[:6] == ["method", "number", "state", "counted", "value", "synops"]
    assert all(r.split(",")[5] for r in rows[1:])  # every trial has its SynOps
    assert (out / "tuning.png").stat().st_size > 0


def test_a_short_tune_prints_no_warnings(tmp_path):
    done = subprocess.run(TUNE + ["--methods", "sast", "slayer", "--trials", "2",
                                  "--out", str(tmp_path / "t")],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Warning" not in done.stderr and "warning" not in done.stderr, done.stderr[-3000:]


def test_the_search_space_keeps_the_warmup_inside_half_the_epoch_cap():
    import optuna
    from lava_sast.methods import get_method
    for epochs in (1, 4, 15):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(30):
            drawn = get_method("sast").search_space(study.ask(), epochs)
            assert drawn["beta_warmup"] <= epochs // 2


@pytest.mark.parametrize("family", ["dense", "conv"])
@pytest.mark.parametrize("method", ["surrogate", "sast", "slayer", "slayer-sam"])
def test_every_methods_defaults_are_a_point_of_its_search_space(method, family):
    import optuna
    from lava_sast.config import resolve
    from lava_sast.config import TrainConfig
    from lava_sast.methods import get_method
    cfg = resolve(TrainConfig(dataset="nmnist", arch=family, method=method, epochs=12))
    params, clipped = get_method(method).trial_params(cfg, 12)
    drawn = get_method(method).search_space(optuna.trial.FixedTrial(params), 12)
    assert all(getattr(cfg, k) == v for k, v in drawn.items()) and not clipped
    sam, _ = get_method(method).trial_params(cfg, 12, "sam")
    assert set(sam) == ({"rho", "sam", "sam_ascent"} if get_method(method).uses_sam else set())
    if cfg.beta_warmup:  # a warm-up longer than half the epoch cap is clipped into it
        short, clipped = get_method(method).trial_params(cfg, 2)
        assert short["beta_warmup"] == 1 and clipped == {"beta_warmup": cfg.beta_warmup}


def test_each_methods_defaults_are_its_first_trial_and_its_spread_is_recorded(tmp_path):
    out = tmp_path / "tune"
    assert tune_main(["--methods", "surrogate", "slayer", "--trials", "2", "--epochs", "1",
                      "--train-samples", "200", "--objective", "hard", "--no-hardware-eval",
                      "--out", str(out), "--quiet"]) == 0
    import csv
    rows = list(csv.DictReader((out / "trials.csv").open()))
    first = {r["method"]: r for r in rows if r["number"] == "0"}
    assert {m: r["defaults"] for m, r in first.items()} == {"surrogate": "True",
                                                           "slayer": "True"}
    assert all(r["defaults"] == "False" for r in rows if r["number"] != "0")
    assert json.loads(first["slayer"]["params"])["lr"] == 1e-3  # lava-dl's recipe
    spread = json.loads((out / "best.json").read_text())["spread"]
    assert set(spread) == {"surrogate", "slayer"}
    assert spread["slayer"]["complete"] + spread["slayer"]["pruned"] == 2
    assert spread["slayer"]["min"] <= spread["slayer"]["median"] <= spread["slayer"]["max"]


def test_the_sam_space_tunes_only_sams_options_over_the_surrogates_settings(tmp_path):
    base = tmp_path / "base.json"
    base.write_text(json.dumps({"methods": {"surrogate": {
        "beta": 2.5, "lr": 0.002, "threshold": 1.1, "loss": "ce", "logit_scale": 8.0,
        "beta_warmup": 0, "init_rate": 0.0, "qat_bits": 0, "lr_per_slope": True}}}))
    out = tmp_path / "tune"
    assert tune_main(["--methods", "sast", "--trials", "2", "--epochs", "1", "--space", "sam",
                      "--config", str(base), "--train-samples", "200", "--objective", "hard",
                      "--no-hardware-eval", "--out", str(out), "--quiet"]) == 0
    import csv
    rows = list(csv.DictReader((out / "trials.csv").open()))
    assert all(set(json.loads(r["params"])) == {"rho", "sam", "sam_ascent"} for r in rows)
    settings = json.loads((out / "best.json").read_text())["methods"]["sast"]
    assert settings["beta"] == 2.5 and settings["lr"] == 0.002 and "rho" in settings
    reports = [json.loads(p.read_text()) for p in out.glob("sast/trial_*/report.json")]
    assert reports and all(r["config"]["beta"] == 2.5 for r in reports)
