"""How every compiled loop is made, and the two LLVM intrinsics they share.

The decoders' kernel (decoders/kernel.py), the flow table's (core/flow_kernels.py), the
payload engine's (detectors/payload_kernels.py) and the evidence writer's
(exporters/evidence_kernels.py) are all compiled by `jit` here.
"""
from __future__ import annotations

import tempfile

try:
    import numba
    from llvmlite import ir
    from numba import types
    from numba.core import cgutils
    from numba.extending import intrinsic
    _REFUSED: Exception | None = None
except OSError as e:    # llvmlite found no executable memory at import (a W^X policy)
    numba, _REFUSED = None, e
    intrinsic = lambda fn: _refused      # noqa: E731 - calling a loop says why it cannot run

# Rows ahead whose frame starts are prefetched. A batch's frames (tens of MB) are not in the
# cache, and each row reads one or two lines at an unpredictable stride: waiting for them was
# half of the loop's time. Prefetching a few rows ahead overlaps those misses.
PREFETCH_AHEAD = 8


_JIT_RAN = False       # require_jit's loop ran


class NoJit(RuntimeError):
    """numba cannot make machine code in this process: the sensor cannot run here."""


def require_jit() -> None:
    """Compile and run one trivial loop, so that a process where numba cannot make machine
    code (no executable memory under a W^X policy such as PR_SET_MDWE or SELinux's
    deny_execmem, a broken install) stops at its start with NoJit rather than at its first
    batch. Every loop of the sensor is compiled: there is no interpreted stand-in."""
    global _REFUSED, _JIT_RAN
    if _JIT_RAN:
        return
    if _REFUSED is None:
        try:
            _JIT_RAN = numba.njit(lambda x: x + 1)(1) == 2
            if _JIT_RAN:
                return
            _REFUSED = "a compiled test loop gave a wrong result"
        except Exception as e:  # noqa: BLE001 - whatever numba or LLVM raise here
            _REFUSED = e
    raise NoJit(f"numba cannot compile here ({_REFUSED}); ybsensor's loops need executable "
                "memory (a W^X policy such as PR_SET_MDWE or SELinux deny_execmem forbids it)")


def _refused(*args, **kw):
    require_jit()   # raises: numba did not import


def jit(fn=None, **kw):
    """njit, without reference counting and with an on-disk cache: next to this file, else
    numba's user cache, else a temporary directory, else none (then a read-only install
    compiles once per process).

    `_nrt=False`: nothing here allocates, and with reference counting each call of a helper
    that takes an array counts the array up and down atomically: three times the time of a
    row."""
    if fn is None:
        return lambda fn: jit(fn, **kw)
    if numba is None:       # the loops cannot run: calling one says why
        return _refused
    kw.update(nogil=True, _nrt=False)
    try:
        return numba.njit(cache=True, **kw)(fn)
    except RuntimeError:        # no writable cache location
        pass
    if not numba.config.CACHE_DIR:
        try:
            numba.config.CACHE_DIR = tempfile.mkdtemp(prefix="ybsensor-numba-")
            return numba.njit(cache=True, **kw)(fn)
        except (RuntimeError, OSError):
            pass
    return numba.njit(**kw)(fn)


@intrinsic
def prefetch(typingctx, arr, idx):
    """A hint to bring arr[idx]'s cache line in (llvm.prefetch: read, keep in all levels);
    it never faults, so idx need not lie inside arr."""
    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]], wraparound=False)
        byte_ptr = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [byte_ptr, i32, i32, i32]),
            "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, byte_ptr), ir.Constant(i32, 0),
                          ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()
    return types.void(arr, idx), codegen


@intrinsic
def copy_bytes(typingctx, dst, at, src, start, count):
    """dst[at: at + count] = src[start: start + count] for uint8 arrays, as one memcpy
    (llvm.memcpy; the two must not overlap); a slice assignment would need numba's runtime.
    Bounds are the caller's to keep."""
    def codegen(context, builder, signature, args):
        dst_ty, _, src_ty, _, _ = signature.args
        dst_ary = context.make_array(dst_ty)(context, builder, args[0])
        src_ary = context.make_array(src_ty)(context, builder, args[2])
        to = cgutils.get_item_pointer(context, builder, dst_ty, dst_ary, [args[1]], wraparound=False)
        frm = cgutils.get_item_pointer(context, builder, src_ty, src_ary, [args[3]], wraparound=False)
        cgutils.raw_memcpy(builder, to, frm, args[4], 1)
        return context.get_dummy_value()
    return types.void(dst, at, src, start, count), codegen
