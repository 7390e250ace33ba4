import json

import h5py
import pytest
import torch

from lava_sast import train as train_mod
from lava_sast.train import TrainConfig, TrainingError, main, train

REPORT_KEYS = {"method", "rho", "dataset", "epochs", "seed", "surrogate_accuracy",
               "hard_accuracy", "transfer_gap", "hard_synops_per_sample",
               "near_threshold_fraction", "seconds_per_epoch", "int8_accuracy",
               "int4_accuracy", "int8_synops_per_sample", "int4_synops_per_sample"}


def test_train_on_real_nmnist_writes_all_outputs(nmnist_dir, tmp_path):
    out = tmp_path / "run"
    rc = main(["--dataset", "nmnist", "--data-dir", str(nmnist_dir), "--method", "sast",
               "--rho", "0.3", "--epochs", "2", "--train-samples", "200",
               "--test-samples", "50", "--hidden", "64", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    for k in ("surrogate_accuracy", "hard_accuracy", "int8_accuracy", "int4_accuracy"):
        assert 0.0 <= report[k] <= 1.0
    assert report["transfer_gap"] == pytest.approx(
        100 * (report["surrogate_accuracy"] - report["hard_accuracy"]))
    from lava.lib.dl.netx import hdf5
    net = hdf5.Network(net_config=str(out / "network.net"))
    assert len(net) == 2
    with h5py.File(out / "network.net") as f:
        assert f["layer/0/neuron/type"][()] == b"CUBA"
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert len(state["history"]) == 2


def test_resume_continues_after_last_epoch(tmp_path):
    cfg = TrainConfig(epochs=1, train_samples=64, test_samples=32, hidden=32,
                      hardware_eval=False, out=str(tmp_path))
    train(cfg)
    cfg.epochs = 2
    report = train(cfg, resume=True)
    assert [h["epoch"] for h in report["history"]] == [1, 2]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = TrainConfig(epochs=1, train_samples=64, test_samples=32, hidden=32,
                      hardware_eval=False, out=str(tmp_path))
    train(cfg)
    good = (tmp_path / "checkpoint.pt").read_bytes()

    class NanLoss(torch.nn.Module):
        def __init__(self, *a, **k):
            super().__init__()

        def forward(self, out, y):
            return out.sum() * float("nan")

    monkeypatch.setattr(train_mod, "SpikeRate", NanLoss)
    cfg.epochs = 2
    with pytest.raises(TrainingError, match="non-finite loss"):
        train(cfg, resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert main(["--epochs", "3", "--train-samples", "64", "--out", str(tmp_path),
                 "--resume", "--no-hardware-eval"]) == 2


def test_missing_data_dir_is_reported(tmp_path, capsys):
    rc = main(["--dataset", "nmnist", "--data-dir", str(tmp_path / "none"),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "none" in capsys.readouterr().err
