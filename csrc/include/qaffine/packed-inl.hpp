// qaffine/packed-inl.hpp — the SIMD loops of packed codes, one body for every level (no include guard:
// foreach_isa.hpp includes it once per level; the specification is scalar:: in packed.hpp). Each register of
// codes goes straight into W-bit fields (store_fields), each register of floats comes straight from them
// (widen_fields): `lanes` codes are lanes * W / 8 bytes, so b stays at a byte boundary from register to
// register. The code steps are those of quantize-inl.hpp. The last partial register goes through a
// register-sized buffer of packed bytes (its last byte merged into b's, whose other fields stay). Reading takes
// a run from any field: one that starts inside a byte is read at that bit offset (widen_fields_from).

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

// `lanes` fields from bit `shift` of p on (Shifted: 1..7, a run that starts inside a byte): their step + 1 bytes
// shifted down to a byte boundary in a 64-bit word, which widen_fields then reads like any register of fields.
template <unsigned W, class Q, bool Shifted>
QAFFINE_ISA vi widen_fields_from(const std::uint8_t* p, unsigned shift) noexcept {
    if constexpr (!Shifted) {
        return widen_fields<W, Q>(p);
    } else {
        constexpr std::size_t step = lanes * W / 8;  // 1 to 8 bytes
        std::uint64_t lo = 0;
        std::memcpy(&lo, p, step);
        const std::uint64_t w = (lo >> shift) | (static_cast<std::uint64_t>(p[step]) << (8 * step - shift));
        alignas(8) std::uint8_t f[8];
        std::memcpy(f, &w, 8);
        return widen_fields<W, Q>(f);
    }
}

// The bytes of four registers of fields from bit `shift` (1..7) of p on, shifted down to f: a 64-bit word at a
// time, so that narrow fields (a register of 1 or 2 bytes) share one shift between four registers.
template <unsigned W>
QAFFINE_ISA void shift_down4(const std::uint8_t* p, unsigned shift, std::uint8_t* f) noexcept {
    constexpr std::size_t S = 4 * lanes * W / 8;  // 4 to 32 bytes
    if constexpr (S <= 8) {
        std::uint64_t lo = 0;
        std::memcpy(&lo, p, S);
        const std::uint64_t w = (lo >> shift) | (static_cast<std::uint64_t>(p[S]) << (8 * S - shift));
        std::memcpy(f, &w, 8);
    } else {
        for (std::size_t j = 0; j < S; j += 8) {
            std::uint64_t lo = 0;
            std::memcpy(&lo, p + j, 8);
            const std::uint64_t w = (lo >> shift) | (static_cast<std::uint64_t>(p[j + 8]) << (64 - shift));
            std::memcpy(f + j, &w, 8);
        }
    }
}

// Fields [i, n) of a run from bit `shift` of p on into out[i, n) (field i at p; fields from 0 on are the run's):
// four registers at a time, then single ones, then the last lanes (a register ending at field n, or in a run
// shorter than a register, through a buffer of the bytes they span).
template <unsigned W, class Q, bool Shifted>
QAFFINE_ISA void dequantize_fields_loop(const std::uint8_t* p, unsigned shift, std::size_t i, std::size_t n, vf s,
                                        vi z, float* out, bool streaming) noexcept {
    constexpr std::size_t L = lanes, step = L * W / 8;
    for (; i + 4 * L <= n; i += 4 * L, p += 4 * step) {
        alignas(16) std::uint8_t f[4 * step < 8 ? 8 : 4 * step];
        const std::uint8_t* q = p;
        if (Shifted) {
            shift_down4<W>(p, shift, f);
            q = f;
        }
        for (std::size_t k = 0; k < 4; ++k) {
            const vf y = mul(cvt_f32(sub_i32(widen_fields<W, Q>(q + k * step), z)), s);
            if (streaming) stream_store(out + i + k * L, y);
            else storeu(out + i + k * L, y);
        }
    }
    if (streaming) sfence();
    for (; i + L <= n; i += L, p += step)
        storeu(out + i, mul(cvt_f32(sub_i32(widen_fields_from<W, Q, Shifted>(p, shift), z)), s));
    if (i < n && n >= L) {
        // the last L fields as one more register, rewriting out[n - L, i) with the same values: no partial
        // load and store; their first field is `back` bits before bit `shift` of p
        const std::size_t back = (i - (n - L)) * W, k = (back + 7) / 8;
        const unsigned at = static_cast<unsigned>(8 * k - back) + shift;
        const std::uint8_t* q = p - k + at / 8;
        const vi c = at % 8 == 0 ? widen_fields<W, Q>(q) : widen_fields_from<W, Q, true>(q, at % 8);
        storeu(out + (n - L), mul(cvt_f32(sub_i32(c, z)), s));
    } else if (i < n) {
        alignas(16) std::uint8_t f[16] = {};
        std::memcpy(f, p, (shift + (n - i) * W + 7) / 8);
        storeu_n(out + i, n - i, mul(cvt_f32(sub_i32(widen_fields_from<W, Q, Shifted>(f, shift), z)), s));
    }
}

