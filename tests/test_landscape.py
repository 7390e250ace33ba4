"""The transfer-gap landscape from predictions (:mod:`lava_sast.experiments.landscape`,
drawn by ``benchmarks/transfer_gap_landscape.py``): the table, the paired differences from the
baseline and the large-gap test, on synthetic predictions."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from lava_sast import landscape
from lava_sast.experiments.crossval import save_predictions

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("landscape_cli",
                                               ROOT / "benchmarks" / "transfer_gap_landscape.py")
cli = importlib.util.module_from_spec(_spec)  # the benchmark's command line
_spec.loader.exec_module(cli)


def _row(acc: dict[str, float], step: float = 0.01, folds: int = 3, n: int = 100) -> list[dict]:
    labels = [0] * (folds * n)
    r = {"seed": 0, "folds": folds, "folds_of": folds, "fold_ids": list(range(folds)),
         "test_labels": labels, "fold_accuracy": {}}
    for mode, a in acc.items():
        preds, per_fold = [], []
        for f in range(folds):
            k = round((a + step * f) * n)
            preds += [0] * k + [1] * (n - k)
            per_fold.append(k / n)
        r[f"{mode}_predictions"] = preds
        r["fold_accuracy"][mode] = per_fold
    return [r]


def test_landscape_tables_pairs_and_flags_the_large_gap_slope(tmp_path):
    modes = ("surrogate", "hard", "int8", "int4")
    cases = {  # beta: (baseline, sast) accuracies per mode
        "0.5": ((0.88, 0.60, 0.60, 0.55), (0.88, 0.80, 0.80, 0.75)),  # large gap, SAM closes it
        "2": ((0.90, 0.89, 0.89, 0.88), (0.90, 0.89, 0.89, 0.88)),   # the tuned slope
        "8": ((0.70, 0.40, 0.40, 0.40), (0.70, 0.40, 0.40, 0.40)),   # gap, but undertrained
    }
    for beta, (base, sast) in cases.items():
        save_predictions({"surrogate qat4 (beta)": _row(dict(zip(modes, base))),
                          "sast rho=0.3 qat4 (beta)": _row(dict(zip(modes, sast)), step=0.02)},
                         tmp_path / f"beta{beta}.npz")
    (tmp_path / "meta.json").write_text(json.dumps({"tuned_beta": 2.0}))
    results = tmp_path / "landscape.json"
    assert cli.main(["--predictions", str(tmp_path), "--results", str(results)]) == 0
    out = json.loads(results.read_text())
    flags = {b: r["large_gap"] for b, r in out["regimes"]["by_beta"].items()}
    assert flags == {"0.5": True, "2": False, "8": False}
    d = out["table"]["betas"]["0.5"]["vs_baseline"]["sast rho=0.3 qat4"]["hard"]
    assert abs(d["diff"] - 21.0) < 1e-6 and d["ci95"][0] < 20 and d["ci95"][1] > 22
    assert (tmp_path / "landscape.png").stat().st_size > 10_000
    assert "| 0.5 | sast rho=0.3 qat4 |" in (tmp_path / "landscape.md").read_text()
    table = landscape.tabulate(tmp_path)  # the library's analysis, as tutorial 01 uses it
    assert landscape.markdown(table, landscape.regimes(table, 3.0, 15.0)) == \
        (tmp_path / "landscape.md").read_text()


def test_landscape_refuses_a_missing_config(tmp_path, capsys):
    import pytest
    with pytest.raises(SystemExit):
        cli.main(["--config", str(tmp_path / "nope.json")])
    assert "--config" in capsys.readouterr().err
