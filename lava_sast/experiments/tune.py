"""Tuning on Optuna: every method gets the same number of trials and the same epoch cap,
and is judged on validation accuracy in deployment mode.

``python -m lava_sast.tune --dataset nmnist --data-dir DIR --methods smooth sast slayer
slayer-sam --trials 16 --epochs 15 --out runs/tune``

- One Optuna study per method in one SQLite file, ``OUT/tune.db``: the TPE sampler and a
  median pruner on each epoch's validation accuracy (hard spikes).
- ``--trials N`` is each method's total budget: the same command run again (after a
  crash, Ctrl-C or SIGKILL) runs only the trials still missing.  A trial that was
  running in a killed process is failed by its missed heartbeat and retried with the same
  settings.  Several processes, or ``--workers N`` Ray tasks, can share the file.
- Search spaces are declared next to the methods (:meth:`lava_sast.methods.Method.search_space`).
- ``--objective int8|int4|hard``: validation accuracy of the best epoch's net, INT8/INT4
  through the bit-exact emulator.  ``--synops`` adds SynOps per sample as a second
  objective (to minimise; no pruning then) and plots the Pareto front.
- ``--tuning-block F``: tune only on a stratified share F of the training split (the
  same block for every seed); a study run with the same ``--tuning-block`` never trains
  on or scores it, and ``crossval`` refuses runs whose tuning saw the samples they score.
- The budget is counted by trial number; the pruner never judges slope warm-up epochs.
- Writes ``OUT/best.json`` (each method's best settings, which ``train --config`` and
  ``study --config`` read), ``OUT/trials.csv`` and ``OUT/tuning.png``.
"""
from __future__ import annotations

import csv
import io
import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence

from netx_export.hardware_eval import hardware_metrics

from ..atomic import check_out_folder, write_json_atomic, write_text_atomic
from ..cli import (USER_ERRORS, add_parallel_args, config_from_args, given_options,
                   positive_int, ray_options, training_parser)
from ..config import DEFAULTED, TrainConfig, read_settings, resolve
from ..interrupt import run_guarded
from ..methods import SPACES, canonical_name, get_method
from ..parallel import RayOptions
from ..trainer import TrainingError, bin_once, train

DB = "tune.db"
OBJECTIVES = {"int8": "val_int8_accuracy", "int4": "val_int4_accuracy",
              "hard": "val_hard_accuracy"}
HEARTBEAT_S, GRACE_S = 10, 30


class TuneError(ValueError):
    """Bad tuning request (one line for the user)."""


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise TuneError("tuning needs Optuna: pip install optuna") from None
    return optuna


def open_storage(out: Path) -> Any:
    """The RDB storage on ``OUT/tune.db`` (opened once per process), with heartbeats so
    that a killed trial is failed and retried with the same settings.  A file that is not
    an Optuna database is a :class:`TuneError` naming it; the file is left as it is."""
    optuna = require_optuna()
    db = (out / DB).resolve()
    with warnings.catch_warnings():  # heartbeats are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                f"sqlite:///{db}", heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=2),
                engine_kwargs={"connect_args": {"timeout": 60}})
        except Exception as exc:  # SQLAlchemy's DatabaseError, Optuna's version checks
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise TuneError(f"{db} is not a readable Optuna database ({type(exc).__name__}: "
                            f"{first[:160]}); it was left as it is: move it away to start "
                            f"over") from None


def study_name(cfg: TrainConfig, method: str) -> str:
    return f"{cfg.dataset}-{method}"


def open_study(storage: Any, cfg: TrainConfig, method: str, synops: bool,
               worker: int = 0) -> Any:
    """The method's study in ``storage``; each worker samples with its own seed
    (``seed * 1000 + worker``), so that workers sharing the study draw different trials."""
    optuna = require_optuna()
    directions = ["maximize", "minimize"] if synops else ["maximize"]
    return optuna.create_study(
        storage=storage, study_name=study_name(cfg, method), load_if_exists=True,
        directions=directions, sampler=optuna.samplers.TPESampler(seed=cfg.seed * 1000 + worker),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=3))


