"""The training loop: one run of one method, with a validation split that picks the
epoch, atomic checkpoints that resume exactly, and a report on the test split.

A run folder holds ``checkpoint.pt`` (every epoch; the last and the best-validation
weights), then, once training ends, ``network.net`` (SLAYER's own export),
``network_int8.net`` / ``network_int4.net`` (the deploy files) and ``report.json``.
"""
from __future__ import annotations

import copy
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from lava.lib.dl.slayer.classifier import Rate
from torch.utils.data import DataLoader

from .arch import FAMILIES, default_arch, read_arch_file
from .atomic import check_out_folder, write_json_atomic
from .calibrate import calibrate_rates
from .checkpoint import load_checkpoint, save_atomic, training_state
from .config import TrainConfig, resolve, resumed
from .datasets import (TUNING_BLOCK_SEED, BinnedDataset, fold_indices, load_dataset,
                       train_val_indices, tuning_block_indices)
from .device import resolve_device
from .errors import TrainingError
from .evaluate import accuracy, evaluate
from . import health
from .losses import make_loss
from .methods import Method, get_method
from .lock import FolderInUse, folder_lock
from .models import SastNetwork
from .progress import progress
from .sam import SAM

CHECKPOINT, NETWORK, REPORT = "checkpoint.pt", "network.net", "report.json"
HEALTH_PLOT = "health.png"

#: Hardware evaluation of a trained net, wired in by the command-line entry modules
#: (``netx_export.hardware_eval.hardware_metrics``): ``(model, test, out folder,
#: validation, official test) -> report entries`` (INT8/INT4 files, accuracies, SynOps).
HardwareEval = Callable[[SastNetwork, BinnedDataset, Path, Optional[BinnedDataset],
                         Optional[BinnedDataset]], dict]

__all__ = ["CHECKPOINT", "NETWORK", "REPORT", "HardwareEval", "TrainingError", "bin_once",
           "build_model", "load_splits", "read_report", "train", "transfer_gap"]


def transfer_gap(surrogate: float, hard: float) -> float:
    """``report.json``'s ``transfer_gap``: smooth-spike minus hard-spike accuracy, a
    fraction like every accuracy field of the report (points only in printed tables)."""
    return surrogate - hard


def read_report(path: str | Path) -> dict[str, Any]:
    """A run's ``report.json`` in today's units, whichever version wrote it (older reports
    hold ``transfer_gap`` in points: it is taken again from the two accuracies)."""
    report = json.loads(Path(path).read_text())
    if report.get("surrogate_accuracy") is not None and report.get("hard_accuracy") is not None:
        report["transfer_gap"] = transfer_gap(report["surrogate_accuracy"],
                                              report["hard_accuracy"])
    return report


def seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def build_model(cfg: TrainConfig, method: Method, input_shape: Sequence[int],
                num_classes: int) -> SastNetwork:
    """The network of the resolved ``cfg`` (:func:`lava_sast.config.resolved`) for inputs
    ``(C, H, W)``, with ``method``'s weight hook (``method``: ``cfg``'s Method)."""
    if cfg.init_from:
        return model_from_nir(cfg, input_shape, num_classes, method)
    if cfg.arch is not None and cfg.arch not in FAMILIES:
        arch = read_arch_file(cfg.arch)
        if arch[-1]["type"] == "dense" and arch[-1]["out"] != num_classes:
            raise ValueError(f"--arch {cfg.arch}: the last layer has {arch[-1]['out']} "
                             f"outputs, the dataset {num_classes} classes")
    else:
        arch = default_arch(cfg.dataset, input_shape, num_classes, cfg.hidden,
                            cfg.conv_channels, cfg.arch)
    neuron = {"threshold": cfg.threshold, "tau_grad": cfg.tau_grad, "scale_grad": cfg.scale_grad,
              "reset_grad": cfg.reset_grad}
    return SastNetwork(arch, input_shape, neuron=neuron, beta=cfg.beta,
                       weight_scale=cfg.weight_scale,
                       weight_hook=method.hook(cfg))


