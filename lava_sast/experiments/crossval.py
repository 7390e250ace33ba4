"""Cross-validated comparison of methods: pooled held-out accuracy with an interval, and
paired tests on the same samples.

A study with ``--folds K`` trains every method on each fold's complement and scores it on
the held-out fold, so each training sample is scored once per method and seed (1,000 on
``nmnist-small`` instead of 100 official test samples).  :func:`pool_folds` joins one
method-and-seed's folds into one report; :func:`compare` gives each method's accuracy
with a 95 % Wilson interval and, for every pair of methods and every mode:

- the paired difference over the (seed, fold) accuracies with Nadeau & Bengio's corrected
  resampled t-test (:func:`corrected_t`), which counts training variance (seeds) and the
  folds' overlapping training sets (with the runs' true ``n_test / n_train``); its
  unadjusted 95 % interval and the unadjusted p beside it (they agree: the interval
  excludes 0 exactly when p < 0.05);
- INT8 (:data:`PRIMARY`) is the primary endpoint: Holm's correction runs over its cells,
  one per pair of rows (:func:`holm`), and only they get a verdict: ``better``/``worse``
  when the Holm p is below 0.05, ``level`` only when the whole interval lies within
  :data:`EQUIVALENCE` points, else ``unresolved``; the other modes are secondary
  (difference, interval and unadjusted p, no verdict);
- seeds should each have their own fold partition (``study --partition per-seed``), so
  that the (seed, fold) resamples are a repeated cross-validation;
- the exact McNemar test on the pooled samples, kept for reference (it treats seeds as
  independent samples, so it overstates the evidence).

:func:`tuning_overlap` says why a run's tuning may have seen samples it scores;
:func:`collect` refuses such runs whose settings were tuned on samples they score.
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..atomic import write_json_atomic, write_text_atomic
from ..config import DEFAULTED
from ..methods import SAM_METHODS, get_method

#: Spike modes scored per sample: surrogate and hard on the float net, INT8/INT4 emulated.
MODES = ("surrogate", "hard", "int8", "int4")
#: Half-width, in accuracy points, of the interval that makes a difference "level".
EQUIVALENCE = 2.0
#: Family-wise error rate of the verdicts (Holm).
ALPHA = 0.05
#: The primary endpoint: the mode whose pairs Holm corrects and the verdicts judge.
PRIMARY = "int8"

#: Metrics averaged over folds (per-fold numbers that are not per-sample).
AVERAGED = ("hard_synops_per_sample", "int8_synops_per_sample", "near_threshold_fraction",
            "seconds_per_epoch", "best_epoch", "epochs", "val_hard_accuracy",
            "val_int8_accuracy", "official_hard_accuracy", "official_surrogate_accuracy",
            "official_int8_accuracy", "official_int4_accuracy", "test_over_train")


def pool_folds(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report from the fold reports of one method and seed: per-sample predictions
    and labels concatenated, accuracies over all held-out samples, other metrics averaged
    over the folds."""
    config = reports[0].get("config", {})
    pooled: dict[str, Any] = {"folds": len(reports),
                              "folds_of": config.get("folds", len(reports)),
                              "seed": config.get("seed"),
                              "fold_ids": [r.get("config", {}).get("fold", i)
                                           for i, r in enumerate(reports)],
                              "test_labels": sum((r["test_labels"] for r in reports), []),
                              "fold_accuracy": {}}
    labels = np.array(pooled["test_labels"])
    for mode in MODES:
        key = f"{mode}_predictions"
        if all(r.get(key) is not None for r in reports):
            pooled[key] = sum((r[key] for r in reports), [])
            pooled[f"{mode}_accuracy"] = float(np.mean(np.array(pooled[key]) == labels))
            pooled["fold_accuracy"][mode] = [
                float(np.mean(np.array(r[key]) == np.array(r["test_labels"])))
                for r in reports]
    if "surrogate_accuracy" in pooled and "hard_accuracy" in pooled:
        pooled["transfer_gap"] = pooled["surrogate_accuracy"] - pooled["hard_accuracy"]
    for key in AVERAGED:
        vals = [r[key] for r in reports if r.get(key) is not None]
        if vals:
            pooled[key] = float(np.mean(vals))
    if config:  # the settings the row trained with (checked against the defaults)
        pooled["settings"] = {k: config[k] for k in sorted(DEFAULTED | SETTING_CONTEXT)
                              if k in config}
    sizes = [(r["test_samples"], r["trained_samples"]) for r in reports
             if r.get("trained_samples") and r.get("test_samples")]
    if len(sizes) == len(reports):  # the true n_test / n_train of the corrected t-test
        pooled["test_over_train"] = float(np.mean([t / n for t, n in sizes]))
    capped = [r["best_epoch"] >= r["max_epochs"] for r in reports
              if r.get("best_epoch") is not None and r.get("max_epochs") is not None]
    if capped:  # runs whose best epoch is the last allowed: maybe not trained to convergence
        pooled["best_at_cap"] = float(np.mean(capped))
    pooled["hist_range"] = reports[0]["hist_range"]
    pooled["hard_voltage_hist"] = np.mean([r["hard_voltage_hist"] for r in reports],
                                          0).tolist()
    return pooled


