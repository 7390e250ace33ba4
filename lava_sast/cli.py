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
from .datasets import (DATASET_CHOICES, DATASETS, DatasetError, network_family,
                       takes_presets)
from .defaults import FAMILY_DEFAULTS, LOSSES
from .device import DEVICE_CHOICES
from .methods import METHODS, METHOD_ALIASES, METHOD_NAMES, get_method, method_label
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
        return "default: see --defaults"
    value = next(iter(_all_defaults().values()))[key]
    return f"default {show_value(key, value)}"


def defaults_epilog() -> str:
    """What each method does, and the table of defaults that depend on the method and net
    family, generated from the method registry, the presets and the registered datasets
    (``--defaults`` prints it)."""
    table = _all_defaults()
    keys = varying_defaults()
    fams = _families()
    lines = ["methods:"]
    for m in METHODS.values():
        lines += textwrap.wrap(f"{method_label(m)}: {m.summary}", 88, initial_indent="  ",
                               subsequent_indent="    ")
    lines.append("defaults by method and net family (" + "; ".join(
        f"{f} nets: {', '.join(d for d in ds if takes_presets(d))}"
        for f, ds in fams.items()) + "):")

    def body(values: dict[str, Any]) -> list[str]:
        text = ", ".join(f"{OPTION[k]} {show_value(k, values[k])}" for k in keys)
        return textwrap.wrap(text, 88, initial_indent="    ", subsequent_indent="    ",
                             break_on_hyphens=False, break_long_words=False)

    for m in METHOD_NAMES:
        for f in FAMILY_DEFAULTS:
            presets = get_method(m).presets_for(f)
            head = f"  {m} on {f} nets" + (f" (preset {', '.join(presets)})" if presets else "")
            lines += [head + ":", *body(table[(m, f)])]
    untuned = {f: [d for d in ds if not takes_presets(d)] for f, ds in fams.items()}
    for f, ds in untuned.items():
        if not ds:
            continue
        lines.append(f"registered {f}-net datasets without tuned presets ({', '.join(ds)}):")
        for m in METHOD_NAMES:
            d = default_settings(m, f, ds[0])
            d["beta_end"] = get_method(m).default_beta_end(d["beta"])
            lines += [f"  {m}, {f} net, no preset:", *body(d)]
    lines.append("--config NAME|FILE takes a preset (" + ", ".join(preset_names())
                 + ") or a best.json of lava_sast.tune; the command line wins over both.")
    return "\n".join(lines)


#: The option that sets each defaulted setting (``adaptive`` is set by ``--sam``).
OPTION = {k: "--sam" if k == "adaptive" else "--" + k.replace("_", "-") for k in DEFAULTED}


def method_help(many: bool) -> str:
    """The ``--method`` help: the names (each one's summary: :func:`defaults_epilog`)."""
    names = [method_label(m) for m in METHODS.values()]
    text = ", ".join(names[:-1]) + " or " + names[-1] + " (what each does: --defaults)"
    return text + ("; NAME@RHO+qat4 pins a SAM method's radius and QAT width" if many else "")


# ------------------------------------------------------------------------- option groups

_D = TrainConfig()

#: Argument groups of a training command, in the order ``--help`` shows them.
GROUPS = {"data": "data", "net": "net", "method": "method",
          "training": "training", "protocol": "protocol (validation, test, folds)",
          "runtime": "runtime (output, device, cache, parallel runs)"}


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line (``PROG: error: ...``), that
    refuses the options in :attr:`refused` with the reason given there (options a
    command does not offer, whose meaning a user might expect), and that keeps its
    argument groups in :attr:`groups`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups: dict[str, argparse._ArgumentGroup] = {}
        self.refused: dict[str, str] = {}

    def group(self, key: str) -> Any:
        """The argument group ``key`` of :data:`GROUPS` (the parser itself if none)."""
        if key not in self.groups:
            self.groups[key] = self.add_argument_group(GROUPS[key])
        return self.groups[key]

    def parse_known_args(self, args: Optional[Sequence[str]] = None, namespace: Any = None):
        words = list(sys.argv[1:] if args is None else args)
        for w in words:
            option = w.split("=", 1)[0]
            if option in self.refused:
                self.error(f"{option}: {self.refused[option]}")
        return super().parse_known_args(words, namespace)

    def error(self, message: str):  # one line, not the usage block
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _group(p: argparse.ArgumentParser, key: str) -> Any:
    return p.group(key) if isinstance(p, CommandParser) else p


