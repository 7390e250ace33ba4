"""Datasets register in one place that reaches the command line: ``register_dataset``
after a parser is built still reaches its ``--dataset`` (choices read when parsing), and a
registered dataset declares its net family and takes no tuned preset unless it says so."""
from __future__ import annotations

import pytest

from lava_sast import DatasetInfo, register_dataset
from lava_sast.cli import defaults_epilog, training_parser
from lava_sast.config import resolved
from lava_sast.datasets import DATASETS, DatasetError, network_family
from lava_sast.methods import METHOD_NAMES
from lava_sast.train import parse_args

DIGITS = DATASETS["digits"]


@pytest.fixture
def registered():
    """Register datasets for one test, and remove them afterwards."""
    names = []

    def add(name, **kw):
        info = DatasetInfo(DIGITS.open_split, DIGITS.sensor_size, DIGITS.num_classes,
                           DIGITS.bin_us, DIGITS.n_bins, **kw)
        register_dataset(name, info)
        names.append(name)
        return info
    yield add
    for n in names:
        DATASETS.pop(n, None)


def test_a_dataset_registered_after_the_parser_is_built_reaches_it(registered, capsys):
    p = training_parser("train", None)
    with pytest.raises(SystemExit):
        p.parse_args(["--dataset", "late-events"])
    assert "late-events" in capsys.readouterr().err
    registered("late-events")
    assert p.parse_args(["--dataset", "late-events"]).dataset == "late-events"
    cfg, _, _ = parse_args(["--dataset", "late-events"])  # the command itself
    assert cfg.dataset == "late-events"
    p.print_help()
    assert "late-events" in capsys.readouterr().out  # help lists it too


@pytest.mark.parametrize("method", METHOD_NAMES)
def test_a_new_dataset_takes_no_preset_silently(registered, method):
    registered("plain-events")  # dense, no tuned presets declared
    registered("tuned-events", tuned_presets=True)
    own = resolved(parse_args(["--dataset", "plain-events", "--method", method])[0])
    tuned = resolved(parse_args(["--dataset", "tuned-events", "--method", method])[0])
    digits = resolved(parse_args(["--dataset", "digits", "--method", method])[0])
    assert own.tuned_on is None  # nothing tuned on other data came in
    assert tuned.tuned_on == digits.tuned_on and tuned.lr == digits.lr
    if digits.tuned_on is not None:  # the method's digits defaults come from a preset
        assert (own.lr, own.threshold, own.beta) != (digits.lr, digits.threshold, digits.beta)


def test_the_defaults_table_shows_a_dataset_without_presets(registered):
    registered("conv-events", family="conv")
    assert network_family("conv-events") == "conv"
    text = defaults_epilog()
    assert "registered conv-net datasets without tuned presets (conv-events)" in text
    assert "sast, conv net, no preset:" in text


@pytest.mark.parametrize("name, kw, named", [("", {}, "bad dataset name"),
                                             ("x", {"family": "recurrent"}, "recurrent"),
                                             ("-x", {}, "bad dataset name")])
def test_a_bad_registration_names_what_is_wrong(name, kw, named):
    info = DatasetInfo(DIGITS.open_split, DIGITS.sensor_size, DIGITS.num_classes,
                       DIGITS.bin_us, DIGITS.n_bins, **kw)
    with pytest.raises(DatasetError, match=named):
        register_dataset(name, info)
    assert name not in DATASETS
    with pytest.raises(DatasetError, match="DatasetInfo"):
        register_dataset("y", {"family": "dense"})


def test_the_built_in_datasets_keep_their_presets():
    assert all(DATASETS[d].tuned_presets for d in ("digits", "nmnist", "dvsgesture",
                                                   "shapes"))
