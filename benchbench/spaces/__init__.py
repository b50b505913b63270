"""Search spaces: plain arch records, parsing / formatting, canonical ids, sampling."""

from __future__ import annotations

from benchbench.api import unknown
from benchbench.spaces._base import CategoricalSpace, SearchSpace
from benchbench.spaces.nb201 import NB201Arch, NB201Space

__all__ = ["CategoricalSpace", "NB201Arch", "NB201Space", "SearchSpace", "get_space"]

_SPACES = {"nb201": NB201Space}


def get_space(name: str) -> SearchSpace:
    """The search space called ``name`` (``"nb201"``)."""
    try:
        return _SPACES[name]()
    except KeyError:
        raise unknown("search space", name, sorted(_SPACES)) from None
