import pytest
import torch

from lava_sast.sam import SAM


def _quadratic(w):
    return (w[0] - 1) ** 2 + 3 * w[1] ** 2


def test_sam_step_matches_hand_computation():
    w = torch.tensor([2.0, 1.0], requires_grad=True)
    opt = SAM([w], torch.optim.SGD, rho=0.5, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = _quadratic(w)
        loss.backward()
        return loss

    opt.step(closure)
    g = torch.tensor([2 * (2 - 1), 6 * 1.0])          # grad at w
    e = 0.5 * g / g.norm()                             # climb
    w_adv = torch.tensor([2.0, 1.0]) + e
    g_adv = torch.tensor([2 * (w_adv[0] - 1), 6 * w_adv[1]])
    expected = torch.tensor([2.0, 1.0]) - 0.1 * g_adv  # step from the original w
    assert torch.allclose(w.detach(), expected, atol=1e-6)


def test_adaptive_sam_scales_climb_by_weight_magnitude():
    w = torch.tensor([2.0, 0.5], requires_grad=True)
    opt = SAM([w], torch.optim.SGD, rho=0.2, adaptive=True, lr=0.1)
    loss = _quadratic(w)
    loss.backward()
    g = w.grad.clone()
    opt.first_step()
    tw_g = torch.tensor([2.0, 0.5]) * g
    e = 0.2 * torch.tensor([2.0, 0.5]) ** 2 * g / tw_g.norm()
    assert torch.allclose(w.detach(), torch.tensor([2.0, 0.5]) + e, atol=1e-6)
    opt.zero_grad()
    _quadratic(w).backward()
    opt.second_step()
    assert not torch.allclose(w.detach(), torch.tensor([2.0, 0.5]) + e)


def test_rho_zero_is_exactly_the_base_optimizer():
    torch.manual_seed(0)
    model_a = torch.nn.Linear(5, 3)
    model_b = torch.nn.Linear(5, 3)
    model_b.load_state_dict(model_a.state_dict())
    sam = SAM(model_a.parameters(), torch.optim.Adam, rho=0.0, lr=0.01)
    base = torch.optim.Adam(model_b.parameters(), lr=0.01)
    for _ in range(5):
        x, y = torch.randn(8, 5), torch.randn(8, 3)

        def closure():
            sam.zero_grad()
            loss = torch.nn.functional.mse_loss(model_a(x), y)
            loss.backward()
            return loss

        sam.step(closure)
        base.zero_grad()
        torch.nn.functional.mse_loss(model_b(x), y).backward()
        base.step()
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)


def test_climb_every_reuses_the_stored_ascent_step():
    w = torch.tensor([2.0, 1.0], requires_grad=True)
    opt = SAM([w], torch.optim.SGD, rho=0.5, climb_every=2, lr=0.1)
    calls = []

    def closure():
        calls.append(w.detach().clone())
        opt.zero_grad()
        loss = _quadratic(w)
        loss.backward()
        return loss

    opt.step(closure)           # full SAM step: two passes
    w1 = w.detach().clone()
    e = calls[1] - calls[0]
    opt.step(closure)           # reuse e: one pass at w1 + e
    assert len(calls) == 3
    assert torch.allclose(calls[2], w1 + e)
    g = torch.tensor([2 * (calls[2][0] - 1), 6 * calls[2][1]])
    assert torch.allclose(w.detach(), w1 - 0.1 * g, atol=1e-6)


def test_layerwise_sam_climbs_rho_in_every_layer():
    small = torch.tensor([1.0, 1.0], requires_grad=True)   # tiny gradient
    big = torch.tensor([1.0, 1.0], requires_grad=True)     # 1000x larger gradient
    climbs = {}
    for layerwise in (False, True):
        opt = SAM([small, big], torch.optim.SGD, rho=0.3, layerwise=layerwise, lr=0.1)
        opt.zero_grad()
        (1e-3 * small.sum() + big.sum()).backward()
        opt.first_step()
        climbs[layerwise] = [opt.state[small]["e"].norm().item(),
                            opt.state[big]["e"].norm().item()]
        opt.second_step()
    assert abs(climbs[True][0] - 0.3) < 1e-6 and abs(climbs[True][1] - 0.3) < 1e-6
    assert climbs[False][0] < 1e-3 and abs(climbs[False][1] - 0.3) < 1e-5


