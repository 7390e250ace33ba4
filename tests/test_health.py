"""Training health (lava_sast.health): per-layer measurements that change nothing, the
diagnosis of silent layers and runaway membranes, and the one-line warning of a run."""
from __future__ import annotations

import json
import math

import pytest
import torch

from lava_sast import health
from lava_sast.config import TrainConfig
from lava_sast.models import SastNetwork
from lava_sast.trainer import train

ARCH = [{"type": "dense", "out": 12}, {"type": "dense", "out": 4}]


def _net(weight_scale: float = 2.0, mode: str = "surrogate") -> SastNetwork:
    torch.manual_seed(0)
    net = SastNetwork(ARCH, (1, 4, 4), weight_scale=weight_scale, beta=3.0)
    net.set_spike_mode(mode)
    return net


@pytest.mark.parametrize("mode", ["surrogate", "hard"])
def test_measuring_changes_no_weight_gradient_or_output(mode):
    net = _net(mode=mode)
    x = (torch.rand(8, 1, 4, 4, 20) < 0.3).float()
    y = torch.arange(8) % 4
    before = net(x).detach()
    weights = [p.detach().clone() for p in net.parameters()]
    loss = torch.nn.CrossEntropyLoss()
    rows = health.layer_health(net, x, y, lambda out, t: loss(out.mean(-1), t))
    assert [r["layer"] for r in rows] == [0, 1]
    for r in rows:
        assert 0 <= r["crossing"] <= 1 and 0 <= r["silent"] <= 1 and 0 <= r["saturated"] <= 1
        assert math.isfinite(r["v_mean"]) and r["v_std"] >= 0 and r["grad_norm"] > 0
    assert torch.equal(net(x).detach(), before)
    assert all(torch.equal(a, b) for a, b in zip(weights, net.parameters()))
    assert all(p.grad is None for p in net.parameters())
    assert all(not n.record_voltage and n.last_voltage is None for n in net.neurons())


def test_a_layer_without_input_is_silent():
    net = _net()
    x = torch.zeros(4, 1, 4, 4, 10)
    rows = health.layer_health(net, x, torch.zeros(4, dtype=torch.long), None)
    assert rows[0]["silent"] == 1.0 and rows[0]["crossing"] == 0.0
    assert math.isnan(rows[0]["grad_norm"])
    assert health.layer_names(net) == ["layer 0 (dense 12)", "layer 1 (dense 4)"]


def _row(layer, **kw):
    return {"layer": layer, "silent": 0.2, "saturated": 0.0, "v_mean": -0.4, "v_std": 1.0,
            "grad_norm": 1.0, **kw}


def test_vanished_gradients_silence_and_saturation_are_diagnosed():
    names = ["a", "b"]
    start = [_row(0), _row(1)]
    assert health.diagnose(start, names) == []  # nothing is judged at the start
    assert health.diagnose([_row(0), _row(1)], names, [start]) == []
    # far from threshold with a live gradient: a smooth dense net at beta 1 looks like this
    wide = _row(0, v_mean=-13.6, v_std=17.2, grad_norm=0.03)
    assert health.diagnose([wide, _row(1)], names, [start]) == []
    # a start that fails: the gradient drops to 1e-5 of its largest within an epoch
    away = _row(0, v_mean=-7.9, v_std=10.1, grad_norm=3.4e-6, silent=0.73)
    assert health.diagnose([away, _row(1)], names, [start]) == [
        "a: gradient vanished (3e-06 of its largest), membranes run away from threshold "
        "-7.9 ± 10.1 thresholds, 73 % of neurons silent"]
    # lava-dl's scale leaves a deep layer silent at the start; it is no problem if it was
    silent_start = [_row(0, silent=1.0, grad_norm=1e-3), _row(1)]
    quiet = _row(0, silent=0.92, grad_norm=2.6)
    assert health.diagnose([quiet, _row(1)], names, [silent_start]) == []
    assert health.diagnose([quiet, _row(1)], names, [start]) == [
        "a: went silent (92 % of neurons never cross threshold)"]
    # the output layer may go quiet
    assert health.diagnose([_row(0), _row(1, silent=1.0)], names, [start]) == []
    hot = _row(0, saturated=0.95)
    assert "saturated (95 %" in health.diagnose([hot, _row(1)], names, [start])[0]


def test_the_hint_names_the_likely_settings_in_one_line():
    cfg = TrainConfig(beta_warmup=1, init_rate=0.021)
    hint = health.likely_settings(cfg, "surrogate")
    assert "--beta-warmup 1" in hint and "--init-rate 0.021" in hint
    assert "--beta-warmup" not in health.likely_settings(cfg, "hard")
    line = health.warning_line(1, ["a: went silent"], hint)
    assert "\n" not in line and line.startswith("warning: training health after epoch 1")


def test_a_run_records_health_every_epoch_and_warns_once_in_one_line(tmp_path, capsys):
    # a slope warm-up from beta 0.05 to 20: the smooth net trains at a shallow slope, then
    # the steep one passes no gradient to membranes that far from threshold
    cfg = TrainConfig(dataset="digits", method="surrogate", epochs=3, train_samples=120,
                      test_samples=40, beta=20.0, beta_start=0.05, beta_warmup=1,
                      lr_per_slope=False, lr=0.05, out=str(tmp_path / "run"),
                      quiet=True, hardware_eval=False)
    report = train(cfg)
    err = [line for line in capsys.readouterr().err.splitlines() if "training health" in line]
    assert len(err) == 1 and "layer 0 (dense" in err[0] and "--beta-warmup 1" in err[0]
    assert report["health_warnings"][0] == err[0]
    assert len(report["health_start"]) == len(report["health_layers"]) == 2
    assert [len(h["health"]) for h in report["history"]] == [2, 2, 2]
    assert (tmp_path / "run" / "health.png").stat().st_size > 0
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["health_start"] == report["health_start"]


def test_health_survives_an_exact_resume(tmp_path):
    def cfg(epochs: int, out: str) -> TrainConfig:
        return TrainConfig(dataset="digits", method="surrogate", epochs=epochs,
                           train_samples=120, test_samples=40, out=str(tmp_path / out),
                           quiet=True, hardware_eval=False)
    whole = train(cfg(2, "whole"))
    train(cfg(1, "part"))
    resumed = train(cfg(2, "part"), resume=True)
    assert resumed["health_start"] == whole["health_start"]
    assert [h["health"] for h in resumed["history"]] == [h["health"] for h in whole["history"]]