def finished(study: Any) -> int:
    """Trials that count against the budget: complete or pruned."""
    from optuna.trial import TrialState
    return len(study.get_trials(deepcopy=False,
                                states=(TrialState.COMPLETE, TrialState.PRUNED)))


def objective_fn(base: TrainConfig, method: str, out: Path, objective: str,
                 synops: bool, space: str = "all",
                 fixed: Optional[dict[str, Any]] = None) -> Any:
    """The Optuna objective: train one trial's settings (drawn from ``space`` over
    ``base``, which holds the ``fixed`` settings of ``--config``) into
    ``OUT/<method>/trial_<n>``."""
    optuna = require_optuna()

    def run(trial: Any) -> Any:
        settings = get_method(method).search_space(trial, base.epochs, space)
        # as trained, whatever the space becomes: --config's settings, then the drawn ones
        trial.set_user_attr("settings", {**(fixed or {}), **settings})
        cfg = resolve(replace(base, method=method, **settings,
                              out=str(out / method / f"trial_{trial.number:04d}"),
                              hardware_eval=objective != "hard" or synops))

        warmup = get_method(method).warmup_epochs(cfg)

        def prune(epoch: int, stats: dict[str, Any]) -> None:
            # warm-up epochs can never be the reported net: the pruner never judges them
            if synops or "val_hard_accuracy" not in stats or epoch <= warmup:
                return
            trial.report(stats["val_hard_accuracy"], epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch}")

        try:
            report = train(cfg, on_epoch=prune, hardware=hardware_metrics)
        except TrainingError as exc:  # a diverged trial scores 0 (it still counts)
            trial.set_user_attr("error", str(exc))
            return (0.0, 0.0) if synops else 0.0
        value = report.get(OBJECTIVES[objective])
        value = 0.0 if value is None else float(value)  # an undeployable net scores 0
        trial.set_user_attr("report", {k: report.get(k) for k in (
            "val_hard_accuracy", "val_int8_accuracy", "val_int4_accuracy", "epochs",
            "best_epoch", "int8_synops_per_sample", "hard_synops_per_sample")})
        if synops:
            return value, float(report.get("int8_synops_per_sample")
                                or report["hard_synops_per_sample"])
        return value

    return run


def enqueue_defaults(storage: Any, base: TrainConfig, method: str, synops: bool,
                     space: str = "all") -> bool:
    """Make ``method``'s defaults (``base`` resolved: the method's own, any ``--config``
    and command-line settings) its study's first trial, the same rule for every method;
    ``False`` when the study already has trials (a resumed tuning)."""
    study = open_study(storage, base, method, synops)
    if study.get_trials(deepcopy=False):
        return False
    cfg = resolve(replace(base, method=method))
    params, clipped = get_method(method).trial_params(cfg, base.epochs, space)
    study.enqueue_trial(params, user_attrs={"defaults": True, "defaults_clipped": clipped},
                        skip_if_exists=True)
    return True


def tune_method(storage: Any, base: TrainConfig, method: str, out: Path, trials: int,
                objective: str, synops: bool, worker: int = 0, space: str = "all",
                fixed: Optional[dict[str, Any]] = None) -> int:
    """Run trials of ``method`` until its study holds ``trials`` finished ones; returns
    how many this call ran."""
    optuna = require_optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(storage, base, method, synops, worker)
    ran = 0
    while finished(study) < trials:
        study.optimize(objective_fn(base, method, out, objective, synops, space, fixed),
                       n_trials=1)
        ran += 1
        if not base.quiet:
            print(f"{method}: {finished(study)}/{trials} trials", flush=True)
    return ran


def tune_task(bases: dict[str, tuple[dict[str, Any], dict[str, Any]]], out: str,
              trials: int, objective: str, synops: bool, threads: int, worker: int = 0,
              storage: Any = None, space: str = "all") -> dict[str, Any]:
    """Tuning worker ``worker`` (a Ray task, or the command itself): every method's
    study in turn (``bases``: each method's base settings and the ``--config`` settings
    among them), sharing ``OUT/tune.db`` with the other workers (``storage``: the
    command's own, already open; a Ray worker opens its own once)."""
    import torch
    torch.set_num_threads(threads)
    storage = storage if storage is not None else open_storage(Path(out))
    return {m: tune_method(storage, TrainConfig.from_dict(cfg), m, Path(out), trials,
                           objective, synops, worker, space, fixed)
            for m, (cfg, fixed) in bases.items()}


