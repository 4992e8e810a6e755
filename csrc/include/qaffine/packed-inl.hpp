// qaffine/packed-inl.hpp — the SIMD loops of packed codes, one body for every level (no include guard:
// foreach_isa.hpp includes it once per level; the specification is scalar:: in packed.hpp). Each register of
// codes goes straight into W-bit fields (store_fields), each register of floats comes straight from them
// (widen_fields): `lanes` codes are lanes * W / 8 bytes, so b stays at a byte boundary from register to
// register. The code steps are those of quantize-inl.hpp. The last partial register goes through a
// register-sized buffer of packed bytes (its last byte merged into b's, whose other fields stay).

// The first `count` (< lanes) fields of the packed register at f to the fields of b from its first byte.
template <unsigned W>
QAFFINE_ISA void put_fields_n(std::uint8_t* b, const std::uint8_t* f, std::size_t count) noexcept {
    const std::size_t whole = count * W / 8;
    std::memcpy(b, f, whole);
    const unsigned rest = static_cast<unsigned>(count * W % 8);
    if (rest != 0) {
        const unsigned m = (1u << rest) - 1u;
        b[whole] = static_cast<std::uint8_t>((b[whole] & ~m) | (f[whole] & m));
    }
}

template <rounding R, unsigned W, class Q>
QAFFINE_ISA bool quantize_fields(isa, const float* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                                 std::int32_t qmax, std::uint8_t* b) noexcept {
    constexpr std::size_t L = lanes, step = L * W / 8;
    const run_params p = make_run_params<R>(s, z, qmin, qmax);
    mf nan = none(0.0f);
    std::size_t i = 0;
    for (; i + 4 * L <= n; i += 4 * L) {
        vf v0 = loadu(x + i), v1 = loadu(x + i + L), v2 = loadu(x + i + 2 * L), v3 = loadu(x + i + 3 * L);
        QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
        std::uint8_t* o = b + i / L * step;
        store_fields<W, Q>(o, codes<R>(v0, p, nan));
        store_fields<W, Q>(o + step, codes<R>(v1, p, nan));
        store_fields<W, Q>(o + 2 * step, codes<R>(v2, p, nan));
        store_fields<W, Q>(o + 3 * step, codes<R>(v3, p, nan));
    }
    for (; i + L <= n; i += L) {
        vf v = loadu(x + i);
        QAFFINE_KEEP(v);
        store_fields<W, Q>(b + i / L * step, codes<R>(v, p, nan));
    }
    if (i < n) {
        const vf v = loadu_n(x + i, n - i, 0.0f);  // zeros past the end: no NaN there
        alignas(16) std::uint8_t f[16] = {};
        store_fields<W, Q>(f, codes<R>(v, p, nan));
        put_fields_n<W>(b + i / L * step, f, n - i);
    }
    return any(nan);
}

template <rounding R, unsigned W, class Q>
QAFFINE_ISA bool quantize_fields_vec(isa, const float* x, std::size_t n, const float* s, const std::int32_t* z,
                                     std::int32_t qmin, std::int32_t qmax, std::uint8_t* b) noexcept {
    constexpr std::size_t L = lanes, step = L * W / 8;
    const vi qlo = set1_i32(qmin), qhi = set1_i32(qmax);
    mf nan = none(0.0f);
    std::size_t i = 0;
    for (; i + L <= n; i += L) {
        vf v = loadu(x + i);
        QAFFINE_KEEP(v);
        nan = either(nan, unord(v, v));
        store_fields<W, Q>(b + i / L * step, vec_codes<R>(v, make_vec_params<R>(loadu(s + i), loadu_i32(z + i), qlo, qhi)));
    }
    const bool tail = scalar::quantize_fields_vec<R, W>(x + i, n - i, s + i, z + i, qmin, qmax, b, i);
    return tail || any(nan);
}

// Large runs write with non-temporal stores, as dequantize() does, when the register-aligned start of out
// is also a byte boundary of the fields.
template <unsigned W, class Q>
QAFFINE_ISA void dequantize_fields(isa, const std::uint8_t* b, std::size_t n, float scale, std::int32_t zero_point,
                                   float* out) noexcept {
    constexpr std::size_t L = lanes, step = L * W / 8, align = L * sizeof(float);
    const vf s = set1(scale);
    const vi z = set1_i32(zero_point);
    std::size_t i = 0;
    bool streaming = n >= detail::dequantize_stream_min && reinterpret_cast<std::uintptr_t>(out) % sizeof(float) == 0;
    if (streaming) {
        i = ((align - (reinterpret_cast<std::uintptr_t>(out) & (align - 1))) & (align - 1)) / sizeof(float);
        if (i % (8 / W) != 0) {
            streaming = false;
            i = 0;
        } else {
            scalar::dequantize_fields<W, Q>(b, 0, i, scale, zero_point, out);
        }
    }
    const std::uint8_t* p = b + i * W / 8;
    for (; i + 4 * L <= n; i += 4 * L, p += 4 * step) {
        for (std::size_t k = 0; k < 4; ++k) {
            const vf y = mul(cvt_f32(sub_i32(widen_fields<W, Q>(p + k * step), z)), s);
            if (streaming) stream_store(out + i + k * L, y);
            else storeu(out + i + k * L, y);
        }
    }
    if (streaming) sfence();
    for (; i + L <= n; i += L, p += step) storeu(out + i, mul(cvt_f32(sub_i32(widen_fields<W, Q>(p), z)), s));
    if (i < n) {
        alignas(16) std::uint8_t f[16] = {};
        std::memcpy(f, p, ((n - i) * W + 7) / 8);
        storeu_n(out + i, n - i, mul(cvt_f32(sub_i32(widen_fields<W, Q>(f), z)), s));
    }
}

template <unsigned W, class Q>
QAFFINE_ISA void dequantize_fields_vec(isa, const std::uint8_t* b, std::size_t n, const float* s,
                                       const std::int32_t* z, float* out) noexcept {
    constexpr std::size_t L = lanes, step = L * W / 8;
    std::size_t i = 0;
    for (; i + L <= n; i += L)
        storeu(out + i, mul(cvt_f32(sub_i32(widen_fields<W, Q>(b + i / L * step), loadu_i32(z + i))), loadu(s + i)));
    scalar::dequantize_fields_vec<W, Q>(b, i, n - i, s + i, z + i, out + i);
}
