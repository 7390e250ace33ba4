"""``--arch``: the architecture is the user's choice on any dataset (the default dense or
conv net, or a JSON layer list with per-layer neurons and biases); every method trains it
and its deploy file matches Lava ``fixed_pt`` spike for spike."""
from __future__ import annotations

import json

import pytest

from lava_sast.arch import read_arch_file
from lava_sast.config import TrainConfig, resolve
from lava_sast.methods import METHOD_NAMES
from lava_sast.train import main as train_main
from netx_export.data_input import load_inputs
from netx_export.netx_model import load_int_network
from netx_export.verify import compare

ARCH = [{"type": "conv", "out": 6, "kernel": 5, "stride": 2, "padding": 2},
        {"type": "conv", "out": 8, "kernel": 3, "stride": 2, "padding": 1,
         "neuron": {"threshold": 1.5, "voltage_decay": 0.1}},
        {"type": "flatten"},
        {"type": "dense", "out": 24, "bias": True, "neuron": {"current_decay": 1.0}},
        {"type": "dense", "out": 10}]


def _verify(net_file, dataset="digits", data_dir=None, samples=2):
    net = load_int_network(net_file)
    inputs, _, _ = load_inputs(net, dataset, data_dir, "test", samples)
    result = compare(str(net_file), inputs, timeout_s=600, show_progress=False)
    return result["spike_mismatches"], result["spikes_per_layer"]


@pytest.mark.slow
def test_the_conv_net_on_nmnist_trains_with_every_method_and_verifies(nmnist_dir, tmp_path):
    assert resolve(TrainConfig(dataset="nmnist", arch="conv", method="surrogate")).beta == \
        resolve(TrainConfig(dataset="shapes", method="surrogate")).beta  # conv defaults
    for method in METHOD_NAMES:
        out = tmp_path / method
        deploy = method == "slayer"
        args = ["--dataset", "nmnist", "--data-dir", str(nmnist_dir), "--arch", "conv",
                "--method", method, "--epochs", "1", "--train-samples", "64",
                "--test-samples", "20", "--quiet", "--out", str(out)]
        assert train_main(args + ([] if deploy else ["--no-hardware-eval"])) == 0, method
        report = json.loads((out / "report.json").read_text())
        assert report["config"]["arch"] == "conv" and report["hard_accuracy"] is not None
    mismatches, spikes = _verify(tmp_path / "slayer" / "network_int8.net", "nmnist",
                                 str(nmnist_dir))
    assert mismatches == [0, 0, 0, 0] and spikes[0] > 0


def test_a_layer_list_with_its_own_neurons_and_bias_trains_and_verifies(tmp_path):
    arch = tmp_path / "net.json"
    arch.write_text(json.dumps(ARCH))
    out = tmp_path / "run"
    assert train_main(["--arch", str(arch), "--method", "slayer", "--epochs", "1",
                       "--train-samples", "96", "--test-samples", "20", "--quiet",
                       "--out", str(out)]) == 0
    net = load_int_network(out / "network_int8.net")
    assert [(l.vth, l.v_decay) for l in net.layers][1][1] == 410  # the layer's own decay
    assert net.layers[2].bias is not None and net.layers[2].i_decay == 4096
    mismatches, spikes = _verify(out / "network_int8.net")
    assert mismatches == [0, 0, 0, 0] and spikes[0] > 0


