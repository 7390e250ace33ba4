"""The shape of the code, checked: ``lava_sast``'s library modules never import
``netx_export`` (only command-line entry modules, those with a ``main``, wire the two
packages); every option is declared once; no import cycles."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT.parent / "shared" / "tools" / "import_cycles.py"


def _modules(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        yield path, ast.parse(path.read_text())


def _imports(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_only_entry_modules_import_netx_export():
    wiring = []
    for path, tree in _modules("lava_sast"):
        if any(n.split(".")[0] == "netx_export" for n in _imports(tree)):
            has_main = any(isinstance(n, ast.FunctionDef) and n.name == "main"
                           for n in tree.body)
            assert has_main, f"{path.relative_to(ROOT)} imports netx_export but is no entry"
            wiring.append(path.name)
    assert sorted(wiring) == ["study.py", "train.py", "tune.py"]


def test_every_option_is_declared_once():
    seen: dict[str, list[str]] = {}
    for package in ("lava_sast", "netx_export"):
        for path, tree in _modules(package):
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == \
                        "add_argument" and node.args and isinstance(node.args[0], ast.Constant):
                    seen.setdefault(node.args[0].value, []).append(path.name)
    for option in ("--workers", "--ray-address", "--cpus-per-run", "--gpus-per-run",
                   "--device", "--cache-dir", "--bin-us", "--lr", "--method"):
        assert len(seen.get(option, [])) == 1 or (
            option == "--bin-us" and sorted(seen[option]) == ["cli.py", "cli.py", "nir.py"]), \
            (option, seen.get(option))


def test_no_import_cycles():
    if not TOOL.is_file():
        pytest.skip(f"{TOOL} not found")
    done = subprocess.run([sys.executable, str(TOOL), "lava_sast", "netx_export"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "", done.stdout


def test_the_method_core_never_imports_the_experiments():
    """Dependencies point one way, experiments -> core; the commands' short names
    (``python -m lava_sast.study``) are one-line modules that only run the harness's main."""
    shims = []
    for path, tree in _modules("lava_sast"):
        if "experiments" in path.relative_to(ROOT / "lava_sast").parts:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                name = ("." * node.level) + (node.module or "")
                if name.lstrip(".").split(".")[0] == "experiments" or \
                        name.startswith("lava_sast.experiments"):
                    assert [a.name for a in node.names] == ["main"], path
                    shims.append(path.name)
    assert sorted(shims) == ["crossval.py", "published.py", "study.py", "sweep.py", "tune.py"]