def model_from_nir(cfg: TrainConfig, input_shape: Sequence[int],
                   num_classes: int, method: Method) -> SastNetwork:
    """The net of the NIR graph ``cfg.init_from``, checked against the dataset, with the
    method's weight hook and slope."""
    from .nir_graph import model_from_file
    model = model_from_file(cfg.init_from)
    if int(np.prod(model.input_shape)) != int(np.prod(input_shape)):
        raise ValueError(f"--init-from {cfg.init_from}: the graph takes "
                         f"{int(np.prod(model.input_shape))} inputs per step, the dataset "
                         f"gives {int(np.prod(input_shape))}")
    outputs = model.neurons()[-1].num_neurons
    if outputs != num_classes:
        raise ValueError(f"--init-from {cfg.init_from}: the graph has {outputs} outputs, the "
                         f"dataset {num_classes} classes")
    model.set_weight_hook(method.hook(cfg))
    model.set_beta(cfg.beta)
    model.set_reset_grad(cfg.reset_grad)
    return model


def load_splits(cfg: TrainConfig) -> tuple[BinnedDataset, Optional[BinnedDataset], BinnedDataset]:
    """``(train, val, test)``: ``val`` is a stratified ``val_fraction`` of the (optionally
    subsampled) training split, fixed by the seed; ``test`` is the same for every seed.
    With ``cfg.folds``, ``test`` is fold ``cfg.fold`` of the training split (see
    :func:`official_test`) and ``train``/``val`` are carved from the other folds.  With
    ``cfg.tuning_block``, everything is drawn from the block (part ``tuning``) or from
    the rest (part ``scored``) (:func:`training_part`)."""
    full = training_part(cfg)
    if cfg.folds:
        rest, held_out = fold_indices(full.labels, cfg.folds, cfg.fold, cfg.fold_seed)
        train_idx, val_idx = (rest[i] for i in train_val_indices(
            full.labels[torch.from_numpy(rest)], cfg.val_fraction, cfg.seed))
        test = full.select(held_out)
    else:
        train_idx, val_idx = train_val_indices(full.labels, cfg.val_fraction, cfg.seed)
        test = official_test(cfg)
    val = full.select(val_idx) if len(val_idx) else None
    return full.select(train_idx), val, test


def training_part(cfg: TrainConfig) -> BinnedDataset:
    """The part of the (optionally subsampled) training split that ``cfg`` draws on: all
    of it, or, with ``cfg.tuning_block``, the tuning block or the rest (the subsample is
    then drawn with :data:`TUNING_BLOCK_SEED`, so that tuning and studies agree on it)."""
    seed = (TUNING_BLOCK_SEED if cfg.tuning_block else
            cfg.fold_seed if cfg.folds else cfg.seed)
    full = load_dataset(cfg.dataset, cfg.data_dir, "train", cfg.bin_us, cfg.n_bins,
                        max_samples=cfg.train_samples, subset_seed=seed,
                        cache_dir=cfg.cache_dir, download=cfg.download)
    if not cfg.tuning_block:
        return full
    block = tuning_block_indices(full.labels, cfg.tuning_block)
    rest = np.setdiff1d(np.arange(len(full)), block)
    return full.select(block if cfg.part == "tuning" else rest)


def split_record(cfg: TrainConfig) -> dict[str, Any]:
    """What a report says about the samples a run drew on and where its settings were
    tuned (``crossval`` refuses to pair runs whose tuning saw the samples they score)."""
    return {"tuning_block": cfg.tuning_block, "part": cfg.part,
            "block_seed": TUNING_BLOCK_SEED if cfg.tuning_block else None,
            "train_samples": cfg.train_samples, "tuned_on": cfg.tuned_on}


def bin_once(cfg: TrainConfig) -> None:
    """Bin ``cfg``'s dataset into the disk cache now, so that parallel runs only read it."""
    load_splits(cfg)


def official_test(cfg: TrainConfig) -> BinnedDataset:
    """The dataset's own test split (``--test-samples`` of it), the same for every run."""
    return load_dataset(cfg.dataset, cfg.data_dir, "test", cfg.bin_us, cfg.n_bins,
                        max_samples=cfg.test_samples, cache_dir=cfg.cache_dir,
                        download=cfg.download)


def check_out(out: Path, resume: bool) -> None:
    """Refuse an ``--out`` that is a file, or that holds a run while ``resume`` is off."""
    check_out_folder(out)
    if not resume and ((out / CHECKPOINT).exists() or (out / REPORT).exists()):
        raise ValueError(f"--out {out} already holds a run; pass --resume to continue it "
                         f"or choose another folder")


