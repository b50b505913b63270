"""Loading data pickles without running code from them.

A pickle names the callables that rebuild its objects (``module.name`` globals); an unrestricted
``pickle.load`` imports and calls whatever a file names, so a crafted data file runs a command.
:func:`load` allows only the globals that plain data pickles (the NATS-Bench ``.pickle.pbz2``
files, the CIFAR / ImageNet16 python batches) contain - ordered dicts, sets, numpy arrays,
dtypes and scalars - and refuses anything else with a one-line :class:`UnsafePickleError`
naming the file and the refused global.
"""

from __future__ import annotations

import _compat_pickle
import pickle
from pathlib import Path
from typing import IO, Any

__all__ = ["ALLOWED_GLOBALS", "UnsafePickleError", "load", "refused"]

#: ``(module, name)`` globals that data pickles may name (after Python 2 names are mapped).
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("collections", "OrderedDict"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "slice"),
    ("builtins", "complex"), ("builtins", "bytearray"),
    ("_codecs", "encode"),  # bytes in protocol <= 2 pickles written by Python 3
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
})


class UnsafePickleError(pickle.UnpicklingError, ValueError):
    """A pickle names a global that data files do not contain; nothing of it was executed."""


def refused(path: str | Path, name: str, hint: str = "") -> UnsafePickleError:
    """The one-line error for the global ``name`` (``module.name``) refused in ``path``."""
    return UnsafePickleError(f"{path}: refused to load the pickle: it names the global {name}, "
                             f"which data files do not contain (loading it could run code)"
                             + (f"; {hint}" if hint else ""))


class _Restricted(pickle.Unpickler):
    def __init__(self, file: IO[bytes], path: str | Path, hint: str, encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._path = path
        self._hint = hint

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 pickles name e.g. __builtin__.set: map to Python 3 names first (the
        # mapping leaves Python 3 names as they are)
        key = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        key = (_compat_pickle.IMPORT_MAPPING.get(key[0], key[0]), key[1])
        if key not in ALLOWED_GLOBALS:
            raise refused(self._path, f"{module}.{name}", self._hint)
        return super().find_class(*key)


def load(file: IO[bytes], path: str | Path, *, encoding: str = "ASCII", hint: str = "") -> Any:
    """Unpickle ``file`` (read from ``path``, named in errors) allowing only
    :data:`ALLOWED_GLOBALS`; any other global raises :class:`UnsafePickleError` before it is
    imported.  ``hint`` is appended to that error (e.g. how to lift the restriction)."""
    return _Restricted(file, path, hint, encoding).load()
