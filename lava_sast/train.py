"""Training CLI: ``python -m lava_sast.train`` (no arguments: SAST on the embedded default).

Trains one run of one method (``--method smooth|sast|slayer|slayer-sam|anneal``; ``smooth``,
alias ``surrogate``, runs smooth sigmoid spikes forward), picks the epoch with the best
hard-spike accuracy on a validation split carved from the training data, and measures on the test split what survives the swap to hard
spikes and to 8/4-bit fixed-point deployment.  Writes into ``--out``:
``checkpoint.pt`` (atomic; ``--resume`` continues), ``network_int8.net`` and
``network_int4.net`` (the files to deploy in Lava), ``network.net`` (SLAYER's own
export) and ``report.json``.
"""
from __future__ import annotations

import json
import sys
import types
from typing import Any, Callable, Optional, Sequence

from netx_export.hardware_eval import hardware_metrics

from .cli import USER_ERRORS, parse_training, training_parser
from .config import TrainConfig
from .interrupt import run_guarded
from .trainer import CHECKPOINT, train

SUMMARY_KEYS = ["best_epoch", "val_hard_accuracy", "val_int8_accuracy", "surrogate_accuracy",
                "hard_accuracy", "transfer_gap", "int8_accuracy", "int4_accuracy",
                "hard_synops_per_sample", "near_threshold_fraction"]


def parse_args(argv: Optional[Sequence[str]] = None) -> tuple[TrainConfig, bool, set[str]]:
    """``(config, resume, fields set on the command line)``."""
    p = training_parser("python -m lava_sast.train", __doc__)
    args, cfg, given, _ = parse_training(p, argv)
    return cfg, args.resume, given


def main(argv: Optional[Sequence[str]] = None) -> int:
    cfg, resume, given = parse_args(argv)
    code, report = run_guarded(
        lambda: train(cfg, resume, given, hardware=hardware_metrics), USER_ERRORS,
        f"{cfg.out}/{CHECKPOINT} holds the last finished epoch; continue with --resume")
    if code:
        return code
    print(json.dumps({k: report[k] for k in SUMMARY_KEYS if k in report}, indent=2))
    for b in (8, 4):
        if report.get(f"int{b}_error"):
            print(f"warning: INT{b} net not deployable: {report[f'int{b}_error']}",
                  file=sys.stderr)
    files = ", ".join([CHECKPOINT, *report["networks"].values(), "report.json"])
    print(f"wrote {cfg.out}/{{{files}}}; deploy {report['networks'].get('int8', 'network.net')}")
    return 0


class _CommandModule(types.ModuleType):
    """This module, callable: ``lava_sast.train(cfg)`` (the public API's ``train``) runs
    what ``python -m lava_sast.train`` runs, with the INT8/INT4 export and scores."""

    def __call__(self, cfg: TrainConfig, resume: bool = False,
                 given: Optional[set[str]] = None,
                 on_epoch: Optional[Callable[[int, dict[str, Any]], None]] = None,
                 hardware: Optional[Callable[..., dict[str, Any]]] = hardware_metrics
                 ) -> dict[str, Any]:
        """Train per ``cfg`` into ``cfg.out`` and return the report
        (:func:`lava_sast.trainer.train`; ``hardware=None`` skips the INT8/INT4 export)."""
        return train(cfg, resume, given, on_epoch=on_epoch, hardware=hardware)


sys.modules[__name__].__class__ = _CommandModule

if __name__ == "__main__":
    sys.exit(main())