def wilson(correct: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``correct / n``."""
    if n == 0:
        return (math.nan, math.nan)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def mcnemar(a_right: np.ndarray, b_right: np.ndarray) -> dict[str, Any]:
    """Paired comparison of two classifiers on the same samples: the accuracy difference
    ``a - b`` in points, the discordant counts and the exact two-sided McNemar p-value."""
    from scipy.stats import binomtest
    a_only = int(np.sum(a_right & ~b_right))
    b_only = int(np.sum(~a_right & b_right))
    p = binomtest(a_only, a_only + b_only, 0.5).pvalue if a_only + b_only else 1.0
    return {"diff": 100.0 * (a_only - b_only) / len(a_right), "a_only": a_only,
            "b_only": b_only, "p": float(p), "samples": int(len(a_right))}


def corrected_t(diffs: Sequence[float], test_over_train: float) -> dict[str, Any]:
    """Nadeau & Bengio's corrected resampled t-test of paired differences ``diffs`` (one per
    seed and fold, in points): the variance of their mean is ``(1/J + n_test/n_train) s^2``
    rather than ``s^2 / J``, because the folds' training sets overlap; ``test_over_train``
    is ``n_test / n_train`` (``1 / (K - 1)`` for K folds).  Returns the mean, its 95 %
    interval and the two-sided p-value (t with J - 1 degrees of freedom).  Equal non-zero
    differences (no spread, as happens with few folds) are untestable: interval and p are
    NaN, and Holm leaves the cell out."""
    from scipy.stats import t as student
    d = np.asarray(diffs, dtype=float)
    j = len(d)
    mean = float(d.mean()) if j else math.nan
    if j < 2:
        return {"diff": mean, "ci95": [math.nan, math.nan], "p": math.nan, "pairs": j}
    se = math.sqrt((1.0 / j + test_over_train) * float(d.var(ddof=1)))
    if se < 1e-6:  # every pair differs by the same amount (up to rounding): no spread
        if abs(mean) < 1e-9:
            return {"diff": mean, "ci95": [0.0, 0.0], "p": 1.0, "pairs": j}
        return {"diff": mean, "ci95": [math.nan, math.nan], "p": math.nan, "pairs": j,
                "untestable": "no spread among the paired differences"}
    half = float(student.ppf(0.975, j - 1)) * se
    p = float(2 * student.sf(abs(mean) / se, j - 1))
    return {"diff": mean, "ci95": [mean - half, mean + half], "p": p, "pairs": j}


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``pvalues`` (NaNs stay NaN and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    idx = [i for i in np.argsort(p) if not math.isnan(p[i])]
    adjusted = np.full(len(p), math.nan)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (len(idx) - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def trained_forward(label: str) -> str:
    """The spike mode a row's method trains in (``surrogate`` or ``hard``), from its label
    (``sast rho=0.3 (folder)``)."""
    return get_method(label.split()[0]).spike_mode


def deploy_gap(label: str, row: dict[str, Any]) -> Optional[float]:
    """The gap, in points: the accuracy of the forward pass the row's method trains in
    (smooth spikes for the surrogate forward, hard spikes for SLAYER's) minus deployed
    INT8 accuracy; ``None`` when either is missing."""
    try:
        trained = row[trained_forward(label)]["accuracy"]
        return 100.0 * (trained - row["int8"]["accuracy"])
    except (KeyError, ValueError):
        return None


def test_over_train(reps: Sequence[dict[str, Any]]) -> float:
    """``n_test / n_train`` of the corrected t-test: the runs' own (held-out fold over the
    samples trained on, after the validation carve-out), else ``1 / (K - 1)`` for K folds
    (older reports, which did not record it)."""
    ratios = [r["test_over_train"] for r in reps if r.get("test_over_train")]
    if len(ratios) == len(reps) and ratios:
        return float(np.mean(ratios))
    folds = reps[0].get("folds_of", reps[0].get("folds", 2))
    return 1.0 / max(folds - 1, 1)


def verdict(cell: dict[str, Any], bound: float = EQUIVALENCE, alpha: float = ALPHA) -> str:
    """``better``/``worse`` (A against B) when Holm's p is below ``alpha``; ``level`` when
    the 95 % interval lies within ``±bound`` points; else ``unresolved``."""
    lo, hi = cell["ci95"]
    if not math.isnan(cell.get("p_holm", math.nan)) and cell["p_holm"] < alpha:
        return "better" if cell["diff"] > 0 else "worse"
    if not math.isnan(lo) and -bound <= lo and hi <= bound:
        return "level"
    return "unresolved"


def fold_differences(a: list[dict[str, Any]], b: list[dict[str, Any]],
                     mode: str) -> list[float]:
    """Paired differences in points (A - B) of the (seed, fold) accuracies that both
    methods have in ``mode``."""
    def table(reps: list[dict[str, Any]]) -> dict[tuple[Any, Any], float]:
        return {(r.get("seed"), f): acc for r in reps
                for f, acc in zip(r.get("fold_ids", []), r.get("fold_accuracy", {}).get(mode, []))}
    ta, tb = table(a), table(b)
    return [100.0 * (ta[k] - tb[k]) for k in sorted(ta, key=str) if k in tb]


def compare(pooled: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """``pooled``: each method's pooled reports, one per seed, on the same samples.
    Returns each method's accuracy with its interval per mode, and every pair's paired
    differences."""
    right: dict[str, dict[str, np.ndarray]] = {}
    methods: dict[str, Any] = {}
    for name, reps in pooled.items():
        labels = np.concatenate([np.array(r["test_labels"]) for r in reps])
        right[name] = {}
        methods[name] = {"samples": int(len(labels)), "seeds": len(reps)}
        for key in AVERAGED + ("transfer_gap", "best_at_cap"):
            vals = [r[key] for r in reps if r.get(key) is not None]
            if vals:
                methods[name][key] = float(np.mean(vals))
        for mode in MODES:
            if all(f"{mode}_predictions" in r for r in reps):
                preds = np.concatenate([np.array(r[f"{mode}_predictions"]) for r in reps])
                ok = preds == labels
                right[name][mode] = ok
                lo, hi = wilson(int(ok.sum()), len(ok))
                methods[name][mode] = {"accuracy": float(ok.mean()), "ci95": [lo, hi]}
        gap = deploy_gap(name, methods[name])
        if gap is not None:
            methods[name]["deploy_gap"] = gap
    pairs: dict[str, Any] = {}
    for a, b in itertools.combinations(pooled, 2):
        cell = {}
        ratio = test_over_train(pooled[a] + pooled[b])
        for mode in MODES:
            ra, rb = right[a].get(mode), right[b].get(mode)
            if ra is not None and rb is not None and len(ra) == len(rb):
                cell[mode] = {**corrected_t(fold_differences(pooled[a], pooled[b], mode),
                                            ratio),
                              "test_over_train": ratio, "mcnemar": mcnemar(ra, rb)}
        pairs[f"{a} vs {b}"] = cell
    primary = [cell[PRIMARY] for cell in pairs.values() if PRIMARY in cell]
    for c, p in zip(primary, holm([c["p"] for c in primary])):
        c["p_holm"] = p
        c["verdict"] = verdict(c)
    for cell in pairs.values():
        for mode, c in cell.items():
            if mode != PRIMARY:
                c["p_holm"], c["verdict"] = math.nan, "secondary"
    return {"methods": methods, "pairs": pairs, "equivalence_bound": EQUIVALENCE,
            "alpha": ALPHA, "primary": PRIMARY,
            "test": "corrected resampled t (Nadeau & Bengio) over seed x fold accuracies "
                    "with the runs' n_test/n_train; INT8 primary, Holm over the pairs"}


def to_markdown(cv: dict[str, Any]) -> str:
    """The comparison as two Markdown tables."""
    lines = ["| method | samples | " + " | ".join(f"{m} (95 % CI)" for m in MODES) + " |",
             "|---|---|" + "---|" * len(MODES)]
    for name, row in cv["methods"].items():
        cells = []
        for mode in MODES:
            c = row.get(mode)
            cells.append("–" if c is None else f"{100 * c['accuracy']:.1f} "
                         f"[{100 * c['ci95'][0]:.1f}, {100 * c['ci95'][1]:.1f}]")
        lines.append(f"| {name} | {row['samples']} | " + " | ".join(cells) + " |")
    extra = [("gap: trained forward − INT8 (pts)", "deploy_gap", 1), ("SynOps/sample (INT8)", "int8_synops_per_sample", 1),
             ("near-thr. %", "near_threshold_fraction", 100), ("s/epoch", "seconds_per_epoch", 1),
             ("epochs", "epochs", 1), ("best epoch = cap %", "best_at_cap", 100),
             ("official hard", "official_hard_accuracy", 100),
             ("official INT8", "official_int8_accuracy", 100),
             ("official INT4", "official_int4_accuracy", 100)]
    extra = [e for e in extra if any(e[1] in row for row in cv["methods"].values())]
    lines += ["", "| method | " + " | ".join(e[0] for e in extra) + " |",
              "|---|" + "---|" * len(extra)]
    for name, row in cv["methods"].items():
        cells = ["–" if key not in row else (f"{row[key] * scale:,.0f}" if abs(row[key] * scale)
                 >= 1000 else f"{row[key] * scale:.1f}") for _, key, scale in extra]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    bound = cv.get("equivalence_bound", EQUIVALENCE)
    lines += ["", f"Paired over seeds × folds (A − B in points; 95 % interval and p of the "
              f"corrected resampled t-test, unadjusted, so the interval excludes 0 exactly "
              f"when p < 0.05; INT8 is the primary endpoint: Holm's p over its pairs gives "
              f"the verdict, *level* when the interval lies within ±{bound:g} points; the "
              f"other modes are secondary):", "",
              "| A vs B | " + " | ".join(MODES) + " |", "|---|" + "---|" * len(MODES)]
    for pair, cell in cv["pairs"].items():
        cells = ["–" if m not in cell else _cell(cell[m]) for m in MODES]
        lines.append(f"| {pair} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def oriented(cv: dict[str, Any], a: str, b: str) -> dict[str, dict[str, Any]]:
    """The pair of rows ``a`` and ``b`` per mode, read as ``a`` − ``b`` whichever way
    :func:`compare` stored it: difference, interval (NaN last), Holm p and verdict; empty
    when the two rows were not compared."""
    if f"{a} vs {b}" in cv["pairs"]:
        return {m: {k: c.get(k, math.nan) for k in ("diff", "ci95", "p", "p_holm", "verdict")}
                for m, c in cv["pairs"][f"{a} vs {b}"].items()}
    flip = {"better": "worse", "worse": "better"}
    return {m: {"diff": -c["diff"],
                "ci95": sorted((-c["ci95"][0], -c["ci95"][1]), key=lambda v: (math.isnan(v), v)),
                "p": c.get("p", math.nan), "p_holm": c["p_holm"],
                "verdict": flip.get(c["verdict"], c["verdict"])}
            for m, c in cv["pairs"].get(f"{b} vs {a}", {}).items()}


def summary_table(cv: dict[str, Any], bar: str) -> str:
    """The README's compact table: each row's hard, INT8 and INT4 accuracy (95 % Wilson
    interval), its INT8 difference from row ``bar`` (seed-aware interval, Holm p, verdict),
    transfer gap and SynOps."""
    lines = ["| method | hard | INT8 | INT4 | Δ INT8 vs " + bar + " [95 % CI], p; Holm p: "
             "verdict | gap: trained forward − INT8 (pts) | SynOps/sample |",
             "|---|---|---|---|---|---|---|"]
    for name, row in cv["methods"].items():
        def acc(mode: str, interval: bool = True) -> str:
            c = row.get(mode)
            if c is None:
                return "–"
            text = f"{100 * c['accuracy']:.1f}"
            return text + (f" [{100 * c['ci95'][0]:.0f}–{100 * c['ci95'][1]:.0f}]"
                           if interval else "")
        diff = ""
        c = oriented(cv, name, bar).get("int8") if name != bar else None
        if c is not None:
            diff = (f"{c['diff']:+.1f} {interval(*c['ci95'])}, p={c['p']:.2g}; "
                    f"Holm p={c['p_holm']:.2g}: {c['verdict']}")
        synops = row.get("int8_synops_per_sample")
        lines.append(f"| {name} | {acc('hard', False)} | {acc('int8')} | {acc('int4')} | "
                     f"{diff} | {row.get('deploy_gap', float('nan')):.1f} | "
                     f"{'–' if synops is None else f'{synops:,.0f}'} |")
    return "\n".join(lines) + "\n"


def sign_check(cv: dict[str, Any], replicate: dict[str, Any]) -> list[dict[str, Any]]:
    """Every difference that ``cv`` calls *better* or *worse*, with the same pair and mode
    in ``replicate`` (a comparison of the same rows from seeds and a fold shuffle that were
    never used): ``held`` when the replicate's difference has the same sign."""
    rows = []
    for pair, cell in cv["pairs"].items():
        for mode, c in cell.items():
            if c.get("verdict") not in ("better", "worse"):
                continue
            r = replicate["pairs"].get(pair, {}).get(mode)
            rows.append({"pair": pair, "mode": mode, "diff": c["diff"], "p_holm": c["p_holm"],
                         "replicate_diff": None if r is None else r["diff"],
                         "replicate_ci95": None if r is None else r.get("ci95"),
                         "held": r is not None and r["diff"] * c["diff"] > 0})
    return rows


