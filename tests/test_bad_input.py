"""Bad input of every kind: a one-line error naming the input, non-zero exit, nothing
half-written; or, where the input is usable, a correct result."""
import os
import shutil

import numpy as np
import pytest

from lava_sast.datasets import DatasetError, load_dataset
from lava_sast.datasets.nmnist import NMNIST
from lava_sast.train import main as train_main


def _nmnist_event_bytes(x, y, t, p=0):
    """N-MNIST's 5-byte big-endian event records."""
    out = bytearray()
    for xi, yi, ti in zip(x, y, t):
        out += bytes([xi, yi, (p << 7) | ((ti >> 16) & 0x7F), (ti >> 8) & 0xFF, ti & 0xFF])
    return bytes(out)


@pytest.fixture
def nmnist_copy(nmnist_dir, tmp_path):
    """A small N-MNIST folder: 3 files per digit from the real subset."""
    root = tmp_path / "nm"
    for split in ("Train", "Test"):
        for d in range(10):
            (root / split / str(d)).mkdir(parents=True)
            for f in sorted((nmnist_dir / split / str(d)).glob("*.bin"))[:3]:
                shutil.copy(f, root / split / str(d) / f.name)
    return root


def _first_error(root, split="Train"):
    with pytest.raises(DatasetError) as info:
        ds = NMNIST(root, train=split == "Train")
        for i in range(len(ds)):
            ds[i]
    return str(info.value)


def test_nmnist_bad_files_are_named(nmnist_copy):
    f = nmnist_copy / "Train" / "3" / "bad.bin"
    f.write_bytes(_nmnist_event_bytes([40], [2], [100]))  # x beyond the 34x34 sensor
    assert "bad.bin" in _first_error(nmnist_copy) and "outside" in _first_error(nmnist_copy)
    f.write_bytes(b"\x00" * 7)
    assert "bad.bin" in _first_error(nmnist_copy) and "multiple of 5" in _first_error(nmnist_copy)
    f.write_bytes(b"")
    assert "bad.bin" in _first_error(nmnist_copy)
    f.unlink()
    loop = nmnist_copy / "Train" / "3" / "loop.bin"
    os.symlink(loop, loop)  # a link to itself
    assert "loop.bin" in _first_error(nmnist_copy)
    loop.unlink()


@pytest.mark.parametrize("folder", ["10", "c", "notes.txt"])
def test_nmnist_folders_that_are_not_digits_are_refused(nmnist_copy, folder):
    target = nmnist_copy / "Train" / folder
    if folder.endswith(".txt"):
        target.write_text("x")
    else:
        target.mkdir()
        shutil.copy(next((nmnist_copy / "Train" / "1").glob("*.bin")), target / "a.bin")
    err = _first_error(nmnist_copy)
    assert folder in err and "digit folders" in err


def test_nmnist_empty_or_missing_split_is_named(nmnist_copy):
    shutil.rmtree(nmnist_copy / "Test")
    assert "Test" in _first_error(nmnist_copy, "Test")
    (nmnist_copy / "Test" / "0").mkdir(parents=True)
    assert "no <digit>/*.bin" in _first_error(nmnist_copy, "Test")


def _gesture_root(tmp_path, table, name="3.npy", user="user01_led"):
    folder = tmp_path / "g" / "DVSGesture" / "ibmGestureTrain" / user
    folder.mkdir(parents=True)
    np.save(folder / name, table, allow_pickle=True)
    return tmp_path / "g"


def _gesture_error(root):
    from lava_sast.datasets.dvsgesture import DVSGesture
    with pytest.raises(DatasetError) as info:
        ds = DVSGesture(root, train=True)
        ds[0]
    return str(info.value)


GOOD = np.array([[1, 2, 0, 5], [100, 50, 1, 900]], dtype=np.int64)


