"""The binned-dataset disk cache: bit-packed, memory-mapped, rebuilt when stale or corrupt;
batch loading; --download's error without a network."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from lava_sast import datasets
from lava_sast.datasets import BinningSpec, DatasetError, bin_dataset, load_dataset
from lava_sast.datasets.cache import META, SPIKES, cached_binning, slot_folder
from lava_sast.datasets.nmnist import NMNIST

SPEC = BinningSpec((34, 34, 2), 10_000, 30)


def _link_subset(src: Path, dst: Path, per_digit: int) -> Path:
    """An N-MNIST folder of symlinks to ``per_digit`` files of each training digit."""
    for split in ("Train", "Test"):
        for digit in range(10):
            folder = dst / split / str(digit)
            folder.mkdir(parents=True)
            for f in sorted((src / split / str(digit)).glob("*.bin"))[:per_digit]:
                (folder / f.name).symlink_to(f.resolve())
    return dst


@pytest.fixture()
def small_nmnist(nmnist_dir, tmp_path) -> Path:
    return _link_subset(nmnist_dir, tmp_path / "nmnist", 3)


def _cached(data_dir: Path, cache: Path, workers: int = 2):
    events = NMNIST(data_dir, train=True)
    return events, cached_binning(events, SPEC, 10, "nmnist", "train", str(data_dir),
                                  cache, workers=workers)


def test_cache_equals_in_memory_binning_and_is_reused(small_nmnist, tmp_path, capfd):
    events, first = _cached(small_nmnist, tmp_path / "cache")
    reference = bin_dataset(events, SPEC, 10, "nmnist")
    assert isinstance(first.packed, np.memmap)
    assert torch.equal(first.spikes, reference.spikes) and first.spikes.any()
    assert torch.equal(first.labels, reference.labels)
    folder = slot_folder(tmp_path / "cache", "nmnist", "train", str(small_nmnist), SPEC)
    stamp = (folder / META).stat().st_mtime_ns
    capfd.readouterr()
    _, again = _cached(small_nmnist, tmp_path / "cache")
    assert (folder / META).stat().st_mtime_ns == stamp  # read, not rebuilt
    assert "rebuilding" not in capfd.readouterr().err
    assert torch.equal(again.spikes, reference.spikes)
    # one bit per spike: 8x smaller than bool, and nothing else in the slot
    assert (folder / SPIKES).stat().st_size == len(reference) * 34 * 34 * 2 * 30 // 8
    assert not [p for p in folder.parent.iterdir()  # the build's lock may stay beside it
                if p.name.startswith(".") and p.suffix != ".lock"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "no-meta"])
def test_corrupt_cache_is_detected_and_rebuilt(small_nmnist, tmp_path, capfd, damage):
    _, good = _cached(small_nmnist, tmp_path / "cache", workers=1)
    expected = good.spikes.clone()
    del good
    folder = slot_folder(tmp_path / "cache", "nmnist", "train", str(small_nmnist), SPEC)
    path = folder / SPIKES
    if damage == "flip":
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
    elif damage == "truncate":
        os.truncate(path, path.stat().st_size - 100)
    else:
        (folder / META).unlink()
    capfd.readouterr()
    _, rebuilt = _cached(small_nmnist, tmp_path / "cache", workers=1)
    err = capfd.readouterr().err
    assert "rebuilding" in err and str(folder) in err
    assert torch.equal(rebuilt.spikes, expected)


def test_stale_cache_is_rebuilt_when_source_files_change(small_nmnist, tmp_path, nmnist_dir,
                                                         capfd):
    _, before = _cached(small_nmnist, tmp_path / "cache", workers=1)
    extra = sorted((nmnist_dir / "Train" / "4").glob("*.bin"))[10]
    (small_nmnist / "Train" / "4" / extra.name).symlink_to(extra.resolve())
    capfd.readouterr()
    _, after = _cached(small_nmnist, tmp_path / "cache", workers=1)
    assert "stale" in capfd.readouterr().err
    assert len(after) == len(before) + 1


def test_load_dataset_uses_cache_dir_and_reads_batches(small_nmnist, tmp_path):
    datasets._MEMORY.clear()
    data = load_dataset("nmnist", small_nmnist, "train", cache_dir=tmp_path / "c")
    assert any((tmp_path / "c").iterdir())
    x, y = data[[3, 0, 5]]
    assert x.shape == (3, 2, 34, 34, 30) and x.dtype == torch.float32
    assert torch.equal(x[1], data[0][0]) and int(y[0]) == data[3][1]
    part = data.select([5, 1])
    assert torch.equal(part.spikes[0], data.spikes[5])


def test_batch_loader_shuffles_like_a_dataloader(small_nmnist, tmp_path):
    """Same generator, same order as DataLoader(shuffle=True): runs stay reproducible."""
    data = load_dataset("nmnist", small_nmnist, "train", cache_dir=tmp_path / "c")
    ours = [y for _, y in data.loader(4, shuffle=True,
                                      generator=torch.Generator().manual_seed(3))]
    theirs = [y for _, y in DataLoader(data, batch_size=4, shuffle=True,
                                       generator=torch.Generator().manual_seed(3))]
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs)) and len(ours) == len(theirs)


def test_cache_dir_that_is_a_file_is_refused(small_nmnist, tmp_path):
    bad = tmp_path / "file"
    bad.write_text("x")
    with pytest.raises(DatasetError, match="is a file"):
        _cached(small_nmnist, bad)


def test_download_without_network_names_what_failed(tmp_path, monkeypatch):
    import tonic
    url = "http://127.0.0.1:9/nmnist-train.zip"  # nothing listens on the discard port
    monkeypatch.setattr(tonic.datasets.NMNIST, "train_url", url)
    datasets._MEMORY.clear()
    with pytest.raises(DatasetError, match="could not fetch nmnist train from " + url):
        load_dataset("nmnist", tmp_path / "fresh", "train", download=True)
    assert not (tmp_path / "fresh").exists()  # nothing half-downloaded is left behind


def test_one_folder_by_two_paths_shares_its_cache(small_nmnist, tmp_path, capfd):
    """The same recordings reached through a symlinked parent are not 'stale'."""
    _cached(small_nmnist, tmp_path / "cache", workers=1)
    (tmp_path / "alias").symlink_to(tmp_path)
    capfd.readouterr()
    events = NMNIST(tmp_path / "alias" / "nmnist" / ".." / "nmnist", train=True)
    cached_binning(events, SPEC, 10, "nmnist", "train",
                   str((tmp_path / "nmnist").resolve()), tmp_path / "cache", workers=1)
    assert "rebuilding" not in capfd.readouterr().err


HANG_CHECK = """
import faulthandler, sys, tempfile
import lava_sast  # noqa: F401
from lava_sast.datasets import load_dataset
from lava_sast.interrupt import sigterm_as_interrupt
for i in range(int(sys.argv[2])):
    with tempfile.TemporaryDirectory() as cache, sigterm_as_interrupt():
        faulthandler.dump_traceback_later(60, exit=True)  # a hung build ends the process
        load_dataset("nmnist", sys.argv[1], "train", cache_dir=cache)
        faulthandler.cancel_dump_traceback_later()
    print("built", i + 1, flush=True)
"""


def test_fresh_cache_builds_under_the_sigterm_guard_never_hang(nmnist_dir):
    """The binning pool's forked workers used to inherit the commands' SIGTERM handler and
    could miss ``terminate``, so ``join`` hung about one build in seven: 20 fresh builds,
    each under a 60 s limit."""
    done = subprocess.run([sys.executable, "-c", HANG_CHECK, str(nmnist_dir), "20"],
                          capture_output=True, text=True, timeout=20 * 60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "built 20"
