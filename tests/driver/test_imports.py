"""The driver runs in a PYNQ board's own Python: numpy, pynq and the standard library only, nothing else of
hybrec, and never the simulated device."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

DRIVER = Path(__file__).resolve().parents[2] / "sw" / "hybrec" / "driver"
BOARD_MODULES = ["__init__", "errors", "words", "kernel"]
SIM_MODULES = ["simmodel", "simdevice"]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_driver_module_imports_only_numpy_pynq_and_the_standard_library() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "pynq"}
    files = sorted(DRIVER.glob("*.py"))
    assert {p.stem for p in files} >= set(BOARD_MODULES + SIM_MODULES)
    for path in files:
        outside = imported_roots(path) - allowed
        assert not outside, f"{path.name} imports {sorted(outside)}"


def test_the_board_modules_never_import_the_simulated_device() -> None:
    for name in BOARD_MODULES:
        for node in ast.walk(ast.parse((DRIVER / f"{name}.py").read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or "", *(a.name for a in node.names)] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[-1] in SIM_MODULES for n in names), f"{name}.py imports {names}"


def test_importing_the_driver_loads_no_other_hybrec_module() -> None:
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); "
            "from hybrec.driver import KernelDriver, Results; import hybrec.driver.kernel; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('hybrec', 'torch', 'scipy', 'finn', 'qonnx', 'brevitas', 'onnx', 'yaml', 'pydantic_settings'))))")
    out = subprocess.run([sys.executable, "-c", code, str(DRIVER.parents[1])], capture_output=True, text=True,
                         check=True)
    loaded = json.loads(out.stdout)
    assert loaded == ["hybrec", "hybrec.driver", "hybrec.driver.errors", "hybrec.driver.kernel", "hybrec.driver.words"]


def test_decoding_needs_no_pynq() -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import hybrec.driver; "
            "from hybrec.driver import decode_words, Results, DmaTimeout; print('pynq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(DRIVER.parents[1])], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
