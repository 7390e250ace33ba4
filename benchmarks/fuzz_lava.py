"""Differential fuzz of the bit-exact emulator against Lava ``fixed_pt`` (issue 32).

Random NetX nets (:mod:`netx_export.fuzz`): dense, conv, recurrent ``dense_rec``, pools
folded at export, layer lists starting with ``flatten``; stored biases (per channel, per
neuron, fractional), per-layer thresholds and decays (0 and 4096 included), 8- and 4-bit
weights, weights at Loihi's extremes and layers with no positive weight, input densities 0
to 1.  Each net runs in Lava and in the emulator; every spike of every layer is compared.
Prints the mismatch count and what the nets covered (how many layers of each kind spiked);
then, against the same Lava spikes, the emulator with each deliberate bug of
``netx_export.fuzz.MUTANTS`` (conv biases ignored, biases rounded, NetX's sign mode, the
recurrent carry dropped), to show the fuzz would find it.  Writes
``benchmarks/results/fuzz_lava.json``.  Exit status 1 on any mismatch.

    python benchmarks/fuzz_lava.py --nets 300
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import lava_sast  # noqa: F401  (compat hook before lava imports)
from netx_export.fuzz import MUTANTS, compare_case, make_case, mutant, run_lava_case

ROOT = Path(__file__).resolve().parents[1]


def coverage(results: list[dict]) -> list[tuple[str, int, int]]:
    """``(feature, nets or layers having it, of which spiked)`` rows."""
    rows: Counter = Counter()
    spiked: Counter = Counter()

    def add(key: str, hit: bool) -> None:
        rows[key] += 1
        spiked[key] += int(hit)

    for r in results:
        f, layers = r["features"], r["layers"]
        out = layers[-1]["spikes"] > 0
        add(f"net: source {f['source']}", out)
        add(f"net: {f['bits']}-bit weights", out)
        d = f["density"]
        add("net: input density 0" if d == 0 else "net: input density 1" if d == 1
            else "net: input density in (0, 1)", out)
        kinds = f.get("kinds", [])
        if kinds and kinds[0] == "flatten":
            add("net: layer list starts with flatten", out)
        if "pool" in kinds:
            add("net: pool (folded at export)", out)
        if layers[0]["kind"] == "conv":
            add("net: conv first", out)
        for k, l in enumerate(layers):
            hit = l["spikes"] > 0
            add(f"layer: {l['kind']}", hit)
            if k:
                add(f"layer: {l['kind']} after layer 0", hit)
            if l["bias"]:
                add(f"layer: {l['kind']} with bias", hit)
            if l["no_positive_weight"]:
                add("layer: no positive weight", hit)
            for name in ("i_decay", "v_decay"):
                if l[name] in (0, 4096):
                    add(f"layer: {name} {l[name]}", hit)
            if l["weight_exp"]:
                add("layer: weight exponent != 0", hit)
    return [(k, rows[k], spiked[k]) for k in sorted(rows)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nets", type=int, default=300)
    p.add_argument("--first-seed", type=int, default=1000)
    p.add_argument("--no-mutants", action="store_true", help="skip the deliberate bugs")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fuzz_lava.json"))
    a = p.parse_args()
    if a.nets < 1:
        p.error(f"--nets must be >= 1, got {a.nets}")
    start = time.perf_counter()
    results, caught = [], {m: [] for m in MUTANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.first_seed, a.first_seed + a.nets):
            case = make_case(seed, tmp)
            lava = run_lava_case(case)
            r = compare_case(case, lava)
            results.append(r)
            if r["mismatches"]:
                print(f"seed {seed}: {r['mismatches']} mismatching spikes "
                      f"{[l['mismatches'] for l in r['layers']]}", flush=True)
            if not a.no_mutants:
                for m in MUTANTS:
                    with mutant(m):
                        if compare_case(case, lava)["mismatches"]:
                            caught[m].append(seed)
    seconds = time.perf_counter() - start
    bad = [r["seed"] for r in results if r["mismatches"]]
    spikes = sum(l["spikes"] for r in results for l in r["layers"])
    cov = coverage(results)
    print(f"\n{len(results)} nets (seeds {a.first_seed}..{a.first_seed + a.nets - 1}), "
          f"{sum(len(r['layers']) for r in results)} layers, {spikes} spikes compared, "
          f"{sum(r['mismatches'] for r in results)} mismatching spikes in {len(bad)} nets, "
          f"{seconds:.0f} s\n")
    print("| feature | nets or layers | of which spiked |\n|---|---:|---:|")
    for name, n, hit in cov:
        print(f"| {name} | {n} | {hit} |")
    if not a.no_mutants:
        print("\n| deliberate emulator bug | nets that expose it |\n|---|---:|")
        for m in MUTANTS:
            print(f"| {m} | {len(caught[m])} of {len(results)} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({
        "command": "python benchmarks/fuzz_lava.py " + " ".join(sys.argv[1:]),
        "nets": len(results), "mismatching_nets": bad,
        "mismatching_spikes": sum(r["mismatches"] for r in results),
        "spikes_compared": spikes, "seconds": seconds,
        "coverage": [{"feature": k, "count": n, "spiked": h} for k, n, h in cov],
        "mutants_caught": None if a.no_mutants else caught,
        "results": results}, indent=1))
    print(f"\nwrote {a.out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