// Fields [pos, pos + n) of b. A run that starts inside a byte is read at that bit offset register by register
// (widen_fields_from), not through a scalar head: blocks of whole bytes in rows of an odd length at 4 bits
// would otherwise each take their first field one by one and their last lanes through a partial register.
// Large runs write with non-temporal stores, as dequantize() does, after a scalar head up to a register-aligned
// address of out.
template <unsigned W, class Q>
QAFFINE_ISA void dequantize_fields(isa, const std::uint8_t* b, std::size_t pos, std::size_t n, float scale,
                                   std::int32_t zero_point, float* out) noexcept {
    constexpr std::size_t per = 8 / W, align = lanes * sizeof(float);
    b += pos / per;
    pos %= per;
    std::size_t i = 0;
    const bool streaming =
        n >= detail::dequantize_stream_min && reinterpret_cast<std::uintptr_t>(out) % sizeof(float) == 0;
    if (streaming) {
        i = ((align - (reinterpret_cast<std::uintptr_t>(out) & (align - 1))) & (align - 1)) / sizeof(float);
        scalar::dequantize_fields<W, Q>(b, pos, i, scale, zero_point, out);
    }
    const std::uint8_t* p = b + (pos + i) / per;
    const unsigned shift = static_cast<unsigned>((pos + i) % per * W);
    if (shift == 0) dequantize_fields_loop<W, Q, false>(p, 0, i, n, set1(scale), set1_i32(zero_point), out, streaming);
    else dequantize_fields_loop<W, Q, true>(p, shift, i, n, set1(scale), set1_i32(zero_point), out, streaming);
}

template <unsigned W, class Q, bool Shifted>
QAFFINE_ISA void dequantize_fields_vec_loop(const std::uint8_t* b, std::size_t pos, std::size_t n, const float* s,
                                            const std::int32_t* z, float* out) noexcept {
    constexpr std::size_t L = lanes, step = L * W / 8;
    const unsigned shift = static_cast<unsigned>(pos * W);
    std::size_t i = 0;
    for (; i + L <= n; i += L)
        storeu(out + i, mul(cvt_f32(sub_i32(widen_fields_from<W, Q, Shifted>(b + i / L * step, shift),
                                            loadu_i32(z + i))), loadu(s + i)));
    scalar::dequantize_fields_vec<W, Q>(b, pos + i, n - i, s + i, z + i, out + i);
}

// Fields [pos, pos + n) of b with a scale and zero point per field; a start inside a byte as above.
template <unsigned W, class Q>
QAFFINE_ISA void dequantize_fields_vec(isa, const std::uint8_t* b, std::size_t pos, std::size_t n, const float* s,
                                       const std::int32_t* z, float* out) noexcept {
    constexpr std::size_t per = 8 / W;
    if (pos % per == 0) dequantize_fields_vec_loop<W, Q, false>(b + pos / per, 0, n, s, z, out);
    else dequantize_fields_vec_loop<W, Q, true>(b + pos / per, pos % per, n, s, z, out);
}
