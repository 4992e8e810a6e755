// qaffine/quantize_pack4-inl.hpp — the float code loops of the levels without a narrowing store (AVX2, NEON),
// one body for both (no include guard: quantize.hpp includes it through foreach_isa.hpp, skipping AVX-512,
// whose loops are in quantize.hpp). They code four registers and pack them into one store of 4 * lanes bytes
// (pack4: five instructions for the four at AVX2, where store_codes takes four per register); AVX-512 narrows
// each register with vpmovdb / vpmovdw, streams the codes assembled from four of them, and has masked heads and tails.
template <rounding R, class Q>
QAFFINE_ISA bool quantize(isa, const float* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                          std::int32_t qmax, Q* out) noexcept {
    const run_params p = make_run_params<R>(s, z, qmin, qmax);
    mf nan = none(0.0f);
    bool tail_nan = false;
    std::size_t i = 0;
    if (n >= detail::stream_codes_min) {
        // Large run: aligned non-temporal stores, input prefetched.
        i = ((4 * lanes - (reinterpret_cast<std::uintptr_t>(out) & (4 * lanes - 1))) & (4 * lanes - 1)) / sizeof(Q);
        tail_nan = scalar::quantize<R>(x, i, s, z, qmin, qmax, out);
        i += bracketed<true, R>(x + i, n - i, s, z, qmin, qmax, out + i, p, nan);
        constexpr std::size_t ahead = detail::prefetch_bytes / sizeof(float);
        for (; i + 4 * lanes <= n; i += 4 * lanes) {
            for (std::size_t k = 0; k < 4 * lanes; k += 16) prefetch(x + i + ahead + k);  // a line per 16 floats
            stream_bytes(out + i, codes4<R, Q>(x + i, p, nan));
        }
        sfence();
    } else if (n >= detail::bracket_min) {
        i = bracketed<false, R>(x, n, s, z, qmin, qmax, out, p, nan);
    }
    for (; i + 4 * lanes <= n; i += 4 * lanes) storeu_bytes(out + i, codes4<R, Q>(x + i, p, nan));
    tail_nan = scalar::quantize<R>(x + i, n - i, s, z, qmin, qmax, out + i) || tail_nan;
    return tail_nan || any(nan);
}

template <rounding R, class Q>
QAFFINE_ISA bool quantize_vec(isa, const float* x, std::size_t n, const float* s, const std::int32_t* z,
                              std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const vi qlo = set1_i32(qmin), qhi = set1_i32(qmax);
    mf nan = none(0.0f);
    std::size_t i = 0;
    for (; i + 4 * lanes <= n; i += 4 * lanes) {
        vi q[4];
        for (std::size_t k = 0; k < 4; ++k) {
            const std::size_t j = i + lanes * k;
            const vf v = loadu(x + j);
            nan = either(nan, unord(v, v));
            q[k] = vec_codes<R>(v, make_vec_params<R>(loadu(s + j), loadu_i32(z + j), qlo, qhi));
        }
        storeu_bytes(out + i, pack4<Q>(q[0], q[1], q[2], q[3]));
    }
    const bool tail_nan = scalar::quantize_vec<R>(x + i, n - i, s + i, z + i, qmin, qmax, out + i);
    return tail_nan || any(nan);
}