def sign_table(rows: list[dict[str, Any]]) -> str:
    """:func:`sign_check`'s rows as a Markdown table."""
    lines = ["| A vs B | mode | difference (Holm p) | replicate [95 % CI] | sign held |",
             "|---|---|---|---|---|"]
    for r in rows:
        rep = ("– (pair missing)" if r["replicate_diff"] is None else
               f"{r['replicate_diff']:+.1f}" + ("" if r["replicate_ci95"] is None else
               " [{:+.1f}, {:+.1f}]".format(*r["replicate_ci95"])))
        lines.append(f"| {r['pair']} | {r['mode']} | {r['diff']:+.1f} ({r['p_holm']:.2g}) | "
                     f"{rep} | {'yes' if r['held'] else '**no**'} |")
    if not rows:
        lines.append("| (no significant difference) | | | | |")
    return "\n".join(lines) + "\n"


def _cell(c: dict[str, Any]) -> str:
    if "ci95" not in c:  # a summary written before the seed-aware test
        return f"{c['diff']:+.1f} (McNemar p={c['p']:.2g})"
    if c.get("verdict") == "secondary":
        return f"{c['diff']:+.1f} {interval(*c['ci95'])} p={c['p']:.2g}"
    return (f"{c['diff']:+.1f} {interval(*c['ci95'])} p={c['p']:.2g} "
            f"p_Holm={c['p_holm']:.2g} **{c['verdict']}**")


