import shutil

import numpy as np
import pytest
import torch

from lava_sast.datasets import DatasetError, load_dataset
from lava_sast.datasets.nmnist import NMNIST


def test_nmnist_real_subset_loads_through_tonic(nmnist_dir):
    ds = NMNIST(nmnist_dir, train=False)
    assert len(ds) == 100
    events, label = ds[0]
    assert set(events.dtype.names) >= {"x", "y", "t", "p"}
    assert 0 <= events["x"].max() < 34 and 0 <= label < 10
    binned = load_dataset("nmnist", nmnist_dir, "test", max_samples=20)
    assert binned.spikes.shape == (20, 2, 34, 34, 30)
    assert binned.spikes.dtype == torch.bool and binned.spikes.any()


def test_nmnist_tonic_layout_is_accepted(nmnist_dir, tmp_path):
    root = tmp_path / "NMNIST" / "Test" / "3"
    root.mkdir(parents=True)
    for f in sorted((nmnist_dir / "Test" / "3").glob("*.bin"))[:2]:
        shutil.copy(f, root)
    ds = NMNIST(tmp_path, train=False)
    assert len(ds) == 2 and ds.targets == [3, 3]


def test_missing_folder_names_the_folder(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetError, match="nowhere"):
        NMNIST(missing, train=True)


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "Train").mkdir()
    with pytest.raises(DatasetError, match="no .*bin"):
        NMNIST(tmp_path, train=True)


def test_truncated_bin_names_the_file(nmnist_dir, tmp_path):
    digit = tmp_path / "Train" / "4"
    digit.mkdir(parents=True)
    src = sorted((nmnist_dir / "Train" / "4").glob("*.bin"))[0]
    data = src.read_bytes()
    (digit / "00001.bin").write_bytes(data[:-2])
    ds = NMNIST(tmp_path, train=True)
    with pytest.raises(DatasetError, match="00001.bin.*multiple of 5"):
        ds[0]


def test_embedded_digits_need_no_files():
    train = load_dataset("digits", split="train", max_samples=50)
    test = load_dataset("digits", split="test")
    assert train.spikes.shape[1:] == (2, 18, 18, 30)
    assert len(test) == 360
    rate = train.spikes.float().mean().item()
    assert 0.01 < rate < 0.3
    # different digits give different event maps
    assert not torch.equal(train.spikes[0], train.spikes[1])


def test_unknown_dataset_and_missing_data_dir():
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("cifar")
    with pytest.raises(DatasetError, match="--data-dir"):
        load_dataset("nmnist")
