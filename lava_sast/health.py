"""Training health: per layer, how the net's neurons sit relative to threshold.

A net that trains badly usually shows it in its first epoch, long before its accuracy
does: hidden layers whose membranes never reach threshold (a smooth spike then passes
almost no gradient), membranes driven many thresholds away from it, or neurons that fire
at every step.  :func:`layer_health` measures, on a fixed probe batch in the training
forward pass (the method's spike mode and the epoch's slope), for every weighted layer:

- ``rate``: the mean output (spike rate; the smooth spike's mean in surrogate mode);
- ``crossing``: the share of (neuron, step) membranes above threshold;
- ``silent``: the share of neurons whose membrane never crosses threshold;
- ``saturated``: the share of neurons above threshold in at least 90 % of steps;
- ``v_mean`` / ``v_std``: membrane potential in units of the threshold (pre-reset);
- ``grad_norm``: the norm of the layer's weight gradient of the training loss.

:func:`diagnose` turns one measurement into problems and the setting most likely behind
them; :class:`HealthWatch` measures a run, prints the first problems in one line and
keeps every measurement for ``report.json`` (``health_start``, ``history[i]["health"]``);
:func:`plot` draws them.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

#: Share of neurons that makes a layer silent or saturated.
SILENT_SHARE, SATURATED_SHARE = 0.9, 0.9
#: Membrane mean (in thresholds) below which, or spread above which, membranes are far
#: from threshold (lava-dl's recipe keeps them within about one threshold; a well-trained
#: smooth dense net at beta 1 sits at about -14 +- 15, so distance alone is no problem).
RUNAWAY_MEAN, RUNAWAY_STD = -5.0, 8.0
#: A layer's weight gradient below this share of the largest it had has vanished (a
#: converged dense net keeps about 1e-3 of it after 20 epochs; a start that fails drops
#: to 1e-5 within one epoch).
VANISHED = 1e-4
#: Samples in the probe batch, and the seed that draws it.
PROBE_SAMPLES, PROBE_SEED = 64, 12345


def layer_health(model: Any, x: torch.Tensor, y: torch.Tensor,
                 loss_fx: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]
                 ) -> list[dict[str, float]]:
    """Each weighted layer's health on ``(x, y)`` in the model's current spike modes and
    slope (see the module's docstring); ``loss_fx`` gives the gradient norms (``None``:
    none).  The weights' ``.grad`` are cleared afterwards; nothing else changes."""
    blocks = model.weighted_blocks()
    for b in blocks:
        b.neuron.record_voltage = True
    rows: list[dict[str, float]] = []
    try:
        with torch.enable_grad() if loss_fx is not None else torch.no_grad():
            outputs: list[torch.Tensor] = []
            hooks = [b.register_forward_hook(lambda _m, _i, o: outputs.append(o.detach()))
                     for b in blocks]
            try:
                out = model(x)
            finally:
                for h in hooks:
                    h.remove()
            if loss_fx is not None:
                for p in model.parameters():
                    p.grad = None
                loss_fx(out, y).backward()
        for i, (b, spikes) in enumerate(zip(blocks, outputs)):
            n = b.neuron
            theta = float(n.threshold)
            last = n.last_voltage
            v = last.reshape(last.shape[0], -1, last.shape[-1])
            above = (v >= theta).float()  # [N, neurons, T]; SLAYER spikes at >=
            per_neuron = above.mean(dim=(0, 2))
            grad = b.synapse.weight.grad
            rows.append({
                "layer": i,
                "rate": float(spikes.float().mean()),
                "crossing": float(above.mean()),
                "silent": float((above.amax(dim=(0, 2)) == 0).float().mean()),
                "saturated": float((per_neuron >= 0.9).float().mean()),
                "v_mean": float(v.mean()) / theta,
                "v_std": float(v.std()) / theta,
                "grad_norm": float(grad.norm()) if grad is not None else float("nan"),
            })
    finally:
        for b in blocks:
            b.neuron.record_voltage = False
            b.neuron.last_voltage = None
        for p in model.parameters():
            p.grad = None
    return rows