@pytest.mark.parametrize("table,words", [
    (GOOD[:, :3], "shape"),
    (np.array([[1.0, 2, 0, np.nan]]), "NaN"),
    (np.array([[1.0, 2, 0, np.inf]]), "NaN or infinite"),
    (np.array([[-1, 2, 0, 5]]), "off the 128x128"),
    (np.array([[130, 2, 0, 5]]), "off the 128x128"),
    (np.array([[1, 2, 3, 5]]), "polarities"),
    (np.array([[1, 2, 0, -5]]), "negative timestamps"),
    (np.array([[{"a": 1}, 2, 0, 5]], dtype=object), "cannot be read"),
])
def test_gesture_bad_arrays_are_named(tmp_path, table, words):
    err = _gesture_error(_gesture_root(tmp_path, table))
    assert "3.npy" in err and words in err


@pytest.mark.parametrize("name,user,words", [("11.npy", "user01_led", "label 0-10"),
                                             ("x.npy", "user01_led", "label 0-10"),
                                             ("3.npy", "somebody", "user<NN>_<lighting>")])
def test_gesture_bad_names_are_refused(tmp_path, name, user, words):
    err = _gesture_error(_gesture_root(tmp_path, GOOD, name, user))
    assert words in err and (name in err or user in err)


def test_gesture_dtype_and_empty_recordings_bin_correctly(tmp_path):
    from lava_sast.datasets.dvsgesture import DVSGesture
    as_int = DVSGesture(_gesture_root(tmp_path / "a", GOOD), train=True)[0][0]
    as_u16 = DVSGesture(_gesture_root(tmp_path / "b", GOOD.astype(np.uint16)), train=True)[0][0]
    assert np.array_equal(as_int, as_u16) and as_int["t"].tolist() == [5000, 900000]
    empty = DVSGesture(_gesture_root(tmp_path / "c", np.zeros((0, 4))), train=True)[0][0]
    assert len(empty) == 0


def test_network_that_does_not_fit_the_dataset_is_named(tmp_path, capsys):
    from lava_sast.models import SastNetwork
    from netx_export.export import export_network
    from netx_export.run import main as run_main
    net = SastNetwork([{"type": "dense", "out": 11}], (2, 18, 18))  # digits has 10 classes
    export_network(net, tmp_path / "n.net")
    assert run_main([str(tmp_path / "n.net"), "--dataset", "digits", "--samples", "4",
                     "--engine", "emulator"]) == 2
    assert "11 outputs" in capsys.readouterr().err
    (tmp_path / "junk.net").write_text("not hdf5")
    assert run_main([str(tmp_path / "junk.net"), "--engine", "emulator"]) == 2
    assert "junk.net" in capsys.readouterr().err


