"""Training methods: one registry of small strategies, each carrying its own facts.

Each :class:`Method` says what the forward pass runs, which weight hook the synapses train
through, whether it steps with SAM, its defaults (on every net family and per family,
where a family may load a tuned preset from :mod:`lava_sast.presets`) and its tuning search
space.  The names, aliases and SAM methods every command offers derive from
:data:`METHODS`.

==============  =================  ==============  ======================================
method          forward (training)  weight hook     optimiser
==============  =================  ==============  ======================================
``smooth``      smooth sigmoid      clamp           Adam (stored as ``surrogate``)
``sast``        smooth sigmoid      clamp           SAM around Adam (the paper's SAST)
``slayer``      hard spikes         SLAYER 8-bit    Adam: lava-dl's standard recipe
``slayer-sam``  hard spikes         SLAYER 8-bit    SAM around Adam, on the net that deploys
``anneal``      smooth sigmoid,     clamp           Adam, or SAM when ``rho > 0``
                beta raised per
                epoch to beta_end
==============  =================  ==============  ======================================

``--qat-bits 8|4`` replaces any method's hook with the exporter's own per-layer
power-of-two quantiser (straight-through), so the INT8/INT4 deployment is trained for.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Optional, Protocol

import torch

from .datasets import takes_presets
from .presets import load_preset, tuning_record
from .sam import SAM


class RunSettings(Protocol):
    """The settings a method reads (a resolved :class:`lava_sast.config.TrainConfig`; the
    registry depends on this shape, not on the config module)."""

    epochs: int
    lr: float
    lr_schedule: str
    lr_per_slope: bool
    beta: float
    beta_start: float
    beta_end: float
    beta_warmup: int
    qat_bits: int
    rho: float
    adaptive: bool
    sam_layers: str
    sam_layerwise: bool
    climb_every: int


class Network(Protocol):
    """What a method needs of a net (:class:`lava_sast.models.SastNetwork`)."""

    def parameters(self) -> Any: ...
    def parameters_of(self, kind: str) -> list[torch.nn.Parameter]: ...
    def set_beta(self, beta: float) -> None: ...
    def set_spike_mode(self, mode: str) -> None: ...

#: The surrogate-forward fixes (benchmarks/surrogate_collapse.py shows the collapse and
#: each fix): cross-entropy on the output rates, each layer's initial rate calibrated on
#: data, the slope raised from 1 over the first epochs, Adam's step divided by the slope.
SURROGATE_FORWARD: dict[str, Any] = {
    "loss": "ce", "init_rate": 0.1, "beta_warmup": 5, "lr_per_slope": True, "lr": 3e-4,
}
#: lava-dl's NMNIST tutorial recipe: Adam 1e-3, ``slayer.block.cuba.Dense``'s initial
#: weight scale 1 (SLAYER's surrogate gradient is in :data:`defaults.COMMON_DEFAULTS`).
SLAYER_RECIPE: dict[str, Any] = {"lr": 1e-3, "weight_scale": 1.0}
#: The presets the dense and conv nets' defaults load (tuned on N-MNIST, docs/results.md).
DENSE_PRESET = "dense-nmnist"
CONV_PRESET = "conv-nmnist"
#: How far ``anneal`` raises the sigmoid slope by default: ``beta_end = 10 * beta``.
ANNEAL_FACTOR = 10.0
#: Longest slope warm-up a tuning trial draws (and at most half its epoch cap).
MAX_TUNED_WARMUP = 6
#: What a tuning trial draws: every option, or only SAM's (:meth:`Method.search_space`).
SPACES = ("all", "sam")

Layer = dict[str, Any] | str  # a table of settings, or the name of a preset


class Method:
    """The surrogate-forward recipe; subclasses change one thing each."""

    name: ClassVar[str] = "surrogate"
    aliases: ClassVar[tuple[str, ...]] = ()
    #: the name help and docs give (``None``: :attr:`name`); ``name`` is what configs,
    #: run folders and reports store
    shown: ClassVar[Optional[str]] = None
    summary: ClassVar[str] = "smooth sigmoid spikes forward, Adam"
    spike_mode: ClassVar[str] = "surrogate"  # forward pass during training
    weight_hook: ClassVar[str] = "clamp"     # synapse pre-hook during training (before QAT)
    uses_sam: ClassVar[bool] = False
    #: settings over :data:`defaults.COMMON_DEFAULTS`, on every network family
    defaults: ClassVar[dict[str, Any]] = {}
    #: per network family, settings over :attr:`defaults`: tables or preset names, in order
    family_defaults: ClassVar[dict[str, tuple[Layer, ...]]] = {}

    # ------------------------------------------------------------------ facts

    def defaults_for(self, family: str, dataset: Optional[str] = None) -> dict[str, Any]:
        """The method's default settings on a ``family`` net (dense or conv); ``tuned_on``
        records where a preset among them was tuned.  Presets are left out for a
        ``dataset`` that does not take them (:attr:`DatasetInfo.tuned_presets`)."""
        presets = dataset is None or takes_presets(dataset)
        merged = dict(self.defaults)
        for layer in self.family_defaults.get(family, ()):
            if isinstance(layer, str):
                if not presets:
                    continue
                preset = load_preset(layer)
                if self.name in preset["methods"]:
                    merged.update(preset["methods"][self.name])
                    merged["tuned_on"] = tuning_record(preset)
            else:
                merged.update(layer)
        return merged

    def presets_for(self, family: str) -> list[str]:
        """Names of the presets the ``family`` defaults load."""
        return [l for l in self.family_defaults.get(family, ()) if isinstance(l, str)]

    def default_beta_end(self, beta: float) -> float:
        """``beta_end`` when not given: the slope itself (``anneal`` raises it)."""
        return beta

    def effective_rho(self, rho: float) -> float:
        """The SAM radius training uses (0 for methods without SAM)."""
        return rho if self.uses_sam else 0.0

    # ------------------------------------------------------------------ training

    def hook(self, cfg: RunSettings) -> str:
        """Weight hook the model trains (and is evaluated) through."""
        return f"qat{cfg.qat_bits}" if cfg.qat_bits else self.weight_hook

    def optimizer(self, model: Network, cfg: RunSettings) -> torch.optim.Optimizer:
        if self.uses_sam and cfg.rho > 0:
            return sam_optimizer(model, cfg)
        return torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def beta_at(self, cfg: RunSettings, epoch: int) -> float:
        """Surrogate slope used in ``epoch`` (1-based): with ``beta_warmup = k``, raised
        geometrically from ``beta_start`` in epoch 1 to ``beta`` in epoch ``k + 1``."""
        if cfg.beta_warmup and epoch <= cfg.beta_warmup and self.spike_mode == "surrogate":
            frac = (epoch - 1) / cfg.beta_warmup
            return float(cfg.beta_start * (cfg.beta / cfg.beta_start) ** frac)
        return cfg.beta

    def warmup_epochs(self, cfg: RunSettings) -> int:
        """Epochs of slope warm-up: not candidates for the reported net (their slope is not
        the one asked for) and not counted by ``--patience``."""
        if self.spike_mode != "surrogate" or not cfg.beta_warmup:
            return 0
        return min(cfg.beta_warmup, cfg.epochs - 1)

    def warmup_unfinished(self, cfg: RunSettings) -> bool:
        """Whether ``cfg.epochs`` end inside the slope warm-up: no epoch trains at the slope
        asked for, and the reported net is the last epoch's, at a shallower slope."""
        return (self.spike_mode == "surrogate" and bool(cfg.beta_warmup)
                and cfg.epochs <= cfg.beta_warmup)

    def lr_factor(self, cfg: RunSettings, epoch: int) -> float:
        """Multiplier of ``cfg.lr`` in ``epoch`` (1-based): the cosine schedule, and for a
        surrogate forward with ``lr_per_slope`` one over the epoch's slope (Adam moves
        every weight by about lr a step, so the change of ``beta (v - theta)`` it causes
        grows with beta; dividing by beta makes it the same at every slope)."""
        factor = 1.0
        if cfg.lr_schedule == "cosine":
            factor *= 0.5 * (1 + math.cos(math.pi * (epoch - 1) / cfg.epochs))
        if cfg.lr_per_slope and self.spike_mode == "surrogate":
            factor /= self.beta_at(cfg, epoch)
        return factor

    def start_epoch(self, model: Network, cfg: RunSettings, epoch: int) -> None:
        model.set_beta(self.beta_at(cfg, epoch))
        model.set_spike_mode(self.spike_mode)

    # ------------------------------------------------------------------ tuning

    def search_space(self, trial: Any, epochs: int, space: str = "all") -> dict[str, Any]:
        """Settings of one tuning trial with an ``epochs`` cap, drawn from an Optuna
        ``trial`` (:mod:`lava_sast.experiments.tune`): the options shared by every method,
        then the method's; with ``space="sam"`` only SAM's options (the rest then comes from the
        tuning's base settings, e.g. SAST on the surrogate forward's tuned settings)."""
        if space not in SPACES:
            raise ValueError(f"space must be one of {SPACES}, got {space!r}")
        if space == "sam":
            return self.sam_space(trial) if self.uses_sam else {}
        settings: dict[str, Any] = {
            "threshold": trial.suggest_float("threshold", 0.75, 2.0),
            "qat_bits": {"none": 0, "8": 8, "4": 4}[
                trial.suggest_categorical("qat_bits", ["none", "8", "4"])],
            # a surrogate forward keeps the loss that trains at every slope (the rate loss
            # collapses it at steep slopes: benchmarks/surrogate_collapse.py)
            "loss": (trial.suggest_categorical("loss", ["rate", "ce"])
                     if self.spike_mode == "hard" else "ce"),
        }
        if settings["loss"] == "rate":
            settings["true_rate"] = trial.suggest_float("true_rate", 0.1, 0.5)
            settings["false_rate"] = trial.suggest_float("false_rate", 0.01, 0.08)
        else:
            settings["logit_scale"] = trial.suggest_float("logit_scale", 5.0, 40.0, log=True)
        if self.uses_sam:
            settings.update(self.sam_space(trial))
        return {**settings, **self.own_search_space(trial, epochs)}

    def sam_space(self, trial: Any) -> dict[str, Any]:
        """SAM's options: radius, adaptive or standard, the climb's batch."""
        return {"rho": trial.suggest_float("rho", 0.01, 1.0, log=True),
                "adaptive": trial.suggest_categorical("sam", ["adaptive", "standard"]
                                                      ) == "adaptive",
                "sam_ascent": trial.suggest_categorical("sam_ascent", ["same", "independent"])}

    def trial_params(self, cfg: Any, epochs: int, space: str = "all"
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The Optuna parameters under which :meth:`search_space` draws the settings of
        the resolved ``cfg`` (for enqueuing a method's defaults as its first trial), each
        number clipped into its range (a warm-up longer than half a short epoch cap), and
        the settings so clipped (``{name: default}``); checked by drawing them back."""
        import optuna

        class Record:  # answers every suggestion from cfg, naming it as the space does
            def __init__(self) -> None:
                self.params: dict[str, Any] = {}
                self.clipped: dict[str, Any] = {}

            def _number(self, name: str, value: Any, low: Any, high: Any) -> Any:
                inside = min(max(value, low), high)
                if inside != value:
                    self.clipped[name] = value
                self.params[name] = inside
                return inside

            def suggest_float(self, name: str, low: float, high: float, **_k: Any) -> float:
                return self._number(name, float(getattr(cfg, name)), low, high)

            def suggest_int(self, name: str, low: int, high: int, **_k: Any) -> int:
                return self._number(name, int(getattr(cfg, name)), low, high)

            def suggest_categorical(self, name: str, choices: Any) -> Any:
                value = {"qat_bits": lambda: {0: "none", 8: "8", 4: "4"}[cfg.qat_bits],
                         "sam": lambda: "adaptive" if cfg.adaptive else "standard",
                         "calibrate": lambda: bool(cfg.init_rate)}.get(
                    name, lambda: getattr(cfg, name))()
                if value not in choices:
                    raise ValueError(f"{cfg.method}: the defaults' {name} ({value!r}) is "
                                     f"not among the search space's {list(choices)}")
                self.params[name] = value
                return value

        record = Record()
        self.search_space(record, epochs, space)
        drawn = self.search_space(optuna.trial.FixedTrial(record.params), epochs, space)
        differ = [k for k, v in drawn.items() if getattr(cfg, k) != v
                  and k not in record.clipped]
        if differ:
            raise ValueError(f"{self.name}: the defaults' {differ[0]} "
                             f"({getattr(cfg, differ[0])!r}) is not in the search space")
        return record.params, record.clipped

    def own_search_space(self, trial: Any, epochs: int) -> dict[str, Any]:
        """The surrogate forward's own options: slope, warm-up (at most half the epoch
        cap, so most epochs train at the drawn slope), initial rate, lr (per unit slope:
        Adam's step is lr / beta), the reset's gradient."""
        calibrate = trial.suggest_categorical("calibrate", [False, True])
        return {
            "beta": trial.suggest_float("beta", 1.0, 10.0, log=True),
            "beta_warmup": trial.suggest_int("beta_warmup", 0,
                                             min(MAX_TUNED_WARMUP, epochs // 2)),
            # the calibrated start or lava-dl's initial weight scale (benchmarks/start_choice.py)
            "init_rate": (trial.suggest_float("init_rate", 0.02, 0.3, log=True)
                          if calibrate else 0.0),
            "lr": trial.suggest_float("lr", 1e-4, 1e-2, log=True),  # divided by beta:
            "lr_per_slope": True,  # the same step in beta (v - theta) at every slope
            "reset_grad": trial.suggest_categorical("reset_grad", ["exact", "detached"]),
        }


class Surrogate(Method):
    """The SAST paper's surrogate-forward net: smooth spikes in the forward pass.  Shown as
    ``smooth``: to snnTorch and SLAYER users "surrogate" means a hard forward with a
    surrogate gradient, which is ``slayer`` here.  ``surrogate`` stays its stored name."""

    name = "surrogate"
    aliases = ("smooth", "baseline")
    shown = "smooth"
    summary = "smooth sigmoid spikes forward, Adam (the surrogate-forward baseline)"
    defaults = dict(SURROGATE_FORWARD)
    family_defaults = {"dense": (DENSE_PRESET,), "conv": (CONV_PRESET,)}


class Sast(Method):
    name = "sast"
    summary = "smooth sigmoid spikes forward, SAM around Adam (the paper's SAST)"
    uses_sam = True
    # the earlier N-MNIST pilot's radius (docs/results-2026-11.md)
    defaults = {**SURROGATE_FORWARD, "rho": 0.3}
    family_defaults = {"dense": (DENSE_PRESET,), "conv": (CONV_PRESET,)}


class Slayer(Method):
    name = "slayer"
    summary = ("lava-dl's recipe: hard spikes forward, SLAYER's surrogate gradient, "
               "SLAYER's 8-bit weight hook, Adam")
    spike_mode = "hard"
    weight_hook = "slayer8"
    defaults = dict(SLAYER_RECIPE)
    family_defaults = {}

    def own_search_space(self, trial: Any, epochs: int) -> dict[str, Any]:
        """SLAYER's own options: initial weight scale, lr, surrogate-gradient width."""
        return {
            "weight_scale": trial.suggest_float("weight_scale", 0.5, 4.0, log=True),
            "lr": trial.suggest_float("lr", 1e-4, 3e-3, log=True),
            "tau_grad": trial.suggest_float("tau_grad", 0.01, 0.3, log=True),
        }


class SlayerSam(Slayer):
    name = "slayer-sam"
    summary = "SAM around slayer, on the net that deploys"
    uses_sam = True
    defaults = {**SLAYER_RECIPE, "rho": 0.05}
    family_defaults = {"dense": (DENSE_PRESET,), "conv": (CONV_PRESET,)}


class Anneal(Method):  # not tuned: its slope schedule is beta_warmup's special case
    """Geometric schedule from ``beta`` (first epoch) to ``beta_end`` (last epoch)."""

    name = "anneal"
    summary = "smooth forward with the slope raised to --beta-end; SAM when --rho > 0"
    uses_sam = True  # only when rho > 0
    defaults = {**SURROGATE_FORWARD, "beta_warmup": 0, "rho": 0.0}
    family_defaults = {}

    def default_beta_end(self, beta: float) -> float:
        return beta * ANNEAL_FACTOR

    def beta_at(self, cfg: RunSettings, epoch: int) -> float:
        if cfg.epochs <= 1:
            return cfg.beta_end
        frac = (min(epoch, cfg.epochs) - 1) / (cfg.epochs - 1)
        return float(cfg.beta * (cfg.beta_end / cfg.beta) ** frac)

    def warmup_unfinished(self, cfg: RunSettings) -> bool:
        return False


#: Every training method, by name.
METHODS: dict[str, Method] = {m.name: m for m in (Surrogate(), Sast(), Slayer(), SlayerSam(),
                                                  Anneal())}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)
METHOD_ALIASES: dict[str, str] = {a: m.name for m in METHODS.values() for a in m.aliases}
#: Methods whose training takes a SAM radius (``anneal`` only when ``rho > 0``).
SAM_METHODS: tuple[str, ...] = tuple(n for n, m in METHODS.items() if m.uses_sam)


def method_label(method: Method) -> str:
    """How help names a method: ``smooth (alias surrogate, baseline)``."""
    first = method.shown or method.name
    others = [n for n in (method.name, *method.aliases) if n != first]
    return first + (f" (alias {', '.join(others)})" if others else "")


def canonical_name(name: str) -> str:
    """``name`` with an alias replaced by its method's name."""
    return METHOD_ALIASES.get(name, name)


def get_method(name: str) -> Method:
    """The strategy called ``name`` (or an alias such as ``smooth``)."""
    name = canonical_name(name)
    if name not in METHODS:
        raise ValueError(f"unknown method {name!r}; choose from {list(METHODS)}")
    return METHODS[name]


def climbing_parameters(model: Network, layers: str) -> Optional[list[torch.Tensor]]:
    """Parameters SAM perturbs: all (``None``), or those of the dense or conv blocks only."""
    if layers == "all":
        return None
    if layers not in ("dense", "conv"):
        raise ValueError(f"sam_layers must be 'all', 'dense' or 'conv', got {layers!r}")
    return model.parameters_of(layers)


def sam_optimizer(model: Network, cfg: RunSettings) -> SAM:
    """SAM around Adam with ``cfg``'s options; parameters outside ``--sam-layers`` form a
    group that does not climb."""
    climbing = climbing_parameters(model, cfg.sam_layers)
    if climbing is None:
        groups = [{"params": list(model.parameters())}]
    else:
        ids = {id(p) for p in climbing}
        groups = [{"params": climbing},
                  {"params": [p for p in model.parameters() if id(p) not in ids],
                   "climb": False}]
    return SAM(groups, torch.optim.Adam, rho=cfg.rho, adaptive=cfg.adaptive,
               layerwise=cfg.sam_layerwise, climb_every=cfg.climb_every, lr=cfg.lr)