def method_bases(base: TrainConfig, methods: Sequence[str],
                 settings: dict[str, dict[str, Any]], given: set[str]
                 ) -> dict[str, tuple[TrainConfig, dict[str, Any]]]:
    """Each method's base settings: ``base`` with the ``--config`` file's settings for the
    method (``sast`` without its own takes ``surrogate``'s: SAST is the surrogate forward
    plus SAM), except those the command line sets (``given``)."""
    bases = {}
    for m in methods:
        over = settings.get(m)
        if over is None and m == "sast":
            over = settings.get("surrogate")
        over = {k: v for k, v in (over or {}).items() if k not in given}
        record = over.pop("tuned_on", None)
        if (record is not None and record.get("dataset") == base.dataset
                and any(record.get(k) != v for k, v in tuned_on(base).items() if k in record)):
            raise ValueError(f"--config: {m}'s settings were tuned on other samples "
                             f"({record}) than this tuning draws on ({tuned_on(base)})")
        cfg = replace(base, method=m, **over)
        # what every trial trains with besides the drawn settings: the file's and the
        # command line's (recorded in best.json beside the drawn ones)
        fixed = {**over, **{k: getattr(cfg, k) for k in sorted(given & DEFAULTED)
                            if getattr(cfg, k) is not None}}
        bases[m] = (cfg, fixed)
    return bases


def budget(study: Any, trials: int) -> list[Any]:
    """The first ``trials`` finished (complete or pruned) trials by trial number: parallel
    workers may finish one or two more, which are not counted, so that every method is
    judged on exactly the same number of trials whatever order they ended in (a failed
    trial is retried under a new number)."""
    from optuna.trial import TrialState
    ended = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return sorted(ended, key=lambda t: t.number)[:trials]


def best_settings(studies: dict[str, Any], trials: int, epochs: int) -> dict[str, Any]:
    """Each method's best trial within its budget: its settings (as :class:`TrainConfig`
    fields) and value."""
    optuna = require_optuna()
    best: dict[str, Any] = {}
    for m, study in studies.items():
        done = [t for t in budget(study, trials) if t.state.name == "COMPLETE"]
        if not done:
            continue
        top = max(done, key=lambda t: t.values[0])
        space = (top.user_attrs.get("settings")
                 or get_method(m).search_space(optuna.trial.FixedTrial(top.params),
                                               epochs))
        best[m] = {"settings": space, "value": top.values[0], "trial": top.number,
                   "params": top.params, "report": top.user_attrs.get("report"),
                   "trials": len(budget(study, trials))}
    return best


def tuned_on(base: TrainConfig) -> dict[str, Any]:
    """The samples a tuning drew on (recorded in ``best.json``; every run with its
    settings carries it, and ``crossval`` checks it against the samples the run scores)."""
    return {"dataset": base.dataset, "tuning_block": base.tuning_block,
            "train_samples": base.train_samples, "bin_us": base.bin_us,
            "n_bins": base.n_bins}


def write_outputs(out: Path, base: TrainConfig, methods: Sequence[str], objective: str,
                  synops: bool, command: str, trials: int, storage: Any) -> dict[str, Any]:
    """``best.json``, ``trials.csv`` and ``tuning.png`` (each method's study loaded once
    from ``storage``)."""
    optuna = require_optuna()
    studies = {m: optuna.load_study(study_name=study_name(base, m), storage=storage)
               for m in methods}
    best = best_settings(studies, trials, base.epochs)
    write_json_atomic(out / "best.json", {
        "command": command, "objective": OBJECTIVES[objective], "dataset": base.dataset,
        "epochs": base.epochs, "seed": base.seed, "trials": trials,
        "tuned_on": tuned_on(base),
        "methods": {m: b["settings"] for m, b in best.items()},
        "best": best, "spread": {m: spread(study, trials) for m, study in studies.items()}})
    rows = []
    for m, study in studies.items():
        counted = {t.number for t in budget(study, trials)}
        rows += [{"method": m, "number": t.number, "state": t.state.name,
                  "counted": t.number in counted,
                  "value": t.values[0] if t.values else "",
                  "synops": t.values[1] if t.values and len(t.values) > 1 else "",
                  "epochs": len(t.intermediate_values) or "",
                  "params": json.dumps(t.params, sort_keys=True),
                  "defaults": bool(t.user_attrs.get("defaults"))} for t in study.trials]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["method"])
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "trials.csv", buf.getvalue())
    plot(out, studies, synops, trials)
    return best