def add_runtime_args(p: argparse.ArgumentParser) -> None:
    """Declare ``--device``, ``--cache-dir``, ``--download`` and ``--quiet`` (every command
    that trains, evaluates or reads a dataset)."""
    g = _group(p, "runtime")
    g.add_argument("--device", metavar="DEV", default=_D.device,
                   help=f"{DEVICE_CHOICES} (auto: CUDA if present)")
    g.add_argument("--cache-dir", metavar="DIR", default=None,
                   help="binned-data cache (default: $LAVA_SAST_CACHE_DIR, else "
                        "~/.cache/lava-sast)")
    g.add_argument("--download", action="store_true",
                   help="tonic fetches N-MNIST / DVS Gesture into --data-dir")
    g.add_argument("--quiet", action="store_true",
                   help="no progress bars and no per-epoch lines")


def add_parallel_args(p: argparse.ArgumentParser) -> None:
    """Declare the options that run many trainings on Ray (study and tune)."""
    d = RayOptions()
    g = _group(p, "runtime")
    g.add_argument("--workers", metavar="N", type=positive_int, default=d.workers,
                   help="runs in parallel on a local Ray instance (the ray extra: "
                        "pip install 'lava-sast[ray]'); 1: one after another, no Ray")
    g.add_argument("--ray-address", default=d.address, metavar="ADDR",
                   help="run on an existing Ray cluster (ray://head:10001 or auto); every "
                        "node needs lava-sast and the data at --data-dir")
    g.add_argument("--cpus-per-run", metavar="N", type=positive_int, default=d.cpus_per_run,
                   help="torch threads of every run, sequential or parallel (keeps "
                        "--workers 1 and N equal); the CPUs a Ray run declares")
    g.add_argument("--gpus-per-run", metavar="X", type=non_negative_float, default=d.gpus_per_run,
                   help="GPUs each parallel run declares to Ray (default: 1/--workers on "
                        "CUDA, else 0)")


def ray_options(args: argparse.Namespace) -> RayOptions:
    """The :func:`add_parallel_args` options as :class:`RayOptions`."""
    return RayOptions(args.workers, args.ray_address, args.cpus_per_run, args.gpus_per_run)


