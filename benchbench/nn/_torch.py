"""Lazy, actionable import of torch (the ``torch`` extra)."""

from __future__ import annotations

from types import ModuleType

__all__ = ["require_torch"]


def require_torch() -> ModuleType:
    """Return the ``torch`` module or raise ``ImportError`` naming the extra to install."""
    try:
        import torch
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this feature needs PyTorch: pip install 'benchbench[torch]' "
            "(install the CPU build first, e.g. pip install torch==2.13.0)") from e
    return torch
