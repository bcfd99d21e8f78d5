"""pyproject.toml declares what the package imports, and nothing it does not."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Declared but never imported by the package, on purpose: the `tensorboard` command that
# `hiertcn train` tells the user to run to watch the training curves it logs.
NOT_IMPORTED = {"tensorboard"}


def requirement_name(requirement):
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def imported_distributions(folder):
    """Distributions of the third-party top-level modules imported anywhere under `folder`."""
    modules = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    modules -= set(sys.stdlib_module_names) | {"hiertcn_keras", "__future__"}
    owners = packages_distributions()
    return {name: {d.lower().replace("_", "-") for d in owners.get(name, [name])} for name in modules}


def test_every_imported_distribution_is_declared():
    declared = {requirement_name(r) for r in PROJECT["dependencies"]}
    for extra in PROJECT["optional-dependencies"].values():
        declared |= {requirement_name(r) for r in extra}
    if "tensorflow" in declared:  # the `tensorflow` module may come from the tensorflow-cpu wheel
        declared.add("tensorflow-cpu")
    undeclared = {module: dists for module, dists in imported_distributions(ROOT / "hiertcn_keras").items()
                  if not dists & declared}
    assert not undeclared, undeclared


def test_every_core_dependency_is_imported():
    imported = set().union(*imported_distributions(ROOT / "hiertcn_keras").values())
    imported |= {"tensorflow"} if "tensorflow-cpu" in imported else set()
    unused = {requirement_name(r) for r in PROJECT["dependencies"]} - imported - NOT_IMPORTED
    assert not unused, unused


def test_gpu_extra_and_python_versions_are_stated():
    assert any(r.startswith("tensorflow[and-cuda]") for r in PROJECT["optional-dependencies"]["gpu"])
    assert "tensorflow-cpu" not in " ".join(PROJECT["dependencies"])
    versions = {c.rsplit(" ", 1)[-1] for c in PROJECT["classifiers"] if c.startswith("Programming Language :: Python :: 3.")}
    minimum = PROJECT["requires-python"].removeprefix(">=")
    assert minimum in versions and "3.11" in versions
