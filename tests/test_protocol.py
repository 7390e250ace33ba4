"""The evaluation protocol: a tuning block that scored runs never see, crossval's refusal
of runs whose tuning saw the samples they score, and the seed-aware paired statistics."""
import json
import math

import numpy as np
import pytest

from lava_sast.config import TrainConfig, resolve
from lava_sast.experiments.crossval import (collect, compare, corrected_t, holm, tuning_overlap,
                                           verdict)
from lava_sast.experiments.crossval import main as crossval_main
from lava_sast.experiments.study import main as study_main
from lava_sast.trainer import load_splits, training_part
from lava_sast.experiments.tune import main as tune_main


def test_corrected_t_and_holm_match_hand_computed_values():
    # mean 3, s^2 2.5, se^2 = (1/5 + 1/4) * 2.5 = 1.125, t = 2.828 with 4 dof
    r = corrected_t([1, 2, 3, 4, 5], 0.25)
    assert r["diff"] == 3.0 and r["pairs"] == 5
    assert r["p"] == pytest.approx(0.04742, abs=1e-4)
    half = 2.776445 * math.sqrt(1.125)
    assert r["ci95"] == pytest.approx([3 - half, 3 + half], abs=1e-4)
    # the correction widens the naive paired t interval
    naive = 2.776445 * math.sqrt(2.5 / 5)
    assert r["ci95"][1] - 3 > naive
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert math.isnan(holm([0.01, math.nan])[1]) and holm([0.01, math.nan])[0] == 0.01


def test_verdicts_need_holm_or_an_equivalence_bound():
    assert verdict({"diff": 3.0, "ci95": [1.0, 5.0], "p_holm": 0.01}) == "better"
    assert verdict({"diff": -3.0, "ci95": [-5.0, -1.0], "p_holm": 0.01}) == "worse"
    assert verdict({"diff": 0.2, "ci95": [-1.5, 1.9], "p_holm": 0.8}) == "level"
    # no difference found, but the interval reaches past the bound: not "level"
    assert verdict({"diff": 0.2, "ci95": [-2.5, 2.9], "p_holm": 0.8}) == "unresolved"
    assert verdict({"diff": 3.0, "ci95": [0.5, 5.5], "p_holm": 0.07}) == "unresolved"


def test_tuning_block_is_disjoint_from_every_fold_and_fixed():
    base = dict(dataset="digits", train_samples=200, tuning_block=0.25, val_fraction=0.2)
    block = training_part(resolve(TrainConfig(**base, part="tuning", seed=7)))
    rest = training_part(resolve(TrainConfig(**base, folds=4, fold_seed=3)))
    assert len(block) == 50 and len(rest) == 150
    assert set(block.rows.tolist()).isdisjoint(rest.rows.tolist())
    # the block does not move with the run seed or the fold shuffle
    again = training_part(resolve(TrainConfig(**base, part="tuning", seed=1)))
    assert block.rows.tolist() == again.rows.tolist()
    for fold in range(4):
        tr, va, te = load_splits(resolve(TrainConfig(**base, folds=4, fold=fold)))
        for part in (tr, va, te):
            assert set(part.rows.tolist()).isdisjoint(block.rows.tolist())
    with pytest.raises(ValueError, match="tuning part"):
        resolve(TrainConfig(**base, part="tuning", folds=4))


def test_tuning_overlap_reasons():
    cfg = {"dataset": "nmnist", "folds": 5}
    assert "predates" in tuning_overlap({"config": cfg})
    untuned = {"config": cfg, "split": {"tuned_on": None, "part": "scored"}}
    assert tuning_overlap(untuned) is None
    other = {"config": cfg, "split": {"tuned_on": {"dataset": "digits", "tuning_block": 0.0}}}
    assert tuning_overlap(other) is None
    whole = {"config": cfg, "split": {"tuned_on": {"dataset": "nmnist", "tuning_block": 0.0},
                                      "tuning_block": 0.0, "part": "scored"}}
    assert "whole nmnist training split" in tuning_overlap(whole)
    block = {"dataset": "nmnist", "tuning_block": 0.4, "train_samples": None}
    kept_out = {"config": cfg, "split": {"tuned_on": block, "tuning_block": 0.4,
                                         "part": "scored", "train_samples": None}}
    assert tuning_overlap(kept_out) is None
    moved = {"config": cfg, "split": {"tuned_on": block, "tuning_block": 0.2,
                                      "part": "scored", "train_samples": None}}
    assert "--tuning-block 0.2" in tuning_overlap(moved)


