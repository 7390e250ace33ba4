import pytest
import torch

from lava_sast.datasets import load_dataset
from lava_sast.models import SastNetwork
from lava_sast.sharpness import sam_sharpness
from lava_sast.config import TrainConfig, resolved
from lava_sast.losses import make_loss


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", split="test", max_samples=64)


def _net(digits) -> SastNetwork:
    torch.manual_seed(0)
    return SastNetwork([{"type": "dense", "out": 32}, {"type": "dense", "out": 10}],
                       digits.spec.input_shape, beta=1.0)


def test_sharpness_climbs_uphill_and_leaves_the_net_as_it_was(digits):
    net = _net(digits)
    before = [p.detach().clone() for p in net.parameters()]
    loss_fx = make_loss(resolved(TrainConfig(dataset="digits")))
    flat = sam_sharpness(net, digits, loss_fx, rho=0.0)
    sharp = sam_sharpness(net, digits, loss_fx, rho=0.05)
    assert flat.sharpness == 0.0 and flat.loss == pytest.approx(sharp.loss)
    assert sharp.sharpness > 0  # SAM's climb goes up the loss
    assert sam_sharpness(net, digits, loss_fx, rho=0.2).sharpness > sharp.sharpness
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())
    assert [n.spike_mode for n in net.neurons()] == ["surrogate", "surrogate"]
    assert set(sharp.as_dict()) == {"rho", "loss", "climbed_loss", "sharpness"}


def test_sharpness_loss_is_the_surrogate_training_loss(digits):
    net = _net(digits)
    loss_fx = make_loss(resolved(TrainConfig(dataset="digits")))
    x = torch.stack([digits[i][0] for i in range(len(digits))])
    y = torch.tensor([digits[i][1] for i in range(len(digits))])
    with torch.no_grad():
        expected = float(loss_fx(net(x), y))  # surrogate forward, as in training
    net.set_spike_mode("hard")  # sharpness is measured on the surrogate forward regardless
    got = sam_sharpness(net, digits, loss_fx, rho=0.0, batch_size=len(digits)).loss
    assert got == pytest.approx(expected, rel=1e-5)
    assert [n.spike_mode for n in net.neurons()] == ["hard", "hard"]
