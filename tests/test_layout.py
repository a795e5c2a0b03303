"""The package layout is the architecture: no import circles, dependencies one way, small modules, named rooms."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BRLIB = ROOT / "brlib"
MAX_LINES = 420


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(BRLIB.rglob("*.py"))}


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """brlib modules that `path` imports anywhere (module level or inside functions), resolved to known modules."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            # `from brlib.data import sources` imports the submodule; `from brlib.data import Pair` the package
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for t in targets:
            while t and t not in known:  # `import brlib.data.pair.x` -> the longest known prefix
                t = t.rpartition(".")[0]
            if t and t != name and t != "brlib":
                out.add(t)
    return out


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {name: imports_of(path, name, known) for name, path in mods.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    """A cycle as a list of modules (first == last), or None. Iterative DFS with colours."""
    colour = dict.fromkeys(g, 0)  # 0 new, 1 on the stack, 2 done
    for start in sorted(g):
        if colour[start]:
            continue
        stack = [(start, iter(sorted(g[start])))]
        path = [start]
        colour[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif colour.get(nxt) == 0:
                colour[nxt] = 1
                stack.append((nxt, iter(sorted(g[nxt]))))
                path.append(nxt)
    return None


def test_the_cycle_finder_finds_a_planted_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_brlib_has_no_import_circle():
    g = graph()
    assert len(g) > 30 and "brlib.data.pair" in g["brlib.data.collate"]  # the walk sees the real graph
    assert find_cycle(g) is None, f"import circle: {' -> '.join(find_cycle(g))}"


def reaches(g: dict[str, set[str]], start: str, prefix: str) -> list[str]:
    """Modules under `prefix` reachable from `start`."""
    seen, todo = set(), [start]
    while todo:
        for nxt in g[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return sorted(m for m in seen if m == prefix or m.startswith(prefix + "."))


@pytest.mark.parametrize(
    "lower, upper",
    [
        ("brlib.data", "brlib.bench"),  # benchmarks build on data, never the reverse
        ("brlib.data", "brlib.experiments"),  # the mixture never imports the profiles
        ("brlib.data", "brlib.models"),
        ("brlib.data", "brlib.train"),
        ("brlib.bench", "brlib.models"),
        ("brlib.bench", "brlib.train"),
        ("brlib.models", "brlib.train"),
        ("brlib.models", "brlib.experiments"),
        ("brlib.train", "brlib.experiments"),
        ("brlib.evaluate", "brlib.experiments"),
        ("brlib.world", "brlib.data"),  # the tiny world is a leaf: it writes files in the real schemas
        ("brlib.world", "brlib.models"),
        ("brlib.serve", "brlib.experiments"),
        ("brlib.serve", "brlib.train"),
    ],
)
def test_dependencies_run_one_way(lower, upper):
    g = graph()
    for m in (m for m in g if m == lower or m.startswith(lower + ".")):
        assert not reaches(g, m, upper), f"{m} reaches {reaches(g, m, upper)}"


def test_no_module_is_over_the_house_limit():
    long = {name: n for name, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these modules (> {MAX_LINES} lines): {long}"


def test_every_package_says_what_lives_there():
    for init in BRLIB.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 40, f"{init.relative_to(ROOT)} needs a docstring saying what lives there"


def test_top_level_names_and_cli_modules():
    import brlib

    assert brlib.RewardModel.__name__ == "RewardModel" and brlib.TrainConfig.__name__ == "TrainConfig"
    for cli in ["brlib/train/__main__.py", "brlib/bench/__main__.py", "brlib/mixture.py", "brlib/server.py"]:
        assert (ROOT / cli).exists(), cli
