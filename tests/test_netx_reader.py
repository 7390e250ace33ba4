"""The emulator's NetX reader: every field NetX reads is read (conv and dense biases,
``dense_rec``, per-layer neurons) or refused in one line naming it; the Lava details it
mirrors (each Dense's own sign mode, one exponent for ``weight`` and ``weight_rec``, the
bias truncated toward zero) are checked against Lava's own objects where they are cheap
to build, and against Lava runs by ``tests/test_fuzz_lava.py``."""
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from lava_sast.models import SastNetwork
from netx_export.emulate import emulate
from netx_export.netx_model import NetworkFileError, load_int_network


def _write(path, layers):
    """A NetX file from ``[(type, {dataset: value})]``, each with a CUBA neuron."""
    with h5py.File(path, "w") as h:
        for i, (kind, fields) in enumerate(layers):
            g = h.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [kind.encode()])
            for key, value in fields.items():
                g.create_dataset(key, data=value)
            if kind not in ("input", "flatten") and "neuron/type" not in fields:
                g.create_dataset("neuron/type", (1,), "S10", [b"CUBA"])
                for key, value in (("vThMant", 80), ("iDecay", 4096), ("vDecay", 0)):
                    if f"neuron/{key}" not in fields:
                        g.create_dataset(f"neuron/{key}", data=value)
    return str(path)


def test_dense_rec_shares_one_exponent_and_each_synapse_its_own_sign(tmp_path):
    from lava.lib.dl.netx.utils import optimize_weight_bits
    w = np.full((3, 4), -64.0)
    w[0, 0] = -128
    rec = np.array([[0, 200, -6], [4, 0, 2], [8, 6, 0]], float)
    path = _write(tmp_path / "r.net", [("dense_rec", {"shape": [3], "weight": w,
                                                      "weight_rec": rec})])
    layer = load_int_network(path).layers[0]
    assert layer.netx_type == "dense_rec" and layer.weight_rec.shape == (3, 3)
    _, bits, exp, _ = optimize_weight_bits(np.hstack((w, rec)))
    assert (layer.weight_exp, layer.num_weight_bits) == (exp, bits)
    # the feed-forward synapse has no positive weight: Lava's Dense makes it inhibitory
    # and -128 (here -256 after the shared shift) loses its last step
    assert layer.weight.max() <= 0 and layer.weight.min() > -256


@pytest.mark.parametrize("row, effective", [
    ([-128, -1, -64], [-127, -1, -64]),     # 7 weight bits: -256 clipped to -255, then -254
    ([-128, 0, -64], [-96, 0, -64]),        # 2 bits: -255 truncated to -192
    ([-128, -64, -32], [-96, -64, -32]),
])
def test_a_layer_with_no_positive_weight_is_inhibitory_in_lava(tmp_path, row, effective):
    """Lava's Dense derives its own sign mode (NetX's optimiser calls a matrix with zeros
    and negatives mixed, and shifts -128 to -256): inhibitory weights are clipped to
    -255 and truncated to the layer's bit count.  Lava runs of such layers:
    ``tests/test_fuzz_lava.py`` (its 'sign mode' mutant)."""
    w = np.array([row], float)
    with np.errstate(divide="ignore"):
        layer = load_int_network(_write(tmp_path / "n.net", [("dense", {"shape": [1],
                                                                         "weight": w})])).layers[0]
    assert (layer.weight[0] * 2.0 ** layer.weight_exp).tolist() == effective


def test_biases_are_read_as_lava_holds_them(tmp_path):
    conv_w = np.ones((2, 1, 1, 1)) * 64
    path = _write(tmp_path / "b.net", [
        ("input", {"shape": [1, 2, 3]}),
        ("conv", {"shape": [2, 2, 3], "weight": conv_w, "stride": [1, 1],
                  "padding": [0, 0], "dilation": [1, 1], "groups": 1,
                  "bias": np.array([2.7, -2.7])}),
        ("flatten", {"shape": [12, 1, 1]}),
        ("dense", {"shape": [2], "weight": np.ones((2, 12)) * 8,
                   "bias": np.array([1.9, -0.5])})])
    conv, dense = load_int_network(path).layers
    assert conv.bias.shape == (2, 2, 3) and (conv.bias[0] == 2).all() and (conv.bias[1] == -2).all()
    assert dense.bias.tolist() == [1, 0]  # NetX's astype(int32): toward zero


