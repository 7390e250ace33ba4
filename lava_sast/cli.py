"""The command line of every lava-sast command: argument types that name the option and
value they refuse, the options declared once (training, runtime, parallel), and help texts
generated from the method registry and presets, so ``--help`` prints the defaults a run
really uses.  The configuration itself is :mod:`lava_sast.config`."""
from __future__ import annotations

import argparse
import functools
import math
import sys
import textwrap
from dataclasses import fields
from typing import Any, Callable, Optional, Sequence

from .arch import CONV_CHANNELS, HIDDEN, LARGE_INPUT
from .config import (DEFAULTED, TrainConfig, default_settings, read_settings,
                     with_config_file)
from .datasets import DATASETS, DatasetError, network_family
from .defaults import FAMILY_DEFAULTS, LOSSES
from .device import DEVICE_CHOICES
from .methods import METHODS, METHOD_ALIASES, METHOD_NAMES, get_method
from .neuron import RESET_GRADS
from .errors import TrainingError
from .parallel import ParallelError, RayOptions
from .presets import preset_names

#: What a command reports as a one-line error instead of a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (DatasetError, TrainingError, ParallelError,
                                                FileNotFoundError, ValueError, OSError)


# ------------------------------------------------------------------------- argument types

def _number(kind: type, low: float, inclusive: bool, what: str) -> Callable[[str], Any]:
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        ok = math.isfinite(value) and (value >= low if inclusive else value > low)
        if not ok:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    parse.__name__ = what  # argparse names the type in its messages
    return parse


#: A finite number > 0.
positive_float = _number(float, 0.0, False, "a positive number")
#: A finite number >= 0.
non_negative_float = _number(float, 0.0, True, "a number >= 0")
#: A whole number >= 1.
positive_int = _number(int, 1, True, "a whole number >= 1")
#: A whole number >= 0.
non_negative_int = _number(int, 0, True, "a whole number >= 0")


def on_off(text: str) -> bool:
    """``on`` or ``off`` as a bool."""
    if text not in ("on", "off"):
        raise argparse.ArgumentTypeError(f"expected on or off, got {text!r}")
    return text == "on"


# ------------------------------------------------------------------------- defaults in help

def _families() -> dict[str, list[str]]:
    return {f: sorted(d for d in DATASETS if network_family(d) == f) for f in FAMILY_DEFAULTS}


@functools.lru_cache(maxsize=None)
def _all_defaults() -> dict[tuple[str, str], dict[str, Any]]:
    """Every default by (method, family), ``beta_end`` included."""
    table = {}
    for m in METHOD_NAMES:
        for f in FAMILY_DEFAULTS:
            d = default_settings(m, f)
            d["beta_end"] = get_method(m).default_beta_end(d["beta"])
            table[(m, f)] = d
    return table


def show_value(key: str, value: Any) -> str:
    """A default as the command line spells it (``--lr-per-slope on``, ``--sam standard``)."""
    if key == "adaptive":
        return "adaptive" if value else "standard"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


@functools.lru_cache(maxsize=None)
def varying_defaults() -> tuple[str, ...]:
    """Settings whose default depends on the method or the net family."""
    table = _all_defaults()
    return tuple(sorted(k for k in DEFAULTED
                        if len({show_value(k, d[k]) for d in table.values()}) > 1))


def default_help(key: str) -> str:
    """``default X`` for a setting with one default, else a pointer to the table."""
    if key in varying_defaults():
        return "default: by method and net family, see the table below"
    value = next(iter(_all_defaults().values()))[key]
    return f"default {show_value(key, value)}"


def defaults_epilog() -> str:
    """The table of defaults that depend on the method and net family, generated from the
    method registry and presets."""
    table = _all_defaults()
    keys = varying_defaults()
    fams = _families()
    lines = ["defaults by method and net family (" + "; ".join(
        f"{f} nets: {', '.join(ds)}" for f, ds in fams.items()) + "):"]
    for m in METHOD_NAMES:
        for f in FAMILY_DEFAULTS:
            presets = get_method(m).presets_for(f)
            head = f"  {m} on {f} nets" + (f" (preset {', '.join(presets)})" if presets else "")
            body = ", ".join(f"{OPTION[k]} {show_value(k, table[(m, f)][k])}" for k in keys)
            lines.append(head + ":")
            lines += textwrap.wrap(body, 88, initial_indent="    ", subsequent_indent="    ",
                                   break_on_hyphens=False, break_long_words=False)
    lines.append("--config NAME|FILE takes a preset (" + ", ".join(preset_names())
                 + ") or a best.json of lava_sast.tune; the command line wins over both.")
    return "\n".join(lines)


