"""The Triton kernel both GPU captures run: one 64 x 64 tile of tl.dot over K in
blocks of BK, from zero or from C, at a given max_num_imprecise_acc (0: Triton's
default).  Imported by tools/h100_capture_wgmma.py and tools/h200_capture_scaled_mm.py
(run as scripts, so this folder is on sys.path)."""


def triton_kernel():
    import triton
    import triton.language as tl

    @triton.jit
    def mm(a_ptr, b_ptr, c_ptr, d_ptr, K, USE_C: tl.constexpr, IMPRECISE: tl.constexpr,
           BK: tl.constexpr):
        offs_m = tl.arange(0, 64)
        offs_n = tl.arange(0, 64)
        offs_k = tl.arange(0, BK)
        if USE_C:
            acc = tl.load(c_ptr + offs_m[:, None] * 64 + offs_n[None, :])
        else:
            acc = tl.zeros((64, 64), dtype=tl.float32)
        for k0 in range(0, K, BK):
            a = tl.load(a_ptr + offs_m[:, None] * K + (k0 + offs_k)[None, :])
            b = tl.load(b_ptr + offs_n[None, :] * K + (k0 + offs_k)[:, None])
            if IMPRECISE > 0:
                acc = tl.dot(a, b, acc, max_num_imprecise_acc=IMPRECISE)
            else:
                acc = tl.dot(a, b, acc)
        tl.store(d_ptr + offs_m[:, None] * 64 + offs_n[None, :], acc)
    return mm