def train_epoch(model: SastNetwork, loader: DataLoader, optimizer: torch.optim.Optimizer,
                loss_fx: torch.nn.Module, epoch: int, device: torch.device,
                ascent: Optional[DataLoader] = None, clip_grad: float = 0.0,
                quiet: bool = False) -> dict[str, float]:
    """One epoch on ``device`` (the model's); with ``ascent`` SAM's climb takes its
    gradient from that loader's batches; ``clip_grad > 0`` clips every gradient's global
    norm to it.  Raises :class:`TrainingError` on a non-finite loss."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    ascent_batches = iter(ascent) if ascent is not None else None
    bar = progress(loader, quiet, desc=f"epoch {epoch}", leave=False, mininterval=1.0)
    for batch, (x, y) in enumerate(bar):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        first: dict[str, torch.Tensor] = {}

        def pass_on(xb: torch.Tensor, yb: torch.Tensor, keep: bool) -> torch.Tensor:
            optimizer.zero_grad()
            out = model(xb)
            loss = loss_fx(out, yb)
            if not torch.isfinite(loss):
                raise TrainingError(f"non-finite loss ({loss.item()}) at epoch {epoch}, "
                                    f"batch {batch}")
            loss.backward()
            if clip_grad > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            if keep:
                first.setdefault("out", out.detach())
            return loss

        if isinstance(optimizer, SAM):
            ascent_closure = None
            if ascent_batches is not None:
                xa, ya = (t.to(device) for t in next(ascent_batches))
                ascent_closure = lambda: pass_on(xa, ya, False)  # noqa: E731
            loss = optimizer.step(lambda: pass_on(x, y, True), ascent_closure)
        else:
            loss = pass_on(x, y, True)
            optimizer.step()
        total_loss += float(loss.detach()) * len(y)
        correct += int((Rate.predict(first["out"]) == y).sum())
        seen += len(y)
        bar.set_postfix(loss=f"{total_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    return {"train_loss": total_loss / seen, "train_accuracy": correct / seen}


def _report(cfg: TrainConfig, model: SastNetwork, test: BinnedDataset,
            val: Optional[BinnedDataset], history: list[dict], best: dict[str, Any],
            epoch_seconds: list[float], out: Path, hardware: Optional[HardwareEval],
            trained: int, rho: float, stopped: bool, unfinished: bool) -> dict[str, Any]:
    """The run's report.  What the run's Method decided comes in as values: ``rho``, the
    SAM radius it trained with; ``stopped``, whether ``--patience`` ended it;
    ``unfinished``, whether it ended inside the slope warm-up."""
    split = split_record(cfg)
    official = official_test(cfg) if cfg.folds else None
    sur = evaluate(model, test, "surrogate")
    hard = evaluate(model, test, "hard")
    report: dict[str, Any] = {
        "method": cfg.method, "rho": rho, "dataset": cfg.dataset,
        "epochs": len(history), "max_epochs": cfg.epochs,
        "stopped_early": stopped,
        "seed": cfg.seed,
        "beta": cfg.beta,
        "threshold": cfg.threshold, "lr": cfg.lr, "qat_bits": cfg.qat_bits,
        "warmup_unfinished": unfinished,
        "best_epoch": best["epoch"], "val_hard_accuracy": best.get("val_hard_accuracy"),
        "val_samples": len(val) if val is not None else 0,
        "trained_samples": trained,
        "init_factors": best.get("init_factors"),
        "surrogate_accuracy": sur.accuracy, "hard_accuracy": hard.accuracy,
        "transfer_gap": transfer_gap(sur.accuracy, hard.accuracy),
        "hard_synops_per_sample": hard.synops_per_sample,
        "hard_synops_per_layer": hard.synops_per_layer,
        "surrogate_synops_per_sample": sur.synops_per_sample,
        "near_threshold_fraction": hard.near_threshold_fraction,
        "hard_voltage_hist": hard.voltage_hist, "hist_range": list(hard.hist_range),
        "seconds_per_epoch": float(np.mean(epoch_seconds)) if epoch_seconds else None,
        "test_samples": sur.samples, "history": history, "config": cfg.as_dict(),
        "test_split": f"fold {cfg.fold} of {cfg.folds}" if cfg.folds else "test",
        "split": split,
        "test_labels": hard.labels, "surrogate_predictions": sur.predictions,
        "hard_predictions": hard.predictions,
        "networks": {"slayer_export": NETWORK},
    }
    if official is not None:
        report["official_hard_accuracy"] = accuracy(model, official, "hard")
        report["official_surrogate_accuracy"] = accuracy(model, official, "surrogate")
    if cfg.hardware_eval and hardware is not None:
        report.update(hardware(model, test, out, val, official))
        report["networks"].update({"int8": report["int8_network"],
                                   "int4": report["int4_network"]})
    return report


def stopped_early(history: list[dict], best: dict[str, Any], patience: int,
                  warmup: int = 0) -> bool:
    """Whether validation has not improved for ``patience`` epochs after the first
    ``warmup`` (never when ``patience`` is 0)."""
    return patience > 0 and len(history) - max(best["epoch"], warmup) >= patience


def calibrate_init(model: SastNetwork, cfg: TrainConfig, method: Method,
                   train_set: BinnedDataset, device: torch.device) -> Optional[list[float]]:
    """With ``cfg.init_rate > 0``, scale each layer's initial weights so its mean rate on
    the first 128 training samples (moved to ``device``, the model's), in the method's
    training forward pass, is that rate (:func:`calibrate_rates`); returns the factors."""
    if not cfg.init_rate:
        return None
    method.start_epoch(model, cfg, 1)
    x, _ = next(iter(train_set.loader(128)))
    return calibrate_rates(model, x.to(device), cfg.init_rate)


def train(cfg: TrainConfig, resume: bool = False,
          given: Optional[set[str]] = None,
          on_epoch: Optional[Callable[[int, dict[str, Any]], None]] = None,
          hardware: Optional[HardwareEval] = None) -> dict[str, Any]:
    """Train per ``cfg``; write checkpoint, networks and report into ``cfg.out``;
    return the report.  ``on_epoch(epoch, stats)`` is called after every epoch (a tuner
    prunes by raising from it).  ``hardware`` exports and scores the INT8/INT4 nets (the
    command-line entry modules pass ``netx_export.hardware_eval.hardware_metrics``; without
    it, or with ``cfg.hardware_eval`` off, the report has no INT metrics).  With
    ``resume``, continue ``cfg.out/checkpoint.pt``: its own settings win and only
    ``epochs`` may grow; a setting named in ``given`` (the command line's) that differs
    from the run's is refused."""
    cfg = resolve(cfg)  # checked and resolved once, before anything is written
    out = Path(cfg.out)
    check_out(out, resume)
    try:
        out.mkdir(parents=True)
        created = True
    except FileExistsError:
        created = False
    try:
        with folder_lock(out):
            check_out(out, resume)  # again: a run may have finished in it meanwhile
            return _train_locked(cfg, out, resume, given, on_epoch, hardware)
    except FolderInUse:  # another command's folder: leave it alone
        raise
    except BaseException:
        if created and not (out / CHECKPOINT).exists():  # nothing worth keeping
            shutil.rmtree(out, ignore_errors=True)
        raise


def _train_locked(cfg: TrainConfig, out: Path, resume: bool, given: Optional[set[str]],
                  on_epoch: Optional[Callable[[int, dict[str, Any]], None]],
                  hardware: Optional[HardwareEval]) -> dict[str, Any]:
    """:func:`train`'s work, inside the folder's lock."""
    ckpt_path = out / CHECKPOINT
    state = load_checkpoint(ckpt_path) if resume and ckpt_path.exists() else None
    if state is not None:
        cfg = resumed(state["config"], cfg, given or set(), out)
    method: Method = get_method(cfg.method)  # the run's method, looked up once
    warmup, unfinished = method.warmup_epochs(cfg), method.warmup_unfinished(cfg)
    rho = method.effective_rho(cfg.rho)
    if unfinished:
        print(f"warning: --epochs {cfg.epochs} ends inside the {cfg.beta_warmup}-epoch slope "
              f"warm-up: no epoch trains at beta {cfg.beta:g} (the last at "
              f"{method.beta_at(cfg, cfg.epochs):.3g}), and the reported net is the last "
              f"epoch's; train more than {cfg.beta_warmup} epochs or lower --beta-warmup",
              file=sys.stderr, flush=True)
    generator = seed_everything(cfg.seed)
    ascent_gen = torch.Generator().manual_seed(cfg.seed + 1)
    train_set, val_set, test_set = load_splits(cfg)
    device = resolve_device(cfg.device)
    model = build_model(cfg, method, train_set.spec.input_shape,
                        train_set.num_classes).to(device)
    init_factors = (calibrate_init(model, cfg, method, train_set, device)
                    if state is None else None)
    optimizer = method.optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda i: method.lr_factor(cfg, i + 1))  # i: epochs stepped so far
    loss_fx = make_loss(cfg)
    history: list[dict] = []
    epoch_seconds: list[float] = []
    best: dict[str, Any] = {"epoch": 0, "init_factors": init_factors}
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if state.get("scheduler"):  # the factor follows cfg.epochs (an extended run's too)
            scheduler.load_state_dict(state["scheduler"])
        history, epoch_seconds, best = state["history"], state["epoch_seconds"], state["best"]
        torch.set_rng_state(state["torch_rng"])
        generator.set_state(state["generators"]["loader"])
        ascent_gen.set_state(state["generators"]["ascent"])
        print(f"resuming {ckpt_path} after epoch {len(history)}")
    watch = health.HealthWatch(model, train_set, loss_fx, device,
                               health.likely_settings(cfg, method.spike_mode))
    if state is not None:
        watch.restore(state.get("health"), history)
    else:  # the start, in epoch 1's forward pass
        method.start_epoch(model, cfg, 1)
        watch.measure(0)
    if len(history) < cfg.epochs:  # outputs of a shorter run would no longer match
        for name in (REPORT, NETWORK, "network_int8.net", "network_int4.net"):
            (out / name).unlink(missing_ok=True)
    loader = train_set.loader(cfg.batch_size, shuffle=True, generator=generator)
    ascent = (train_set.loader(cfg.batch_size, shuffle=True, generator=ascent_gen)
              if cfg.sam_ascent == "independent" and isinstance(optimizer, SAM) else None)
    for epoch in range(len(history) + 1, cfg.epochs + 1):
        if stopped_early(history, best, cfg.patience, warmup):
            break
        start = time.perf_counter()
        method.start_epoch(model, cfg, epoch)
        beta = method.beta_at(cfg, epoch)
        stats = train_epoch(model, loader, optimizer, loss_fx, epoch, device, ascent,
                            cfg.clip_grad, cfg.quiet)
        scheduler.step()
        epoch_seconds.append(time.perf_counter() - start)
        stats["health"] = watch.measure(epoch)  # not part of the epoch's time
        if val_set is not None:
            stats["val_hard_accuracy"] = accuracy(model, val_set, "hard")
        if epoch > warmup and (val_set is None or stats["val_hard_accuracy"]
                               >= best.get("val_hard_accuracy", -1)):
            best = {**best, "epoch": epoch,
                    "val_hard_accuracy": stats.get("val_hard_accuracy"),
                    "beta": beta, "model": copy.deepcopy(model.state_dict())}
        history.append({"epoch": epoch, "beta": beta, **stats})
        save_atomic(training_state(cfg.as_dict(), model, optimizer, scheduler, history,
                                   epoch_seconds, best,
                                   {"loader": generator, "ascent": ascent_gen}, watch.state()),
                    ckpt_path)
        val_text = (f" val hard {stats['val_hard_accuracy']:.3f}"
                    if val_set is not None else "")
        if not cfg.quiet:
            print(f"epoch {epoch}/{cfg.epochs}: loss {stats['train_loss']:.4f} "
                  f"train acc {stats['train_accuracy']:.3f}{val_text} "
                  f"({epoch_seconds[-1]:.1f} s)", flush=True)
        if on_epoch is not None:
            on_epoch(epoch, stats)
    if "model" in best:  # the reported net: the best epoch on validation (hard spikes)
        model.load_state_dict(best["model"])
    method.start_epoch(model, cfg, best["epoch"])
    model.export_hdf5(out / NETWORK)
    stopped = stopped_early(history, best, cfg.patience, warmup)
    report = _report(cfg, model, test_set, val_set, history, best, epoch_seconds, out,
                     hardware, len(train_set), rho, stopped, unfinished)
    report.update(watch.report())
    watch.plot(history, out / HEALTH_PLOT)
    write_json_atomic(out / REPORT, report)
    return report