#: The option that sets each defaulted setting (``adaptive`` is set by ``--sam``).
OPTION = {k: "--sam" if k == "adaptive" else "--" + k.replace("_", "-") for k in DEFAULTED}


def method_help(many: bool) -> str:
    text = "; ".join(f"{m.name}" + (f" (alias {', '.join(m.aliases)})" if m.aliases else "")
                     + f": {m.summary}" for m in METHODS.values())
    return text + ("; in a study NAME@RHO pins a SAM method's radius, +qat8/+qat4 its "
                   "QAT width" if many else "")


# ------------------------------------------------------------------------- option groups

_D = TrainConfig()


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """Declare ``--device``, ``--cache-dir``, ``--download`` and ``--quiet`` (every command
    that trains, evaluates or reads a dataset)."""
    p.add_argument("--device", default=_D.device,
                   help=f"{DEVICE_CHOICES} (auto: CUDA when present, else the CPU)")
    p.add_argument("--cache-dir", default=None,
                   help="folder of the binned-dataset cache (default: $LAVA_SAST_CACHE_DIR, "
                        "else ~/.cache/lava-sast)")
    p.add_argument("--download", action="store_true",
                   help="let tonic fetch N-MNIST / DVS Gesture into --data-dir when it is "
                        "not there (needs a network)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bars and no per-epoch lines (bars show only on a "
                        "terminal anyway)")


def add_parallel_args(p: argparse.ArgumentParser) -> None:
    """Declare the options that run many trainings on Ray (study and tune)."""
    d = RayOptions()
    p.add_argument("--workers", type=positive_int, default=d.workers,
                   help="runs in parallel on a local Ray instance (needs the ray extra: "
                        "pip install 'lava-sast[ray]'); 1: one after another, no Ray")
    p.add_argument("--ray-address", default=d.address, metavar="ADDR",
                   help="run on an existing Ray cluster (e.g. ray://head:10001 or auto); "
                        "every node needs lava-sast installed and the data at --data-dir")
    p.add_argument("--cpus-per-run", type=positive_int, default=d.cpus_per_run,
                   help="torch threads of every run, sequential or parallel (float sums "
                        "depend on the thread count, so this keeps --workers 1 and N equal); "
                        "the CPUs each parallel run declares to Ray")
    p.add_argument("--gpus-per-run", type=non_negative_float, default=d.gpus_per_run,
                   help="GPUs each parallel run declares to Ray (default: 1/--workers when "
                        "--device resolves to CUDA, else 0)")


def ray_options(args: argparse.Namespace) -> RayOptions:
    """The :func:`add_parallel_args` options as :class:`RayOptions`."""
    return RayOptions(args.workers, args.ray_address, args.cpus_per_run, args.gpus_per_run)


