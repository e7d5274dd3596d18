"""The package's dependency direction: domain packages and the runtime never import the Beam wiring.

``pipelines/`` wires domain steps into Beam pipelines; if a domain package imported it back, a change to
the wiring could break the plain functions (and their unit tests would need Beam). Checked on the
source (every ``import``, also those inside functions), not by importing.
"""
import ast
from pathlib import Path

import pytest

import tailmine

PACKAGE = Path(tailmine.__file__).parent
DOMAIN_PACKAGES = ("schemas", "ingest", "filters", "dedup", "classifiers", "concepts", "mixtures", "reports")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``; relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = ".".join(("tailmine", *path.relative_to(PACKAGE).parent.parts))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return sorted(found)


def offending_imports(packages, forbidden) -> list[str]:
    hits = []
    for name in packages:
        for path in sorted((PACKAGE / name).rglob("*.py")):
            for line, module in imported_modules(path):
                where = f"{path.relative_to(PACKAGE.parent)}:{line}"
                if any(module == f or module.startswith(f + ".") for f in forbidden) and not (hits and hits[-1].startswith(where + " ")):
                    hits.append(f"{where} imports {module}")  # one line per import statement
    return hits


@pytest.mark.parametrize("package", DOMAIN_PACKAGES)
def test_domain_packages_never_import_the_pipelines(package):
    assert offending_imports([package], ["tailmine.pipelines"]) == []


def test_the_runtime_imports_neither_beam_nor_the_pipelines():
    assert offending_imports(["runtime"], ["tailmine.pipelines", "apache_beam"]) == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    """The check itself can fail: a planted function-level and a relative import are both found."""
    fake = tmp_path / "tailmine"
    (fake / "filters").mkdir(parents=True)
    (fake / "filters" / "bad.py").write_text(
        "def f():\n    from tailmine.pipelines.stage import ShardStep\n\nfrom ..pipelines import run\nimport os\n"
    )
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert offending_imports(["filters"], ["tailmine.pipelines"]) == [
        "tailmine/filters/bad.py:2 imports tailmine.pipelines.stage",
        "tailmine/filters/bad.py:4 imports tailmine.pipelines",
    ]
