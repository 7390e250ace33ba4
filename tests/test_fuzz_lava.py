"""Differential fuzz: random NetX nets (dense, conv, dense_rec, pools folded at export, lists
starting with flatten; biases, per-layer decays incl. 0 and 4096, thresholds, 8- and
4-bit weights at the extremes, layers with no positive weight, input densities 0..1) run
in Lava ``fixed_pt`` (the real simulator) and in the emulator: 0 differing spikes.  The
same Lava spikes also expose each deliberate emulator bug of ``fuzz.MUTANTS``, so the
check can fail.  The large run is ``benchmarks/fuzz_lava.py``."""
import tempfile
import warnings
from collections import Counter

import numpy as np
import pytest

from netx_export.fuzz import MUTANTS, compare_case, make_case, mutant, run_lava_case

SEEDS = range(30)


@pytest.fixture(scope="module")
def fuzzed():
    """``(case, Lava spikes, comparison)`` of every seed."""
    out = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in SEEDS:
            case = make_case(seed, tmp)
            lava = run_lava_case(case, timeout_s=120)
            out.append((case, lava, compare_case(case, lava)))
        yield out


def test_emulator_equals_lava_on_random_nets(fuzzed):
    bad = {r["seed"]: [l["mismatches"] for l in r["layers"]]
           for _, _, r in fuzzed if r["mismatches"]}
    assert not bad, f"mismatching spikes per layer, by seed: {bad}"


def test_the_fuzz_covers_every_feature(fuzzed):
    seen: Counter = Counter()
    for _, _, r in fuzzed:
        f = r["features"]
        seen[f"bits {f['bits']}"] += 1
        seen["flatten first"] += f["kinds"][0] == "flatten"
        seen["pool"] += "pool" in f["kinds"]
        seen["density 0"] += f["density"] == 0
        seen["density 1"] += f["density"] == 1
        seen["density between"] += 0 < f["density"] < 1
        for k, l in enumerate(r["layers"]):
            if not l["spikes"]:
                continue
            seen[f"{l['kind']} spiked"] += 1
            seen[f"{l['kind']} with bias spiked"] += l["bias"]
            seen["dense_rec after layer 0 spiked"] += k > 0 and l["kind"] == "dense_rec"
            seen["no positive weight spiked"] += l["no_positive_weight"]
            seen["weight exponent != 0 spiked"] += l["weight_exp"] != 0
            for name in ("i_decay", "v_decay"):
                seen[f"{name} {l[name]} spiked"] += l[name] in (0, 4096)
    need = ["bits 8", "bits 4", "flatten first", "pool", "density 0", "density 1",
            "density between", "conv spiked", "dense spiked", "dense_rec spiked",
            "conv with bias spiked", "dense with bias spiked", "dense_rec with bias spiked",
            "dense_rec after layer 0 spiked", "no positive weight spiked",
            "weight exponent != 0 spiked", "i_decay 0 spiked", "i_decay 4096 spiked",
            "v_decay 0 spiked", "v_decay 4096 spiked"]
    missing = [k for k in need if not seen[k]]
    assert not missing, f"features no net exercised: {missing}"


@pytest.mark.parametrize("name", MUTANTS)
def test_each_deliberate_emulator_bug_is_found(fuzzed, name):
    with mutant(name):
        caught = [case.seed for case, lava, _ in fuzzed
                  if compare_case(case, lava)["mismatches"]]
    assert caught, f"no fuzz net exposes the bug {name!r}"


def test_spike_counts_are_not_all_trivial(fuzzed):
    """Most nets spike at their output (a fuzz of silent nets would prove little)."""
    spiking = sum(r["layers"][-1]["spikes"] > 0 for _, _, r in fuzzed)
    assert spiking >= len(SEEDS) // 3
    assert np.mean([len(r["layers"]) for _, _, r in fuzzed]) > 1.5
