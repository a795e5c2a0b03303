"""Docs name only things that exist: README paths, and the notebooks named in brlib docstrings."""

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_path_named_in_the_readme_exists():
    text = (ROOT / "README.md").read_text()
    named = set(
        re.findall(r"`((?:brlib|notebooks|configs|scripts|tests|data|figures|benchmarks|\.ci)/[^`\s*<>]*)`", text)
    )
    named |= {m for m in re.findall(r"\]\(((?!http)[^)#\s]+)\)", text)}
    assert named, "the README names project paths"
    generated = {p for p in named if _git_ignored(p)}  # made by make reproduce / the notebooks
    missing = sorted(p for p in named - generated if not (ROOT / p).exists())
    assert not missing, missing


def _git_ignored(path: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT).returncode == 0


def test_notebooks_named_in_docstrings_exist():
    named = set()
    for f in (ROOT / "brlib").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Module)):
                named |= set(re.findall(r"\b(\d\d_[a-z0-9_]+)(?:\.ipynb)?", ast.get_docstring(node) or ""))
    assert named
    missing = sorted(n for n in named if not (ROOT / "notebooks" / f"{n}.ipynb").exists())
    assert not missing, missing


def test_ci_calls_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()
