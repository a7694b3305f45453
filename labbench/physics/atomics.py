"""Atomic loads, stores, compare-and-swap and fetch-add on int64 array slots, for compiled
code shared by two threads (:mod:`labbench.physics.overlap`).

numba has no atomics of its own; these are LLVM's atomic instructions on the slot's
address (acquire loads, release stores, sequentially consistent read-modify-writes), so
a value written before a release store is visible to a thread whose acquire load sees it.
``cpu_relax`` is x86's ``pause`` inside spin loops (it tells the core it is spinning).
"""
from __future__ import annotations

import platform

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["atomic_add", "atomic_cas", "atomic_load", "atomic_store", "cpu_relax"]

_X86 = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _slot(context, builder, sig, args):
    aryty = sig.args[0]
    ary = context.make_array(aryty)(context, builder, args[0])
    return cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)


@intrinsic
def atomic_load(typingctx, arr, i):
    """arr[i] (int64), an acquire load."""
    def codegen(context, builder, sig, args):
        return builder.load_atomic(_slot(context, builder, sig, args), "acquire", 8)

    return types.int64(arr, i), codegen


@intrinsic
def atomic_store(typingctx, arr, i, value):
    """arr[i] = value (int64), a release store."""
    def codegen(context, builder, sig, args):
        builder.store_atomic(args[2], _slot(context, builder, sig, args), "release", 8)
        return context.get_dummy_value()

    return types.void(arr, i, value), codegen


@intrinsic
def atomic_cas(typingctx, arr, i, expected, new):
    """arr[i] = new if arr[i] == expected (one atomic step); True if it was swapped."""
    def codegen(context, builder, sig, args):
        res = builder.cmpxchg(_slot(context, builder, sig, args), args[2], args[3], "seq_cst", "seq_cst")
        return builder.extract_value(res, 1)

    return types.boolean(arr, i, expected, new), codegen


@intrinsic
def atomic_add(typingctx, arr, i, value):
    """arr[i] += value in one atomic step; returns the value before."""
    def codegen(context, builder, sig, args):
        return builder.atomic_rmw("add", _slot(context, builder, sig, args), args[2], "seq_cst")

    return types.int64(arr, i, value), codegen


@intrinsic
def cpu_relax(typingctx):
    """x86 ``pause`` (a spin-wait hint); nothing elsewhere."""
    def codegen(context, builder, sig, args):
        if _X86:
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                                "llvm.x86.sse2.pause")
            builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen
