"""QAT of a recurrent layer trains through the grid the exporter gives it: its input and
recurrent weights share one power-of-two step (NetX gives a ``dense_rec`` layer one
exponent), so the INT8/INT4 export of a QAT-trained recurrent net computes what training
saw."""
from __future__ import annotations

import pytest
import torch

import lava_sast  # noqa: F401  (compat hook)
from lava_sast.layers import kind_of
from lava_sast.models import SastNetwork
from netx_export.export import quantized_copy


@pytest.mark.parametrize("bits", [8, 4])
def test_qat_hook_is_the_exporters_joint_grid(bits):
    torch.manual_seed(0)
    model = SastNetwork([{"type": "dense_rec", "out": 12}, {"type": "dense", "out": 4}],
                        (10, 1, 1), weight_hook=f"qat{bits}")
    rec = model.weighted_blocks()[0]
    with torch.no_grad():  # recurrent weights 8x the input ones: separate grids would differ
        rec.recurrent_synapse.weight.mul_(8)
    synapses = kind_of(rec).synapses(rec)
    assert len(synapses) == 2 and synapses[0].pre_hook_fx is synapses[1].pre_hook_fx
    seen = [s.pre_hook_fx(s.weight).detach() for s in synapses]
    q, _ = quantized_copy(model, weight_bits=bits)
    exported = [s.weight for s in kind_of(q.weighted_blocks()[0]).synapses(
        q.weighted_blocks()[0])]
    for a, b in zip(seen, exported):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # one step for both: every level of both is a multiple of the larger's step
    steps = [float((w * 64).abs()[(w * 64).abs() > 0].min()) for w in seen]
    assert min(steps) == max(steps) or max(steps) % min(steps) == 0


def test_qat_gradient_reaches_both_recurrent_matrices():
    torch.manual_seed(0)
    model = SastNetwork([{"type": "dense_rec", "out": 8}, {"type": "dense", "out": 3}],
                        (6, 1, 1), weight_hook="qat8")
    model.set_spike_mode("surrogate")
    x = (torch.rand(4, 6, 1, 1, 20) < 0.3).float()
    model(x).sum().backward()
    rec = model.weighted_blocks()[0]
    for s in kind_of(rec).synapses(rec):
        assert s.weight.grad is not None and float(s.weight.grad.abs().sum()) > 0
