"""The gesture path on real DVS128 Gesture events and on generated files."""
import json

import numpy as np
import pytest
import tonic
import torch

from lava_sast.datasets import DatasetError, load_dataset
from lava_sast.datasets.dvsgesture import DVSGesture, write_tonic_layout


def _clips_to_tonic(clips, out):
    rows = [l.split("\t") for l in (clips / "labels.tsv").read_text().splitlines()
            if l and not l.startswith("#")]
    for name, label, _ in rows:
        ev = tonic.io.read_mnist_file(str(clips / name), dtype=tonic.datasets.NMNIST.dtype)
        write_tonic_layout(ev, int(label), out, train=False, user=24)
        write_tonic_layout(ev, int(label), out, train=True, user=1)
    return len(rows)


@pytest.fixture(scope="module")
def gesture_dir(gesture_clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("gesture")
    assert _clips_to_tonic(gesture_clips, out) == 10
    return out


def test_real_clips_load_bin_and_downsample(gesture_dir):
    ds = DVSGesture(gesture_dir, train=False)
    assert len(ds) == 10 and sorted(ds.targets) == list(range(10))
    events, _ = ds[0]
    assert events["x"].max() < 128 and events["t"].max() > 1_000_000
    binned = load_dataset("dvsgesture", gesture_dir, "test")
    assert binned.spikes.shape == (10, 2, 32, 32, 30)
    assert binned.spikes[:, :, :, :, 28].any()  # events up to 1.45 s reach bin 28 (1.40-1.45 s)


def test_train_export_and_lava_on_real_gesture_clips(gesture_dir, tmp_path):
    from lava_sast.train import main as train_main
    from netx_export.run import main as run_main
    from netx_export.verify import main as verify_main
    out = tmp_path / "run"
    assert train_main(["--dataset", "dvsgesture", "--data-dir", str(gesture_dir),
                       "--epochs", "1", "--hidden", "32", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"] == "dvsgesture" and "int4_accuracy" in report
    res = tmp_path / "lava.json"
    assert run_main([str(out / "network_int8.net"), "--dataset", "dvsgesture", "--data-dir",
                     str(gesture_dir), "--samples", "2", "--out", str(res)]) == 0
    assert json.loads(res.read_text())["samples"] == 2
    for bits in (8, 4):
        ver = tmp_path / f"verify{bits}.json"
        assert verify_main([str(out / f"network_int{bits}.net"), "--dataset", "dvsgesture",
                            "--data-dir", str(gesture_dir), "--samples", "2",
                            "--out", str(ver)]) == 0
        result = json.loads(ver.read_text())
        assert result["spike_mismatches"] == [0, 0, 0, 0]
        assert min(result["spikes_per_layer"][:3]) > 0  # the comparison is not vacuous


def test_wrong_layout_is_a_clear_error(tmp_path):
    (tmp_path / "ibmGestureTest" / "not_a_user").mkdir(parents=True)
    with pytest.raises(DatasetError, match="not_a_user"):
        DVSGesture(tmp_path, train=False)
    with pytest.raises(DatasetError, match="ibmGestureTrain"):
        DVSGesture(tmp_path, train=True)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "DVSGesture" / "ibmGestureTest").mkdir(parents=True)
    with pytest.raises(DatasetError, match="no <user>"):
        DVSGesture(tmp_path, train=False)


def test_file_with_wrong_columns_names_the_file(tmp_path):
    folder = tmp_path / "DVSGesture" / "ibmGestureTest" / "user01_led"
    folder.mkdir(parents=True)
    np.save(folder / "3.npy", np.zeros((10, 3), dtype=np.int64))
    ds = DVSGesture(tmp_path, train=False)
    with pytest.raises(DatasetError, match="3.npy.*columns"):
        ds[0]


def test_generated_shapes_dataset_is_balanced():
    train = load_dataset("shapes", split="train", max_samples=60)
    assert train.spikes.shape[1:] == (2, 32, 32, 30)
    assert set(train.labels.tolist()) == set(range(6))


def _saturated_share(weight_scale):
    import torch
    from lava_sast.arch import default_arch
    from lava_sast.models import SastNetwork
    from lava_sast.defaults import FAMILY_DEFAULTS
    conv = FAMILY_DEFAULTS["conv"]  # the family's own start, under any method's preset
    torch.manual_seed(0)
    net = SastNetwork(default_arch("shapes", (2, 32, 32), 6), (2, 32, 32), beta=conv["beta"],
                      weight_scale=weight_scale or conv["weight_scale"])
    x = load_dataset("shapes", split="train", max_samples=32).spikes.float()
    shares = []
    with torch.no_grad():
        for b in net.blocks:
            x = b(x)
            if hasattr(b, "neuron"):  # share of neurons spiking (smoothly) at >40% of steps
                shares.append(float((x.mean(-1) > 0.4).float().mean()))
    return shares


def test_conv_family_defaults_start_hidden_layers_unsaturated():
    from lava_sast.config import TrainConfig, resolved as with_family_defaults
    cfg = with_family_defaults(TrainConfig(dataset="shapes", method="slayer"))
    assert (cfg.beta, cfg.true_rate) == (5.0, 0.5)
    assert with_family_defaults(TrainConfig(dataset="shapes")).weight_scale == 0.5
    dense = with_family_defaults(TrainConfig(dataset="digits"))
    assert (dense.weight_scale, dense.true_rate, dense.false_rate) == (2.0, 0.2, 0.03)
    assert max(_saturated_share(None)) < 0.05
    # SLAYER's weight_scale 2 saturates the wide hidden layer: the loss then stalls at chance
    assert _saturated_share(2.0)[2] > 0.2


def _train_shapes(tmp_path, *extra):
    import torch
    from lava_sast.evaluate import evaluate
    from lava_sast.checkpoint import load_network
    from lava_sast.train import main as train_main
    out = tmp_path / "run"
    # the rate-loss recipe these tests are about (conv nets' defaults now train with ce)
    recipe = ["--loss", "rate", "--init-rate", "0", "--beta-warmup", "0", "--lr-per-slope",
              "off", "--lr", "3e-3", "--beta", "5", "--threshold", "1", "--weight-scale",
              "0.5"]
    assert train_main(["--dataset", "shapes", "--method", "baseline", "--epochs", "12",
                       *recipe, "--test-samples", "120",
                       "--val-fraction", "0", "--no-hardware-eval", "--out", str(out),
                       *extra]) == 0
    report = json.loads((out / "report.json").read_text())
    net = load_network(out / "checkpoint.pt")
    test = load_dataset("shapes", split="test", max_samples=120)
    with torch.no_grad():
        net.set_spike_mode("surrogate")
        top = float(net(test.spikes.float()).max())  # largest smooth output of any class
    assert evaluate(net, test, "surrogate").accuracy == report["surrogate_accuracy"]
    return report, top


def test_rate_target_one_half_makes_conv_outputs_spike_and_survive_the_swap(tmp_path):
    report, top = _train_shapes(tmp_path, "--epochs", "8", "--conv-channels", "8", "16")
    assert report["config"]["true_rate"] == 0.5
    assert report["surrogate_accuracy"] >= 0.9
    assert top > 0.5  # the true class's membrane crosses threshold: real spikes
    assert report["hard_accuracy"] >= 0.9


def test_low_rate_target_lets_conv_outputs_classify_below_threshold(tmp_path):
    # true rate 0.2 is reachable by a sigmoid below threshold: the surrogate net
    # classifies without a single output crossing threshold, which a hard spike cannot copy
    report, top = _train_shapes(tmp_path, "--true-rate", "0.2")
    assert report["surrogate_accuracy"] >= 0.9
    assert top < 0.5


def test_hidden_zero_and_conv_channels_shape_the_default_conv_net():
    from lava_sast.arch import default_arch
    from lava_sast.models import SastNetwork
    arch = default_arch("shapes", (2, 32, 32), 6, hidden=0)
    assert [layer["type"] for layer in arch] == ["conv", "conv", "flatten", "dense"]
    assert arch[-1]["out"] == 6
    assert len(default_arch("shapes", (2, 32, 32), 6)) == 5  # default keeps the hidden layer
    assert default_arch("digits", (2, 8, 8), 10, hidden=0) == [{"type": "dense", "out": 10}]
    assert [layer.get("out") for layer in default_arch("shapes", (2, 32, 32), 6, 0, (16, 16))] \
        == [16, 16, None, 6]
    with pytest.raises(ValueError, match="hidden"):
        default_arch("shapes", (2, 32, 32), 6, hidden=-1)
    net = SastNetwork(arch, (2, 32, 32))
    assert net(torch.zeros(1, 2, 32, 32, 4)).shape == (1, 6, 4)
