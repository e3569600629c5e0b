"""The package's layout keeps itself: each stage imports only the stages below it, and no module grows past
300 lines (qa/ and scripts/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "qa"
SHARED = {"qa.types", "qa.config", "qa.errors", "qa.atomic", "qa.killpoints"}  # what every stage may use
# What each part of the package may import besides the shared modules and itself.
ALLOWED = {
    "shared": set(),
    "ingest": set(),
    "models": set(),
    "index": {"ingest", "models"},
    "answering": {"ingest", "models", "index"},
    "pipeline": {"ingest", "models", "index", "answering"},
    "eval": {"ingest", "models", "index", "answering", "pipeline"},
    "ui": {"ingest", "models", "index", "answering", "pipeline", "eval"},
    "face": {"pipeline"},  # qa/__init__.py: the public face
}


def part(module: str) -> str:
    """The part of the package a dotted module name belongs to."""
    if module in SHARED or module == "qa":
        return "shared" if module != "qa" else "face"
    if module == "qa.pipeline":
        return "pipeline"
    return module.split(".")[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, name: str | None = None) -> set[str]:
    """The qa modules a file (the module `name`) imports, at any depth of its code: lazy imports count too."""
    name, found = name or module_name(path), set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "qa"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.split(".")[0] != "qa":
                continue
            # `from qa.eval import metrics` imports qa.eval.metrics; `from qa import answer` the function
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if (ROOT / Path(*sub.split("."))).with_suffix(".py").exists()
                          or (ROOT / Path(*sub.split(".")) / "__init__.py").exists() else base)
    return found


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "bundled" not in p.parts)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_stage_imports_only_the_stages_below_it(path: Path) -> None:
    name = module_name(path)
    own = "face" if name == "qa" else part(name)
    allowed = ALLOWED[own] | {own}
    wrong = sorted(m for m in imported(path) if m != "qa" and part(m) not in allowed | {"shared"})
    assert not wrong, f"{name} ({own}) may import only {sorted(allowed)} and {sorted(SHARED)}; it imports {wrong}"


def test_the_rules_see_a_wrong_import(tmp_path: Path) -> None:
    # The walker itself: an import that runs back up, lazily inside a function, is found.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from qa.answering.reader import Reader\n    from ..eval import metrics\n")
    assert imported(probe, "qa.ingest.probe") == {"qa.answering.reader", "qa.eval.metrics"}
    assert not {"ingest", "shared"} >= {part(m) for m in imported(probe, "qa.ingest.probe")}


@pytest.mark.parametrize("folder", ["qa", "scripts"])
def test_no_module_is_over_300_lines(folder: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / folder).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 300}
    assert not long, f"split these modules along their parts: {long}"