def test_tune_on_a_block_then_crossval_accepts_it_and_refuses_a_leaky_study(tmp_path, capsys):
    common = ["--dataset", "digits", "--train-samples", "120", "--epochs", "2",
              "--val-fraction", "0.25", "--quiet"]
    tune_out = tmp_path / "tune"
    assert tune_main(["--methods", "surrogate", "--trials", "1", "--tuning-block", "0.3",
                      "--no-hardware-eval", "--objective", "hard", "--out", str(tune_out)]
                     + common) == 0
    best = json.loads((tune_out / "best.json").read_text())
    assert best["tuned_on"]["tuning_block"] == 0.3
    kept, leaky = tmp_path / "kept", tmp_path / "leaky"
    study = ["--methods", "slayer", "surrogate", "--seeds", "0", "--folds", "2",
             "--config", str(tune_out / "best.json"), "--no-hardware-eval"] + common
    assert study_main(study + ["--tuning-block", "0.3", "--out", str(kept)]) == 0
    cv = compare(collect([kept]))
    # the tuned row carries its settings' QAT width (the defaults may win a 1-trial tuning)
    assert {m.split()[0] for m in cv["methods"]} == {"slayer", "surrogate"}
    assert all(m.endswith("(kept)") for m in cv["methods"])
    assert cv["methods"]["slayer (kept)"]["samples"] == 84  # 120 less the block of 36
    # the compact predictions regenerate the same comparison
    npz = tmp_path / "predictions.npz"
    capsys.readouterr()
    assert crossval_main([str(kept), "--save-predictions", str(npz)]) == 0
    from_folders = capsys.readouterr().out.split("\n", 1)[1]
    assert crossval_main(["--predictions", str(npz), "--bar", "slayer (kept)"]) == 0
    from_file = capsys.readouterr().out.split("\n", 1)[1]
    assert from_file.startswith(from_folders) and "Δ INT8 vs slayer (kept)" in from_file
    # the sign check against a replicate (here the same rows: every sign holds)
    assert crossval_main(["--predictions", str(npz), "--replicate", str(npz)]) == 0
    assert "Signs against" in capsys.readouterr().out
    assert crossval_main(["--predictions", str(npz), "--replicate", str(tmp_path / "no.npz")]) == 2
    assert capsys.readouterr().err.startswith("error: --replicate ")
    # --seeds keeps the runs of those seeds, and names them when there are none
    assert crossval_main([str(kept), "--seeds", "0"]) == 0
    capsys.readouterr()
    assert crossval_main([str(kept), "--seeds", "7"]) == 2
    assert "seed in [7]" in capsys.readouterr().err
    assert study_main(study + ["--out", str(leaky)]) == 0
    capsys.readouterr()
    assert crossval_main([str(leaky)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "surrogate_seed0_fold" in err[0]
    assert "tuning block of 0.3" in err[0] and "--tuning-block 0 " in err[0]
    assert crossval_main([str(leaky), "--allow-tuning-overlap"]) == 0
    assert "[tuning overlap]" in capsys.readouterr().out


def _pooled(accs: dict[str, list[float]], n: int = 100) -> dict[str, list[dict]]:
    """Rows of one seed and len(accs[row]) folds of n samples each, right on the first
    acc * n samples of each fold."""
    rows = {}
    for name, folds in accs.items():
        labels, preds, fold_acc = [], [], []
        for acc in folds:
            k = round(acc * n)
            labels += [0] * n
            preds += [0] * k + [1] * (n - k)
            fold_acc.append(k / n)
        r = {"seed": 0, "folds": len(folds), "folds_of": len(folds),
             "fold_ids": list(range(len(folds))), "test_labels": labels,
             "fold_accuracy": {m: fold_acc for m in ("hard", "int8")}}
        r.update({f"{m}_predictions": preds for m in ("hard", "int8")})
        rows[name] = [r]
    return rows


def test_sign_check_reports_whether_each_significant_difference_held():
    from lava_sast.experiments.crossval import sign_check, sign_table
    main = compare(_pooled({"a": [0.9, 0.91, 0.92, 0.9, 0.93], "b": [0.5, 0.52, 0.49, 0.51, 0.5]}))
    # INT8 is the primary endpoint: only it has a verdict, the other modes are secondary
    assert {m: c["verdict"] for m, c in main["pairs"]["a vs b"].items()} == {
        "hard": "secondary", "int8": "better"}
    same = compare(_pooled({"a": [0.8] * 5, "b": [0.6, 0.61, 0.62, 0.6, 0.6]}))
    flipped = compare(_pooled({"a": [0.6, 0.61, 0.6, 0.6, 0.6], "b": [0.7] * 5}))
    # equal differences in every fold are untestable, never "better"
    flat = compare(_pooled({"a": [0.8, 0.7, 0.9], "b": [0.78, 0.68, 0.88]}))["pairs"]["a vs b"]
    assert (flat["int8"]["verdict"], math.isnan(flat["int8"]["p"])) == ("unresolved", True)
    assert [r["held"] for r in sign_check(main, same)] == [True]
    rows = sign_check(main, flipped)
    assert [r["held"] for r in rows] == [False]
    assert "**no**" in sign_table(rows)
    assert not sign_check(main, compare(_pooled({"c": [0.5] * 5, "d": [0.5] * 5})))[0]["held"]
    assert "no significant difference" in sign_table(sign_check(same, same)[:0])


def test_holm_runs_over_the_int8_pairs_only_and_intervals_agree_with_their_p():
    rng = np.random.default_rng(0)
    accs = {name: list(np.clip(base + rng.normal(0, 0.03, 5), 0, 1))
            for name, base in (("a", 0.8), ("b", 0.77), ("c", 0.7), ("d", 0.79))}
    cv = compare(_pooled(accs))
    primary = [cell["int8"] for cell in cv["pairs"].values()]
    assert len(primary) == 6  # one per pair of rows, not one per pair and mode
    assert [c["p_holm"] for c in primary] == pytest.approx(holm([c["p"] for c in primary]))
    for cell in cv["pairs"].values():
        assert math.isnan(cell["hard"]["p_holm"]) and cell["hard"]["verdict"] == "secondary"
        for c in cell.values():  # an unadjusted interval excludes 0 exactly when p < 0.05
            lo, hi = c["ci95"]
            assert (lo > 0 or hi < 0) == (c["p"] < 0.05)


def test_the_corrected_t_uses_the_runs_true_test_over_train_ratio():
    from lava_sast.experiments.crossval import pool_folds, test_over_train
    reports = [{"config": {"folds": 5, "seed": 0, "fold": f}, "test_labels": [0] * 120,
                "hard_predictions": [0] * 120, "test_samples": 120, "trained_samples": 384,
                "hist_range": [0, 1], "hard_voltage_hist": [1]} for f in range(5)]
    pooled = pool_folds(reports)
    assert pooled["test_over_train"] == pytest.approx(0.3125)
    assert test_over_train([pooled]) == pytest.approx(0.3125)
    old = {k: v for k, v in pooled.items() if k != "test_over_train"}
    assert test_over_train([old]) == pytest.approx(0.25)  # older reports: 1 / (K - 1)
    rows = _pooled({"a": [0.9, 0.91, 0.92, 0.9, 0.93], "b": [0.5, 0.52, 0.49, 0.51, 0.5]})
    for reps in rows.values():
        reps[0]["test_over_train"] = 0.5
    cell = compare(rows)["pairs"]["a vs b"]["int8"]
    d = np.array([40, 39, 43, 39, 43], float)
    se = math.sqrt((1 / 5 + 0.5) * d.var(ddof=1))
    assert cell["test_over_train"] == 0.5
    assert cell["ci95"][1] - cell["diff"] == pytest.approx(2.7764451 * se, rel=1e-5)


def test_each_seed_of_a_cross_validated_study_gets_its_own_fold_partition(tmp_path):
    from lava_sast.experiments.study_plan import StudyOptions, plan_runs
    base = TrainConfig(dataset="digits", folds=3, fold_seed=7, out=str(tmp_path))
    own = plan_runs(StudyOptions(out=tmp_path, base=base, methods=("slayer",), seeds=(0, 1, 2)))
    assert {r.seed: r.config.fold_seed for r in own} == {0: 7, 1: 8, 2: 9}
    shared = plan_runs(StudyOptions(out=tmp_path, base=base, methods=("slayer",),
                                    seeds=(0, 1, 2), partition="shared"))
    assert {r.config.fold_seed for r in shared} == {7}
