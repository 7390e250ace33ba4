"""The public API: every name in ``lava_sast.__all__`` resolves (lazily, so that
``import lava_sast`` loads neither torch nor netx_export), ``lava_sast.train`` is both the
command's module and the training function, and the tutorials import only from the
package tops (``lava_sast``, ``netx_export``)."""
from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import nbformat

import lava_sast

ROOT = Path(__file__).resolve().parents[1]
PUBLIC = ("lava_sast", "netx_export")


def test_every_public_name_resolves_and_is_documented():
    assert len(lava_sast.__all__) == len(set(lava_sast.__all__))
    for name in lava_sast.__all__:
        value = getattr(lava_sast, name)
        assert value is not None, name
        if callable(value) or inspect.ismodule(value):
            assert (value.__doc__ or "").strip(), f"lava_sast.{name} has no docstring"
        assert name in dir(lava_sast)
        assert f"``{name}" in lava_sast.__doc__, f"lava_sast.{name} missing from the docstring"


def test_the_acceptance_one_liner_and_a_light_import():
    code = ("import sys, lava_sast as L\n"
            "assert 'netx_export' not in sys.modules and 'torch' not in sys.modules\n"
            "L.SastNetwork; L.SAM; L.train\n"
            "assert callable(L.train) and callable(L.train.main)\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


def test_unknown_names_are_attribute_errors():
    try:
        lava_sast.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("lava_sast.no_such_name resolved")


def test_train_is_the_command_and_the_function():
    from lava_sast.trainer import train as train_fn
    from lava_sast import train
    sig = inspect.signature(type(train).__call__)
    assert list(sig.parameters)[1:3] == list(inspect.signature(train_fn).parameters)[:2]
    assert train.main and train.parse_args  # the command's module as before


def _imports(path: Path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        source = "\n".join(l for l in cell.source.splitlines()
                           if not l.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module:
                yield node.module, [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    yield a.name, []


def test_tutorials_import_only_the_public_api():
    tutorials = sorted((ROOT / "tutorials").glob("*.ipynb"))
    assert tutorials
    for path in tutorials:
        for module, names in _imports(path):
            if module.split(".")[0] not in PUBLIC:
                continue
            assert module in PUBLIC, f"{path.name}: imports {module} (use the package top)"
            if module == "lava_sast":
                unknown = set(names) - set(lava_sast.__all__)
                assert not unknown, f"{path.name}: {sorted(unknown)} not in lava_sast.__all__"
            else:
                import netx_export
                unknown = set(names) - set(getattr(netx_export, "__all__", ()))
                assert not unknown, f"{path.name}: {sorted(unknown)} not in netx_export.__all__"
