"""Package boundaries, read from the source (ast): a service imports no other service's
package, and the shared code (``libs/``, ``contracts/``) imports no service at all.

Services talk over the bus (``contracts``); code they share lives in ``libs``."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES: dict[str, Path] = {
    "chat_api": ROOT / "services" / "api" / "chat_api",
    "inference_worker": ROOT / "services" / "inference-worker" / "inference_worker",
    "persistence": ROOT / "services" / "persistence" / "persistence",
    "metering": ROOT / "services" / "metering" / "metering",
    "model_admin": ROOT / "services" / "model-admin" / "model_admin",
}
SHARED: list[Path] = [ROOT / "libs", ROOT / "contracts"]


def imported_packages(source: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``source``, wherever it
    stands (module level, inside a function, under ``TYPE_CHECKING``)."""
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(roots: list[Path], forbidden: set[str]) -> list[str]:
    found: list[str] = []
    for root in roots:
        for source in sorted(root.rglob("*.py")):
            for line, package in imported_packages(source):
                if package in forbidden:
                    found.append(f"{source.relative_to(ROOT)}:{line} imports {package}")
    return found


def test_every_service_package_is_found() -> None:
    for package, path in SERVICES.items():
        assert (path / "__init__.py").is_file(), package


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_a_service_imports_no_other_service(package: str) -> None:
    others = set(SERVICES) - {package}
    assert violations([SERVICES[package]], others) == []


def test_libs_and_contracts_import_no_service() -> None:
    assert violations(SHARED, set(SERVICES)) == []