def spread(study: Any, trials: int) -> dict[str, Any]:
    """How a method's counted trials scored: completed and pruned counts, the quartiles
    of the completed trials' objective and the defaults' (first) trial's."""
    import numpy as np
    counted = budget(study, trials)
    values = [t.values[0] for t in counted if t.state.name == "COMPLETE"]
    first = [t.values[0] for t in counted if t.user_attrs.get("defaults") and t.values]
    q = (np.percentile(values, [0, 25, 50, 75, 100]).round(4).tolist() if values
         else [None] * 5)
    return {"complete": len(values), "pruned": len(counted) - len(values),
            "min": q[0], "q25": q[1], "median": q[2], "q75": q[3], "max": q[4],
            "defaults": first[0] if first else None}


def plot(out: Path, studies: dict[str, Any], synops: bool, trials: int) -> None:
    """``tuning.png``: best validation accuracy by trial, or the Pareto fronts."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for m, study in studies.items():
        done = [t for t in budget(study, trials) if t.state.name == "COMPLETE"]
        if synops:
            ax.scatter([t.values[1] for t in done], [100 * t.values[0] for t in done],
                       label=m, s=14)
            ids = {t.number for t in done}
            front = sorted((t for t in study.best_trials if t.number in ids),
                           key=lambda t: t.values[1])
            ax.plot([t.values[1] for t in front], [100 * t.values[0] for t in front])
        else:
            vals, run_best = [], 0.0
            for i, t in enumerate(done, 1):
                run_best = max(run_best, t.values[0])
                vals.append((i, 100 * run_best))
            if vals:
                ax.step(*zip(*vals), where="post", label=m)
    ax.set_xlabel("SynOps per sample (INT8)" if synops else "completed trial")
    ax.set_ylabel("validation accuracy (%)" if synops else "best validation accuracy (%)")
    ax.set_title("Pareto front" if synops else "tuning progress")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "tuning.png", dpi=110)
    plt.close(fig)


#: Training options tune does not offer, and why (``--option`` refused in one line).
NOT_OFFERED = {
    "--seeds": "tuning takes one --seed (each worker samples from it)",
    "--folds": "tuning validates on --val-fraction of its samples; give --tuning-block F "
               "to keep it apart from a study's folds",
    "--fold-seed": "tuning runs no folds (see --tuning-block)",
    "--resume": "a tuning always resumes: the same command runs only the missing trials",
}


class _Probe:
    """A stand-in Optuna trial that records what a search space draws: the ``pick``-th
    choice of every categorical (so each branch is taken once), numbers at their low end."""

    def __init__(self, pick: int) -> None:
        self.pick = pick

    def suggest_float(self, name: str, low: float, high: float, **_: Any) -> float:
        return low

    def suggest_int(self, name: str, low: int, high: int, **_: Any) -> int:
        return low

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return choices[min(self.pick, len(choices) - 1)]


def drawn_settings(methods: Sequence[str], epochs: int, space: str) -> dict[str, list[str]]:
    """The settings each trial of ``methods`` draws in ``space``, with the methods that
    draw them."""
    drawn: dict[str, list[str]] = {}
    for m in methods:
        for pick in range(4):
            for key in get_method(m).search_space(_Probe(pick), epochs, space):
                if m not in drawn.setdefault(key, []):
                    drawn[key].append(m)
    return drawn


def check_options(p: Any, a: Any, methods: Sequence[str], given: set[str]) -> None:
    """Refuse, in one line, a command-line option that tuning would not honour: a setting
    the trials draw (it would be overwritten), ``--rho`` (drawn, or unused), and
    ``--no-hardware-eval`` where the objective needs the INT8/INT4 export."""
    option = {act.dest: act.option_strings[0] for act in p._actions if act.option_strings}
    option["adaptive"] = "--sam"
    drawn = drawn_settings(methods, a.epochs, a.space)
    for key in sorted(given & set(drawn)):
        fixed = "" if key in drawn_settings(methods, a.epochs, "sam") else \
            " (or fix it with --space sam)"
        p.error(f"{option[key]}: tuning draws it for {', '.join(drawn[key])} "
                f"(--space {a.space}); leave it out{fixed}")
    if "rho" in given:
        p.error(f"--rho: none of the tuned methods ({', '.join(methods)}) uses SAM; leave "
                f"it out")
    if not a.hardware_eval and (a.objective != "hard" or a.synops):
        p.error(f"--no-hardware-eval: {'--synops' if a.synops else '--objective ' + a.objective}"
                f" needs the INT8/INT4 export; leave it out or use --objective hard")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = training_parser("python -m lava_sast.tune", __doc__, many=True, omit=NOT_OFFERED)
    p.refused.update(NOT_OFFERED)
    p.set_defaults(method=["smooth", "sast", "slayer", "slayer-sam"])
    p.add_argument("--trials", type=positive_int, required=True,
                   help="each method's total number of trials (a resumed study runs only "
                        "the missing ones)")
    p.add_argument("--objective", choices=list(OBJECTIVES), default="int8",
                   help="validation accuracy to maximise: int8 / int4 (emulator) or hard")
    p.add_argument("--synops", action="store_true",
                   help="also minimise SynOps per sample (two objectives; Pareto plot)")
    p.add_argument("--space", choices=SPACES, default="all",
                   help="what a trial draws: every option, or only SAM's (rho, adaptive, "
                        "ascent batch) over --config's settings; default %(default)s")
    add_parallel_args(p)
    argv = list(sys.argv[1:] if argv is None else argv)
    a = p.parse_args(argv)
    out = Path(a.out)
    methods = [canonical_name(m) for m in dict.fromkeys(a.method)]
    given = given_options(p, argv)
    check_options(p, a, methods, given)
    base = config_from_args(a, method=methods[0], rho=None,
                            part="tuning" if a.tuning_block else "scored")
    ray: RayOptions = ray_options(a)
    command = "python -m lava_sast.tune " + " ".join(argv)
    try:
        settings = read_settings(a.config) if a.config else {}
    except ValueError as exc:
        p.error(str(exc))
    try:
        bases = method_bases(base, methods, settings, given)
    except ValueError as exc:
        p.error(str(exc))

    def run() -> dict[str, Any]:
        for m in methods:
            resolve(bases[m][0])
        require_optuna()
        check_out_folder(out)
        ray.check()
        out.mkdir(parents=True, exist_ok=True)
        storage = open_storage(out)  # once; a broken tune.db is named before any trial runs
        for m, (cfg, _) in bases.items():  # every method's defaults are its first trial
            enqueue_defaults(storage, cfg, m, a.synops, a.space)
        bin_once(base)
        plain = {m: (cfg.as_dict(), fixed) for m, (cfg, fixed) in bases.items()}
        if ray.parallel:
            from ..parallel import run_on_ray
            tasks = [(w, (plain, str(out), a.trials, a.objective, a.synops,
                          ray.cpus_per_run, w, None, a.space), f"worker {w}")
                     for w in range(ray.workers)]
            run_on_ray(tune_task, tasks, ray.workers, ray.address, ray.cpus_per_run,
                       ray.gpus("cpu"))
        else:
            tune_task(plain, str(out), a.trials, a.objective, a.synops,
                      ray.cpus_per_run, storage=storage, space=a.space)
        return write_outputs(out, base, methods, a.objective, a.synops, command, a.trials,
                             storage)

    code, best = run_guarded(run, USER_ERRORS + (TuneError,),
                             f"finished trials are in {out / DB}; run the same command "
                             f"again to continue")
    if code:
        return code
    for m, b in best.items():
        print(f"{m}: best {OBJECTIVES[a.objective]} {b['value']:.3f} (trial {b['trial']}) "
              f"{json.dumps(b['settings'])}")
    print(f"wrote {out}/best.json, trials.csv, tuning.png; train with --config "
          f"{out}/best.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
