"""Study: methods x rho x seeds at equal net, data and epochs, compared with lava-dl's recipe.

``python -m lava_sast.study --dataset nmnist --data-dir DIR --methods slayer slayer-sam sast
smooth --rho 0.3 --seeds 0 1 2 3 4 --epochs 20 --out DIR``

A method may carry its own radius and QAT width, ``slayer-sam@0.05+qat4``; the others
take every ``--rho`` and the study's ``--qat-bits``.
Every run goes to ``OUT/<method>[_rho<r>][_qat<b>]_seed<s>/`` (methods without SAM run
once per seed; SAM methods once per ``--rho``; rho 0 of ``sast``/``slayer-sam`` is
``smooth``/``slayer`` and is skipped; ``+qat4`` trains a method through the 4-bit
export grid).  Finished runs are reused, shorter ones extended; a run
folder whose recorded settings differ from the requested ones is refused.  Writes
``summary.json``, ``summary.md`` (mean ± std over seeds, paired per-seed differences
against ``slayer``) and plots: ``accuracy_by_method.png``, ``synops_vs_int8.png``,
``membrane_hist.png``.  With ``--lava N`` the INT8/INT4 nets also run in Lava's
fixed-point simulator on N test samples.  ``--workers N`` trains N runs at a time on a
local Ray instance, ``--ray-address`` on an existing cluster (:mod:`lava_sast.parallel`).
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from netx_export.hardware_eval import hardware_metrics
from netx_export.run import evaluate_network

from ..cli import (USER_ERRORS, add_parallel_args, config_from_args, given_options,
                   ray_options, training_parser)
from ..config import TrainConfig, read_settings, resolved
from ..interrupt import run_guarded
from ..methods import SAM_METHODS
from .study_exec import Hooks, execute
from .study_plan import PARTITIONS, StudyOptions, plan_runs, run_plan
from .study_report import write_report


def lava_accuracy(run: Path, cfg: TrainConfig, samples: int) -> dict[str, Any]:
    """INT8 and INT4 accuracy of a run's deploy files in Lava ``fixed_pt`` on ``samples``
    test samples (the ``--lava`` hook)."""
    res: dict[str, Any] = {}
    for b in (8, 4):
        r = evaluate_network(str(run / f"network_int{b}.net"), cfg.dataset, cfg.data_dir,
                             "test", samples, engine="lava")
        res[f"int{b}_lava_accuracy"] = r["accuracy"]
        res[f"int{b}_lava_samples"] = r["samples"]
    return res


#: What every study run does beyond training.
HOOKS = Hooks(hardware=hardware_metrics, lava=lava_accuracy)


def parse_options(argv: Sequence[str], prog: str, default_methods: Sequence[str],
                  default_rho: Optional[Sequence[float]]) -> StudyOptions:
    """The study's :class:`StudyOptions` from its command line (usage errors, such as an
    unknown method spec or a bad ``--config``, exit)."""
    p = training_parser(prog, __doc__, many=True)
    p.set_defaults(method=list(default_methods),
                   rho=None if default_rho is None else list(default_rho), seed=[0, 1, 2])
    p.add_argument("--lava", type=int, default=None, metavar="N",
                   help="also run the INT8/INT4 nets in Lava (fixed_pt) on N test samples")
    p.add_argument("--partition", choices=PARTITIONS, default="per-seed",
                   help="with --folds: each seed its own fold partition (fold shuffle "
                        "--fold-seed + seed; default) or one shared by every seed")
    add_parallel_args(p)
    a = p.parse_args(argv)
    if a.lava and not a.hardware_eval:
        p.error("--lava runs the INT8/INT4 export files in Lava; leave out "
                "--no-hardware-eval")
    if a.folds is not None and (a.folds < 0 or a.folds == 1):
        p.error(f"--folds must be 0 (no cross-validation) or at least 2, got {a.folds}")
    try:
        given = given_options(p, argv)
        file_methods = read_settings(a.config) if a.config else {}
        settings = {m: {k: v for k, v in s.items() if k not in given and k != "rho"}
                    for m, s in file_methods.items()}
        rho = {m: resolved(TrainConfig(dataset=a.dataset, arch=a.arch, method=m)).rho
               for m in SAM_METHODS}  # the method's own (tuned) radius on this net
        rho.update({m: s["rho"] for m, s in file_methods.items() if "rho" in s})
        base = config_from_args(a, method="surrogate", rho=None, seed=a.seed[0])
        opts = StudyOptions(out=Path(a.out), base=base, methods=tuple(a.method),
                            seeds=tuple(a.seed),
                            rhos=None if a.rho is None else tuple(a.rho), settings=settings,
                            default_rho=rho, lava=a.lava, ray=ray_options(a),
                            partition=a.partition)
        run_plan(opts.methods, opts.rhos, opts.seeds, opts.default_rho)  # the specs parse
    except ValueError as exc:
        p.error(str(exc))
    return opts


def main(argv: Optional[Sequence[str]] = None, prog: str = "python -m lava_sast.study",
         default_methods: Sequence[str] = ("slayer", "slayer-sam", "sast", "smooth"),
         default_rho: Optional[Sequence[float]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    opts = parse_options(argv, prog, default_methods, default_rho)
    code, by_fold = run_guarded(lambda: execute(opts, plan_runs(opts), HOOKS), USER_ERRORS,
                                f"finished runs in {opts.out} are kept; run the same command "
                                f"again to continue")
    if code:
        return code
    command = f"{prog} " + " ".join(shlex.quote(v) for v in argv)
    md, plots = write_report(opts, by_fold, command)
    print(md)
    print(f"wrote {opts.out}/summary.json, summary.md, {', '.join(plots)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