def probe_batch(dataset: Any, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A class-stratified batch of :data:`PROBE_SAMPLES` samples of ``dataset``, drawn
    with its own fixed seed (the same at every epoch and on resume; the run's random
    numbers are not touched)."""
    from .datasets import stratified_indices
    x, y = dataset[stratified_indices(dataset.labels, PROBE_SAMPLES, PROBE_SEED)]
    return x.to(device), torch.as_tensor(y).to(device)


def diagnose(rows: Sequence[dict[str, float]], names: Sequence[str],
             before: Sequence[Sequence[dict[str, float]]] = ()) -> list[str]:
    """The problems in one measurement after some training, given the measurements
    ``before`` it (the start first); ``names`` labels the layers.  A layer's problems:

    - its weight gradient vanished: below :data:`VANISHED` of the largest it had (with its
      membranes, which have then usually run away from threshold);
    - it went silent: :data:`SILENT_SHARE` of its neurons never cross threshold, where
      before they did (hidden layers only: a class that is never chosen may stay quiet);
    - it saturated: :data:`SATURATED_SHARE` of its neurons fire in 90 % of steps.

    Nothing is judged at the start (``before`` empty): lava-dl's initial scale leaves deep
    layers silent there, and they train."""
    if not before:
        return []
    problems = []
    last = len(rows) - 1
    for j, (row, name) in enumerate(zip(rows, names)):
        peak = max((m[j]["grad_norm"] for m in before if math.isfinite(m[j]["grad_norm"])),
                   default=math.nan)
        ratio = row["grad_norm"] / peak if peak and math.isfinite(peak) else math.nan
        if ratio < VANISHED:
            far = row["v_mean"] < RUNAWAY_MEAN or row["v_std"] > RUNAWAY_STD
            where = ("membranes run away from threshold" if far else "membranes at")
            problems.append(f"{name}: gradient vanished ({ratio:.0e} of its largest), "
                            f"{where} {row['v_mean']:+.1f} ± {row['v_std']:.1f} thresholds, "
                            f"{100 * row['silent']:.0f} % of neurons silent")
        elif (j != last and row["silent"] >= SILENT_SHARE
              and before[-1][j]["silent"] < SILENT_SHARE):
            problems.append(f"{name}: went silent ({100 * row['silent']:.0f} % of neurons "
                            f"never cross threshold)")
        if row["saturated"] >= SATURATED_SHARE:
            problems.append(f"{name}: saturated ({100 * row['saturated']:.0f} % of neurons "
                            f"above threshold in 90 % of steps)")
    return problems


def likely_settings(cfg: Any, spike_mode: str) -> str:
    """The settings most likely behind an unhealthy start, for the warning's hint."""
    hints = []
    if spike_mode == "surrogate" and getattr(cfg, "beta_warmup", 0):
        hints.append(f"--beta-warmup {cfg.beta_warmup} (a shallow first epoch drives "
                     f"membranes below threshold; try 0)")
    if getattr(cfg, "init_rate", 0):
        hints.append(f"--init-rate {cfg.init_rate:g} (the calibrated start scales the "
                     f"weights; try 0)")
    if not hints:
        hints.append("--lr / --weight-scale / --threshold")
    return "; ".join(hints)


def warning_line(epoch: int, problems: Sequence[str], hint: str) -> str:
    """One line naming the layers, the problem and the likely setting."""
    when = "at the start" if epoch == 0 else f"after epoch {epoch}"
    return f"warning: training health {when}: {'; '.join(problems)}. Likely setting: {hint}"


def layer_names(model: Any) -> list[str]:
    """``"layer i (kind out)"`` for each weighted layer (any kind with an ``out``: conv,
    dense, dense_rec), ``i`` its position in the arch list."""
    return [f"layer {i} ({layer['type']} {layer['out']})"
            for i, layer in enumerate(model.arch) if "out" in layer]


def plot(start: Optional[Sequence[dict]], history: Sequence[dict], path: Path,
         names: Sequence[str]) -> None:
    """``health.png``: per layer, crossing rate, silent share, membrane mean ± std (in
    thresholds) and gradient norm, from the start to the last epoch."""
    from matplotlib.figure import Figure  # no pyplot: a notebook's backend stays as it is
    series = ([(0, start)] if start else []) + [
        (h["epoch"], h["health"]) for h in history if h.get("health")]
    if not series:
        return
    fig = Figure(figsize=(13, 3.2))
    axes = fig.subplots(1, 4)
    epochs = [e for e, _ in series]
    for j, name in enumerate(names):
        col = lambda key: [rows[j][key] for _, rows in series]  # noqa: E731
        axes[0].plot(epochs, [100 * c for c in col("crossing")], marker=".", label=name)
        axes[1].plot(epochs, [100 * s for s in col("silent")], marker=".")
        mean, std = col("v_mean"), col("v_std")
        axes[2].plot(epochs, mean, marker=".")
        axes[2].fill_between(epochs, [m - s for m, s in zip(mean, std)],
                             [m + s for m, s in zip(mean, std)], alpha=0.15)
        axes[3].semilogy(epochs, [max(g, 1e-12) for g in col("grad_norm")], marker=".")
    axes[2].axhline(1.0, color="k", lw=0.6, ls="--")
    for ax, title in zip(axes, ("membranes above threshold (%)", "silent neurons (%)",
                                "membrane / threshold (mean ± std)", "|weight gradient|")):
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch (0: start)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=100)
    tmp.replace(path)


class HealthWatch:
    """A run's training health: measured at the start and after every epoch on a fixed
    probe batch (:func:`probe_batch`) in the training forward pass the model is set to;
    the first problems are printed in one warning line naming the layers and ``hint``,
    the likely settings (:func:`likely_settings`)."""

    def __init__(self, model: Any, train_set: Any, loss_fx: Callable, device: torch.device,
                 hint: str) -> None:
        self.model, self.loss_fx, self.hint = model, loss_fx, hint
        self.x, self.y = probe_batch(train_set, device)
        self.names = layer_names(model)
        self.start: Optional[list[dict]] = None
        self.seen: list[list[dict]] = []  # every measurement so far, the start first
        self.warnings: list[str] = []

    def measure(self, epoch: int) -> list[dict[str, float]]:
        """Health after ``epoch`` (0: the start); warns once."""
        was_training = self.model.training
        self.model.train()
        try:
            rows = layer_health(self.model, self.x, self.y, self.loss_fx)
        finally:
            self.model.train(was_training)
        if epoch == 0:
            self.start = rows
        problems = diagnose(rows, self.names, self.seen)
        self.seen.append(rows)
        if problems:
            line = warning_line(epoch, problems, self.hint)
            if not self.warnings:
                print(line, file=sys.stderr, flush=True)
            self.warnings.append(line)
        return rows

    def state(self) -> dict[str, Any]:
        return {"start": self.start, "warnings": self.warnings}

    def restore(self, state: Optional[dict[str, Any]], history: list[dict]) -> None:
        if state:
            self.start, self.warnings = state["start"], list(state["warnings"])
            self.seen = [self.start] + [h["health"] for h in history if h.get("health")]

    def report(self) -> dict[str, Any]:
        return {"health_start": self.start, "health_layers": self.names,
                "health_warnings": self.warnings}

    def plot(self, history: list[dict], path: Path) -> None:
        plot(self.start, history, path, self.names)
