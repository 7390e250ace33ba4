"""Cross-validation: folds, pooled intervals, paired McNemar tests, and a study with
``--folds``."""
import json

import numpy as np
import pytest
import torch

from lava_sast.experiments.crossval import mcnemar, pool_folds, wilson
from lava_sast.datasets import fold_indices
from lava_sast.experiments.study import main as study_main


def test_folds_partition_the_data_and_are_stratified():
    labels = torch.tensor([i % 5 for i in range(100)])
    held = [fold_indices(labels, 4, f, seed=3)[1] for f in range(4)]
    assert sorted(np.concatenate(held).tolist()) == list(range(100))
    for h in held:
        assert np.bincount(labels.numpy()[h], minlength=5).tolist() == [5] * 5
    rest, h0 = fold_indices(labels, 4, 0, seed=3)
    assert set(rest).isdisjoint(h0)
    with pytest.raises(ValueError, match="fold"):
        fold_indices(labels, 4, 4, seed=0)


def test_wilson_and_mcnemar_match_known_values():
    lo, hi = wilson(80, 100)
    assert (round(lo, 4), round(hi, 4)) == (0.7112, 0.8666)
    a = np.array([True] * 10 + [False] * 2 + [True] * 88)
    b = np.array([False] * 10 + [True] * 2 + [True] * 88)
    r = mcnemar(a, b)
    assert (r["a_only"], r["b_only"], r["diff"]) == (10, 2, 8.0)
    assert r["p"] == pytest.approx(0.0386, abs=1e-4)  # exact binomial, 10 of 12
    assert mcnemar(a, a)["p"] == 1.0


def test_pool_folds_scores_every_held_out_sample():
    reps = [{"test_labels": [0, 1], "hard_predictions": [0, 0], "surrogate_predictions": [0, 1],
             "hist_range": [0, 1], "hard_voltage_hist": [1.0, 0.0], "best_epoch": 2},
            {"test_labels": [1, 1], "hard_predictions": [1, 1], "surrogate_predictions": [1, 1],
             "hist_range": [0, 1], "hard_voltage_hist": [0.0, 1.0], "best_epoch": 4}]
    pooled = pool_folds(reps)
    assert pooled["hard_accuracy"] == 0.75 and pooled["surrogate_accuracy"] == 1.0
    assert pooled["best_epoch"] == 3 and pooled["transfer_gap"] == 0.25


def test_cross_validated_study_pairs_methods_on_the_same_samples(tmp_path):
    out = tmp_path / "cv"
    assert study_main(["--methods", "slayer", "surrogate", "--seeds", "0", "--folds", "2",
                       "--epochs", "1", "--train-samples", "120", "--test-samples", "30",
                       "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    cv = summary["crossval"]
    assert cv["methods"]["slayer"]["samples"] == 120
    lo, hi = cv["methods"]["slayer"]["hard"]["ci95"]
    assert lo <= cv["methods"]["slayer"]["hard"]["accuracy"] <= hi
    pair = cv["pairs"]["slayer vs surrogate"]["hard"]
    assert 0 <= pair["p"] <= 1 and pair["mcnemar"]["samples"] == 120 and pair["pairs"] == 2
    assert {p.name for p in out.iterdir() if p.is_dir()} == {
        "slayer_seed0_fold0", "slayer_seed0_fold1", "surrogate_seed0_fold0",
        "surrogate_seed0_fold1"}
    assert "official_hard_accuracy" in summary["summary"]["slayer"]
    assert "corrected resampled t-test" in (out / "summary.md").read_text()
