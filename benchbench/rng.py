"""Seed derivation.  There is no global RNG anywhere in benchbench.

Every random component receives a :class:`numpy.random.Generator` made here from a root seed
and a path of names, hashed with SHA-256 (never Python's ``hash()``, which is salted per
process), so a run gives identical results in any process and on any machine.
"""

from __future__ import annotations

import hashlib

import numpy as np

__all__ = ["derive_seed", "make_rng", "stable_hash"]


def stable_hash(*parts: object, bits: int = 64) -> int:
    """A process-independent non-negative integer hash of ``parts`` (their ``str``)."""
    if not 1 <= bits <= 256:
        raise ValueError(f"bits must be in 1..256, got {bits}")
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(h, "big") >> (256 - bits)


def derive_seed(seed: int, *path: object) -> int:
    """A 63-bit seed for the component named by ``path`` under the root ``seed``.

    >>> derive_seed(0, "rs") == derive_seed(0, "rs")
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {seed!r}")
    return stable_hash(int(seed), *path, bits=63)


def make_rng(seed: int, *path: object) -> np.random.Generator:
    """A fresh PCG64 generator for the component named by ``path`` under ``seed``."""
    return np.random.Generator(np.random.PCG64(derive_seed(seed, *path)))
