"""Search spaces: plain arch records, parsing / formatting, canonical ids, sampling.

Spaces are registered by name in :data:`benchbench.registry.SPACES`; :func:`get_space` opens
one by name or import path (``"mypkg.spaces:MySpace"``).
"""

from __future__ import annotations

from typing import Any

from benchbench.spaces._base import (
    CategoricalSpace,
    EnumerableSpace,
    SearchSpace,
    is_enumerable,
)
from benchbench.spaces._restricted import RestrictedSpace
from benchbench.spaces.darts import DartsArch, DartsSpace
from benchbench.spaces.nb101 import NB101Arch, NB101Space
from benchbench.spaces.nb201 import NB201Arch, NB201Space

__all__ = ["CategoricalSpace", "DartsArch", "DartsSpace", "EnumerableSpace", "NB101Arch",
           "NB101Space", "NB201Arch", "NB201Space", "RestrictedSpace", "SearchSpace", "get_space",
           "is_enumerable"]


def get_space(name: str | SearchSpace[Any]) -> SearchSpace[Any]:
    """The search space registered as ``name`` (``"nb201"``), or built from an import path
    ``"package.module:Class"``; a space object is returned as it is."""
    if isinstance(name, SearchSpace):
        return name
    from benchbench.registry import SPACES

    space = SPACES.create(name)
    if not isinstance(space, SearchSpace):
        raise TypeError(f"search space {name!r} built {type(space).__name__}, not a SearchSpace")
    return space