def test_a_bias_drives_a_conv_layer_in_the_emulator(tmp_path):
    """A positive conv bias alone (no input spikes) makes an IF layer fire every
    ``ceil(vth / bias)`` steps; before, the emulator dropped conv biases."""
    path = _write(tmp_path / "c.net", [
        ("input", {"shape": [1, 2, 2]}),
        ("conv", {"shape": [1, 2, 2], "weight": np.ones((1, 1, 1, 1)) * 64,
                  "stride": [1, 1], "padding": [0, 0], "dilation": [1, 1], "groups": 1,
                  "bias": np.array([20.0]), "neuron/vThMant": 50})])
    res = emulate(load_int_network(path), torch.zeros(1, 1, 2, 2, 9), record_layers=True)
    assert res.layer_spikes[0][0, 0, 0, 0].nonzero().flatten().tolist() == [2, 5, 8]


@pytest.mark.parametrize("fields, named", [
    ({"delay": np.zeros(2)}, "delay"),
    ({"bias": np.zeros((2, 2))}, "bias has shape [2, 2]"),
    ({"bias": np.array([np.nan, 0])}, "bias has non-finite"),
    ({"neuron/messageBits": 3}, "messageBits 3"),
    ({"neuron/vDecay": 5000}, "vDecay must be one integer in 0..4096"),
    ({"weight_rec": np.zeros((2, 2))}, "is 'dense' but has weight_rec"),
])
def test_fields_the_emulator_cannot_mirror_are_refused_by_name(tmp_path, fields, named):
    path = _write(tmp_path / "x.net", [("dense", {"shape": [2], "weight": np.ones((2, 3)),
                                                  **fields})])
    with pytest.raises(NetworkFileError) as e:
        load_int_network(path)
    assert named in str(e.value) and "layer 0" in str(e.value)
    assert "\n" not in str(e.value)


def test_complex_weights_are_refused_by_name(tmp_path):
    path = _write(tmp_path / "z.net", [("dense", {"shape": [2], "weight/real": np.ones((2, 3)),
                                                  "weight/imag": np.ones((2, 3))})])
    with pytest.raises(NetworkFileError, match="layer 0 has complex weights"):
        load_int_network(path)


def test_dense_rec_needs_a_square_recurrent_weight(tmp_path):
    path = _write(tmp_path / "y.net", [("dense_rec", {"shape": [2], "weight": np.ones((2, 3)),
                                                      "weight_rec": np.ones((2, 3))})])
    with pytest.raises(NetworkFileError, match="weight_rec has shape \\[2, 3\\]; expected"):
        load_int_network(path)


def test_a_layer_list_may_start_with_flatten(tmp_path):
    arch = [{"type": "flatten"}, {"type": "dense", "out": 5, "bias": True},
            {"type": "dense", "out": 3}]
    net = SastNetwork(arch, (2, 3, 4))
    out = net(torch.rand(2, 2, 3, 4, 6))
    assert out.shape == (2, 3, 6)
    net.export_hdf5(tmp_path / "f.net")
    loaded = load_int_network(tmp_path / "f.net")
    assert loaded.input_size == 24 and [l.kind for l in loaded.layers] == ["dense", "dense"]


@pytest.mark.parametrize("folds", ["-2", "1"])
def test_study_refuses_folds_below_two_in_one_line(folds, tmp_path):
    r = subprocess.run([sys.executable, "-m", "lava_sast.study", "--folds", folds,
                        "--epochs", "1", "--out", str(tmp_path / "s")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--folds must be 0 (no cross-validation) or at least 2" in r.stderr


def test_each_exported_kind_reads_converts_and_steps_itself():
    """The NetX reader, Lava's integers and the emulator's step dispatch to the layer kind
    (``lava_sast.layers``): every exported kind has its own, and a file's extra array is
    refused by any kind that does not store it (here a conv with ``weight_rec``)."""
    from lava_sast.layers import NETX_TYPES, LayerKind
    for name, kind in NETX_TYPES.items():
        assert type(kind).read_netx is not LayerKind.read_netx, name
        if kind.weighted:
            for method in ("lava_weights", "netx_fan_out", "emu_sum"):
                assert getattr(type(kind), method) is not getattr(LayerKind, method), name
    assert NETX_TYPES["dense_rec"].emu_carry_shape(type("L", (), {"num_neurons": 3})) == (3,)
    assert NETX_TYPES["dense"].emu_carry_shape(None) is None


def test_a_conv_layer_with_weight_rec_is_refused(tmp_path):
    path = _write(tmp_path / "c.net", [
        ("input", {"shape": [1, 4, 4]}),
        ("conv", {"shape": [2, 4, 4], "weight": np.ones((2, 1, 3, 3)), "stride": 1,
                  "padding": 1, "dilation": 1, "groups": 1, "weight_rec": np.ones((2, 2))})])
    with pytest.raises(NetworkFileError, match="layer 1 is 'conv' but has weight_rec"):
        load_int_network(path)
