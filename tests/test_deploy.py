"""Deployment: NetX export, Lava fixed-point runs (real simulator), emulator equality."""
import json

import h5py
import numpy as np
import pytest
import torch

from lava_sast.datasets import DatasetError
from lava_sast.models import SastNetwork
from netx_export.emulate import emulate
from netx_export.export import export_network
from netx_export.lava_runner import LavaRunError, run_lava
from netx_export.netx_model import NetworkFileError, load_int_network
from netx_export.run import main as run_main
from netx_export.verify import compare


def _random_net(seed: int, sizes: list[int], scale: float) -> SastNetwork:
    torch.manual_seed(seed)
    arch = [{"type": "dense", "out": n} for n in sizes[1:]]
    net = SastNetwork(arch, (1, 1, sizes[0]), beta=5.0, weight_scale=scale)
    with torch.no_grad():
        for b in net.weighted_blocks():  # spread weights over the whole 8-bit range
            b.synapse.weight.mul_(scale)
    return net


@pytest.mark.parametrize("bits", [8, 4])
def test_export_roundtrip_respects_bit_budget(tmp_path, bits):
    net = _random_net(0, [40, 30, 10], 3.0)
    path = tmp_path / f"n{bits}.net"
    info = export_network(net, path, weight_bits=bits)
    from lava.lib.dl.netx import hdf5
    assert len(hdf5.Network(net_config=str(path))) == 2
    with h5py.File(path) as f:
        for i, layer in enumerate(info):
            w = f[f"layer/{i}/weight"][()]
            assert np.all(w == np.round(w)) and w.min() >= -256 and w.max() <= 254
            assert len(np.unique(w)) <= 2 ** bits - 1
            assert f[f"layer/{i}/neuron/type"][()] == b"CUBA"
    for layer in load_int_network(path).layers:
        assert layer.num_weight_bits <= bits


@pytest.mark.parametrize("seed,sizes,bits,density", [
    (0, [50, 40, 10], 8, 0.3),
    (1, [50, 40, 10], 4, 0.05),
    (2, [60, 30, 20, 10], 8, 0.05),
    (3, [60, 30, 20, 10], 4, 0.4),
])
def test_lava_and_emulator_agree_spike_for_spike(tmp_path, seed, sizes, bits, density):
    net = _random_net(seed, sizes, 4.0)
    path = tmp_path / "net.net"
    export_network(net, path, weight_bits=bits)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((4, sizes[0], 12)) < density).float()
    result = compare(str(path), x, timeout_s=240, show_progress=False)
    assert result["spike_mismatches"] == [0] * (len(sizes) - 1)
    assert sum(result["spikes_per_layer"][:-1]) > 0  # the test is not vacuous


def test_lava_run_on_real_nmnist_matches_emulator(nmnist_dir, tmp_path):
    from lava_sast.train import main as train_main
    out = tmp_path / "run"
    assert train_main(["--dataset", "nmnist", "--data-dir", str(nmnist_dir), "--epochs", "1",
                       "--train-samples", "100", "--test-samples", "5", "--hidden", "32",
                       "--no-hardware-eval", "--out", str(out)]) == 0
    results = {}
    for engine in ("lava", "emulator"):
        res_path = tmp_path / f"{engine}.json"
        assert run_main([str(out / "network.net"), "--dataset", "nmnist", "--data-dir",
                         str(nmnist_dir), "--samples", "5", "--engine", engine,
                         "--out", str(res_path)]) == 0
        results[engine] = json.loads(res_path.read_text())
    lava, emu = results["lava"], results["emulator"]
    assert lava["samples"] == 5 and lava["steps_per_sample"] == 30
    assert lava["predictions"] == emu["predictions"]
    assert lava["accuracy"] == emu["accuracy"]
    assert lava["synops_per_layer"] == pytest.approx(emu["synops_per_layer"])
    assert "fixed_pt" in lava["backend"]


def test_unreadable_hdf5_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "broken.net"
    bad.write_bytes(b"this is not hdf5")
    with pytest.raises(NetworkFileError, match="broken.net"):
        load_int_network(bad)
    assert run_main([str(bad), "--samples", "2"]) == 2
    assert "broken.net" in capsys.readouterr().err


def test_sensor_size_mismatch_is_a_clear_error(nmnist_dir, tmp_path):
    net = _random_net(0, [18 * 18 * 2, 20, 10], 2.0)  # embedded-digits sized input
    path = tmp_path / "digits.net"
    export_network(net, path)
    from netx_export.data_input import load_inputs
    with pytest.raises(DatasetError, match="34, 34"):
        load_inputs(load_int_network(path), "nmnist", str(nmnist_dir), "test", 3)


def test_floating_point_backend_is_refused(tmp_path):
    net = _random_net(0, [10, 5], 2.0)
    path = tmp_path / "n.net"
    export_network(net, path)
    with pytest.raises(LavaRunError, match="fixed_pt"):
        run_lava(path, np.zeros((1, 10, 5)), select_tag="floating_pt")


