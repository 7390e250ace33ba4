"""What ``netx_export.run`` and ``netx_export.verify`` share on the command line: the
network, dataset and Lava options, and the ending (one-line errors, the result printed and
written atomically)."""
from __future__ import annotations

import argparse
import json
from typing import Any, Callable, Optional

from lava_sast.atomic import check_writable, write_json_atomic
from lava_sast.cli import add_runtime_args, positive_float, positive_int
from lava_sast.datasets import DATASET_CHOICES, DatasetError
from lava_sast.interrupt import run_guarded

from .lava_runner import LavaRunError
from .netx_model import NetworkFileError

#: What a deployment command reports as a one-line error instead of a traceback.
DEPLOY_ERRORS = (NetworkFileError, DatasetError, LavaRunError, ValueError, OSError)


def network_parser(prog: str, description: Optional[str],
                   samples: Optional[int]) -> argparse.ArgumentParser:
    """A parser with the network file, its data (``--samples`` defaulting to ``samples``;
    ``None``: all), the Lava time limit, ``--out`` and the runtime options."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("network", help="NetX hdf5 (.net)")
    p.add_argument("--dataset", choices=DATASET_CHOICES, default="digits",
                   help="default %(default)s")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", choices=["train", "test"], default="test",
                   help="default %(default)s")
    p.add_argument("--samples", type=positive_int, default=samples,
                   help="class-stratified subset of N samples (default "
                        + ("all" if samples is None else "%(default)s") + ")")
    p.add_argument("--bin-us", type=positive_int, default=None,
                   help="input time bin in microseconds (default: the one the net's file "
                        "records, else the dataset's)")
    p.add_argument("--n-bins", type=positive_int, default=None,
                   help="time bins per sample (default: the net's file's, else the "
                        "dataset's time window)")
    p.add_argument("--timeout", type=positive_float, default=900.0,
                   help="Lava time limit, seconds (default %(default)s)")
    p.add_argument("--out", default=None, help="result JSON path")
    add_runtime_args(p)
    return p


def finish(args: argparse.Namespace, work: Callable[[], dict[str, Any]],
           shown: Callable[[dict[str, Any]], dict[str, Any]] = lambda r: r) -> tuple[int, Any]:
    """Check ``--out``, run ``work`` guarded (one-line errors, Ctrl-C and SIGTERM stop
    Lava), print ``shown(result)`` and write the result to ``--out``; returns ``(exit
    code, result)``."""
    def guarded() -> dict[str, Any]:
        if args.out:
            check_writable(args.out)
        return work()

    code, result = run_guarded(guarded, DEPLOY_ERRORS,
                               "the Lava run and its processes were stopped")
    if code:
        return code, None
    print(json.dumps(shown(result), indent=2))
    if args.out:
        write_json_atomic(args.out, result)
    return 0, result
