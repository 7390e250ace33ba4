"""Run a NetX hdf5 network in Lava's CPU simulator, fixed point, with a time limit.

The network is built by ``lava.lib.dl.netx.hdf5.Network`` with
``reset_interval = T`` (steps per sample) and ``reset_offset = 1``: layer ``k``
then resets exactly when the first bin of each sample reaches it (a Lava
``Dense`` delivers its input one step later per layer), so each sample runs
from zero state.  Samples are concatenated in time and streamed from a
``lava.proc.io.source.RingBuffer``; ``lava.proc.io.sink.RingBuffer`` processes
record the output (and, optionally, every layer's) spikes.

Lava runs in a forked child in its own process group.  The parent enforces
the time limit and kills the whole group on timeout, error or Ctrl-C, because
a Lava child that raises can leave the parent waiting forever.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from tqdm import tqdm

from lava_sast.progress import on_terminal

SUPPORTED_TAGS = ("fixed_pt",)


class LavaRunError(RuntimeError):
    """Lava failed, timed out, or was asked for an unsupported backend."""


@dataclass
class LavaResult:
    """Spikes ``[N, *shape, T]`` (bool) of the output layer and, if asked, every layer."""

    output_spikes: np.ndarray
    layer_spikes: Optional[list[np.ndarray]]
    seconds: float
    steps: int


def check_backend(select_tag: str) -> None:
    if select_tag == "floating_pt":
        raise LavaRunError(
            "select_tag='floating_pt' is refused: NetX passes integer (fixed-point) "
            "parameters, so the floating-point LIF gives meaningless spikes; use 'fixed_pt'")
    if select_tag not in SUPPORTED_TAGS:
        raise LavaRunError(f"unknown Lava backend {select_tag!r}; use 'fixed_pt'")


def _lava_input_order(spikes: np.ndarray, conv_input: bool) -> np.ndarray:
    """[N, C, H, W, T] -> the [N, W, H, C, T] order Lava conv processes use."""
    return spikes.transpose(0, 3, 2, 1, 4) if conv_input else spikes


def _child(path: str, spikes: np.ndarray, steps_per_sample: int, record_layers: bool,
           select_tag: str, out_file: str, progress: "mp.Queue", chunk: int,
           conv_input: bool) -> None:
    os.setsid()  # own process group: the parent can kill Lava's children too
    try:
        from lava_sast.compat import use_fork_for_lava
        use_fork_for_lava()  # Lava starts its runtime processes by fork, here only
        from lava.lib.dl.netx import hdf5
        from lava.magma.core.run_conditions import RunSteps
        from lava.magma.core.run_configs import Loihi2SimCfg
        from lava.proc.io.sink import RingBuffer as Sink
        from lava.proc.io.source import RingBuffer as Source

        n, steps = spikes.shape[0], steps_per_sample
        net = hdf5.Network(net_config=path, reset_interval=steps, reset_offset=1)
        n_layers = len(net.layers)
        total = n * steps + n_layers
        flat = spikes if conv_input else spikes.reshape(n, -1, steps)
        feature_shape = flat.shape[1:-1]
        stream = np.zeros((*feature_shape, total), dtype=np.int32)
        stream[..., :n * steps] = np.moveaxis(flat, 0, -2).reshape(*feature_shape, n * steps)
        source = Source(data=stream)
        source.s_out.connect(net.inp)
        taps = net.layers if record_layers else [net.layers[-1]]
        sinks = []
        for layer in taps:
            sink = Sink(shape=layer.out.shape, buffer=total)
            layer.out.connect(sink.a_in)
            sinks.append(sink)
        cfg = Loihi2SimCfg(select_tag=select_tag)
        done = 0
        try:
            while done < total:
                todo = min(chunk * steps, total - done)
                net.run(condition=RunSteps(num_steps=todo), run_cfg=cfg)
                done += todo
                progress.put(min(done // steps, n))
            data = [s.data.get() for s in sinks]
        finally:
            net.stop()
        cut = []
        for k, (layer, d) in enumerate(zip(taps, data)):
            idx = (n_layers - 1) if not record_layers else k
            start = idx + 1  # sink sees layer idx's window of sample 0 at steps idx+2.. (1-based)
            d = d[..., start:start + n * steps]
            d = d.reshape(*d.shape[:-1], n, steps)
            cut.append(np.moveaxis(d, -2, 0).astype(bool))
        np.savez(out_file, *cut)
        progress.put(("done", None))
    except BaseException:  # report every failure to the parent, then exit
        progress.put(("error", traceback.format_exc()))
    finally:
        progress.close()
        progress.join_thread()  # flush messages before the hard exit
        os._exit(0)


def run_lava(path: str | Path, spikes: np.ndarray, record_layers: bool = False,
             select_tag: str = "fixed_pt", timeout_s: float = 600.0,
             conv_input: bool = False, chunk: int = 10,
             show_progress: bool = True) -> LavaResult:
    """Run ``spikes`` (``[N, *input, T]`` binary, SLAYER order) through the NetX
    network at ``path`` in Lava; kill everything after ``timeout_s`` seconds."""
    check_backend(select_tag)
    spikes = _lava_input_order(np.asarray(spikes, dtype=np.int32), conv_input)
    n, steps = spikes.shape[0], spikes.shape[-1]
    ctx = mp.get_context("fork")
    progress: mp.Queue = ctx.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        out_file = os.path.join(tmp, "spikes.npz")
        proc = ctx.Process(target=_child, args=(str(path), spikes, steps, record_layers,
                                                select_tag, out_file, progress, chunk,
                                                conv_input))
        start = time.perf_counter()
        proc.start()
        bar = tqdm(total=n, desc="Lava fixed_pt", unit="sample", disable=not (show_progress and on_terminal()),
                   leave=False)
        error = None
        try:
            while True:
                left = timeout_s - (time.perf_counter() - start)
                if left <= 0:
                    raise LavaRunError(f"Lava run of {path} exceeded {timeout_s:.0f} s; "
                                       f"killed")
                try:
                    msg = progress.get(timeout=min(left, 1.0))
                except queue.Empty:
                    if not proc.is_alive() and progress.empty():
                        raise LavaRunError(f"Lava process for {path} died "
                                           f"(exit code {proc.exitcode})")
                    continue
                if isinstance(msg, tuple):
                    if msg[0] == "error":
                        error = msg[1]
                    break
                bar.n = msg
                bar.refresh()
        finally:
            bar.close()
            _kill_group(proc)
        if error is not None:
            raise LavaRunError(f"Lava failed on {path}:\n{error}")
        seconds = time.perf_counter() - start
        with np.load(out_file) as f:
            arrays = [f[k] for k in sorted(f.files, key=lambda s: int(s.split("_")[1]))]
    if conv_input:
        arrays = [a.transpose(0, 3, 2, 1, 4) if a.ndim == 5 else a for a in arrays]
    return LavaResult(arrays[-1], arrays if record_layers else None, seconds, steps)


def _kill_group(proc: mp.Process) -> None:
    if proc.pid is None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.join(timeout=5)