def interval(lo: float, hi: float) -> str:
    """``[lo, hi]`` in points, or why there is none (equal differences in every pair)."""
    return "[no spread: untestable]" if math.isnan(lo) else f"[{lo:+.1f}, {hi:+.1f}]"


def variant_label(method: str, rho: float, qat_bits: Optional[int]) -> str:
    """A run's row label, e.g. ``slayer-sam rho=0.05 qat4``."""
    parts = [method] + ([f"rho={rho:g}"] if method in SAM_METHODS else [])
    return " ".join(parts + ([f"qat{qat_bits}"] if qat_bits else []))


def tuning_overlap(report: dict[str, Any]) -> Optional[str]:
    """Why the tuning of a run's settings may have seen samples the run scores, or
    ``None``: settings that were not tuned, were tuned on another dataset, or on the
    tuning block that this run's ``--tuning-block`` keeps out."""
    split = report.get("split")
    if split is None:
        return "its report predates tuning records, so where its settings were tuned is unknown"
    tuned = split.get("tuned_on")
    config = report.get("config", {})
    if tuned is None or tuned.get("dataset") not in (None, config.get("dataset")):
        return None
    if not tuned.get("tuning_block"):
        return (f"its settings were tuned on the whole {config.get('dataset')} training split "
                f"(no --tuning-block), which its folds score")
    if (split.get("part") != "scored" or split.get("tuning_block") != tuned["tuning_block"]
            or split.get("train_samples") != tuned.get("train_samples")):
        return (f"its settings were tuned on a tuning block of {tuned['tuning_block']:g} "
                f"(--train-samples {tuned.get('train_samples')}), but the run draws on "
                f"--tuning-block {split.get('tuning_block'):g} (--train-samples "
                f"{split.get('train_samples')}, part {split.get('part')})")
    return None


