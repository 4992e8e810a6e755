// qaffine/dequantize-inl.hpp — the SIMD dequantize kernels, one body for every level (no include
// guard: foreach_isa.hpp includes it once per level; the specification is scalar:: in dequantize.hpp).

// The first `count` (< lanes) codes at q, zeros after them. Through a buffer: a masked byte load needs
// AVX512VL (not part of the avx512 level), and AVX2 has none.
template <class Q>
QAFFINE_ISA vi widen_n(const Q* q, std::size_t count) noexcept {
    alignas(16) Q buf[16] = {};
    std::memcpy(buf, q, count * sizeof(Q));
    return widen(buf);
}

// Large runs (detail::dequantize_stream_min) write with non-temporal stores after a scalar head up to a
// register-aligned address; the last lanes go through the level's partial load and store.
template <class Q>
QAFFINE_ISA void dequantize(isa, const Q* q, std::size_t n, float scale, std::int32_t zero_point,
                            float* out) noexcept {
    constexpr std::size_t L = lanes, align = L * sizeof(float);
    const vf s = set1(scale);
    const vi z = set1_i32(zero_point);
    std::size_t i = 0;
    const bool streaming =
        n >= detail::dequantize_stream_min && reinterpret_cast<std::uintptr_t>(out) % sizeof(float) == 0;
    if (streaming) {
        i = ((align - (reinterpret_cast<std::uintptr_t>(out) & (align - 1))) & (align - 1)) / sizeof(float);
        scalar::dequantize(q, i, scale, zero_point, out);
    }
    for (; i + 4 * L <= n; i += 4 * L) {
        for (std::size_t k = 0; k < 4 * L; k += L) {
            const vf y = mul(cvt_f32(sub_i32(widen(q + i + k), z)), s);
            if (streaming) stream_store(out + i + k, y);
            else storeu(out + i + k, y);
        }
    }
    if (streaming) sfence();
    for (; i + L <= n; i += L) storeu(out + i, mul(cvt_f32(sub_i32(widen(q + i), z)), s));
    if (i < n) storeu_n(out + i, n - i, mul(cvt_f32(sub_i32(widen_n(q + i, n - i), z)), s));
}

template <class Q>
QAFFINE_ISA void dequantize(isa, const Q* q, std::size_t n, float scale, std::int32_t zero_point,
                            double* out) noexcept {
    constexpr std::size_t L = lanes;
    const vd s = set1(static_cast<double>(scale));
    const vi z = set1_i32(zero_point);
    std::size_t i = 0;
    for (; i + L <= n; i += L) {
        const vi d = sub_i32(widen(q + i), z);
        storeu(out + i, mul(cvt_lo_f64(d), s));
        storeu(out + i + L / 2, mul(cvt_hi_f64(d), s));
    }
    scalar::dequantize(q + i, n - i, scale, zero_point, out + i);
}

template <class Q>
QAFFINE_ISA void dequantize_vec(isa, const Q* q, std::size_t n, const float* s, const std::int32_t* z,
                                float* out) noexcept {
    constexpr std::size_t L = lanes;
    std::size_t i = 0;
    for (; i + L <= n; i += L)
        storeu(out + i, mul(cvt_f32(sub_i32(widen(q + i), loadu_i32(z + i))), loadu(s + i)));
    scalar::dequantize_vec(q + i, n - i, s + i, z + i, out + i);
}

template <class Q>
QAFFINE_ISA void dequantize_vec(isa, const Q* q, std::size_t n, const float* s, const std::int32_t* z,
                                double* out) noexcept {
    constexpr std::size_t L = lanes;
    std::size_t i = 0;
    for (; i + L <= n; i += L) {
        const vi d = sub_i32(widen(q + i), loadu_i32(z + i));
        storeu(out + i, mul(cvt_lo_f64(d), loadu_f64(s + i)));
        storeu(out + i + L / 2, mul(cvt_hi_f64(d), loadu_f64(s + i + L / 2)));
    }
    scalar::dequantize_vec(q + i, n - i, s + i, z + i, out + i);
}

// 16-bit float output: each register of float results rounded to float16 / bfloat16 by the level's op
// (store_f16: F16C / AVX-512F; store_bf16: integer ops), the tail by the scalar loop (the same bits).
QAFFINE_ISA void store_real(float16* p, vf v) noexcept { store_f16(reinterpret_cast<std::uint16_t*>(p), v); }
QAFFINE_ISA void store_real(bfloat16* p, vf v) noexcept { store_bf16(reinterpret_cast<std::uint16_t*>(p), v); }

template <class Q, class H>
QAFFINE_ISA typename std::enable_if<detail::is_float16<H>::value>::type dequantize(
    isa, const Q* q, std::size_t n, float scale, std::int32_t zero_point, H* out) noexcept {
    constexpr std::size_t L = lanes;
    const vf s = set1(scale);
    const vi z = set1_i32(zero_point);
    std::size_t i = 0;
    for (; i + L <= n; i += L) store_real(out + i, mul(cvt_f32(sub_i32(widen(q + i), z)), s));
    scalar::dequantize(q + i, n - i, scale, zero_point, out + i);
}

template <class Q, class H>
QAFFINE_ISA typename std::enable_if<detail::is_float16<H>::value>::type dequantize_vec(
    isa, const Q* q, std::size_t n, const float* s, const std::int32_t* z, H* out) noexcept {
    constexpr std::size_t L = lanes;
    std::size_t i = 0;
    for (; i + L <= n; i += L) store_real(out + i, mul(cvt_f32(sub_i32(widen(q + i), loadu_i32(z + i))), loadu(s + i)));
    scalar::dequantize_vec(q + i, n - i, s + i, z + i, out + i);
}