class _PrintDefaults(argparse.Action):
    """``--defaults``: print the table of defaults by method and net family, and exit."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(defaults_epilog())
        parser.exit()


class _Offered:
    """An argument group that leaves out the options in ``omit``."""

    def __init__(self, group: Any, omit: set[str]) -> None:
        self.group, self.omit = group, omit

    def add_argument(self, *names: str, **kw: Any) -> None:
        if names[0] not in self.omit:
            self.group.add_argument(*names, **kw)


def add_training_args(p: argparse.ArgumentParser, many: bool = False,
                      omit: Sequence[str] = ()) -> None:
    """Declare every training option on ``p``, in the groups of :data:`GROUPS` when ``p``
    is a :class:`CommandParser`.  With ``many`` (study, sweep, tune), ``--method``,
    ``--rho`` and ``--seed`` take lists (also spelt ``--methods``, ``--seeds``; with
    ``--seeds`` in ``omit``, ``--seed`` takes one seed).  Options in ``omit`` are left
    out.  Defaults that depend on the method and net family are printed by
    ``--defaults`` (:func:`defaults_epilog`)."""
    omit = set(omit)
    lists = {"nargs": "+"} if many else {}
    h = default_help

    data, net, method, training, protocol, runtime = (
        _Offered(_group(p, key), omit) for key in ("data", "net", "method", "training",
                                                   "protocol", "runtime"))

    p.add_argument("--defaults", action=_PrintDefaults,
                   help="print the defaults by method and net family; exit")
    # data
    data.add_argument("--dataset", choices=DATASET_CHOICES, default=_D.dataset,
                      help="default %(default)s (embedded); more: register_dataset")
    data.add_argument("--data-dir", metavar="DIR", default=None, help="local dataset folder")
    data.add_argument("--bin-us", metavar="US", type=positive_int, default=None,
                      help="time bin in microseconds (default: the dataset's)")
    data.add_argument("--n-bins", metavar="N", type=positive_int, default=None,
                      help="time bins per sample (default: the dataset's)")
    data.add_argument("--train-samples", metavar="N", type=positive_int, default=None,
                      help="stratified, seed-shuffled training subset")
    data.add_argument("--test-samples", metavar="N", type=positive_int, default=None,
                      help="stratified test subset (the same for every run)")
    # net
    net.add_argument("--arch", default=None, metavar="dense|conv|FILE.json",
                     help="dense, conv or a layer list (docs/design.md); default: the "
                          "dataset's")
    net.add_argument("--hidden", metavar="N", type=non_negative_int, default=None,
                     help=f"hidden dense width (0: none; default: {HIDDEN[0]} from "
                          f"{LARGE_INPUT:,} inputs, else {HIDDEN[1]})")
    net.add_argument("--conv-channels", type=positive_int, nargs=2, default=None,
                     metavar=("C1", "C2"),
                     help="channels of the two conv layers (default: "
                          f"{' '.join(map(str, CONV_CHANNELS))})")
    net.add_argument("--init-from", default=None, metavar="NET.nir",
                     help="start from a NIR graph (layers, weights, neurons)")
    net.add_argument("--threshold", metavar="X", type=positive_float, default=None,
                     help=f"neuron threshold ({h('threshold')})")
    net.add_argument("--weight-scale", metavar="X", type=positive_float, default=None,
                     help=f"initial weight scale ({h('weight_scale')})")
    # method
    method.add_argument("--method", *(["--methods"] if many else []),
                        **({} if many else {"choices": [*METHOD_NAMES, *METHOD_ALIASES]}),
                        default=[_D.method] if many else _D.method, **lists, metavar="NAME",
                        help=method_help(many) + "; default %(default)s")
    method.add_argument("--config", default=None, metavar="NAME|FILE",
                        help="per-method settings: a preset (" + ", ".join(preset_names())
                             + ") or tune's best.json; the command line wins")
    method.add_argument("--rho", metavar="RHO", type=non_negative_float, default=None, **lists,
                        help=f"SAM radius ({h('rho')})")
    method.add_argument("--sam", choices=["adaptive", "standard"], default=None,
                        help="adaptive (rho per weight) or standard; " + h("adaptive"))
    method.add_argument("--sam-layerwise", action="store_true",
                        help="normalise SAM's climb per layer, not net-wide")
    method.add_argument("--sam-layers", choices=["all", "dense", "conv"], default=_D.sam_layers,
                        help="layers SAM's climb perturbs (default %(default)s)")
    method.add_argument("--sam-ascent", choices=["same", "independent"], default=None,
                        help="the climb's batch; " + h("sam_ascent"))
    method.add_argument("--climb-every", metavar="K", type=positive_int, default=_D.climb_every,
                        help="recompute SAM's ascent every k steps (default %(default)s)")
    method.add_argument("--beta", metavar="X", type=positive_float, default=None,
                        help=f"smooth-spike sigmoid slope ({h('beta')})")
    method.add_argument("--beta-end", metavar="X", type=positive_float, default=None,
                        help=f"anneal: last epoch's slope ({h('beta_end')})")
    method.add_argument("--beta-warmup", metavar="N", type=non_negative_int, default=None,
                        help=f"warm-up epochs to --beta ({h('beta_warmup')})")
    method.add_argument("--beta-start", metavar="X", type=positive_float, default=None,
                        help=f"slope of the first warm-up epoch ({h('beta_start')})")
    method.add_argument("--tau-grad", metavar="X", type=positive_float, default=None,
                        help=f"SLAYER gradient width ({h('tau_grad')})")
    method.add_argument("--scale-grad", metavar="X", type=positive_float, default=None,
                        help=f"SLAYER gradient scale ({h('scale_grad')})")
    method.add_argument("--reset-grad", choices=list(RESET_GRADS), default=None,
                        help=f"soft reset's gradient; detached as snnTorch ({h('reset_grad')})")
    method.add_argument("--qat-bits", type=int, choices=[8, 4, 0], default=None,
                        help=f"train through the export's quantiser (0: off; {h('qat_bits')})")
    # training
    training.add_argument("--epochs", metavar="N", type=positive_int, default=_D.epochs,
                          help="most epochs to train (default %(default)s)")
    training.add_argument("--patience", metavar="N", type=non_negative_int, default=None,
                          help=f"stop after N stale epochs (0: off; {h('patience')})")
    training.add_argument("--batch-size", metavar="N", type=positive_int, default=_D.batch_size,
                          help="default %(default)s")
    training.add_argument("--lr", metavar="X", type=positive_float, default=None,
                          help=f"Adam learning rate ({h('lr')})")
    training.add_argument("--lr-schedule", choices=["constant", "cosine"], default=_D.lr_schedule,
                          help="default %(default)s")
    training.add_argument("--lr-per-slope", type=on_off, default=None, metavar="on|off",
                          help=f"smooth forward: lr / beta ({h('lr_per_slope')})")
    training.add_argument("--loss", choices=list(LOSSES), default=None,
                          help="rate (lava-dl's) or ce; " + h("loss"))
    training.add_argument("--logit-scale", metavar="X", type=positive_float, default=None,
                          help=f"ce: logit per unit rate ({h('logit_scale')})")
    training.add_argument("--true-rate", metavar="X", type=positive_float, default=None,
                          help=f"rate target, true class ({h('true_rate')})")
    training.add_argument("--false-rate", metavar="X", type=non_negative_float, default=None,
                          help=f"rate target, other classes ({h('false_rate')})")
    training.add_argument("--clip-grad", metavar="X", type=non_negative_float, default=None,
                          help=f"gradient norm clip (0: off; {h('clip_grad')})")
    training.add_argument("--init-rate", metavar="X", type=non_negative_float, default=None,
                          help=f"start each layer at this rate (0: off; {h('init_rate')})")
    if "--seeds" in omit:
        training.add_argument("--seed", metavar="S", type=int, default=_D.seed,
                              help="default %(default)s")
    else:
        training.add_argument("--seed", *(["--seeds"] if many else []), metavar="S", type=int,
                                  default=[_D.seed] if many else _D.seed, **lists,
                                  help="default %(default)s")
    # protocol
    protocol.add_argument("--val-fraction", metavar="F", type=float, default=_D.val_fraction,
                          help="training share that picks the epoch (default %(default)s)")
    protocol.add_argument("--folds", metavar="K", type=int, default=_D.folds,
                          help="K folds of the training split; test on the held-out one"
                               + (" (a study runs and pools them all)" if many else ""))
    if not many:
        protocol.add_argument("--fold", metavar="I", type=int, default=_D.fold,
                              help="the held-out fold")
    protocol.add_argument("--fold-seed", metavar="S", type=int, default=_D.fold_seed,
                          help="fold shuffle (the same for every method and seed)")
    protocol.add_argument("--tuning-block", type=float, default=_D.tuning_block, metavar="F",
                          help="share kept for tuning alone (default %(default)s: none)")
    protocol.add_argument("--no-hardware-eval", dest="hardware_eval", action="store_false",
                          help="skip the INT8/INT4 export and emulator scores")
    # runtime
    runtime.add_argument("--out", metavar="DIR", default=None if many else _D.out, required=many,
                         help="output folder" + ("" if many else " (default %(default)s)"))
    runtime.add_argument("--resume", action="store_true",
                         help="continue from OUT/checkpoint.pt" + (" (a study always resumes)"
                                                                    if many else ""))
    add_runtime_args(p)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """The description as written; option help wrapped without breaking ``--names`` or
    ``slayer-sam`` at their hyphens."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=28)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


#: The epilog of every training command.
EPILOG = ("Defaults that depend on the method and net family: --defaults.  Every option in "
          "detail: docs/usage.md.")


def training_parser(prog: str, description: Optional[str], many: bool = False,
                    omit: Sequence[str] = ()) -> CommandParser:
    """A :class:`CommandParser` with every training option (less ``omit``) in groups; the
    usage line is short, ``--defaults`` prints the defaults table."""
    p = CommandParser(prog=prog, description=description, epilog=EPILOG,
                      usage=f"{prog} [options]",
                      formatter_class=_Formatter)
    add_training_args(p, many, omit)
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


__all__ = ["CommandParser", "USER_ERRORS", "add_parallel_args", "add_runtime_args",
           "add_training_args", "config_from_args", "defaults_epilog", "given_options",
           "non_negative_float", "non_negative_int", "on_off", "parse_training",
           "positive_float", "positive_int", "ray_options", "show_value",
           "training_parser"]
