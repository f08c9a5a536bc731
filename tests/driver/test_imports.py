"""The driver runs in a PYNQ board's own Python: numpy, pynq, the standard library and hybrec's ground floor
(which itself needs numpy and the standard library only), never a stage of hybrec, and never the simulated
device."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

DRIVER = Path(__file__).resolve().parents[2] / "sw" / "hybrec" / "driver"
BOARD_MODULES = ["__init__", "errors", "words", "kernel"]
SIM_MODULES = ["simmodel", "simdevice"]
# the ground floor the driver may use: what every stage shares and that needs no heavy library
GROUND_FLOOR = ["hybrec", "hybrec.artifacts", "hybrec.builddir", "hybrec.errors", "hybrec.golden", "hybrec.numerics",
                "hybrec.protocol"]


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def imported_hybrec_modules(path: Path) -> set[str]:
    return {node.module for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
            and node.module.split(".")[0] == "hybrec"}


def test_every_driver_module_imports_only_numpy_pynq_the_standard_library_and_the_ground_floor() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "pynq", "hybrec"}
    files = sorted(DRIVER.glob("*.py"))
    assert {p.stem for p in files} >= set(BOARD_MODULES + SIM_MODULES)
    for path in files:
        outside = imported_roots(path) - allowed
        assert not outside, f"{path.name} imports {sorted(outside)}"
        assert imported_hybrec_modules(path) <= set(GROUND_FLOOR), f"{path.name} imports a stage"
    sw = DRIVER.parents[1]
    for module in GROUND_FLOOR[1:]:   # and the ground floor itself: numpy, the standard library, itself
        path = sw / (module.replace(".", "/") + ".py")
        assert imported_roots(path) - allowed - {"numpy"} == set(), module
        assert imported_hybrec_modules(path) <= set(GROUND_FLOOR), module


def test_the_board_modules_never_import_the_simulated_device() -> None:
    for name in BOARD_MODULES:
        for node in ast.walk(ast.parse((DRIVER / f"{name}.py").read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or "", *(a.name for a in node.names)] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[-1] in SIM_MODULES for n in names), f"{name}.py imports {names}"


def test_importing_the_driver_loads_no_stage_of_hybrec() -> None:
    code = ("import sys, json; sys.path.insert(0, sys.argv[1]); "
            "from hybrec.driver import KernelDriver, Results; import hybrec.driver.kernel; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('hybrec', 'torch', 'scipy', 'finn', 'qonnx', 'brevitas', 'onnx', 'yaml', 'pydantic_settings'))))")
    out = subprocess.run([sys.executable, "-c", code, str(DRIVER.parents[1])], capture_output=True, text=True,
                         check=True)
    loaded = json.loads(out.stdout)
    assert loaded == sorted([*GROUND_FLOOR, "hybrec.driver", "hybrec.driver.errors", "hybrec.driver.kernel",
                             "hybrec.driver.words"])


def test_decoding_needs_no_pynq() -> None:
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import hybrec.driver; "
            "from hybrec.driver import decode_words, Results, DmaTimeout; print('pynq' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(DRIVER.parents[1])], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