def add_training_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    """Declare every training option on ``p``.  With ``many`` (study, sweep, tune),
    ``--method``, ``--rho`` and ``--seed`` take lists (also spelt ``--methods``,
    ``--seeds``).  Defaults that depend on the method and net family are printed in the
    epilog (:func:`defaults_epilog`); set ``p.epilog`` to it."""
    lists = {"nargs": "+"} if many else {}
    h = default_help
    p.add_argument("--config", default=None, metavar="NAME|FILE",
                   help="per-method settings: a preset (" + ", ".join(preset_names())
                        + ") or a JSON file (lava_sast.tune's best.json); options given on "
                        "the command line win")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=_D.dataset,
                   help="default %(default)s")
    p.add_argument("--data-dir", default=None, help="local dataset folder (never downloaded)")
    p.add_argument("--method", *(["--methods"] if many else []),
                   **({} if many else {"choices": list(METHOD_NAMES) + list(METHOD_ALIASES)}),
                   default=[_D.method] if many else _D.method, **lists,
                   help=method_help(many) + "; default %(default)s")
    p.add_argument("--rho", type=non_negative_float, default=None, **lists,
                   help=f"SAM radius ({h('rho')})")
    p.add_argument("--sam", choices=["adaptive", "standard"], default=None,
                   help="adaptive SAM (rho relative to each weight) or standard (absolute); "
                        + h("adaptive"))
    p.add_argument("--sam-layerwise", action="store_true",
                   help="normalise the SAM climb per layer instead of over the whole net")
    p.add_argument("--sam-layers", choices=["all", "dense", "conv"], default=_D.sam_layers,
                   help="layers SAM's climb perturbs (default %(default)s)")
    p.add_argument("--sam-ascent", choices=["same", "independent"], default=None,
                   help="batch the climb's gradient comes from: the same one, or an "
                        "independent one (the paper's ascent minibatch); " + h("sam_ascent"))
    p.add_argument("--climb-every", type=positive_int, default=_D.climb_every,
                   help="recompute the SAM ascent direction every k steps (cheaper; "
                        "default %(default)s)")
    p.add_argument("--beta", type=positive_float, default=None,
                   help=f"surrogate sigmoid slope ({h('beta')})")
    p.add_argument("--beta-end", type=positive_float, default=None,
                   help=f"anneal: slope at the last epoch ({h('beta_end')})")
    p.add_argument("--beta-warmup", type=non_negative_int, default=None,
                   help="surrogate-forward methods: raise the slope geometrically from "
                        "--beta-start to --beta over this many epochs (0: --beta throughout; "
                        f"{h('beta_warmup')})")
    p.add_argument("--beta-start", type=positive_float, default=None,
                   help=f"slope of the first warm-up epoch ({h('beta_start')})")
    p.add_argument("--threshold", type=positive_float, default=None,
                   help=f"neuron threshold ({h('threshold')})")
    p.add_argument("--tau-grad", type=positive_float, default=None,
                   help=f"SLAYER surrogate-gradient width of hard-forward methods "
                        f"({h('tau_grad')})")
    p.add_argument("--scale-grad", type=positive_float, default=None,
                   help=f"SLAYER surrogate-gradient scale of hard-forward methods "
                        f"({h('scale_grad')})")
    p.add_argument("--qat-bits", type=int, choices=[8, 4, 0], default=None,
                   help="train through the exporter's per-layer power-of-two quantiser "
                        f"(straight-through) at this weight width; 0: off ({h('qat_bits')})")
    p.add_argument("--loss", choices=list(LOSSES), default=None,
                   help="rate: lava-dl's SpikeRate targets; ce: cross-entropy with the output "
                        "spike rates times --logit-scale as logits (lava-dl's SpikeMax); "
                        + h("loss"))
    p.add_argument("--logit-scale", type=positive_float, default=None,
                   help=f"ce loss: logits = this x output spike rate ({h('logit_scale')})")
    p.add_argument("--clip-grad", type=non_negative_float, default=None,
                   help=f"clip the gradient's global norm to this (0: off; {h('clip_grad')})")
    p.add_argument("--init-rate", type=non_negative_float, default=None,
                   help="before training, scale each layer's weights (input to output) so "
                        "its mean spike rate on a training batch is this (0: SLAYER's "
                        f"initialisation unchanged; {h('init_rate')})")
    p.add_argument("--epochs", type=positive_int, default=_D.epochs,
                   help="most epochs to train (default %(default)s)")
    p.add_argument("--patience", type=non_negative_int, default=None,
                   help="stop once validation has not improved for this many epochs "
                        f"(0: train all --epochs; {h('patience')})")
    p.add_argument("--batch-size", type=positive_int, default=_D.batch_size,
                   help="default %(default)s")
    p.add_argument("--lr", type=positive_float, default=None,
                   help=f"Adam learning rate ({h('lr')})")
    p.add_argument("--lr-schedule", choices=["constant", "cosine"], default=_D.lr_schedule,
                   help="default %(default)s")
    p.add_argument("--lr-per-slope", type=on_off, default=None, metavar="on|off",
                   help="surrogate-forward methods: Adam's learning rate is --lr / beta, so "
                        f"a step moves beta (v - theta) equally at every slope ({h('lr_per_slope')})")
    p.add_argument("--reset-grad", choices=list(RESET_GRADS), default=None,
                   help="surrogate-forward methods: gradient of the smooth spike's soft reset: "
                        "exact (of what is simulated; grows through time once beta x "
                        "threshold passes about 6) or detached (the reset's slope left out, "
                        f"as snnTorch does; {h('reset_grad')})")
    p.add_argument("--weight-scale", type=positive_float, default=None,
                   help=f"SLAYER initial weight scale ({h('weight_scale')})")
    p.add_argument("--true-rate", type=positive_float, default=None,
                   help=f"rate loss: spike-rate target of the true class ({h('true_rate')})")
    p.add_argument("--false-rate", type=non_negative_float, default=None,
                   help=f"rate loss: spike-rate target of the other classes "
                        f"({h('false_rate')})")
    p.add_argument("--seed", *(["--seeds"] if many else []), type=int,
                   default=[_D.seed] if many else _D.seed, **lists,
                   help="default %(default)s")
    p.add_argument("--arch", default=None, metavar="dense|conv|FILE.json",
                   help="the network: the default dense or conv net (either on any dataset), "
                        "or a JSON list of layers (conv, flatten, dense, each with optional "
                        "neuron parameters and bias; see docs/design.md); default: the "
                        "dataset's (" + "; ".join(f"{f} for {', '.join(ds)}" for f, ds in
                                                  _families().items())
                        + "); the defaults table follows the net's family")
    p.add_argument("--hidden", type=non_negative_int, default=None,
                   help=f"hidden dense layer width (0: none, the output reads the last layer; "
                        f"default: {HIDDEN[0]} for inputs of {LARGE_INPUT:,} values or more, "
                        f"else {HIDDEN[1]})")
    p.add_argument("--conv-channels", type=positive_int, nargs=2, default=None,
                   metavar=("C1", "C2"),
                   help=f"output channels of the two conv layers (conv nets; default: "
                        f"{' '.join(map(str, CONV_CHANNELS))})")
    p.add_argument("--init-from", default=None, metavar="NET.nir",
                   help="start from a NIR graph (any framework's; see netx_export.nir): its "
                        "layers, weights and neurons replace the default net")
    p.add_argument("--bin-us", type=positive_int, default=None,
                   help="time bin in microseconds (default: the dataset's)")
    p.add_argument("--n-bins", type=positive_int, default=None,
                   help="time bins per sample (default: the dataset's)")
    p.add_argument("--train-samples", type=positive_int, default=None,
                   help="class-stratified, seed-shuffled subset of the training split")
    p.add_argument("--test-samples", type=positive_int, default=None,
                   help="class-stratified subset of the test split (the same for every run)")
    p.add_argument("--val-fraction", type=float, default=_D.val_fraction,
                   help="stratified share of the training data held out to pick the epoch "
                        "(default %(default)s)")
    p.add_argument("--folds", type=int, default=_D.folds,
                   help="cross-validation: stratified K folds of the training split; the "
                        "test metrics are on the held-out fold" + (
                            " (a study runs every fold and pools them)" if many else ""))
    if not many:
        p.add_argument("--fold", type=int, default=_D.fold, help="the held-out fold")
    p.add_argument("--fold-seed", type=int, default=_D.fold_seed,
                   help="shuffle of the folds (the same for every method and seed)")
    p.add_argument("--tuning-block", type=float, default=_D.tuning_block, metavar="F",
                   help="set a stratified share F of the training split aside for tuning: "
                        "lava_sast.tune draws only on it, every other run never sees it "
                        "(default %(default)s: no block)")
    p.add_argument("--no-hardware-eval", dest="hardware_eval", action="store_false",
                   help="skip the INT8/INT4 export and emulator evaluation")
    p.add_argument("--out", default=None if many else _D.out, required=many,
                   help="output folder" + ("" if many else " (default %(default)s)"))
    add_runtime_args(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt" + (" (a study always resumes)"
                                                              if many else ""))


