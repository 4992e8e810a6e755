// qaffine/quantize-inl.hpp — the SIMD steps of the code kernels and the bracketed code loop, one body
// for every level (no include guard: foreach_isa.hpp includes it once per level; the specification
// is scalar::quantize_one in quantize.hpp). The loops around them that differ per level are in quantize.hpp.

// y (clamped, not yet rounded) for a register of float or double; lo/hi are the clamp bounds for this
// rounding. max(NaN, lo) = lo, as in the scalar loop.
template <rounding R, class V>
QAFFINE_ISA V step(V v, V s, V fz, V lo, V hi) noexcept {
    V y;
    if (R == rounding::divide) y = div(v, s);
    else if (R == rounding::multiply) {
        y = mul(v, s);
        QAFFINE_KEEP(y);
        y = add(y, fz);
    }
    else y = fma(v, s, fz);
    return min(max(y, lo), hi);
}

// One (scale, zero point) in the form step() takes, for float lanes.
struct run_params {
    vf s, fz, lo, hi;
    vi zadd;  // added after rounding: z for divide, 0 for the others (z is added before rounding there)
};

template <rounding R>
QAFFINE_ISA run_params make_run_params(float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax) noexcept {
    const bool fused = R != rounding::divide;
    return {set1(s), set1(static_cast<float>(z)), set1(static_cast<float>(fused ? qmin : qmin - z)),
            set1(static_cast<float>(fused ? qmax : qmax - z)), set1_i32(fused ? 0 : z)};
}

// A register of codes (int32) of v by the rounding R (true division for divide); NaN lanes or'ed into nan.
template <rounding R>
QAFFINE_ISA vi codes(vf v, run_params p, mf& nan) noexcept {
    nan = either(nan, unord(v, v));
    return add_i32(cvt_i32(step<R>(v, p.s, p.fz, p.lo, p.hi)), p.zadd);
}

// Per-element parameters of one register in the form step() takes, converted once (quantize_vec, quantize_vec4).
struct vec_params {
    vf s, fz, lo, hi;
    vi z;
};

template <rounding R>
QAFFINE_ISA vec_params make_vec_params(vf s, vi z, vi qlo, vi qhi) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    return {s, cvt_f32(z), cvt_f32(fused ? qlo : sub_i32(qlo, z)), cvt_f32(fused ? qhi : sub_i32(qhi, z)), z};
}

template <rounding R>
QAFFINE_ISA vi vec_codes(vf v, vec_params p) noexcept {
    const vi q = cvt_i32(step<R>(v, p.s, p.fz, p.lo, p.hi));
    return R != rounding::divide ? q : add_i32(q, p.z);
}

// The constants of the bracketed multiplication (detail::bracket) in registers.
struct bracket_params {
    vf ra, rb, mz, tlo, thi;
    vi m;  // the bits of 1.5 * 2^23
};

// A register of codes (int32) of v by the bracketed multiplication; lanes to redo or'ed into bad.
// Clamp = false when [qmin, qmax] is Q's whole range: the saturating packs of pack4 then clamp instead. That
// holds because tA == tB only for |x/s| < 2^21 (where tA - 1.5*2^23 is the code minus nothing: an int32 of
// small magnitude) or for x = ±Inf (bits 0x7F800000 / 0xFF800000, which minus 0x4B400000 stay on their side
// of 0): for larger quotients the bracket is wider than a float step, so tA != tB.
template <bool Clamp>
QAFFINE_ISA vi bracket(vf v, bracket_params b, mf& bad) noexcept {
    const vf ta = fma(v, b.ra, b.mz), tb = fma(v, b.rb, b.mz);
    bad = either(bad, neq(ta, tb));
    return sub_i32(bits(Clamp ? min(max(ta, b.tlo), b.thi) : ta), b.m);
}

// Four registers of x[0..4 * lanes) to their codes (written out: GCC -O2 keeps a q[4] loop in memory).
template <rounding R, class Q>
QAFFINE_ISA code_regs<Q> codes4(const float* x, run_params p, mf& nan) noexcept {
    vf v0 = loadu(x), v1 = loadu(x + lanes), v2 = loadu(x + 2 * lanes), v3 = loadu(x + 3 * lanes);
    QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
    return pack4<Q>(codes<R>(v0, p, nan), codes<R>(v1, p, nan), codes<R>(v2, p, nan), codes<R>(v3, p, nan));
}

// codes4 out of line, for the rare group of bracket_loop to redo: inlined, its division constants compete with
// the bracket's for AVX2's 16 registers and the hot loop reloads them from the stack (AVX2, 1e6 floats per
// tensor through the Python module on Zen 4: 98 -> 88 us).
template <rounding R, class Q>
QAFFINE_ISA_OUTLINE code_regs<Q> redo4(const float* x, run_params p, mf& nan) noexcept {
    return codes4<R, Q>(x, p, nan);
}

