"""Binned spikes cached on disk: bit-packed, memory-mapped, keyed by source files and binning.

One cache slot per (dataset, data folder, split, binning) under the cache root::

    <root>/<dataset>-<split>-<16 hex>/
        meta.json    format, binning, source fingerprint, sample count, checksums
        spikes.u8    numpy.packbits rows, one per sample ([C, H, W, T] order)
        labels.npy   int64 labels

The source fingerprint hashes every source file's path, size and modification time,
so a changed, added or removed recording makes the slot *stale*; a short file, a bad
checksum or a missing ``meta.json`` (an interrupted build) makes it *corrupt*.  Either is
reported on stderr and rebuilt, never used.  A build writes into a temporary folder and
renames it into place, so readers never see half a cache; the first binning runs in
worker processes with a progress bar.

The root is ``--cache-dir``, else ``$LAVA_SAST_CACHE_DIR``, else
``$XDG_CACHE_HOME/lava-sast`` (``~/.cache/lava-sast``).
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from ..lock import file_lock
from ..progress import progress

from .binning import BinnedDataset, BinningSpec, bin_samples
from .errors import DatasetError

FORMAT = 1
META, SPIKES, LABELS = "meta.json", "spikes.u8", "labels.npy"
CHUNK = 64  # samples per worker task


class CacheInvalid(Exception):
    """A cache slot that must not be used (the message says why)."""


def default_cache_dir() -> Path:
    """``$LAVA_SAST_CACHE_DIR``, else ``$XDG_CACHE_HOME/lava-sast``, else ``~/.cache/lava-sast``."""
    if os.environ.get("LAVA_SAST_CACHE_DIR"):
        return Path(os.environ["LAVA_SAST_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lava-sast"


def source_fingerprint(paths: Sequence[str], root: str | os.PathLike) -> str:
    """Hash of every source file's path below ``root``, size and modification time (links
    followed), so one folder reached by different paths has one fingerprint."""
    h = hashlib.sha256()
    base = os.path.abspath(root)
    for path in paths:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise DatasetError(f"source file {path} cannot be read: "
                               f"{exc.strerror or exc}") from exc
        name = os.path.relpath(os.path.abspath(path), base)
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _spec_dict(spec: BinningSpec) -> dict[str, Any]:
    return {"sensor_size": list(spec.sensor_size), "bin_us": spec.bin_us,
            "n_bins": spec.n_bins, "downsample": spec.downsample}


def _file_crc(path: Path, block: int = 1 << 24) -> int:
    crc = 0
    with open(path, "rb") as f:
        while chunk := f.read(block):
            crc = zlib.crc32(chunk, crc)
    return crc


def slot_folder(root: Path, name: str, split: str, data_dir: str, spec: BinningSpec) -> Path:
    """The cache folder of one (dataset, folder, split, binning)."""
    key = json.dumps([name, str(Path(data_dir).resolve()), split, _spec_dict(spec)])
    return root / f"{name}-{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _open_slot(folder: Path, spec: BinningSpec, fingerprint: str, n: int, num_classes: int,
               name: str, class_names: Optional[Sequence[str]]) -> BinnedDataset:
    """The cached dataset in ``folder``; raises :class:`CacheInvalid` saying what is wrong."""
    try:
        meta = json.loads((folder / META).read_text())
    except FileNotFoundError:
        raise CacheInvalid("no meta.json (an interrupted build)") from None
    except (OSError, ValueError) as exc:
        raise CacheInvalid(f"meta.json unreadable ({exc})") from None
    if meta.get("format") != FORMAT or meta.get("spec") != _spec_dict(spec):
        raise CacheInvalid("written by another cache format or binning")
    if meta.get("source") != fingerprint or meta.get("samples") != n:
        raise CacheInvalid("stale: the source files changed since it was built")
    row_bytes = spec.row_bytes
    spikes = folder / SPIKES
    try:
        size = spikes.stat().st_size
        if size != n * row_bytes:
            raise CacheInvalid(f"corrupt: {SPIKES} has {size} bytes, expected {n * row_bytes}")
        if _file_crc(spikes) != meta.get("spikes_crc32"):
            raise CacheInvalid(f"corrupt: {SPIKES} fails its checksum")
        if _file_crc(folder / LABELS) != meta.get("labels_crc32"):
            raise CacheInvalid(f"corrupt: {LABELS} fails its checksum")
        labels = np.load(folder / LABELS, allow_pickle=False)
    except OSError as exc:
        raise CacheInvalid(f"unreadable ({exc})") from None
    if labels.shape != (n,):
        raise CacheInvalid(f"corrupt: {LABELS} holds {labels.shape}, expected ({n},)")
    packed = np.memmap(spikes, dtype=np.uint8, mode="r", shape=(n, row_bytes))
    return BinnedDataset(packed, torch.from_numpy(labels.astype(np.int64)), spec,
                         num_classes, name, class_names)


_JOB: dict[str, Any] = {}  # the events dataset and binning, inherited by forked workers


def _bin_chunk(task: tuple[int, int]) -> tuple[int, np.ndarray, np.ndarray]:
    """Bin samples ``start:stop`` of the inherited job; returns ``(start, packed, labels)``."""
    start, stop = task
    packed, labels = bin_samples(_JOB["events"], range(start, stop), _JOB["spec"])
    return start, packed, labels


def _worker_init() -> None:
    """A binning worker takes the default SIGTERM action: a forked worker would otherwise
    inherit a command's SIGTERM-as-Ctrl-C handler and could miss the pool's terminate
    while it waits on the task queue, leaving ``join`` waiting forever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _build(folder: Path, events: Dataset, spec: BinningSpec, fingerprint: str,
           workers: int, desc: str) -> None:
    """Bin ``events`` into a fresh slot at ``folder`` (temporary folder, then rename)."""
    n = len(events)
    row_bytes = spec.row_bytes
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        packed = np.memmap(tmp / SPIKES, dtype=np.uint8, mode="w+", shape=(n, row_bytes))
        labels = np.zeros(n, dtype=np.int64)
        tasks = [(s, min(s + CHUNK, n)) for s in range(0, n, CHUNK)]
        workers = max(1, min(workers, len(tasks)))
        bar = progress(total=n, desc=f"binning {desc} ({workers} workers)", leave=False,
                       mininterval=1.0)
        _JOB.update(events=events, spec=spec)
        pool = (multiprocessing.get_context("fork").Pool(workers, initializer=_worker_init)
                if workers > 1 else None)
        finished = False
        try:
            results = (pool.imap_unordered(_bin_chunk, tasks) if pool is not None
                       else map(_bin_chunk, tasks))
            for start, rows, y in results:
                packed[start:start + len(rows)] = rows
                labels[start:start + len(rows)] = y
                bar.update(len(rows))
            finished = True
        finally:
            if pool is not None:
                if finished:  # every result is in: the workers end on their own
                    pool.close()
                else:  # a failure or Ctrl-C: stop them now
                    pool.terminate()
                pool.join()
            _JOB.clear()
            bar.close()
        packed.flush()
        del packed
        np.save(tmp / LABELS, labels)
        meta = {"format": FORMAT, "spec": _spec_dict(spec), "source": fingerprint,
                "samples": n, "spikes_crc32": _file_crc(tmp / SPIKES),
                "labels_crc32": _file_crc(tmp / LABELS)}
        (tmp / META).write_text(json.dumps(meta, indent=1))
        if folder.exists():  # stale or corrupt: move aside, then drop
            aside = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old.", dir=folder.parent))
            os.replace(folder, aside / "slot")
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same slot first: keep theirs
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def cached_binning(events: Dataset, spec: BinningSpec, num_classes: int, name: str,
                   split: str, data_dir: str, cache_dir: Optional[str | Path] = None,
                   workers: Optional[int] = None,
                   class_names: Optional[Sequence[str]] = None) -> BinnedDataset:
    """The binned ``events`` (a tonic dataset with a ``data`` list of source files) from
    the disk cache, building (or rebuilding) the slot first when it is missing, stale or
    corrupt.  ``workers`` processes bin (default: every CPU)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if root.exists() and not root.is_dir():
        raise DatasetError(f"--cache-dir {root} is a file, not a folder")
    folder = slot_folder(root, name, split, data_dir, spec)
    sources = [str(p) for p in getattr(events, "data")]
    fingerprint = source_fingerprint(sources, getattr(events, "location_on_system", data_dir))
    if len(events) == 0:
        raise DatasetError(f"{name} {split}: no samples to bin")
    args = (spec, fingerprint, len(events), num_classes, name, class_names)
    if folder.exists():
        try:
            return _open_slot(folder, *args)
        except CacheInvalid:
            pass
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        # one builder per slot: a process that waited here finds the slot built
        with file_lock(folder.parent / f".{folder.name}.lock"):
            try:
                return _open_slot(folder, *args)
            except CacheInvalid as why:
                if folder.exists():
                    print(f"cache {folder}: {why}; rebuilding", file=sys.stderr)
            _build(folder, events, spec, fingerprint, workers or os.cpu_count() or 1,
                   f"{name} {split}")
    except OSError as exc:
        raise DatasetError(f"cache folder {root} cannot be written: "
                           f"{exc.strerror or exc}") from exc
    try:
        return _open_slot(folder, *args)
    except CacheInvalid as why:
        raise DatasetError(f"cache {folder} is still unusable after a rebuild: {why}") from None
