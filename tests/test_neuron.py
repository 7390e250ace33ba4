import pytest
import torch

from lava_sast.block import Dense
from lava_sast.neuron import SastCubaNeuron

PARAMS = dict(threshold=1.0, current_decay=0.25, voltage_decay=0.03)


def test_hard_mode_spikes_are_binary_and_match_slayer_cuba():
    from lava.lib.dl.slayer.neuron import cuba
    torch.manual_seed(0)
    x = torch.randn(4, 7, 25) * 0.8
    ours = SastCubaNeuron(**PARAMS, beta=3.0, spike_mode="hard")
    ref = cuba.Neuron(**PARAMS)
    s = ours(x)
    assert set(s.unique().tolist()) <= {0.0, 1.0}
    assert s.sum() > 0
    assert torch.equal(s, ref(x))


def test_surrogate_mode_equals_hand_computed_sigmoid_trajectory():
    beta, theta = 4.0, 1.0
    n = SastCubaNeuron(**PARAMS, beta=beta, spike_mode="surrogate")
    x = torch.tensor([[[0.5, 0.9, 0.0, 1.2, -0.3, 0.7]]])
    keep_u = 1 - round(0.25 * 4096) / 4096
    keep_v = 1 - round(0.03 * 4096) / 4096
    u = v = 0.0
    expected = []
    for xt in x[0, 0].tolist():
        u = keep_u * u + xt
        v = keep_v * v + u
        s = torch.sigmoid(torch.tensor(beta * (v - theta))).item()
        expected.append(s)
        v = v * (1 - s)
    out = n(x)
    assert torch.allclose(out[0, 0], torch.tensor(expected), atol=1e-6)


def test_surrogate_gradient_is_exact_autograd():
    n = SastCubaNeuron(**PARAMS, beta=2.0).double()
    x = torch.randn(2, 3, 8, dtype=torch.double, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: n(z), (x,))


def test_mode_switch_changes_only_the_spike_function():
    torch.manual_seed(1)
    b = Dense(dict(PARAMS, beta=5.0), 12, 6, weight_scale=2)
    x = (torch.rand(2, 12, 20) < 0.3).float()
    before = {k: v.clone() for k, v in b.state_dict().items()}
    soft = b(x)
    b.set_spike_mode("hard")
    hard = b(x)
    assert not torch.equal(soft, hard)
    assert set(hard.unique().tolist()) <= {0.0, 1.0}
    for k, v in b.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert b.neuron.threshold == 1.0


def test_invalid_mode_rejected():
    n = SastCubaNeuron(**PARAMS)
    try:
        n.spike_mode = "soft"
    except ValueError as exc:
        assert "spike_mode" in str(exc)
    else:
        raise AssertionError("expected ValueError")


@pytest.mark.parametrize("detach", [False, True])
@pytest.mark.parametrize("shape", [(3, 5, 40), (2, 3, 4, 4, 25)])
def test_hand_written_bptt_matches_autograd(shape, detach):
    """The surrogate dynamics' own backward loop gives autograd's gradient, with the
    reset's slope in it (exact) or left out (detached)."""
    from lava_sast.dynamics import surrogate_cuba, surrogate_cuba_reference
    torch.manual_seed(0)
    x = (torch.randn(*shape) * 0.8).requires_grad_()
    keep_u, keep_v = torch.tensor(0.75), torch.tensor(0.97)
    grad = torch.randn(*shape)
    s_ref, v_ref = surrogate_cuba_reference(x, keep_u, keep_v, 1.25, 5.0, detach)
    (g_ref,) = torch.autograd.grad((s_ref * grad).sum(), x)
    s, v = surrogate_cuba(x, keep_u, keep_v, 1.25, 5.0, detach)
    (g,) = torch.autograd.grad((s * grad).sum(), x)
    assert torch.allclose(s, s_ref, atol=1e-5) and torch.allclose(v, v_ref, atol=1e-5)
    assert torch.allclose(g, g_ref, atol=1e-5, rtol=1e-4)
    assert g.abs().max() > 1e-3  # the gradient is not trivially zero


def test_detached_reset_keeps_the_forward_and_bounds_the_gradient_at_steep_slopes():
    """Same spikes either way; at beta theta = 12 the exact reset gradient grows through
    time (|dw/dv| > 1 near threshold) and the detached one does not."""
    torch.manual_seed(0)
    x = (0.1 + 0.1 * torch.randn(64, 1, 60)).requires_grad_()
    grads, outs = {}, {}
    for mode in ("exact", "detached"):
        n = SastCubaNeuron(**PARAMS, beta=12.0, reset_grad=mode)
        outs[mode] = n(x)
        (grads[mode],) = torch.autograd.grad(outs[mode][..., -1].sum(), x)
    assert torch.equal(outs["exact"], outs["detached"])
    early_exact = grads["exact"][..., :30].abs().mean()
    early_detached = grads["detached"][..., :30].abs().mean()
    assert early_exact > 1e4 * early_detached
    assert early_detached < 1e-2  # no growth: bounded by the decays


def test_invalid_reset_grad_rejected():
    with pytest.raises(ValueError, match="reset_grad"):
        SastCubaNeuron(**PARAMS, reset_grad="stop")