def test_lava_time_limit_kills_the_run(tmp_path):
    net = _random_net(0, [200, 100, 10], 2.0)
    path = tmp_path / "n.net"
    export_network(net, path)
    x = (np.random.default_rng(0).random((50, 200, 30)) < 0.2).astype(np.float32)
    with pytest.raises(LavaRunError, match="exceeded"):
        run_lava(path, x, timeout_s=1.0, show_progress=False)


@pytest.mark.parametrize("seed,bits", [(0, 8), (1, 4)])
def test_random_conv_nets_match_lava(tmp_path, seed, bits):
    torch.manual_seed(seed)
    arch = [{"type": "conv", "out": 4, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "conv", "out": 6, "kernel": 3, "stride": 1, "padding": 0},
            {"type": "flatten"}, {"type": "dense", "out": 5}]
    net = SastNetwork(arch, (2, 12, 12), beta=5.0, weight_scale=6.0)
    path = tmp_path / "conv.net"
    export_network(net, path, weight_bits=bits)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.random((3, 2, 12, 12, 10)) < 0.3).float()
    result = compare(str(path), x, timeout_s=240, show_progress=False)
    assert result["spike_mismatches"] == [0, 0, 0]
    assert result["spikes_per_layer"][0] > 0 and result["spikes_per_layer"][1] > 0


def _conv_net(seed: int) -> SastNetwork:
    torch.manual_seed(seed)
    arch = [{"type": "conv", "out": 4, "kernel": 3, "stride": 2, "padding": 1},
            {"type": "flatten"}, {"type": "dense", "out": 6}]
    return SastNetwork(arch, (2, 32, 32), beta=5.0, weight_scale=2.0)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_a_zeroed_layer_is_named_by_run_and_verify_never_a_traceback(tmp_path, capsys, kind):
    from netx_export.verify import main as verify_main
    net = _random_net(0, [2 * 18 * 18, 16, 10], 3.0) if kind == "dense" else _conv_net(0)
    path = tmp_path / "net.net"
    export_network(net, path, weight_bits=8)
    first = 1 if kind == "conv" else 0  # conv nets start with an input layer
    with h5py.File(path, "r+") as f:
        w = f[f"layer/{first}/weight"]
        w[...] = np.zeros_like(w[()])
    dataset = "digits" if kind == "dense" else "shapes"
    for cli in (run_main, verify_main):
        assert cli([str(path), "--dataset", dataset, "--samples", "2"]) == 2
        err = capsys.readouterr().err
        assert f"layer {first} has only zero weights" in err and "Traceback" not in err


def test_nan_weights_and_collapsed_layers_are_reported(tmp_path, recwarn):
    from netx_export.export import DegenerateLayerWarning
    net = _random_net(0, [40, 30, 10], 3.0)
    with torch.no_grad():
        net.weighted_blocks()[1].synapse.weight.mul_(1e-4)  # rounds to zero at 8 bits
    info = export_network(net, tmp_path / "n.net", weight_bits=8)
    assert info[1]["levels"] < 3 and info[1]["relative_error"] > 0.5
    assert any(issubclass(w.category, DegenerateLayerWarning) for w in recwarn)
    path = tmp_path / "nan.net"
    export_network(_random_net(1, [40, 30, 10], 3.0), path, weight_bits=8)
    with h5py.File(path, "r+") as f:  # a float dataset holding NaN
        shape = f["layer/1/weight"].shape
        del f["layer/1/weight"]
        f["layer/1/weight"] = np.full(shape, np.nan)
    with pytest.raises(NetworkFileError, match="layer 1 has non-finite"):
        load_int_network(path)


def test_full_range_export_gives_small_weight_layers_their_bit_budget(tmp_path):
    net = _random_net(4, [50, 40, 10], 4.0)
    with torch.no_grad():
        net.weighted_blocks()[0].synapse.weight.mul_(0.02)  # |64 w| mostly below 4
    plain = export_network(net, tmp_path / "plain.net", weight_bits=8)
    full = export_network(net, tmp_path / "full.net", weight_bits=8, full_range=True)
    assert plain[0]["shift"] == 0 and plain[0]["levels"] < 20
    assert full[0]["shift"] < 0 and full[0]["threshold_scale"] == 2 ** -full[0]["shift"]
    assert full[0]["levels"] > 4 * plain[0]["levels"]
    assert full[0]["relative_error"] < plain[0]["relative_error"] / 4
    assert full[1] == plain[1]  # a layer that already spans the range is left as it was
    with h5py.File(tmp_path / "full.net") as f:
        assert f["layer/0/neuron/vThMant"][()] == 64 * full[0]["threshold_scale"]
    x = torch.from_numpy(np.random.default_rng(4).random((3, 50, 12)) < 0.5).float()
    result = compare(str(tmp_path / "full.net"), x, timeout_s=240, show_progress=False)
    assert result["spike_mismatches"] == [0, 0] and result["spikes_per_layer"][0] > 0
