"""Help that is short and true: ``train --help`` fits a screen in groups, ``--defaults``
prints the table, usage errors are one line, and every option that ``tune`` and ``study``
offer is used (it reaches the run's settings or the command's options) or is refused in
one line naming it.  Options are checked once each at parse level (the run itself is
stubbed), then one real, tiny tuning uses the tuning's own options together."""
from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

import pytest

from lava_sast.experiments import study, tune
from lava_sast import train as train_cli
from lava_sast.config import TrainConfig

CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}
#: Options whose value is a list in tune/study (checked against the command's options).
LISTS = {"method", "rho", "seed"}


def _help_lines(capsys, main, *argv) -> list[str]:
    with pytest.raises(SystemExit) as stop:
        main([*argv])
    assert stop.value.code == 0
    return capsys.readouterr().out.splitlines()


def test_train_help_is_short_grouped_and_points_to_the_defaults(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    lines = _help_lines(capsys, train_cli.main, "--help")
    assert len(lines) <= 120, len(lines)
    for group in ("data:", "net:", "method:", "training:", "protocol", "runtime"):
        assert any(line.startswith(group) for line in lines), group
    assert "--defaults" in "\n".join(lines)
    assert not any("sast on dense nets" in line for line in lines)  # the table: --defaults
    table = "\n".join(_help_lines(capsys, train_cli.main, "--defaults"))
    assert "defaults by method and net family" in table and "sast on dense nets" in table


@pytest.mark.parametrize("argv, named", [(["--epochs", "0"], "--epochs"),
                                          (["--dataset", "nope"], "--dataset"),
                                          (["--bogus"], "--bogus")])
def test_usage_errors_are_one_line_naming_the_option(capsys, argv, named):
    with pytest.raises(SystemExit) as stop:
        train_cli.main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err


# ---------------------------------------------------------------- every option, once


def _value(action: argparse.Action, tmp: Path) -> list[str]:
    """Words that give ``action`` a value other than its default."""
    opt = action.option_strings[0]
    special = {"--out": [str(tmp / "out")], "--data-dir": [str(tmp / "data")],
               "--cache-dir": [str(tmp / "cache")], "--init-from": [str(tmp / "g.nir")],
               "--config": ["dense-nmnist"], "--arch": ["conv"], "--device": ["cpu"],
               "--ray-address": ["auto"], "--method": ["slayer"], "--methods": ["slayer"]}
    if opt in special:
        return special[opt]
    if action.nargs == 0:
        return []
    if action.choices is not None:
        return [str(next(c for c in action.choices if c != action.default))]
    if action.nargs == 2:
        return ["3", "4"]
    name = getattr(action.type, "__name__", "")
    if name == "on_off":
        return ["on"]
    if action.type is float or ("number" in name and "whole" not in name):
        return ["0.25"]
    return ["3"]


def _offered(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if a.option_strings and a.dest not in ("help", "defaults")]


def _capture_parser(monkeypatch, module):
    """Make ``module.training_parser`` hand its parser and parsed namespace to the test."""
    seen: dict = {}
    real = module.training_parser

    def spy(*args, **kwargs):
        p = real(*args, **kwargs)
        parse = p.parse_args

        def parse_args(argv=None, namespace=None):
            seen["args"] = parse(argv, namespace)
            return seen["args"]
        p.parse_args = parse_args
        seen["parser"] = p
        return p
    monkeypatch.setattr(module, "training_parser", spy)
    return seen


def _is_honoured(action, args, cfg: TrainConfig) -> None:
    """The option's value reaches ``cfg`` (or, for the command's own options, ``args``)."""
    value = getattr(args, action.dest)
    assert value != action.default, (action.option_strings, value)
    if action.dest == "sam":
        assert cfg.adaptive == (value == "adaptive")
    elif action.dest in CONFIG_FIELDS and action.dest not in LISTS:
        got = getattr(cfg, action.dest)
        assert got == value or (isinstance(got, (list, tuple)) and list(got) == list(value)), \
            (action.option_strings, got, value)


def _tune_parser():
    seen: dict = {}
    import contextlib
    import io
    mp = pytest.MonkeyPatch()
    try:
        spied = _capture_parser(mp, tune)
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit):
            tune.main(["--help"])
        seen.update(spied)
    finally:
        mp.undo()
    return seen["parser"]