def training_parser(prog: str, description: Optional[str], many: bool = False
                    ) -> argparse.ArgumentParser:
    """A parser with every training option and the defaults table as its epilog."""
    p = argparse.ArgumentParser(prog=prog, description=description, epilog=defaults_epilog(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_training_args(p, many)
    return p


def given_options(p: argparse.ArgumentParser, argv: Sequence[str]) -> set[str]:
    """Config fields the command line ``argv`` sets explicitly (``--sam`` sets
    ``adaptive``)."""
    words = {w.split("=", 1)[0] for w in argv if w.startswith("--")}
    given = {a.dest for a in p._actions if words & set(a.option_strings)}
    return {"adaptive" if d == "sam" else d for d in given}


def config_from_args(args: argparse.Namespace, **override: Any) -> TrainConfig:
    """A :class:`TrainConfig` from parsed :func:`add_training_args` options."""
    values = {k: v for k, v in vars(args).items() if k in {f.name for f in fields(TrainConfig)}}
    values["adaptive"] = None if args.sam is None else args.sam == "adaptive"
    values.update(override)
    return TrainConfig(**values)


def parse_training(p: argparse.ArgumentParser, argv: Optional[Sequence[str]] = None
                   ) -> tuple[argparse.Namespace, TrainConfig, set[str],
                              dict[str, dict[str, Any]]]:
    """``(args, config, fields set on the command line, --config settings by method)`` of a
    single-method command; a bad ``--config`` is a usage error naming it."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    given = given_options(p, argv)
    cfg = config_from_args(args)
    settings: dict[str, dict[str, Any]] = {}
    if args.config:
        try:
            settings = read_settings(args.config)
            cfg = with_config_file(cfg, settings, given)
        except ValueError as exc:
            p.error(str(exc))
    return args, cfg, given, settings


__all__ = ["USER_ERRORS", "add_parallel_args", "add_runtime_args",
           "add_training_args", "config_from_args", "defaults_epilog", "given_options",
           "non_negative_float", "non_negative_int", "on_off", "parse_training",
           "positive_float", "positive_int", "ray_options", "show_value",
           "training_parser"]
