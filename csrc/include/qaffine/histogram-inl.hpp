// qaffine/histogram-inl.hpp — the index pass of histogram_count, one body for every level (no include guard:
// foreach_isa.hpp includes it once per level; the specification is scalar::histogram_index in histogram.hpp).
// Each value is widened to double (exact), scaled by 2^-k (exact), floored, offset into the window and clamped
// there, and an exact zero then takes the counter `slot`; max(f, 0) takes 0 for a NaN, as the scalar loop does.
// The counting itself is scalar (histogram.hpp).

// The double form (every input and exponent). One register's worth (lanes / 2 doubles) of indices, as doubles.
QAFFINE_ISA vd histogram_bins(vd v, vd scale, vd nbase, vd top, vd slot, bool fix) noexcept {
    const vd zero = set1(0.0);
    vd f = floor(mul(v, scale));
    if (fix) {
        const vd big = set1(0x1p1023);
        f = min(f, max(mul(mul(v, big), big), set1(-1.0)));
    }
    return select(eq(v, zero), slot, min(max(add(f, nbase), zero), top));
}

template <class T>
QAFFINE_ISA void histogram_index(isa, const T* x, std::size_t n, double scale, double nbase, double top, double slot,
                                 bool fix, bool narrow, std::int32_t* idx) noexcept {
    constexpr std::size_t L = lanes, H = lanes / 2;  // int32 per register; doubles per register
    std::size_t i = 0;
    if constexpr (std::is_same<T, float>::value) {
        if (narrow) {  // float lanes: scale, nbase and top are floats exactly, every product and sum is exact
            const vf s = set1(static_cast<float>(scale)), b = set1(static_cast<float>(nbase));
            const vf t = set1(static_cast<float>(top)), z = set1(static_cast<float>(slot)), zero = set1(0.0f);
            for (; i + L <= n; i += L) {
                const vf v = loadu(x + i);
                const vf f = min(max(add(floor(mul(v, s)), b), zero), t);
                storeu_i32(idx + i, cvt_i32(select(eq(v, zero), z, f)));
            }
            scalar::histogram_index(x + i, n - i, scale, nbase, top, slot, fix, idx + i);
            return;
        }
    }
    const vd s = set1(scale), b = set1(nbase), t = set1(top), z = set1(slot);
    for (; i + L <= n; i += L) {
        vd lo, hi;
        if constexpr (std::is_same<T, float>::value) {
            lo = loadu_f64(x + i);
            hi = loadu_f64(x + i + H);
        } else {
            lo = loadu(x + i);
            hi = loadu(x + i + H);
        }
        const vi v = join(cvt_i32(histogram_bins(lo, s, b, t, z, fix)), cvt_i32(histogram_bins(hi, s, b, t, z, fix)));
        storeu_i32(idx + i, v);
    }
    scalar::histogram_index(x + i, n - i, scale, nbase, top, slot, fix, idx + i);
}