def test_run_checks_its_out_before_the_work(tmp_path, capsys):
    from netx_export.run import main as run_main
    from lava_sast.models import SastNetwork
    from netx_export.export import export_network
    export_network(SastNetwork([{"type": "dense", "out": 10}], (2, 18, 18)), tmp_path / "n.net")
    assert run_main([str(tmp_path / "n.net"), "--engine", "emulator",
                     "--out", str(tmp_path / "missing" / "r.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_main([str(tmp_path / "n.net"), "--samples", "0"])


def test_read_only_out_is_refused_with_its_name(tmp_path, capsys):
    if os.geteuid() == 0:
        out = tmp_path / "file"
        out.write_text("x")  # root ignores permissions: use a file in the way instead
    else:
        out = tmp_path / "ro"
        out.mkdir(mode=0o500)
    assert train_main(["--epochs", "1", "--out", str(out / "run")]) == 2
    assert str(out) in capsys.readouterr().err


def test_a_huge_learning_rate_stops_cleanly_and_leaves_nothing_half_written(tmp_path, capsys):
    args = ["--train-samples", "64", "--hidden", "8", "--no-hardware-eval", "--epochs", "2",
            "--method", "sast", "--sam", "adaptive", "--loss", "rate", "--qat-bits", "0",
            "--lr-per-slope", "off"]  # adaptive SAM's climb overflows at this rate
    assert train_main(args + ["--lr", "1e30", "--out", str(tmp_path / "new")]) == 2
    assert "non-finite loss" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # no epoch finished: no folder left behind


def test_data_subsets_reject_nonsense(tmp_path):
    with pytest.raises(ValueError, match="at least 1"):
        load_dataset("digits", split="test", max_samples=0)


@pytest.mark.parametrize("missing", ["layer/0", "layer/1", "layer/1/weight"])
def test_network_with_a_missing_part_is_named(tmp_path, capsys, missing):
    import h5py
    from lava_sast.models import SastNetwork
    from netx_export.export import export_network
    from netx_export.run import main as run_main
    path = tmp_path / "n.net"
    export_network(SastNetwork([{"type": "dense", "out": 16}, {"type": "dense", "out": 10}],
                               (2, 18, 18)), path)
    with h5py.File(path, "r+") as f:
        del f[missing]
    assert run_main([str(path), "--engine", "emulator", "--samples", "4"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "Traceback" not in err


def test_a_non_event_file_beside_the_recordings_is_ignored(nmnist_copy):
    (nmnist_copy / "Train" / "3" / "notes.txt").write_text("not events")
    ds = NMNIST(nmnist_copy, train=True)
    assert len(ds) == 30 and all(p.endswith(".bin") for p in ds.data)


def _one_line_error(done) -> str:
    """The error line of a failed command; checks there is no traceback."""
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    return [line for line in done.stderr.splitlines() if line.startswith("error: ")][-1]


def _cli(*args, cwd=None):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def test_a_config_value_of_the_wrong_type_names_the_key_and_value(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"methods": {"surrogate": {"lr": "fast"}}}')
    done = _cli("lava_sast.train", "--method", "surrogate", "--config", str(bad),
                "--out", str(tmp_path / "o"))
    assert "method 'surrogate' sets lr to 'fast', expected a number" in done.stderr
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_corrupt_tune_db_is_named_and_kept(tmp_path):
    pytest.importorskip("optuna")
    out = tmp_path / "tune"
    out.mkdir()
    (out / "tune.db").write_bytes(b"this is not a database" * 100)
    done = _cli("lava_sast.tune", "--methods", "slayer", "--trials", "1", "--epochs", "1",
                "--train-samples", "64", "--out", str(out), "--quiet")
    line = _one_line_error(done)
    assert str((out / "tune.db").resolve()) in line and "left as it is" in line
    assert (out / "tune.db").read_bytes() == b"this is not a database" * 100


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1.5 MB tmpfs (root only; skipped elsewhere)."""
    import subprocess
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1500k", "tmpfs", str(disk)],
                      capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield disk
    subprocess.run(["umount", str(disk)], check=False)


def test_a_full_disk_is_named_and_the_last_good_checkpoint_kept(tiny_disk):
    from lava_sast.checkpoint import load_checkpoint
    run = tiny_disk / "run"
    done = _cli("lava_sast.train", "--epochs", "3", "--beta-warmup", "0", "--hidden", "64",
                "--train-samples", "200", "--out", str(run))  # 0.87 MB a checkpoint
    line = _one_line_error(done)
    assert line.startswith(f"error: cannot write {run}/") and "No space left on device" in line
    assert load_checkpoint(run / "checkpoint.pt")["history"]  # the epoch written before
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


def test_a_preset_from_a_bad_best_json_is_named_and_nothing_is_written(tmp_path, capsys):
    from lava_sast.presets import FOLDER
    from lava_sast.presets.__main__ import main as preset_main
    bad = tmp_path / "best.json"
    bad.write_text('{"methods": {"sast": {"lr": "fast"}}}')
    assert preset_main([str(bad), "--name", "test-bad-preset", "--description", "d"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "lr to 'fast'" in err[0]
    assert not (FOLDER / "test-bad-preset.json").exists()
    good = tmp_path / "good.json"  # a valid file does not overwrite a shipped preset
    good.write_text('{"methods": {"sast": {"lr": 0.001}}}')
    before = (FOLDER / "dense-nmnist.json").read_bytes()
    assert preset_main([str(good), "--name", "dense-nmnist", "--description", "d"]) == 2
    assert (FOLDER / "dense-nmnist.json").read_bytes() == before