def test_every_tune_option_is_used_or_refused_in_one_line(tmp_path, monkeypatch, capsys):
    parser = _tune_parser()
    offered = {o for a in _offered(parser) for o in a.option_strings}
    for gone in ("--resume", "--seeds", "--folds", "--fold-seed"):  # refused, not offered
        assert gone not in offered
    seen = _capture_parser(monkeypatch, tune)
    bases: dict = {}
    real_bases = tune.method_bases

    def spy_bases(*args, **kwargs):
        bases.clear()
        bases.update(real_bases(*args, **kwargs))
        return bases
    monkeypatch.setattr(tune, "method_bases", spy_bases)
    monkeypatch.setattr(tune, "run_guarded", lambda run, errors, hint: (0, {}))
    drawn = tune.drawn_settings(["surrogate", "sast", "slayer", "slayer-sam"], 3, "all")
    checked = refused = 0
    for action in _offered(parser):
        opt = action.option_strings[0]
        words = [opt, *_value(action, tmp_path)]
        if opt == "--no-hardware-eval":
            words += ["--objective", "hard"]  # the INT8/INT4 objectives need the export
        argv = ["--trials", "2", "--epochs", "3", "--out", str(tmp_path / "t"), *words]
        field = "adaptive" if action.dest == "sam" else action.dest
        if field in drawn or field == "rho":
            with pytest.raises(SystemExit) as stop:
                tune.main(argv)
            err = capsys.readouterr().err.strip().splitlines()
            assert stop.value.code == 2 and len(err) == 1 and opt in err[0], (opt, err)
            refused += 1
            continue
        assert tune.main(argv) == 0, opt
        capsys.readouterr()
        cfgs = [b[0] if isinstance(b, tuple) else b for b in bases.values()]
        assert cfgs, opt
        for cfg in cfgs:
            _is_honoured(action, seen["args"], cfg)
        if opt in ("--method", "--methods"):
            assert set(bases) == {"slayer"}
        if opt == "--config":  # the preset's settings are every method's base
            assert any(cfg.threshold is not None for cfg in cfgs)
        checked += 1
    for gone in ("--resume", "--seeds", "--folds", "--fold-seed"):
        with pytest.raises(SystemExit):
            tune.main(["--trials", "1", "--out", str(tmp_path / "t"), gone]
                      + ([] if gone == "--resume" else ["1"]))
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and gone in err[0], err
    assert checked >= 30 and refused >= 8, (checked, refused)


def test_every_study_option_is_used(tmp_path, monkeypatch):
    seen = _capture_parser(monkeypatch, study)
    opts = study.parse_options(["--out", str(tmp_path)], "study", ["slayer"], None)
    parser = seen["parser"]
    checked = 0
    for action in _offered(parser):
        opt = action.option_strings[0]
        if opt == "--out":
            continue
        argv = ["--out", str(tmp_path / "s"), opt, *_value(action, tmp_path)]
        opts = study.parse_options(argv, "study", ["slayer"], None)
        args = seen["args"]
        if action.dest == "method":
            assert opts.methods == ("slayer",) and getattr(args, "method") == ["slayer"]
        elif action.dest == "rho":
            assert opts.rhos == (0.25,)
        elif action.dest == "seed":
            assert opts.seeds == (3,) and opts.base.seed == 3
        elif action.dest == "config":
            assert opts.settings  # the preset's settings per method
        elif action.dest == "lava":
            assert opts.lava == 3
        elif action.dest == "partition":
            assert opts.partition == args.partition != action.default
        elif action.dest == "resume":
            assert "always resumes" in action.help  # a study resumes anyway: said so
        elif action.dest in ("workers", "ray_address", "cpus_per_run", "gpus_per_run"):
            assert getattr(opts.ray, {"ray_address": "address"}.get(action.dest, action.dest)) \
                == getattr(args, action.dest)
        else:
            assert action.dest in CONFIG_FIELDS or action.dest == "sam", opt
            _is_honoured(action, args, opts.base)
        checked += 1
    assert checked >= 45, checked


def test_study_refuses_lava_without_the_export(tmp_path, capsys):
    with pytest.raises(SystemExit):
        study.parse_options(["--out", str(tmp_path), "--lava", "2", "--no-hardware-eval"],
                            "study", ["slayer"], None)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--lava" in err[0]


@pytest.mark.slow
def test_a_tiny_tuning_uses_its_own_options(tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "tune"
    assert tune.main(["--methods", "slayer-sam", "--trials", "2", "--epochs", "1",
                      "--train-samples", "60", "--test-samples", "20", "--val-fraction", "0.25",
                      "--objective", "hard", "--no-hardware-eval", "--space", "sam",
                      "--cpus-per-run", "1", "--seed", "5", "--quiet", "--out", str(out)]) == 0
    best = json.loads((out / "best.json").read_text())
    assert best["objective"] == "val_hard_accuracy"
    assert best["seed"] == 5 and best["epochs"] == 1
    drawn = best["methods"]["slayer-sam"]
    assert "rho" in drawn and "threshold" not in drawn  # --space sam: SAM's options only
