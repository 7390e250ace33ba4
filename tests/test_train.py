import json

import h5py
import pytest
import torch

from lava_sast import losses
from lava_sast.config import TrainConfig, resolve
from lava_sast.train import main
from lava_sast.trainer import TrainingError
from netx_export.hardware_eval import train_and_deploy

REPORT_KEYS = {"method", "rho", "dataset", "epochs", "seed", "surrogate_accuracy",
               "hard_accuracy", "transfer_gap", "hard_synops_per_sample",
               "near_threshold_fraction", "seconds_per_epoch", "int8_accuracy",
               "int4_accuracy", "int8_synops_per_sample", "int4_synops_per_sample",
               "val_hard_accuracy", "val_int8_accuracy", "best_epoch", "networks"}


def test_train_on_real_nmnist_writes_all_outputs(nmnist_dir, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["--dataset", "nmnist", "--data-dir", str(nmnist_dir), "--method", "sast",
               "--rho", "0.3", "--epochs", "2", "--train-samples", "200",
               "--test-samples", "50", "--hidden", "64", "--out", str(out)])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert REPORT_KEYS <= set(report)
    for k in ("surrogate_accuracy", "hard_accuracy", "int8_accuracy", "int4_accuracy"):
        assert 0.0 <= report[k] <= 1.0
    assert report["transfer_gap"] == pytest.approx(  # a fraction, as every accuracy field
        report["surrogate_accuracy"] - report["hard_accuracy"])
    from lava.lib.dl.netx import hdf5
    net = hdf5.Network(net_config=str(out / "network.net"))
    assert len(net) == 2
    with h5py.File(out / "network.net") as f:
        assert f["layer/0/neuron/type"][()] == b"CUBA"
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert len(state["history"]) == 2
    from lava_sast.evaluate import main as evaluate_main
    capsys.readouterr()
    assert evaluate_main([str(out / "checkpoint.pt"), "--samples", "50",
                          "--sharpness-rho", "0.1", "--sharpness-samples", "32"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["sam_sharpness"]["rho"] == 0.1 and ev["sam_sharpness"]["loss"] > 0
    for bad in (["--sharpness-rho", "-0.1"], ["--sharpness-rho", "0.1", "--sharpness-samples", "0"]):
        with pytest.raises(SystemExit) as stop:
            evaluate_main([str(out / "checkpoint.pt"), *bad])
        assert stop.value.code == 2
    assert "--sharpness-samples: expected a whole number >= 1" in capsys.readouterr().err
    assert ev["hard_accuracy"] == report["hard_accuracy"] and ev["samples"] == 50
    assert len(ev["single_layer_hard_accuracy"]) == 2
    assert len(ev["subthreshold_output_share"]) == 2


def test_single_layer_swap_of_a_one_layer_net_is_the_full_swap():
    from lava_sast.datasets import load_dataset
    from lava_sast.evaluate import evaluate, single_layer_swap_accuracy
    from lava_sast.models import SastNetwork
    test = load_dataset("digits", split="test", max_samples=64)
    torch.manual_seed(0)
    net = SastNetwork([{"type": "dense", "out": 10}], test.spec.input_shape, beta=1.0)
    assert single_layer_swap_accuracy(net, test) == [evaluate(net, test, "hard").accuracy]
    deep = SastNetwork([{"type": "dense", "out": 16}, {"type": "dense", "out": 10}],
                       test.spec.input_shape, beta=1.0)
    assert len(single_layer_swap_accuracy(deep, test)) == 2
    assert [n.spike_mode for n in deep.neurons()] == ["surrogate", "surrogate"]


def test_resume_continues_after_last_epoch(tmp_path):
    cfg = TrainConfig(epochs=1, train_samples=64, test_samples=32, hidden=32,
                      hardware_eval=False, out=str(tmp_path))
    train_and_deploy(cfg)
    cfg.epochs = 2
    report = train_and_deploy(cfg, resume=True)
    assert [h["epoch"] for h in report["history"]] == [1, 2]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    cfg = TrainConfig(epochs=1, train_samples=64, test_samples=32, hidden=32,
                      hardware_eval=False, out=str(tmp_path))
    train_and_deploy(cfg)
    good = (tmp_path / "checkpoint.pt").read_bytes()

    class NanLoss(torch.nn.Module):
        def __init__(self, *a, **k):
            super().__init__()

        def forward(self, out, y):
            return out.sum() * float("nan")

    monkeypatch.setattr(losses, "SpikeRate", NanLoss)
    monkeypatch.setattr(losses, "SpikeCountCE", NanLoss)
    cfg.epochs = 2
    with pytest.raises(TrainingError, match="non-finite loss"):
        train_and_deploy(cfg, resume=True)
    assert (tmp_path / "checkpoint.pt").read_bytes() == good
    assert main(["--epochs", "3", "--train-samples", "64", "--out", str(tmp_path),
                 "--resume", "--no-hardware-eval"]) == 2


def test_missing_data_dir_is_reported(tmp_path, capsys):
    rc = main(["--dataset", "nmnist", "--data-dir", str(tmp_path / "none"),
               "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "none" in capsys.readouterr().err


def test_sweep_summarises_and_extends_finished_runs(tmp_path):
    import json
    from lava_sast.experiments.sweep import main as sweep_main
    args = ["--dataset", "digits", "--rho", "0", "0.3", "--seeds", "0", "--hidden", "16",
            "--train-samples", "64", "--test-samples", "32", "--out", str(tmp_path)]
    assert sweep_main(args + ["--epochs", "1"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary["summary"]) == {"surrogate", "sast rho=0.3"}
    from lava_sast.config import resolved
    assert summary["settings"]["beta"] == resolved(TrainConfig(method="surrogate")).beta
    assert sweep_main(args + ["--epochs", "2"]) == 0  # resumes each run for one more epoch
    report = json.loads((tmp_path / "sast_rho0.3_seed0" / "report.json").read_text())
    assert report["epochs"] == 2 and [h["epoch"] for h in report["history"]] == [1, 2]
    assert (tmp_path / "accuracy_by_method.png").stat().st_size > 0


def test_subthreshold_share_tells_analog_layers_from_spiking_ones():
    from lava_sast.datasets import load_dataset
    from lava_sast.evaluate import subthreshold_output_share
    from lava_sast.models import SastNetwork
    test = load_dataset("digits", split="test", max_samples=32)
    torch.manual_seed(0)
    net = SastNetwork([{"type": "dense", "out": 10}], test.spec.input_shape, beta=5.0)
    with torch.no_grad():
        net.blocks[0].synapse.weight.fill_(1e-4)  # every membrane far below threshold
    assert subthreshold_output_share(net, test) == [1.0]
    with torch.no_grad():
        net.blocks[0].synapse.weight.fill_(1.0)  # driven hard: the output is spikes
    assert subthreshold_output_share(net, test)[0] < 0.2


def test_inconsistent_rate_targets_are_refused_before_anything_is_written(tmp_path, capsys):
    from lava_sast.experiments.sweep import main as sweep_main
    out = tmp_path / "o"
    assert main(["--true-rate", "0.02", "--false-rate", "0.03", "--out", str(out)]) == 2
    assert "false rate 0.03 and true rate 0.02" in capsys.readouterr().err
    assert sweep_main(["--true-rate", "1.5", "--out", str(out)]) == 2
    assert "true rate 1.5" in capsys.readouterr().err
    assert not out.exists()


def test_bad_architecture_options_are_refused_before_anything_is_written(tmp_path, capsys):
    from lava_sast.experiments.sweep import main as sweep_main
    out = tmp_path / "o"
    for cli, args, why in [
            (main, ["--hidden", "-1"], "argument --hidden: expected a whole number >= 0, got '-1'"),
            (sweep_main, ["--dataset", "shapes", "--conv-channels", "0", "16"],
             "argument --conv-channels: expected a whole number >= 1, got '0'")]:
        with pytest.raises(SystemExit) as stop:  # refused where the option is parsed
            cli(args + ["--out", str(out)])
        assert stop.value.code == 2 and why in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(ValueError, match=r"conv_channels must be two positive counts, got "
                                         r"\(0, 16\)"):  # and by the config, for library use
        resolve(TrainConfig(dataset="shapes", conv_channels=[0, 16]))
    assert TrainConfig(conv_channels=[16, 16]).conv_channels == (16, 16)

