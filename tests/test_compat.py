import sys

import pytest

from lava_sast import compat


def test_var_model_patch_rewrites_mutable_defaults():
    src = ("from __future__ import annotations\nfrom dataclasses import dataclass\n"
           "class ByteEncoder:\n    pass\n@dataclass\nclass A:\n"
           "    x: ByteEncoder = ByteEncoder()\n")
    patched = compat.patch_var_model_source(src)
    assert "default_factory=ByteEncoder" in patched
    ns: dict = {}
    exec(compile(patched, "<patched>", "exec"), ns)
    a, b = ns["A"](), ns["A"]()
    assert a.x is not b.x  # one encoder per instance, as default_factory gives


def test_lava_and_slayer_import_on_this_python():
    import lava.lib.dl.netx.hdf5  # noqa: F401
    import lava.lib.dl.slayer as slayer
    from lava.magma.compiler.var_model import ByteEncoder, ConvInVarModel  # noqa: F401
    assert sys.version_info >= (3, 10)
    assert slayer.block.cuba.Dense is not None


def test_patches_refuse_sources_they_were_not_written_for():
    with pytest.raises(compat.LavaCompatError, match="ByteEncoder"):
        compat.patch_var_model_source("x = 1\n")
    with pytest.raises(compat.LavaCompatError, match="set_start_method"):
        compat.patch_lava_mp_source("import multiprocessing as mp\n")
    assert "set_start_method" not in compat.patch_lava_mp_source(
        "import multiprocessing as mp\nmp.set_start_method('fork')\n").split("pass")[0]


def test_version_check_names_the_distribution(monkeypatch):
    monkeypatch.setitem(compat.PATCHED_VERSIONS, "lava-nc", "9.9.9")
    with pytest.raises(compat.LavaCompatError, match="lava-nc 9.9.9"):
        compat.check_versions()


def test_importing_lava_does_not_change_the_start_method():
    import subprocess
    code = ("import multiprocessing as mp; mp.set_start_method('spawn'); import lava_sast; "
            "import lava.magma.runtime.message_infrastructure.multiprocessing; "
            "print(mp.get_start_method())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "spawn"
