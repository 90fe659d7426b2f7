"""The Numba decorator and the intrinsics every kernel uses: bit casts, the
vectorized block max, integer widths.  Nothing here knows a format.

>>> interpreted(bit_length)(255), bit_length(256)   # the same code, interpreted and compiled
(8, 9)
"""
from __future__ import annotations

import functools
from types import FunctionType

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from . import cache as _cache

# Every function is compiled on its own and cached; LLVM inlines the small ones
# into the kernels that call them.  (Numba IR inlining, inline="always", made a
# cold compile several times slower.)  numpy's error model: no division in
# mxspec can see a zero divisor, and without Python's ZeroDivisionError checks
# a function compiles faster and its loops vectorize more readily.
jit = numba.njit(cache=_cache.ENABLED, nogil=True, error_model="numpy")


def kernel_factory(build):
    """The one way mxspec makes kernels with compile-time constants: ``build(*spec)``
    defines a jitted kernel with ``spec`` frozen in (closure constants, which LLVM
    folds: constant trip counts, dead branches) and returns it; each spec is built
    once per process, and Numba's cache keeps its machine code between processes.
    ``spec`` None, where a factory takes it, is the generic kernel that reads every
    parameter at run time and compiles once for all formats; a frozen spec earns its
    compile time only on large arrays (the SPECIALIZE_MIN of each module).

    >>> @kernel_factory
    ... def scale_by(k):
    ...     return lambda x: x * k
    >>> scale_by(3)(2), scale_by(3) is scale_by(3)
    (6, True)
    """
    @functools.lru_cache(maxsize=None)
    @functools.wraps(build)
    def built(*spec):
        kernel = build(*spec)
        for cell in getattr(getattr(kernel, "py_func", None), "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if isinstance(value, numba.core.registry.CPUDispatcher):
                # Numba's cache key holds the pickled closure, and a dispatcher
                # pickles with an id of its process: the kernel would compile
                # again in every process (it did: 10 s for each Four Over Six
                # user).  Call it as a global, chosen by a closure constant.
                raise TypeError(f"kernel_factory: {build.__name__}{spec} closes over the "
                                f"jitted function {value.py_func.__name__}")
        return kernel
    return built


_INTERPRETED: dict = {}


def interpreted(fn):
    """The jitted function ``fn`` as plain Python: its own source, run by the
    interpreter, with every jitted function it calls run the same way.  For
    one-off answers from Python (a table of at most 256 codes, a yes or no),
    which would otherwise wait for a compile; the code is the same, so tests
    of the compiled function check it too.  Not for functions that use the
    intrinsics below.

    >>> from mxspec import element_format
    >>> from mxspec.codec.core import decode_one
    >>> interpreted(decode_one)(0x7E, element_format("fp8_e4m3").params)
    448.0
    """
    f = _INTERPRETED.get(fn)
    if f is None:
        py = fn.py_func
        g = dict(py.__globals__)
        f = FunctionType(py.__code__, g, py.__name__, py.__defaults__, py.__closure__)
        _INTERPRETED[fn] = f
        for name, value in g.items():
            if isinstance(value, numba.core.registry.CPUDispatcher):
                g[name] = interpreted(value)
    return f


@intrinsic
def f64_bits(typingctx, x):
    """The IEEE bits of a float64 as an int64 (a register move, no memory)."""
    sig = types.int64(types.float64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return sig, codegen


@intrinsic
def _bitcast(typingctx, x, like):
    """Reinterpret the bits of ``x`` as the type of ``like`` (same width)."""
    sig = like(x, like)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(signature.return_type))
    return sig, codegen


def float_abs_bits(v):
    """|v|'s IEEE bits as a signed integer of v's width (float32 or float64):
    ordered like |v|, with every NaN above Inf.  (Numba only.)"""
    raise NotImplementedError("float_abs_bits is for Numba code")


def order_key(v):
    """An integer of v's width (float32 or float64) that orders like v itself
    (-Inf lowest, +Inf highest; a NaN lies past the Inf of its sign): the bits,
    with a negative value's magnitude bits flipped.  Its min and max reduce as
    integers, which vectorizes where a float min with NaN rules does not.
    (Numba only; :func:`order_key_value` inverts it.)"""
    raise NotImplementedError("order_key is for Numba code")


def order_key_value(like, key):
    """The float64 value whose :func:`order_key` (at ``like``'s width) is ``key``."""
    raise NotImplementedError("order_key_value is for Numba code")


@overload(order_key, inline="always")
def _ov_order_key(v):
    if isinstance(v, types.Float) and v.bitwidth == 32:
        def k32(v):
            b = _bitcast(v, np.int32(0))
            return np.int32(b ^ np.int32(np.int32(b >> np.int32(31)) & np.int32(0x7FFFFFFF)))
        return k32
    if isinstance(v, types.Float) and v.bitwidth == 64:
        def k64(v):
            b = _bitcast(v, np.int64(0))
            return b ^ ((b >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF))
        return k64


@overload(order_key_value, inline="always")
def _ov_order_key_value(like, key):
    if isinstance(like, types.Float) and like.bitwidth == 32:
        def v32(like, key):
            k = np.int32(key)
            b = np.int32(k ^ np.int32(np.int32(k >> np.int32(31)) & np.int32(0x7FFFFFFF)))
            return np.float64(_bitcast(b, np.float32(0)))
        return v32
    if isinstance(like, types.Float) and like.bitwidth == 64:
        def v64(like, key):
            k = np.int64(key)
            return _bitcast(k ^ ((k >> np.int64(63)) & np.int64(0x7FFFFFFFFFFFFFFF)),
                            np.float64(0))
        return v64


def abs_bits_value(like, bits):
    """The float64 value of ``bits`` read as a float of ``like``'s width."""
    raise NotImplementedError("abs_bits_value is for Numba code")


@overload(float_abs_bits, inline="always")
def _ov_float_abs_bits(v):
    if isinstance(v, types.Float) and v.bitwidth == 32:
        return lambda v: _bitcast(v, np.int32(0)) & np.int32(0x7FFFFFFF)
    if isinstance(v, types.Float) and v.bitwidth == 64:
        return lambda v: _bitcast(v, np.int64(0)) & np.int64(0x7FFFFFFFFFFFFFFF)


@overload(abs_bits_value, inline="always")
def _ov_abs_bits_value(like, bits):
    if isinstance(like, types.Float) and like.bitwidth == 32:
        return lambda like, bits: np.float64(_bitcast(np.int32(bits), np.float32(0)))
    if isinstance(like, types.Float) and like.bitwidth == 64:
        return lambda like, bits: _bitcast(np.int64(bits), np.float64(0))


def _at(context, builder, aty, arr, start):
    """A pointer to element ``start`` of the 1D array value ``arr`` (of type ``aty``)."""
    a = context.make_array(aty)(context, builder, arr)
    i64 = ir.IntType(64)
    s = builder.sext(start, i64) if start.type.width < 64 else start
    return builder.gep(a.data, [s])


def _llvm_fn(builder, name, rtype, atypes):
    """The declaration of the LLVM intrinsic ``name`` in the builder's module."""
    f = builder.module.globals.get(name)
    return f if f is not None else ir.Function(builder.module, ir.FunctionType(rtype, atypes),
                                               name)


def _runs_max(builder, run_max, N, W, ity):
    """The max over N lanes as whole vectors of W (``run_max(first, lanes, count)``)
    and one vector of the rest, combined by an unsigned max of type ``ity``."""
    parts = []
    if N >= W:
        parts.append(run_max(0, W, N // W))
    if N % W:
        parts.append(run_max(N // W * W, N % W, 1))
    m = parts[0]
    if len(parts) == 2:
        m = builder.call(_llvm_fn(builder, f"llvm.umax.i{ity.width}", ity, [ity, ity]),
                         [m, parts[1]])
    return m


# The widest run abs_max_bits_run unrolls (as vectors); longer blocks take the loop.
ABS_MAX_RUN_MAX = 1024


@intrinsic(prefer_literal=True)
def abs_max_bits_run(typingctx, x, start, n):
    """The largest :func:`float_abs_bits` of ``x[start:start+n]`` (a contiguous
    float32 or float64 array; ``n`` a compile-time constant, 1 to
    ``ABS_MAX_RUN_MAX``): the same integer max as a loop of ``float_abs_bits``,
    written as vector loads, a lane-wise max and one horizontal max.

    Why not the loop: where its trip count is a constant, LLVM unrolls it fully
    before its loop vectorizer runs and leaves a serial chain of compares, two
    cycles a value, which was most of an MX block encode (SPEC.md 2.9 keeps
    the rule; this is only how the max is computed)."""
    if not (isinstance(n, types.IntegerLiteral) and isinstance(x, types.Array)
            and x.ndim == 1 and x.layout == "C" and isinstance(x.dtype, types.Float)
            and x.dtype.bitwidth in (32, 64) and isinstance(start, types.Integer)):
        return None
    N = n.literal_value
    if not 1 <= N <= ABS_MAX_RUN_MAX:
        return None
    width = x.dtype.bitwidth
    ret = types.int32 if width == 32 else types.int64
    sig = ret(x, start, n)

    def codegen(context, builder, signature, args):
        iw, i64 = ir.IntType(width), ir.IntType(64)
        base = builder.bitcast(_at(context, builder, signature.args[0], args[0], args[1]),
                               iw.as_pointer())

        def fn(name, rtype, atypes):
            return _llvm_fn(builder, name, rtype, atypes)

        def run_max(first, lanes, count):
            """Lane-wise max of ``count`` vectors of ``lanes`` from ``first``, reduced."""
            vt = ir.VectorType(iw, lanes)
            mask = ir.Constant(vt, [(1 << (width - 1)) - 1] * lanes)
            umax = fn(f"llvm.umax.v{lanes}i{width}", vt, [vt, vt])
            acc = None
            for k in range(count):
                p = builder.gep(base, [ir.Constant(i64, first + k * lanes)])
                v = builder.and_(builder.load(builder.bitcast(p, vt.as_pointer()),
                                              align=width // 8), mask)
                acc = v if acc is None else builder.call(umax, [acc, v])
            return builder.call(fn(f"llvm.vector.reduce.umax.v{lanes}i{width}", iw, [vt]),
                                [acc])

        # W: one AVX-512 register; LLVM splits it where vectors are narrower
        return _runs_max(builder, run_max, N, 512 // width, iw)
    return sig, codegen


@intrinsic(prefer_literal=True)
def code_mag_max_run(typingctx, codes, start, n, twos):
    """The largest magnitude code of ``codes[start:start+n]`` (a contiguous uint8
    array; ``n`` and ``twos`` compile-time constants, ``n`` 1 to
    ``ABS_MAX_RUN_MAX``), as int32: with ``twos`` the codes are two's-complement
    integers and the magnitude is |c| (128 for -128), else sign-magnitude and it
    is the code without bit 7.  Written as vector loads, a lane-wise max and one
    horizontal max, for the reason :func:`abs_max_bits_run` gives (a loop of 32
    byte compares with a constant count ran at 1 G codes/s; this at ~10)."""
    if not (isinstance(n, types.IntegerLiteral) and isinstance(twos, types.BooleanLiteral)
            and isinstance(codes, types.Array) and codes.ndim == 1 and codes.layout == "C"
            and codes.dtype == types.uint8 and isinstance(start, types.Integer)):
        return None
    N, TWOS = n.literal_value, twos.literal_value
    if not 1 <= N <= ABS_MAX_RUN_MAX:
        return None
    sig = types.int32(codes, start, n, twos)

    def codegen(context, builder, signature, args):
        i8, i1, i32, i64 = ir.IntType(8), ir.IntType(1), ir.IntType(32), ir.IntType(64)
        base = _at(context, builder, signature.args[0], args[0], args[1])

        def fn(name, rtype, atypes):
            return _llvm_fn(builder, name, rtype, atypes)

        def run_max(first, lanes, count):
            vt = ir.VectorType(i8, lanes)
            umax = fn(f"llvm.umax.v{lanes}i8", vt, [vt, vt])
            absf = fn(f"llvm.abs.v{lanes}i8", vt, [vt, i1])
            acc = None
            for k in range(count):
                p = builder.gep(base, [ir.Constant(i64, first + k * lanes)])
                v = builder.load(builder.bitcast(p, vt.as_pointer()), align=1)
                # abs of -128 is -128, whose unsigned reading is 128 = |-128|
                v = builder.call(absf, [v, ir.Constant(i1, 0)]) if TWOS else \
                    builder.and_(v, ir.Constant(vt, [0x7F] * lanes))
                acc = v if acc is None else builder.call(umax, [acc, v])
            return builder.call(fn(f"llvm.vector.reduce.umax.v{lanes}i8", i8, [vt]), [acc])

        return builder.zext(_runs_max(builder, run_max, N, 64, i8), i32)
    return sig, codegen


@intrinsic
def fetch_add(typingctx, arr, i, v):
    """``arr[i] += v`` as one atomic operation (sequentially consistent) on a
    1D contiguous int64 array; returns the value before the addition.  Threads
    that share ``arr`` each get a range of their own from it (the task claims of
    :func:`mxspec._kernel.parallel.run`), with no lock and no GIL."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and arr.dtype == types.int64 and isinstance(i, types.Integer)
            and isinstance(v, types.Integer)):
        return None
    sig = types.int64(arr, i, v)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        p = _at(context, builder, signature.args[0], args[0], args[1])
        w = builder.sext(args[2], i64) if args[2].type.width < 64 else args[2]
        return builder.atomic_rmw("add", p, w, "seq_cst")
    return sig, codegen


@jit
def claim(counter, t1):
    """The next range of tasks (a, b) from the shared ``counter`` (int64: the
    next task, the chunk size): a >= t1 once all are taken."""
    a = fetch_add(counter, 0, counter[1])
    return a, min(a + counter[1], t1)


@intrinsic
def borrowed(typingctx, arr, start, n):
    """``arr[start:start+n]`` (a contiguous 1D array) as a view that holds no
    reference: its meminfo is null, so passing it to an inlined function or
    making it raises no reference count.  A slice, or an array argument of an
    inlined function, costs an atomic increment and decrement each time, and
    in a per-block loop over blocks of 16 those cost more than the block's
    arithmetic.  The view must not outlive ``arr`` (it is used inside the
    kernel that holds ``arr``) and must not be returned to Python."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"
            and isinstance(start, types.Integer) and isinstance(n, types.Integer)):
        return None
    sig = arr(arr, start, n)

    def codegen(context, builder, signature, args):
        from numba.np.arrayobj import populate_array
        i64 = ir.IntType(64)
        out = context.make_array(arr)(context, builder)
        m = builder.sext(args[2], i64) if args[2].type.width < 64 else args[2]
        size = context.get_abi_sizeof(context.get_data_type(arr.dtype))
        itemsize = context.get_constant(types.intp, size)
        populate_array(out, data=_at(context, builder, arr, args[0], args[1]), shape=[m],
                       strides=[itemsize], itemsize=itemsize, meminfo=None)
        return out._getvalue()
    return sig, codegen


@intrinsic
def lane_sum16(typingctx, t, start):
    """The float32 sum of ``t[start:start+16]`` in PyTorch's CPU order for a row
    of 16 (SPEC.md 9.10): lane l = t[l] + t[l+8], then the eight lanes added in
    order; every addition a float32 rounding, as the loop
    ``for l in range(8): v = t[l] + t[l+8]; acc = v if l == 0 else acc + v``
    gives (for terms that are not -0).  Written as one vector load, one vector
    addition of the halves and the chain over the lanes: the loop's sixteen
    scalar loads from the vector store before it each waited for that store."""
    if not (isinstance(t, types.Array) and t.ndim == 1 and t.layout == "C"
            and t.dtype == types.float32 and isinstance(start, types.Integer)):
        return None
    sig = types.float32(t, start)

    def codegen(context, builder, signature, args):
        f32, i32 = ir.FloatType(), ir.IntType(32)
        v16 = ir.VectorType(f32, 16)
        p = builder.bitcast(_at(context, builder, signature.args[0], args[0], args[1]),
                            v16.as_pointer())
        v = builder.load(p, align=4)
        lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, 8), list(range(8))))
        hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(i32, 8), list(range(8, 16))))
        lanes = builder.fadd(lo, hi)
        acc = builder.extract_element(lanes, ir.Constant(i32, 0))
        for lane in range(1, 8):
            acc = builder.fadd(acc, builder.extract_element(lanes, ir.Constant(i32, lane)))
        return acc
    return sig, codegen


@intrinsic
def exact_dot16(typingctx, x, y, start):
    """The float64 sum of ``x[k] * y[k]`` over the 16 ``k`` from ``start`` (two
    contiguous float32 arrays), for terms that are integers whose products and
    every partial sum stay below 2**53: then each operation is exact and any
    order gives the same float64, so this one is the fastest, vector loads
    widened to float64, one vector product and a tree of halves.  (Numba's loop
    of the same sum stayed scalar: 48 instructions a block.)"""
    if not all(isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C"
               and a.dtype == types.float32 for a in (x, y)) or \
            not isinstance(start, types.Integer):
        return None
    sig = types.float64(x, y, start)

    def codegen(context, builder, signature, args):
        f32, f64, i32 = ir.FloatType(), ir.DoubleType(), ir.IntType(32)
        v = []
        for k in range(2):
            p = builder.bitcast(_at(context, builder, signature.args[k], args[k], args[2]),
                                ir.VectorType(f32, 16).as_pointer())
            v.append(builder.fpext(builder.load(p, align=4), ir.VectorType(f64, 16)))
        t = builder.fmul(v[0], v[1])
        n = 16
        while n > 1:
            n //= 2
            lo = builder.shuffle_vector(t, t, ir.Constant(ir.VectorType(i32, n), list(range(n))))
            hi = builder.shuffle_vector(t, t, ir.Constant(ir.VectorType(i32, n),
                                                          list(range(n, 2 * n))))
            t = builder.fadd(lo, hi)
        return builder.extract_element(t, ir.Constant(i32, 0))
    return sig, codegen


def unref(a):
    """:func:`borrowed` over the whole of a 1D contiguous array; anything else
    (a tuple of a frozen record) as it is."""
    return a


@overload(unref, inline="always")
def _ov_unref(a):
    if isinstance(a, types.Array) and a.ndim == 1 and a.layout == "C":
        return lambda a: borrowed(a, 0, a.shape[0])
    return lambda a: a


@jit
def bit_length(v):
    n = 0
    while v:
        v >>= 1
        n += 1
    return n


def as_width(like, v):
    """``v`` as an integer of ``like``'s width (int32 or int64).  (Numba only.)

    Numba widens every int32 operation to int64; narrowing each intermediate
    back lets LLVM keep int32 lanes, twice as many per vector as int64."""
    raise NotImplementedError("as_width is for Numba code")


@overload(as_width, inline="always")
def _ov_as_width(like, v):
    if isinstance(like, types.Integer) and like.bitwidth == 32:
        return lambda like, v: np.int32(v)
    return lambda like, v: np.int64(v)


def is_float32(x):
    """Whether the array ``x`` holds float32, as a compile-time constant.
    (Numba only.)"""
    raise NotImplementedError("is_float32 is for Numba code")


@overload(is_float32, inline="always")
def _ov_is_float32(x):
    f32 = isinstance(x.dtype, types.Float) and x.dtype.bitwidth == 32
    return lambda x: f32


@jit
def abs_max_bits(x, start, end):
    """The largest |x[start:end]| as abs bits (:func:`float_abs_bits`): an integer
    max, a branch-free reduction that vectorizes, with every NaN above Inf.  The
    one block max of mxspec: the MX, scaled and micro engines all take it (for a
    constant run of up to ABS_MAX_RUN_MAX, :func:`abs_max_bits_run` is the same
    max as vector code)."""
    mbits = float_abs_bits(x[start])
    for i in range(start, end):
        mbits = max(mbits, float_abs_bits(x[i]))
    return mbits


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (LLVM's llvm.fma: the FMA instruction where
    the CPU has one, a correctly rounded library call where it does not), for
    three float32 or three float64 values; vectorizes inside loops."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None
    sig = a(a, b, c)

    def codegen(context, builder, signature, args):
        t = context.get_value_type(signature.return_type)
        name = "llvm.fma.f32" if a.bitwidth == 32 else "llvm.fma.f64"
        return builder.call(_llvm_fn(builder, name, t, [t, t, t]), list(args))
    return sig, codegen