@pytest.mark.parametrize("layer, words", [
    ({"type": "maxpool", "out": 3}, "layer 0 has type 'maxpool'"),
    ({"type": "pool", "out": 3}, "layer 0 (pool) lacks 'kernel'"),
    ({"type": "dense"}, "layer 0 (dense) lacks 'out'"),
    ({"type": "dense", "out": 10, "width": 3}, "unknown key 'width'"),
    ({"type": "conv", "out": 4, "kernel": 0}, "kernel must be a whole number >= 1"),
])
def test_a_bad_layer_list_is_named_in_one_line(layer, words, tmp_path, capsys):
    arch = tmp_path / "net.json"
    arch.write_text(json.dumps([layer, {"type": "dense", "out": 10}]))
    assert train_main(["--arch", str(arch), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert f"--arch {arch}: " in err and words in err
    assert not (tmp_path / "o").exists()


def test_a_studys_default_radius_follows_the_net_family(tmp_path):
    from lava_sast.experiments.study import parse_options
    dense = parse_options(["--dataset", "nmnist", "--out", str(tmp_path)], "study",
                          ["slayer-sam"], None)
    conv = parse_options(["--dataset", "nmnist", "--arch", "conv", "--out", str(tmp_path)],
                         "study", ["slayer-sam"], None)
    assert dense.default_rho["slayer-sam"] == resolve(
        TrainConfig(dataset="nmnist", method="slayer-sam")).rho  # the dense preset's
    assert conv.default_rho["slayer-sam"] == resolve(
        TrainConfig(dataset="shapes", method="slayer-sam")).rho  # the conv net's own
    assert dense.default_rho["slayer-sam"] != conv.default_rho["slayer-sam"]


POOLED = [{"type": "conv", "out": 6, "kernel": 5, "stride": 2, "padding": 2},
          {"type": "pool", "kernel": 2},
          {"type": "conv", "out": 8, "kernel": 3, "padding": 1},
          {"type": "pool", "kernel": 2},
          {"type": "flatten"},
          {"type": "dense", "out": 6}]


def test_a_trained_sum_pool_folds_exactly_and_verifies_against_lava(tmp_path):
    import torch
    from lava_sast.checkpoint import load_network
    from lava_sast.datasets import load_dataset
    from netx_export.export import quantized_copy
    arch = tmp_path / "pooled.json"
    arch.write_text(json.dumps(POOLED))
    out = tmp_path / "run"
    assert train_main(["--dataset", "shapes", "--arch", str(arch), "--method", "slayer",
                       "--epochs", "1", "--train-samples", "96", "--test-samples", "20",
                       "--quiet", "--out", str(out)]) == 0
    model = load_network(out / "checkpoint.pt")
    assert [type(b).__name__ for b in model.blocks].count("SumPool") == 2
    assert not any(p.requires_grad for b in model.blocks if type(b).__name__ == "SumPool"
                   for p in b.parameters())  # pooling is fixed, not trained
    q, _ = quantized_copy(model)
    folded = q.folded()
    assert [layer["type"] for layer in folded.arch] == ["conv", "conv", "flatten", "dense"]
    assert folded.arch[1]["kernel"] == 6 and folded.arch[1]["stride"] == 2
    x = load_dataset("shapes", split="test", max_samples=8).spikes.float()
    q.set_spike_mode("hard")
    folded.set_spike_mode("hard")
    with torch.no_grad():  # weights on the 1/64 grid: float sums are exact, so equal
        assert torch.equal(q(x), folded(x))
    net = load_int_network(out / "network_int8.net")
    assert [l.kind for l in net.layers] == ["conv", "conv", "dense"]
    mismatches, spikes = _verify(out / "network_int8.net", "shapes")
    assert mismatches == [0, 0, 0] and spikes[0] > 0


def test_pool_layers_that_cannot_fold_are_refused(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"type": "conv", "out": 4, "kernel": 3},
                               {"type": "pool", "kernel": 2}, {"type": "dense", "out": 6}]))
    with pytest.raises(ValueError, match="layer 1 \\(pool\\) must be followed by a conv"):
        read_arch_file(bad)
    first = tmp_path / "first.json"  # a pool pools a conv layer's map, not the input
    first.write_text(json.dumps([{"type": "pool", "kernel": 2}, {"type": "conv", "out": 4,
                                                                 "kernel": 3},
                                 {"type": "flatten"}, {"type": "dense", "out": 6}]))
    with pytest.raises(ValueError, match="layer 0 \\(pool\\) must follow a conv layer"):
        read_arch_file(first)
    odd = tmp_path / "odd.json"  # 32x32 -> conv k5 s2 p2 -> 16x16 -> pool 3 leaves rows
    odd.write_text(json.dumps([{"type": "conv", "out": 4, "kernel": 5, "stride": 2,
                                "padding": 2}, {"type": "pool", "kernel": 3},
                               {"type": "flatten"}, {"type": "dense", "out": 6}]))
    assert train_main(["--dataset", "shapes", "--arch", str(odd), "--epochs", "1",
                       "--quiet", "--out", str(tmp_path / "run")]) == 2
