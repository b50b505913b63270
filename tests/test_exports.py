"""Every name in every ``__all__`` of the project's packages and modules can be imported.

Modules are found on disk (every ``.py`` file of a package of ``benchbench``,
``tabular_data``, ``algorithms`` and ``results``, private modules included, ``__main__``
excluded), so a new module is checked without editing this file.  ``benchbench.nn`` needs
torch and is skipped only when torch is not installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOP = ("benchbench", "tabular_data", "algorithms", "results")
HAVE_TORCH = importlib.util.find_spec("torch") is not None


def _modules() -> list[tuple[str, bool]]:
    """(dotted name, is a package) of every module of the project's packages."""
    out = []
    for top in TOP:
        root = REPO / top
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(REPO).with_suffix("")
            folder = path.parent
            # only files inside packages (every folder up to the top has an __init__.py)
            if not all((p / "__init__.py").is_file()
                       for p in [folder, *folder.parents] if p.is_relative_to(root)):
                continue
            if rel.name == "__main__":
                continue  # running it is its import
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out.append((".".join(parts), rel.name == "__init__"))
    return out


MODULES = _modules()


def test_the_packages_are_found() -> None:
    names = {n for n, _ in MODULES}
    assert {"benchbench", "benchbench.nn", "benchbench.spaces", "tabular_data", "algorithms",
            "algorithms.proxies", "results", "tabular_data._builder",
            "benchbench.nn._data"} <= names
    assert not any(n.endswith("__main__") for n in names)


@pytest.mark.parametrize(("name", "package"), MODULES, ids=[n for n, _ in MODULES])
def test_every_name_in_all_imports(name: str, package: bool) -> None:
    if (name == "benchbench.nn" or name.startswith("benchbench.nn.")) and not HAVE_TORCH:
        pytest.skip("benchbench.nn needs torch, which is not installed")
    mod = importlib.import_module(name)
    names = getattr(mod, "__all__", None)
    if names is None:
        assert not package, f"package {name} has no __all__"
        return
    assert all(isinstance(n, str) for n in names), f"{name}.__all__ holds non-strings"
    dup = sorted({n for n in names if list(names).count(n) > 1})
    assert not dup, f"{name}.__all__ lists {dup} more than once"
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{name}.__all__ lists {missing}, which it does not define"
    ns: dict[str, object] = {}
    exec(f"from {name} import *", ns)  # what `import *` gives is exactly __all__
    assert set(names) <= set(ns)
