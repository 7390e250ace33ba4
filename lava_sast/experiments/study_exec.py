"""A study's execution: train, reuse or extend every planned run, one after another or on
Ray, in the study folder held by its lock.  Hardware evaluation arrives as hooks (the
command-line entry wires :mod:`netx_export`), so this module never imports it."""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import torch

from ..atomic import check_out_folder, write_json_atomic
from ..config import TrainConfig, config_differences
from ..device import resolve_device
from ..lock import LOCK, folder_lock
from ..parallel import run_on_ray
from ..trainer import CHECKPOINT, REPORT, HardwareEval, bin_once, read_report, train
from .study_plan import Run, StudyOptions

#: Scores a run's deploy files in Lava: ``(run folder, config, samples) -> report entries``.
LavaEval = Callable[[Path, TrainConfig, int], dict[str, Any]]


class StudyError(ValueError):
    """A stored run does not match the requested study."""


@dataclass(frozen=True)
class Hooks:
    """What a run does beyond training (module-level functions, so Ray workers import
    them): INT8/INT4 export and emulation, and Lava runs for ``--lava``."""

    hardware: Optional[HardwareEval] = None
    lava: Optional[LavaEval] = None


def _stored_config(run: Path) -> Optional[dict[str, Any]]:
    report = run / REPORT
    if report.exists():
        return json.loads(report.read_text())["config"]
    ckpt = run / CHECKPOINT
    if ckpt.exists():
        from ..checkpoint import load_checkpoint
        return load_checkpoint(ckpt)["config"]
    return None


def _check_same_settings(run: Path, stored: dict[str, Any], wanted: TrainConfig) -> None:
    diff = [f"{k}: stored {have!r}, requested {want!r}"
            for k, have, want in config_differences(stored, wanted)]
    if diff:
        raise StudyError(f"run folder {run} was made with other settings ({'; '.join(diff)}); "
                         f"use another --out or remove the folder")


def run_one(cfg: TrainConfig, out: Path, lava_samples: Optional[int],
            hooks: Hooks) -> dict[str, Any]:
    """Train (or reuse, or extend) the run of the resolved ``cfg`` in ``out`` and return
    its report."""
    stored = _stored_config(out)
    if stored is not None:
        _check_same_settings(out, stored, cfg)
    report_path = out / REPORT
    report = read_report(report_path) if report_path.exists() else None
    if report is not None and report["epochs"] > cfg.epochs:
        raise StudyError(f"run folder {out} has {report['epochs']} epochs, more than the "
                         f"requested {cfg.epochs}; use another --out")
    if report is None or (report["epochs"] < cfg.epochs and not report.get("stopped_early")):
        report = train(cfg, resume=True, hardware=hooks.hardware)
    if lava_samples and hooks.lava and report.get("int8_lava_samples") != lava_samples:
        report.update(hooks.lava(out, cfg, lava_samples))
        write_json_atomic(report_path, report)
    return report


def run_task(cfg: dict[str, Any], out: str, lava_samples: Optional[int], threads: int,
             hooks: Hooks) -> dict[str, Any]:
    """One run on a Ray worker: :func:`run_one` with ``threads`` torch threads."""
    torch.set_num_threads(threads)
    return run_one(TrainConfig.from_dict(cfg), Path(out), lava_samples, hooks)


def execute(opts: StudyOptions, runs: list[Run], hooks: Hooks
            ) -> dict[tuple, dict[str, Any]]:
    """Train or reuse every run in ``opts.out`` (created if needed, removed again when
    nothing ran in it), holding the folder's lock; reports by :attr:`Run.key`."""
    if opts.lava is not None and opts.lava < 1:
        raise ValueError(f"--lava must be >= 1, got {opts.lava}")
    check_out_folder(opts.out)
    opts.ray.check()  # before anything is written
    created = not opts.out.exists()
    opts.out.mkdir(parents=True, exist_ok=True)
    try:
        with folder_lock(opts.out):
            if opts.ray.parallel:
                return _on_ray(opts, runs, hooks)
            return _in_turn(opts, runs, hooks)
    except BaseException:
        if created and not any(p.name != LOCK for p in opts.out.iterdir()):  # nothing ran
            shutil.rmtree(opts.out, ignore_errors=True)
        raise


def _on_ray(opts: StudyOptions, runs: list[Run], hooks: Hooks) -> dict[tuple, dict[str, Any]]:
    bin_once(opts.base)
    gpus = opts.ray.gpus(resolve_device(opts.base.device).type)
    tasks = [(run.key, (run.config.as_dict(), str(run.folder), opts.lava,
                        opts.ray.cpus_per_run, hooks), run.folder.name) for run in runs]
    print(f"{len(runs)} runs on Ray, {opts.ray.workers} at a time "
          f"({opts.ray.cpus_per_run} CPU, {gpus:g} GPU each)", flush=True)
    done = run_on_ray(run_task, tasks, opts.ray.workers, opts.ray.address,
                      opts.ray.cpus_per_run, gpus)
    return {run.key: done[run.key] for run in runs}


def _in_turn(opts: StudyOptions, runs: list[Run], hooks: Hooks) -> dict[tuple, dict[str, Any]]:
    reports = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(opts.ray.cpus_per_run)  # as each Ray task does: the same numbers
    try:
        for i, run in enumerate(runs, 1):
            print(f"[{i}/{len(runs)}] {run.folder.name}", flush=True)
            reports[run.key] = run_one(run.config, run.folder, opts.lava, hooks)
    finally:
        torch.set_num_threads(threads)
    return reports