def collect(folders: Sequence[str | Path], allow_overlap: bool = False,
            seeds: Optional[Sequence[int]] = None) -> dict[str, list[dict[str, Any]]]:
    """Pooled reports per method row and seed from the cross-validated run folders
    (``*/report.json`` with ``config.folds``) under each study folder; a row is labelled
    ``variant (folder)``.  Every row must cover the same samples, and no run's tuning may
    have seen samples it scores (:func:`tuning_overlap`; ``allow_overlap`` labels such
    rows ``[tuning overlap]`` instead of refusing them).  ``seeds`` keeps only those run
    seeds (to pair a one-seed study with one seed of a larger one)."""
    by_key: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for folder in folders:
        paths = sorted(Path(folder).glob("*/report.json"))
        reports = [(p, json.loads(p.read_text())) for p in paths]
        reports = [(p, r) for p, r in reports if r["config"].get("folds")
                   and (seeds is None or r["config"].get("seed") in seeds)]
        if not reports:
            raise ValueError(f"{folder}: no cross-validated runs (*/report.json with folds"
                             + ("" if seeds is None else f" and seed in {list(seeds)}") + ")")
        for path, r in reports:
            why = tuning_overlap(r)
            if why and not allow_overlap:
                raise ValueError(f"{path.parent}: {why}; tune with --tuning-block F and run "
                                 f"the study with the same --tuning-block (or pass "
                                 f"--allow-tuning-overlap to compare anyway, labelled)")
            c = r["config"]
            label = f"{variant_label(c['method'], r['rho'], c.get('qat_bits'))} ({Path(folder).name})"
            if why:
                label += " [tuning overlap]"
            by_key.setdefault((label, c["seed"]), []).append(r)
    pooled: dict[str, list[dict[str, Any]]] = {}
    for (label, _seed), reps in by_key.items():
        reps.sort(key=lambda r: r["config"]["fold"])
        pooled.setdefault(label, []).append(pool_folds(reps))
    labels = {tuple(np.concatenate([r["test_labels"] for r in reps]).tolist())
              for reps in pooled.values()}
    if len(labels) > 1:
        raise ValueError("the studies hold different held-out samples (other folds, fold "
                         "seed, seeds or --train-samples); they cannot be paired")
    return pooled


