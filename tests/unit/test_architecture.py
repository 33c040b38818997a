"""Dependencies point inward: ``domain/`` knows nothing of the layers around it.

The domain may use the standard library, the event store library and itself. The API,
the projections, the notifiers and the composition root (``closedloop/``) import the
domain; the domain never imports them, nor any web, database or template library.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "domain"
OUTER_LAYERS = ("api", "projections", "audit", "notifiers", "closedloop", "texts", "telemetry")
ALLOWED_IN_DOMAIN = frozenset({"eventsourcing", "domain"})


def imported_modules(source: str, filename: str = "<source>") -> dict[str, int]:
    """The top-level names of every module a source imports, with a line of each.

    Imports inside functions and ``if TYPE_CHECKING:`` blocks count too: they are
    dependencies all the same. Relative imports stay inside the package.
    """
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name.split(".")[0], node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.setdefault(node.module.split(".")[0], node.lineno)
    return found


def foreign_imports(path: Path) -> list[str]:
    """What a domain file imports beyond the standard library, eventsourcing and domain."""
    modules = imported_modules(path.read_text(encoding="utf-8"), str(path))
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for name, line in sorted(modules.items())
        if name not in sys.stdlib_module_names and name not in ALLOWED_IN_DOMAIN
    ]


def domain_files() -> list[Path]:
    return sorted(DOMAIN.rglob("*.py"))


def test_the_check_finds_a_forbidden_import_wherever_it_hides() -> None:
    source = (
        "from __future__ import annotations\n"
        "import json, os.path\n"
        "from typing import TYPE_CHECKING\n"
        "from . import meta\n"
        "if TYPE_CHECKING:\n"
        "    from api.schemas import UnitOut\n"
        "def later():\n"
        "    import litestar.status_codes\n"
    )

    modules = imported_modules(source)

    assert set(modules) == {"__future__", "json", "os", "typing", "api", "litestar"}
    assert modules["litestar"] == 8


def test_the_domain_has_modules_to_check() -> None:
    names = {p.stem for p in domain_files()}

    assert {"application", "warning", "instruction", "disposition", "unit"} <= names


def test_the_domain_imports_only_the_standard_library_eventsourcing_and_itself() -> None:
    offending = [line for path in domain_files() for line in foreign_imports(path)]

    assert offending == [], (
        "domain/ must not depend on anything but the standard library and eventsourcing; "
        "move the adapter out of domain/ or pass it in from closedloop/bootstrap.py:\n"
        + "\n".join(offending)
    )


@pytest.mark.parametrize("layer", OUTER_LAYERS)
def test_the_domain_never_imports_an_outer_layer(layer: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in domain_files()
        for name, line in imported_modules(path.read_text(encoding="utf-8")).items()
        if name == layer
    ]

    assert offending == [], f"domain/ imports {layer}/ at " + ", ".join(offending)


@pytest.mark.parametrize("layer", ["api", "projections", "notifiers"])
def test_no_adapter_imports_the_composition_root(layer: str) -> None:
    # closedloop/ wires the adapters together; an adapter reaching back into it would
    # build its own pieces behind the composition root's back.
    offending = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name, line in imported_modules(path.read_text(encoding="utf-8")).items()
        if name == "closedloop"
    ]

    assert offending == [], f"{layer}/ imports closedloop/ at " + ", ".join(offending)


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [("audit", "api"), ("audit", "notifiers"), ("audit", "closedloop"), ("projections", "audit")],
)
def test_the_audit_chain_stands_on_the_domain_and_the_view_store_only(
    layer: str, forbidden: str
) -> None:
    # ADR 0034: the chain reads the log and keeps its tables in the view store; the API,
    # the CLI and the composition root call it, and the views know nothing of it.
    offending = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name, line in imported_modules(path.read_text(encoding="utf-8")).items()
        if name == forbidden
    ]

    assert offending == [], f"{layer}/ imports {forbidden}/ at " + ", ".join(offending)


@pytest.mark.parametrize("layer", OUTER_LAYERS)
def test_an_outer_layer_never_imports_the_tests(layer: str) -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / layer).rglob("*.py"))
        for name, line in imported_modules(path.read_text(encoding="utf-8")).items()
        if name == "tests"
    ]

    assert offending == [], f"{layer}/ imports the test suite at " + ", ".join(offending)


def test_importing_the_whole_domain_loads_no_outer_layer_or_adapter_library() -> None:
    # Run in a fresh interpreter: this test process has already imported everything.
    modules = ", ".join(f"domain.{p.stem}" for p in domain_files() if p.stem != "__init__")
    forbidden = [*OUTER_LAYERS, "litestar", "msgspec", "psycopg", "jinja2", "uvicorn"]
    probe = (
        "import sys\n"
        f"import domain, {modules}\n"
        f"print(' '.join(sorted(m for m in {forbidden!r} if m in sys.modules)))\n"
    )

    loaded = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()

    assert loaded == [], f"importing domain/ loads {', '.join(loaded)}"


# -- the environment is read in one place (ADR 0036) --------------------------------------

#: The one module that reads the environment: the composition root's settings.
READS_THE_ENVIRONMENT = frozenset({"closedloop/settings.py"})
_ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def environment_reads(source: str, filename: str = "<source>") -> list[int]:
    """The lines where a source reads or changes the process environment: ``os.environ``
    (and ``.get`` on it), ``os.getenv``, ``os.putenv``, or those names imported from os."""
    lines: list[int] = []
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in _ENVIRONMENT_NAMES:
                    imported.add(alias.asname or alias.name)
                    lines.append(node.lineno)
        elif (
            isinstance(node, ast.Attribute)
            and node.attr in _ENVIRONMENT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            lines.append(node.lineno)
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Name) and node.id in imported:
            lines.append(node.lineno)
    return sorted(set(lines))


def test_the_check_finds_an_environment_read_wherever_it_hides() -> None:
    source = (
        "import os\n"
        "from os import getenv as ge, environ\n"
        "A = os.environ.get('X')\n"
        "def later():\n"
        "    return os.getenv('Y'), ge('Z'), environ['W']\n"
        "os.putenv('V', '1')\n"
        "env = {}\n"
        "B = env.get('not the environment')\n"
    )

    assert environment_reads(source) == [2, 3, 5, 6]


def test_only_the_composition_roots_settings_read_the_environment() -> None:
    offending = [
        f"{path.relative_to(ROOT)}:{line}"
        for room in ("domain", *OUTER_LAYERS)
        for path in sorted((ROOT / room).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in READS_THE_ENVIRONMENT
        for line in environment_reads(path.read_text(encoding="utf-8"), str(path))
    ]

    assert offending == [], (
        "only closedloop/settings.py reads the environment; take the value from the "
        "settings the composition root passes down:\n" + "\n".join(offending)
    )


# -- no import circle, between rooms or inside one ------------------------------------

#: Every room of the tree whose modules import each other.
ROOMS = ("domain", "projections", "audit", "texts", "api", "notifiers", "closedloop")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every dotted name a module imports, anywhere in it (inside functions too);
    ``from a import b`` gives ``a.b``, which stands for ``a`` when ``b`` is no module."""
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """Module → the modules of ``sources`` it imports (a package's ``__init__`` stands
    for the package)."""
    known = set(sources)
    graph: dict[str, set[str]] = {}
    for module, (source, is_package) in sources.items():
        targets = set()
        for name in imported_names(source, module, is_package):
            # ``import a.b.c`` loads a, a.b and a.b.c: the deepest we know is the target.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
        graph[module] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def tree_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for room in ROOMS
        if (ROOT / room).is_dir()
        for path in sorted((ROOT / room).rglob("*.py"))
    }


def test_the_check_finds_a_planted_circle_even_through_an_import_inside_a_function() -> None:
    sources = {
        "shop": ("", True),
        "shop.routes": ("from shop.audit import past\ndef later():\n    pass\n", False),
        "shop.audit": ("def past():\n    from .routes import READ\n", False),
        "shop.http": ("from shop import audit\n", False),
        "shop.leaf": ("import json\nfrom shop.http import x\n", False),
    }

    graph = import_graph(sources)

    assert graph["shop.audit"] == {"shop.routes"}
    assert graph["shop.http"] == {"shop.audit"}
    assert circles(graph) == [["shop.audit", "shop.routes"]]


def test_the_tree_has_modules_in_every_room_to_check() -> None:
    rooms = {name.split(".")[0] for name in tree_sources()}

    assert {"domain", "projections", "api", "notifiers", "closedloop"} <= rooms


def test_no_module_imports_itself_back_through_others() -> None:
    found = circles(import_graph(tree_sources()))

    assert found == [], "import circles (imports inside functions count too):\n" + "\n".join(
        " ⇄ ".join(group) for group in found
    )