def test_climb_only_leaves_other_parameters_unperturbed_but_steps_them():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    opt = SAM([{"params": [a], "climb": False}, {"params": [b]}], torch.optim.SGD, rho=0.3,
              lr=0.1)
    opt.zero_grad()
    (a.sum() + b.sum()).backward()
    opt.first_step()
    assert "e" not in opt.state[a] and abs(opt.state[b]["e"].norm().item() - 0.3) < 1e-6
    assert torch.equal(a.detach(), torch.tensor([1.0, 2.0]))
    opt.second_step()
    assert torch.allclose(a.detach(), torch.tensor([0.9, 1.9]))  # still stepped


def test_layer_restricted_climb_selects_dense_or_conv_weights_of_a_conv_net():
    from lava_sast.arch import default_arch
    from lava_sast.models import SastNetwork
    from lava_sast.methods import climbing_parameters
    net = SastNetwork(default_arch("shapes", (2, 32, 32), 6), (2, 32, 32))
    weights = [b.synapse.weight for b in net.weighted_blocks()]
    dense = {id(p) for p in climbing_parameters(net, "dense")}
    conv = {id(p) for p in climbing_parameters(net, "conv")}
    assert [id(w) in dense for w in weights] == [False, False, True, True]
    assert [id(w) in conv for w in weights] == [True, True, False, False]
    assert climbing_parameters(net, "all") is None
    with pytest.raises(ValueError, match="sam_layers"):
        climbing_parameters(net, "pooling")


def test_sam_is_a_torch_optimizer_that_schedulers_accept():
    w = torch.tensor([2.0, 1.0], requires_grad=True)
    sam = SAM([w], torch.optim.Adam, rho=0.1, lr=0.1)
    assert isinstance(sam, torch.optim.Optimizer)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(sam, 10)

    def closure():
        sam.zero_grad()
        loss = _quadratic(w)
        loss.backward()
        return loss

    sam.step(closure)
    sched.step()
    assert sam.param_groups[0]["lr"] < 0.1
    assert sam.base_optimizer.param_groups[0]["lr"] == sam.param_groups[0]["lr"]


def test_second_step_restores_weights_exactly_before_stepping():
    w = torch.tensor([0.1, 1e7], requires_grad=True)  # w + e - e != w in float32
    sam = SAM([w], torch.optim.SGD, rho=0.3, lr=0.0)
    _quadratic(w).backward()
    sam.first_step()
    sam.second_step()
    assert torch.equal(w.detach(), torch.tensor([0.1, 1e7]))


def _run(sam_factory, steps, state=None):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    sam = sam_factory(model)
    if state is not None:
        model.load_state_dict(state["model"])
        sam.load_state_dict(state["opt"])
    data = [(torch.randn(8, 4), torch.randn(8, 2)) for _ in range(6)]
    for x, y in data[len(data) - steps:] if state is not None else data[:steps]:
        def closure():
            sam.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            return loss
        sam.step(closure)
    return model, sam


def test_state_dict_round_trip_continues_climb_every_exactly():
    factory = lambda m: SAM(m.parameters(), torch.optim.Adam, rho=0.2, climb_every=2,  # noqa
                            adaptive=True, lr=0.01)
    full, _ = _run(factory, 6)
    first, sam = _run(factory, 3)  # stops with a stored climb that step 4 reuses
    state = {"model": first.state_dict(), "opt": sam.state_dict()}
    resumed, sam2 = _run(factory, 3, state)
    assert sam2.steps == 6 and sam2.climb_every == 2
    for a, b in zip(full.parameters(), resumed.parameters()):
        assert torch.equal(a, b)


def test_independent_ascent_batch_climbs_on_its_own_gradient():
    w = torch.tensor([2.0, 1.0], requires_grad=True)
    sam = SAM([w], torch.optim.SGD, rho=0.5, lr=0.1)
    seen = []

    def closure():
        seen.append(w.detach().clone())
        sam.zero_grad()
        loss = _quadratic(w)
        loss.backward()
        return loss

    def ascent():  # another "batch": a loss whose gradient points along +x only
        sam.zero_grad()
        loss = 5 * w[0]
        loss.backward()
        return loss

    sam.step(closure, ascent)
    assert len(seen) == 1  # the training batch is evaluated once, at w + e
    assert torch.allclose(seen[0], torch.tensor([2.5, 1.0]))