#: What a row's recorded settings hold besides the defaulted ones: what they apply to.
SETTING_CONTEXT = frozenset({"dataset", "arch", "conv_channels", "hidden", "method"})

#: Per-seed report keys kept in a predictions file besides labels and predictions.
_KEPT = ("folds", "folds_of", "seed", "fold_ids", "fold_accuracy", "settings") + AVERAGED + (
    "transfer_gap", "best_at_cap")


def save_predictions(pooled: dict[str, list[dict[str, Any]]], path: str | Path) -> None:
    """Write ``pooled`` (:func:`collect`'s rows) compactly and atomically: every row's
    per-seed labels and predictions as int16 arrays, the per-fold accuracies and averaged
    metrics as JSON; :func:`load_predictions` reads it back, and :func:`compare` of the two
    is the same."""
    from ..atomic import atomic_path
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, list[dict[str, Any]]] = {}
    for i, (label, reps) in enumerate(pooled.items()):
        meta[label] = []
        for j, r in enumerate(reps):
            arrays[f"r{i}s{j}_labels"] = np.asarray(r["test_labels"], dtype=np.int16)
            for mode in MODES:
                if r.get(f"{mode}_predictions") is not None:
                    arrays[f"r{i}s{j}_{mode}"] = np.asarray(r[f"{mode}_predictions"],
                                                            dtype=np.int16)
            meta[label].append({k: r[k] for k in _KEPT if k in r})
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, meta=np.array(json.dumps(meta)), **arrays)


