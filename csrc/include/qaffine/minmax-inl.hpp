// qaffine/minmax-inl.hpp — the SIMD range kernels, one body for every level (no include guard:
// foreach_isa.hpp includes it once per level; the specification is scalar:: in minmax.hpp).
// min(v, acc) returns acc when v is NaN: the rule of the scalar loop, so NaNs never enter an accumulator and
// are reported through a separate flag (range_nan: integer-side at AVX2, compares at AVX-512; the ops
// headers say why).

// Four consecutive vectors into four pairs of accumulators. QAFFINE_KEEP stops GCC from folding each load
// into a second instruction (the min and the max, or the NaN compare), which doubles the loads.
QAFFINE_ISA void minmax4(const float* p, vf& lo0, vf& lo1, vf& lo2, vf& lo3, vf& hi0, vf& hi1, vf& hi2, vf& hi3,
                         range_nan& nan) noexcept {
    vf a = loadu(p), b = loadu(p + lanes), c = loadu(p + 2 * lanes), d = loadu(p + 3 * lanes);
    QAFFINE_KEEP(a); QAFFINE_KEEP(b); QAFFINE_KEEP(c); QAFFINE_KEEP(d);
    lo0 = min(a, lo0); hi0 = max(a, hi0);
    lo1 = min(b, lo1); hi1 = max(b, hi1);
    lo2 = min(c, lo2); hi2 = max(c, hi2);
    lo3 = min(d, lo3); hi3 = max(d, hi3);
    note_nan(nan, a, b, c, d);
}

QAFFINE_ISA minmax_result<float> minmax(isa, const float* x, std::size_t n) noexcept {
    constexpr std::size_t L = lanes, U = 4 * lanes;
    const vf pinf = set1(std::numeric_limits<float>::infinity()), ninf = set1(-std::numeric_limits<float>::infinity());
    vf lo0 = pinf, lo1 = pinf, lo2 = pinf, lo3 = pinf;
    vf hi0 = ninf, hi1 = ninf, hi2 = ninf, hi3 = ninf;
    range_nan nan = range_nan_none();
    // Blocks of four vectors from the end down (detail::prefetch_bytes says why), then the tail.
    const std::size_t full = n / U * U;
    std::size_t i = full;
    constexpr std::size_t behind = detail::prefetch_bytes / sizeof(float);
    for (; i >= behind + U; i -= U) {
        for (std::size_t k = 0; k < U; k += 16) prefetch(x + i - U - behind + k);  // a line per 16 floats
        minmax4(x + i - U, lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3, nan);
    }
    for (; i >= U; i -= U) minmax4(x + i - U, lo0, lo1, lo2, lo3, hi0, hi1, hi2, hi3, nan);
    i = full;
    for (; i + L <= n; i += L) {
        const vf a = loadu(x + i);
        lo0 = min(a, lo0); hi0 = max(a, hi0);
        note_nan(nan, a);
    }
    if (i < n) {  // the lanes past the end repeat x[i]: no effect on the range, and a NaN there is one in x
        const vf a = loadu_n(x + i, n - i, x[i]);
        lo1 = min(a, lo1); hi1 = max(a, hi1);
        note_nan(nan, a);
    }
    lo0 = min(min(lo0, lo1), min(lo2, lo3));
    hi0 = max(max(hi0, hi1), max(hi2, hi3));
    return detail::finish_minmax(reduce_min(lo0), reduce_max(hi0), any(nan));
}

QAFFINE_ISA minmax_result<double> minmax(isa, const double* x, std::size_t n) noexcept {
    constexpr std::size_t L = lanes / 2;  // doubles per register
    const vd pinf = set1(std::numeric_limits<double>::infinity()), ninf = set1(-std::numeric_limits<double>::infinity());
    vd lo0 = pinf, lo1 = pinf, hi0 = ninf, hi1 = ninf;
    md nan = none(0.0);
    std::size_t i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
        const vd a = loadu(x + i), b = loadu(x + i + L);
        lo0 = min(a, lo0); hi0 = max(a, hi0);
        lo1 = min(b, lo1); hi1 = max(b, hi1);
        nan = either(nan, unord(a, b));
    }
    if (i + L <= n) {
        const vd a = loadu(x + i);
        lo0 = min(a, lo0); hi0 = max(a, hi0);
        nan = either(nan, unord(a, a));
        i += L;
    }
    if (i < n) {  // as in the float kernel
        const vd a = loadu_n(x + i, n - i, x[i]);
        lo1 = min(a, lo1); hi1 = max(a, hi1);
        nan = either(nan, unord(a, a));
    }
    lo0 = min(lo0, lo1);
    hi0 = max(hi0, hi1);
    return detail::finish_minmax(reduce_min(lo0), reduce_max(hi0), any(nan));
}

// Element-wise (see scalar::minmax_accumulate), float or double.
template <class T>
QAFFINE_ISA bool minmax_accumulate(isa, const T* x, std::size_t n, T* lo, T* hi) noexcept {
    constexpr std::size_t L = lanes * sizeof(float) / sizeof(T);
    auto nan = none(T(0));
    std::size_t i = 0;
    for (; i + L <= n; i += L) {
        const auto v = loadu(x + i);
        storeu(lo + i, min(v, loadu(lo + i)));
        storeu(hi + i, max(v, loadu(hi + i)));
        nan = either(nan, unord(v, v));
    }
    const bool tail = scalar::minmax_accumulate(x + i, n - i, lo + i, hi + i);
    return tail || any(nan);
}

// Four rows x, x + stride, x + 2 stride, x + 3 stride at once: lo and hi are read and written once per four
// vectors of x (4096 x 4096 per column, AVX-512 on Zen 4: 3.9 -> 2.2 ms). Each min(v, acc) leaves acc when
// v is NaN, so NaNs are ignored exactly as row by row.
QAFFINE_ISA bool minmax_accumulate4(isa, const float* x, std::size_t stride, std::size_t n, float* lo,
                                    float* hi) noexcept {
    constexpr std::size_t L = lanes;
    range_nan nan = range_nan_none();
    std::size_t i = 0;
    for (; i + L <= n; i += L) {
        vf a = loadu(x + i), b = loadu(x + stride + i), c = loadu(x + 2 * stride + i), d = loadu(x + 3 * stride + i);
        QAFFINE_KEEP(a); QAFFINE_KEEP(b); QAFFINE_KEEP(c); QAFFINE_KEEP(d);
        vf l = loadu(lo + i), h = loadu(hi + i);
        l = min(d, min(c, min(b, min(a, l))));
        h = max(d, max(c, max(b, max(a, h))));
        storeu(lo + i, l);
        storeu(hi + i, h);
        note_nan(nan, a, b, c, d);
    }
    bool tail = false;
    for (std::size_t r = 0; r < 4; ++r) tail = scalar::minmax_accumulate(x + r * stride + i, n - i, lo + i, hi + i) || tail;
    return tail || any(nan);
}
