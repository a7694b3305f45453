"""Arguments as PyO3 extracts them for pyarc2's compiled methods.

pyarc2's Rust signatures take ``usize``/``u128`` integers, ``f32`` floats, ``bool``s,
its enum classes, and ``PyReadonlyArray1<usize>`` (a 1-D uint64 NumPy array, which
pyarc2's Python layer makes with ``_ndarray_check``).  A wrong type is a TypeError, a
negative integer an OverflowError, in the words PyO3 uses, before anything is queued.
"""
from __future__ import annotations

import operator
from collections.abc import Iterable

import numpy as np

__all__ = ["boolean", "chan_array", "enum", "f32", "ndarray_check", "opt", "pairs", "sint", "uint", "uint_list"]


def _type_name(x) -> str:
    return type(x).__name__


def uint(x, name: str, bits: int = 64) -> int:
    """An unsigned integer argument (usize, u64, u128): ints and anything with __index__."""
    if isinstance(x, float):
        raise TypeError(f"argument '{name}': 'float' object cannot be interpreted as an integer")
    try:
        v = operator.index(x)
    except TypeError:
        raise TypeError(f"argument '{name}': '{_type_name(x)}' object cannot be interpreted as an integer") from None
    if v < 0:
        raise OverflowError(f"argument '{name}': can't convert negative int to unsigned")
    if v >= 1 << bits:
        raise OverflowError(f"argument '{name}': int too big to convert")
    return int(v)


def sint(x, name: str, bits: int = 32) -> int:
    """A signed integer argument (i32: the board id)."""
    if isinstance(x, float):
        raise TypeError(f"argument '{name}': 'float' object cannot be interpreted as an integer")
    try:
        v = operator.index(x)
    except TypeError:
        raise TypeError(f"argument '{name}': '{_type_name(x)}' object cannot be interpreted as an integer") from None
    if not -(1 << (bits - 1)) <= v < 1 << (bits - 1):
        raise OverflowError(f"argument '{name}': Python int too large to convert to C long")
    return int(v)


def f32(x, name: str) -> np.float32:
    """An f32 argument: any real number, rounded to single precision as the board takes it."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"argument '{name}': must be real number, not {_type_name(x)}")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise TypeError(f"argument '{name}': must be real number, not {_type_name(x)}") from None
    with np.errstate(over="ignore"):
        return np.float32(v)


def boolean(x, name: str) -> bool:
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    raise TypeError(f"argument '{name}': '{_type_name(x)}' object cannot be converted to 'PyBool'")


def enum(x, cls, name: str):
    if not isinstance(x, cls):
        raise TypeError(f"argument '{name}': '{_type_name(x)}' object cannot be converted to '{cls.__name__}'")
    return x


def opt(x, conv, *args):
    """``Option<T>``: None passes through."""
    return None if x is None else conv(x, *args)


def ndarray_check(arg, ndim: int = 1, typ=np.uint64):
    """pyarc2's ``_ndarray_check`` (its Python layer), same messages and errors."""
    if arg is None:
        return None
    if isinstance(arg, np.ndarray) and arg.dtype == typ and arg.ndim == ndim:
        return arg
    elif isinstance(arg, Iterable) and not isinstance(arg, (str, bytes)):
        a = np.array(arg, dtype=typ)
        if a.ndim == ndim:
            return a
        raise TypeError('Invalid argument dimensions, must be: %d, found %d instead' % (ndim, a.ndim))
    raise TypeError('Invalid argument type, must be an iterable')


def chan_array(x, name: str) -> list[int]:
    """``PyReadonlyArray1<usize>``: a 1-D uint64 array (after pyarc2's _ndarray_check)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"argument '{name}': '{_type_name(x)}' object cannot be converted to 'PyArray<T, D>'")
    if x.dtype != np.uint64 or x.ndim != 1:
        raise TypeError(f"argument '{name}': type mismatch: from={x.dtype}, to=uint64 (1-D)")
    return [int(v) for v in x]


def uint_list(x, name: str) -> list[int]:
    """``Vec<usize>``: any sequence but a str, each element an unsigned integer."""
    if isinstance(x, str):
        raise TypeError(f"argument '{name}': Can't extract `str` to `Vec`")
    try:
        items = list(x)
    except TypeError:
        raise TypeError(f"argument '{name}': '{_type_name(x)}' object cannot be converted to 'Sequence'") from None
    return [uint(v, name) for v in items]


def pairs(x, name: str, first, second) -> list[tuple]:
    """``Vec<(A, B)>``: a sequence of 2-tuples, each element converted by ``first``/``second``."""
    if isinstance(x, str):
        raise TypeError(f"argument '{name}': Can't extract `str` to `Vec`")
    try:
        items = list(x)
    except TypeError:
        raise TypeError(f"argument '{name}': '{_type_name(x)}' object cannot be converted to 'Sequence'") from None
    out = []
    for it in items:
        if not isinstance(it, tuple) or len(it) != 2:
            raise TypeError(f"argument '{name}': '{_type_name(it)}' object cannot be converted to 'PyTuple'")
        out.append((first(it[0]), second(it[1])))
    return out