def load_predictions(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """The rows of a :func:`save_predictions` file, as :func:`compare` takes them."""
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        pooled: dict[str, list[dict[str, Any]]] = {}
        for i, (label, reps) in enumerate(meta.items()):
            pooled[label] = []
            for j, r in enumerate(reps):
                r = dict(r)
                labels = data[f"r{i}s{j}_labels"]
                r["test_labels"] = labels.tolist()
                for mode in MODES:
                    key = f"r{i}s{j}_{mode}"
                    if key in data:
                        r[f"{mode}_predictions"] = data[key].tolist()
                        r[f"{mode}_accuracy"] = float(np.mean(data[key] == labels))
                # a fraction, taken again: older files hold it in points
                if "surrogate_accuracy" in r and "hard_accuracy" in r:
                    r["transfer_gap"] = r["surrogate_accuracy"] - r["hard_accuracy"]
                pooled[label].append(r)
    return pooled


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lava_sast.crossval", description=(
        "Compare the cross-validated runs of one or more study folders on the same samples "
        "(95 % Wilson intervals; paired corrected resampled t-tests over seeds x folds, "
        "Holm-corrected; refuses runs whose tuning saw the samples they score)."))
    p.add_argument("folders", nargs="*", help="study folders made with --folds")
    p.add_argument("--predictions", default=None, metavar="FILE.npz",
                   help="compare the rows of a predictions file instead of study folders")
    p.add_argument("--save-predictions", default=None, metavar="FILE.npz",
                   help="also write the rows' labels and predictions (compact, to commit)")
    p.add_argument("--out", default=None, help="write the Markdown here (and .json beside)")
    p.add_argument("--bar", default=None, metavar="ROW",
                   help="also print the README's compact table, differences against ROW")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="compare only these run seeds of the study folders")
    p.add_argument("--replicate", default=None, metavar="FILE.npz",
                   help="check every significant difference's sign against the same rows "
                        "run with seeds and a fold shuffle never used (a predictions file)")
    p.add_argument("--allow-tuning-overlap", action="store_true",
                   help="compare runs whose settings were tuned on samples they score, "
                        "labelled [tuning overlap] (refused otherwise)")
    a = p.parse_args(argv)
    if bool(a.folders) == bool(a.predictions):
        p.error("give study folders or --predictions FILE.npz (one of the two)")
    if a.predictions and a.seeds is not None:
        p.error("--seeds selects runs of study folders; a predictions file is compared whole")
    try:
        pooled = (load_predictions(a.predictions) if a.predictions
                  else collect(a.folders, a.allow_tuning_overlap, a.seeds))
        if a.save_predictions:
            save_predictions(pooled, a.save_predictions)
        cv = compare(pooled)
    except (ValueError, OSError, KeyError) as exc:
        print(f"error: {a.predictions or ' '.join(a.folders)}: {exc}", file=sys.stderr)
        return 2
    try:
        replicate = compare(load_predictions(a.replicate)) if a.replicate else None
    except (ValueError, OSError, KeyError) as exc:
        print(f"error: --replicate {a.replicate}: {exc}", file=sys.stderr)
        return 2
    source = f"--predictions {a.predictions}" if a.predictions else " ".join(a.folders)
    md = f"Command: `python -m lava_sast.crossval {source}`\n\n" + to_markdown(cv)
    if a.bar:
        if a.bar not in cv["methods"]:
            print(f"error: --bar {a.bar!r} is not a row; rows: {list(cv['methods'])}",
                  file=sys.stderr)
            return 2
        md += "\n" + summary_table(cv, a.bar)
    if replicate is not None:
        cv["sign_check"] = sign_check(cv, replicate)
        md += f"\nSigns against {a.replicate}:\n\n" + sign_table(cv["sign_check"])
    print(md)
    if a.out:
        write_text_atomic(a.out, md)
        write_json_atomic(Path(a.out).with_suffix(".json"), cv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
