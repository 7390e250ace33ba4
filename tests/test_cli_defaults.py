"""``--help`` prints the defaults a run really uses: every ``default X`` in an option's
help and every entry of the table of defaults by method and net family is parsed back
through the command line and compared with the resolved configuration of a run."""
from __future__ import annotations

import contextlib
import io
import re

import pytest

from lava_sast.presets import load_preset

from lava_sast import train as train_cli
from lava_sast.cli import config_from_args, training_parser
from lava_sast.config import resolved
from lava_sast.datasets import DATASETS, network_family
from lava_sast.methods import METHOD_NAMES


def _run_config(argv):
    """The resolved config a run of ``python -m lava_sast.train ARGV`` uses."""
    cfg, _, _ = train_cli.parse_args(argv)
    return resolved(cfg)


def _printed_help(flag: str = "--help") -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), pytest.raises(SystemExit):
        train_cli.main([flag])
    return buf.getvalue()


def _datasets_by_family():
    return {f: next(d for d in sorted(DATASETS) if network_family(d) == f)
            for f in ("dense", "conv")}


def test_every_constant_default_in_help_is_the_one_a_run_uses():
    p = training_parser("python -m lava_sast.train", None)
    text = " ".join(_printed_help().split())
    checked = 0
    for action in p._actions:
        if not action.option_strings or not action.help or action.dest == "help":
            continue
        shown = p._get_formatter()._expand_help(action)
        match = re.search(r"(?:^|[(;] ?)default ([^\s);,:]+)", shown)
        if match is None:
            continue
        assert " ".join(shown.split()) in text  # what --help prints
        value = match.group(1)
        option = action.option_strings[-1] if action.dest in ("method", "seed") \
            else action.option_strings[0]
        for family, dataset in _datasets_by_family().items():
            for method in METHOD_NAMES:
                base = ["--dataset", dataset, "--method", method]
                if action.dest in ("dataset", "method"):
                    base = []
                run = _run_config(base)
                given = _run_config(base + [option, value])
                field = "adaptive" if action.dest == "sam" else action.dest
                assert getattr(run, field) == getattr(given, field), (option, value, method,
                                                                    family)
        checked += 1
    assert checked >= 15


def test_the_table_of_defaults_is_what_each_method_and_net_family_run_uses():
    text = _printed_help("--defaults")  # the table --help points to
    table = text[text.index("defaults by method and net family"):]
    entries = re.findall(r"^  (\S+) on (\w+) nets[^:]*:\n((?:    .*\n)+)", table, re.M)
    assert len(entries) == len(METHOD_NAMES) * 2
    datasets = _datasets_by_family()
    for method, family, body in entries:
        pairs = re.findall(r"(--[\w-]+) ([^\s,]+)", " ".join(body.split()))
        assert len(pairs) >= 10
        base = ["--dataset", datasets[family], "--method", method]
        run = _run_config(base)
        for option, value in pairs:
            given = _run_config(base + [option, value])
            assert run == given, (method, family, option, value)


def test_a_run_ending_inside_the_slope_warmup_says_so(tmp_path, capsys):
    cfg = _run_config(["--method", "sast"])
    assert cfg.beta_warmup >= 2  # the dense preset's warm-up
    assert train_cli.main(["--method", "sast", "--epochs", str(cfg.beta_warmup),
                           "--train-samples", "64", "--test-samples", "20",
                           "--no-hardware-eval", "--quiet", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert f"ends inside the {cfg.beta_warmup}-epoch slope warm-up" in err
    assert f"no epoch trains at beta {cfg.beta:g}" in err


def test_config_takes_a_preset_name():
    cfg = _run_config(["--method", "slayer-sam", "--config", "dense-nmnist",
                       "--dataset", "shapes"])
    preset = load_preset("dense-nmnist")["methods"]["slayer-sam"]
    assert (cfg.rho, cfg.threshold) == (preset["rho"], preset["threshold"])  # on a conv net
    assert (cfg.rho, cfg.threshold) != tuple(load_preset("conv-nmnist")["methods"]
                                             ["slayer-sam"][k] for k in ("rho", "threshold"))
    assert config_from_args  # the CLI builds configs in one place