// Four registers of x at a time; the rare group with a lane to redo is coded again by true division.
// Stream: prefetch the input and write with non-temporal stores (out must be aligned to 4 * lanes bytes).
template <bool Clamp, bool Stream, rounding R, class Q>
QAFFINE_ISA std::size_t bracket_loop(const float* x, std::size_t n, Q* out, const detail::bracket& c,
                                     run_params p, mf& nan) noexcept {
    constexpr std::size_t L = lanes;
    const bracket_params b{set1(c.ra), set1(c.rb), set1(c.mz), set1(c.tlo), set1(c.thi), set1_i32(0x4B400000)};
    constexpr std::size_t ahead = detail::prefetch_bytes / sizeof(float);
    std::size_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        if (Stream)
            for (std::size_t k = 0; k < 4 * L; k += 16) prefetch(x + i + ahead + k);  // a line per 16 floats
        vf v0 = loadu(x + i), v1 = loadu(x + i + L), v2 = loadu(x + i + 2 * L), v3 = loadu(x + i + 3 * L);
        QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
        mf bad = none(0.0f);
        vi q0 = bracket<Clamp>(v0, b, bad), q1 = bracket<Clamp>(v1, b, bad);
        vi q2 = bracket<Clamp>(v2, b, bad), q3 = bracket<Clamp>(v3, b, bad);
        const code_regs<Q> w = any(bad) ? redo4<R, Q>(x + i, p, nan) : pack4<Q>(q0, q1, q2, q3);
        if (Stream) stream_bytes(out + i, w);
        else storeu_bytes(out + i, w);
    }
    return i;
}

// The leading elements of x[0, n) coded by bracket_loop when R divides and the bracket applies (else none);
// returns how many.
template <bool Stream, rounding R, class Q>
QAFFINE_ISA std::size_t bracketed(const float* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                                  std::int32_t qmax, Q* out, run_params p, mf& nan) noexcept {
    if (R != rounding::divide) return 0;
    const detail::bracket b = detail::make_bracket(s, z, qmin, qmax);
    if (!b.usable) return 0;
    return detail::whole_range<Q>(qmin, qmax) ? bracket_loop<false, Stream, R>(x, n, out, b, p, nan)
                                              : bracket_loop<true, Stream, R>(x, n, out, b, p, nan);
}

// Double input: two registers of doubles give one register of codes, narrowed and stored together; the last
// lanes go through the level's partial loads and stores (zeros past the end: no NaN there).
template <rounding R, class Q>
QAFFINE_ISA bool quantize(isa, const double* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                          std::int32_t qmax, Q* out) noexcept {
    constexpr std::size_t L = lanes, H = lanes / 2;
    const bool fused = R != rounding::divide;  // z added before rounding
    const vd sv = set1(static_cast<double>(s)), fz = set1(static_cast<double>(z));
    const vd lo = set1(static_cast<double>(fused ? qmin : qmin - z));
    const vd hi = set1(static_cast<double>(fused ? qmax : qmax - z));
    const vi zadd = set1_i32(fused ? 0 : z);
    md nan = none(0.0);
    std::size_t i = 0;
    for (; i + L <= n; i += L) {
        const vd a = loadu(x + i), b = loadu(x + i + H);
        nan = either(nan, unord(a, b));
        store_codes<Q>(out + i, add_i32(join(cvt_i32(step<R>(a, sv, fz, lo, hi)), cvt_i32(step<R>(b, sv, fz, lo, hi))), zadd));
    }
    if (i < n) {
        const std::size_t left = n - i;
        const vd a = loadu_n(x + i, left, 0.0), b = left > H ? loadu_n(x + i + H, left - H, 0.0) : set1(0.0);
        nan = either(nan, unord(a, b));
        store_codes_n<Q>(out + i, left, add_i32(join(cvt_i32(step<R>(a, sv, fz, lo, hi)), cvt_i32(step<R>(b, sv, fz, lo, hi))), zadd));
    }
    return any(nan);
}

// Per-element parameters of one register of doubles: its codes (int32).
template <rounding R>
QAFFINE_ISA vh vec_codes(vd v, const float* s, const std::int32_t* z, vh qlo, vh qhi) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const vh zi = loadu_i32h(z);
    const vd lo = cvt_f64(fused ? qlo : sub_i32(qlo, zi)), hi = cvt_f64(fused ? qhi : sub_i32(qhi, zi));
    const vh q = cvt_i32(step<R>(v, loadu_f64(s), cvt_f64(zi), lo, hi));
    return fused ? q : add_i32(q, zi);
}

template <rounding R, class Q>
QAFFINE_ISA bool quantize_vec(isa, const double* x, std::size_t n, const float* s, const std::int32_t* z,
                              std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    constexpr std::size_t L = lanes, H = lanes / 2;
    const vh qlo = set1_i32h(qmin), qhi = set1_i32h(qmax);
    md nan = none(0.0);
    std::size_t i = 0;
    for (; i + L <= n; i += L) {
        const vd a = loadu(x + i), b = loadu(x + i + H);
        nan = either(nan, unord(a, b));
        store_codes<Q>(out + i, join(vec_codes<R>(a, s + i, z + i, qlo, qhi), vec_codes<R>(b, s + i + H, z + i + H, qlo, qhi)));
    }
    const bool tail_nan = scalar::quantize_vec<R>(x + i, n - i, s + i, z + i, qmin, qmax, out + i);
    return tail_nan || any(nan);
}
