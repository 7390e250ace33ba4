"""A study's runs in parallel on Ray: a local instance (``--workers N``) or an existing
cluster (``--ray-address``).  Ray is an optional extra: ``pip install 'lava-sast[ray]'``.

Each run is one Ray task (a module-level function the workers import) that trains into its
own folder (as a sequential study does), so
a crashed worker loses only its unfinished run, and the same command resumes the study.
A task declares ``--cpus-per-run`` CPUs (its torch thread count) and ``--gpus-per-run``
GPUs to Ray.  Results equal a sequential study's: a run depends only on its settings, its
seed and its thread count (float sums are split across threads), and the sequential study
trains every run with ``--cpus-per-run`` threads too.
"""
from __future__ import annotations

import os
import re
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Optional, Sequence

RAY_HINT = "pip install 'lava-sast[ray]' (or pip install ray) into this environment"


class ParallelError(ValueError):
    """Ray is missing or a run failed on a worker."""


@dataclass(frozen=True)
class RayOptions:
    """Where many runs train: ``workers`` at a time on a local Ray instance (1: one after
    another, no Ray) or on the cluster at ``address``, each with ``cpus_per_run`` torch
    threads and ``gpus_per_run`` GPUs (``None``: ``1 / workers`` when runs use CUDA)."""

    workers: int = 1
    address: Optional[str] = None
    cpus_per_run: int = 1
    gpus_per_run: Optional[float] = None

    @property
    def parallel(self) -> bool:
        """Whether the runs go to Ray."""
        return self.workers > 1 or self.address is not None

    def gpus(self, device_type: str) -> float:
        """GPUs each run declares to Ray when the runs use ``device_type``."""
        if self.gpus_per_run is not None:
            return self.gpus_per_run
        return 1.0 / self.workers if device_type == "cuda" else 0.0

    def check(self) -> None:
        """``ValueError`` for counts out of range; :class:`ParallelError` when the runs
        need Ray and it is not installed (checked before anything is written)."""
        if self.workers < 1 or self.cpus_per_run < 1 or (self.gpus_per_run or 0) < 0:
            raise ValueError(f"--workers and --cpus-per-run must be >= 1 and --gpus-per-run "
                             f">= 0, got {self.workers}, {self.cpus_per_run}, "
                             f"{self.gpus_per_run}")
        if self.parallel:
            require_ray(self.workers)


def run_on_ray(task: Callable[..., dict[str, Any]],
               tasks: Sequence[tuple[Hashable, tuple, str]], workers: int,
               address: Optional[str] = None, cpus_per_run: int = 1,
               gpus_per_run: float = 0.0,
               report: Callable[[str], None] = print) -> dict[Hashable, dict[str, Any]]:
    """Run ``task(*args)`` for every ``(key, args, label)`` of ``tasks`` as a Ray task
    (``task`` must be a module-level function, so workers import it), at most ``workers``
    at once on a local Ray (or on the cluster at ``address``); returns the results by key.
    Raises :class:`ParallelError` naming the tasks that failed, after the others finished."""
    ray = require_ray(workers)
    started = not ray.is_initialized()
    if started:
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parents[1])]
            + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}}
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "runtime_env": env}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = workers * cpus_per_run
            kwargs["num_gpus"] = gpus_per_run * workers if gpus_per_run else 0
        with captured_stderr() as log:
            try:
                ray.init(**kwargs)
                failure = None
            except Exception as exc:  # an unreachable address, a broken local start
                failure = exc
        if failure is not None:
            raise ParallelError(attach_error(address, failure, "".join(log))) from None
        sys.stderr.write("".join(log))
    remote = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(task)
    pending: dict[Any, tuple[Hashable, str]] = {}
    queue = list(tasks)
    reports: dict[Hashable, dict[str, Any]] = {}
    failed: list[str] = []
    try:
        while queue or pending:
            while queue and len(pending) < workers:  # at most ``workers`` runs in flight
                key, args, label = queue.pop(0)
                pending[remote.remote(*args)] = (key, label)
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                key, label = pending.pop(ref)
                try:
                    reports[key] = ray.get(ref)
                    report(f"[{len(reports) + len(failed)}/{len(tasks)}] {label} done")
                except Exception as exc:  # the task's own error, re-raised by Ray
                    cause = getattr(exc, "cause", None) or exc
                    failed.append(f"{label}: {str(cause).strip().splitlines()[-1]}")
                    report(f"[{len(reports) + len(failed)}/{len(tasks)}] {label} FAILED")
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if started:
            ray.shutdown()
    if failed:
        raise ParallelError(f"{len(failed)} run(s) failed (finished runs are kept; run the "
                            f"same command again to continue): " + "; ".join(failed))
    return reports


@contextmanager
def captured_stderr() -> Iterator[list[str]]:
    """Collect what is written to file descriptor 2 in the block (Ray's C++ layer logs
    there, one line a second while it retries); the yielded list holds it afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    text: list[str] = []
    with tempfile.TemporaryFile(mode="w+") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield text
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            log.seek(0)
            text.append(log.read())


def attach_error(address: Optional[str], exc: BaseException, log: str) -> str:
    """One line saying why ``ray.init`` failed and what to do: authentication, address or
    version mismatch, judged from the exception and Ray's own log lines."""
    where = f" at {address}" if address else ""
    text = f"{exc}\n{log}"
    if re.search(r"Unauthenticated|InvalidAuthToken|auth(entication)? token", text, re.I):
        mode = os.environ.get("RAY_AUTH_MODE")
        fix = ("the token does not match the cluster's: copy the head's ~/.ray/auth_token "
               "or set RAY_AUTH_TOKEN" if mode == "token" else
               "set RAY_AUTH_MODE=token in this shell (the token is read from "
               "~/.ray/auth_token or RAY_AUTH_TOKEN; copy the head's)")
        return (f"Ray could not attach{where}: authentication failed (the cluster uses "
                f"token authentication); {fix}")
    if re.search(r"version mismatch|Version mismatch|incompatible", text):
        import ray
        return (f"Ray could not attach{where}: version mismatch between the cluster and "
                f"this environment (ray {ray.__version__}, Python "
                f"{sys.version.split()[0]}); install the same versions on both sides")
    if address:
        return (f"Ray could not attach{where}: nothing answered ({exc}); check the "
                f"address and port (`ray status` on the head prints it) and that the head "
                f"is running")
    return f"Ray could not start: {exc}"


def require_ray(workers: int) -> Any:
    """The ``ray`` module; :class:`ParallelError` saying how to install it when missing."""
    try:
        import ray
    except ImportError:
        raise ParallelError(f"--workers {workers} runs a study on Ray, which is not "
                            f"installed: {RAY_HINT}") from None
    return ray


def ray_available() -> bool:
    """Whether the Ray extra is installed."""
    try:
        require_ray(1)
    except ParallelError:
        return False
    return True


__all__ = ["ParallelError", "RAY_HINT", "RayOptions", "ray_available", "require_ray", "run_on_ray"]
