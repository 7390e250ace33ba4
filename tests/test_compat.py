import sys

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
