// qaffine/ops_avx2.hpp — the AVX2 + FMA vector operations the shared kernel bodies are written over
// (8 floats, 8 int32 or 4 doubles per register). ops_avx512.hpp has the same names for 16 floats; the kernel
// bodies in *-inl.hpp call only these names, and foreach_isa.hpp says how they are compiled
// once per level. Every function carries QAFFINE_TARGET_AVX2 and is inline: nothing here runs unless the
// dispatcher (cpu.hpp, dispatch()) chose avx2.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu.hpp"

#if QAFFINE_X86_SIMD
QAFFINE_SIMD_BEGIN
namespace qaffine {
namespace avx2 {

#define QAFFINE_OP QAFFINE_TARGET_AVX2 inline

using vf = __m256;   // float lanes
using vd = __m256d;  // double lanes: half as many
using vi = __m256i;  // int32 lanes, one per float lane
using mf = __m256;   // per-float-lane flags (all ones where set), OR-accumulated
using md = __m256d;  // per-double-lane flags
constexpr std::size_t lanes = 8;

// ---- float ----------------------------------------------------------------------------------------------
QAFFINE_OP vf set1(float v) noexcept { return _mm256_set1_ps(v); }
QAFFINE_OP vf loadu(const float* p) noexcept { return _mm256_loadu_ps(p); }
QAFFINE_OP void storeu(float* p, vf v) noexcept { _mm256_storeu_ps(p, v); }
QAFFINE_OP void store(float* p, vf v) noexcept { _mm256_store_ps(p, v); }  // p 32-byte aligned
QAFFINE_OP void stream_store(float* p, vf v) noexcept { _mm256_stream_ps(p, v); }  // p 32-byte aligned
QAFFINE_OP vf min(vf a, vf b) noexcept { return _mm256_min_ps(a, b); }  // b when either is NaN
QAFFINE_OP vf max(vf a, vf b) noexcept { return _mm256_max_ps(a, b); }  // b when either is NaN
QAFFINE_OP vf add(vf a, vf b) noexcept { return _mm256_add_ps(a, b); }
QAFFINE_OP vf mul(vf a, vf b) noexcept { return _mm256_mul_ps(a, b); }
QAFFINE_OP vf div(vf a, vf b) noexcept { return _mm256_div_ps(a, b); }
QAFFINE_OP vf fma(vf a, vf b, vf c) noexcept { return _mm256_fmadd_ps(a, b, c); }
QAFFINE_OP mf unord(vf a, vf b) noexcept { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }  // a or b NaN
QAFFINE_OP mf neq(vf a, vf b) noexcept { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
QAFFINE_OP mf eq(vf a, vf b) noexcept { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }  // false when either is NaN
QAFFINE_OP vf select(mf m, vf a, vf b) noexcept { return _mm256_blendv_ps(b, a, m); }  // a where m is set, else b
QAFFINE_OP vf floor(vf v) noexcept { return _mm256_round_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }  // toward -Inf, exact
QAFFINE_OP vi cvt_i32(vf v) noexcept { return _mm256_cvtps_epi32(v); }  // nearest, ties to even (MXCSR default)
QAFFINE_OP vf cvt_f32(vi v) noexcept { return _mm256_cvtepi32_ps(v); }
QAFFINE_OP vi bits(vf v) noexcept { return _mm256_castps_si256(v); }

// The first `count` (< lanes) floats at p, `fill` in the other lanes; reads nothing past p + count.
QAFFINE_OP vf loadu_n(const float* p, std::size_t count, float fill) noexcept {
    const vi m = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    return _mm256_blendv_ps(_mm256_set1_ps(fill), _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
}

// Writes the first `count` (< lanes) lanes of v to p. Through a buffer: vmaskmovps stores are microcoded on
// AMD CPUs (tens of cycles), a short copy is not.
QAFFINE_OP void storeu_n(float* p, std::size_t count, vf v) noexcept {
    alignas(32) float b[8];
    _mm256_store_ps(b, v);
    std::memcpy(p, b, count * sizeof(float));
}

// Accumulators never hold NaN (min(v, acc) keeps acc), so the order of the reduction cannot change the result
// apart from the sign of a zero, which detail::finish_minmax normalises.
QAFFINE_OP float reduce_min(vf v) noexcept {
    __m128 m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_min_ss(m, _mm_shuffle_ps(m, m, 1)));
}
QAFFINE_OP float reduce_max(vf v) noexcept {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    return _mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps(m, m, 1)));
}

// ---- double ---------------------------------------------------------------------------------------------
QAFFINE_OP vd set1(double v) noexcept { return _mm256_set1_pd(v); }
QAFFINE_OP vd loadu(const double* p) noexcept { return _mm256_loadu_pd(p); }
QAFFINE_OP void storeu(double* p, vd v) noexcept { _mm256_storeu_pd(p, v); }
QAFFINE_OP vd min(vd a, vd b) noexcept { return _mm256_min_pd(a, b); }
QAFFINE_OP vd max(vd a, vd b) noexcept { return _mm256_max_pd(a, b); }
QAFFINE_OP vd add(vd a, vd b) noexcept { return _mm256_add_pd(a, b); }
QAFFINE_OP vd mul(vd a, vd b) noexcept { return _mm256_mul_pd(a, b); }
QAFFINE_OP vd div(vd a, vd b) noexcept { return _mm256_div_pd(a, b); }
QAFFINE_OP vd fma(vd a, vd b, vd c) noexcept { return _mm256_fmadd_pd(a, b, c); }
QAFFINE_OP md unord(vd a, vd b) noexcept { return _mm256_cmp_pd(a, b, _CMP_UNORD_Q); }
QAFFINE_OP md eq(vd a, vd b) noexcept { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
QAFFINE_OP vd select(md m, vd a, vd b) noexcept { return _mm256_blendv_pd(b, a, m); }
QAFFINE_OP vd floor(vd v) noexcept { return _mm256_round_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }  // toward -Inf, exact
// The low / high half of the int32 lanes of v, as doubles (exact).
QAFFINE_OP vd cvt_lo_f64(vi v) noexcept { return _mm256_cvtepi32_pd(_mm256_castsi256_si128(v)); }
QAFFINE_OP vd cvt_hi_f64(vi v) noexcept { return _mm256_cvtepi32_pd(_mm256_extracti128_si256(v, 1)); }
// lanes / 2 floats at p as doubles (exact).
QAFFINE_OP vd loadu_f64(const float* p) noexcept { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }

QAFFINE_OP vd loadu_n(const double* p, std::size_t count, double fill) noexcept {
    const vi m = _mm256_cmpgt_epi64(_mm256_set1_epi64x(static_cast<long long>(count)), _mm256_setr_epi64x(0, 1, 2, 3));
    return _mm256_blendv_pd(_mm256_set1_pd(fill), _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m));
}
QAFFINE_OP double reduce_min(vd v) noexcept {
    const __m128d m = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_min_sd(m, _mm_unpackhi_pd(m, m)));
}
QAFFINE_OP double reduce_max(vd v) noexcept {
    const __m128d m = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(m, _mm_unpackhi_pd(m, m)));
}

// ---- flags ----------------------------------------------------------------------------------------------
QAFFINE_OP mf none(float) noexcept { return _mm256_setzero_ps(); }
QAFFINE_OP md none(double) noexcept { return _mm256_setzero_pd(); }
QAFFINE_OP mf either(mf a, mf b) noexcept { return _mm256_or_ps(a, b); }
QAFFINE_OP md either(md a, md b) noexcept { return _mm256_or_pd(a, b); }
QAFFINE_OP bool any(mf m) noexcept { return _mm256_testz_ps(m, m) == 0; }
QAFFINE_OP bool any(md m) noexcept { return _mm256_movemask_pd(m) != 0; }

// NaN check of the range loops, on the integer side (the FP pipes are busy with min/max): the largest |bits|
// seen; a NaN's exceed 0x7F800000 (1e6 floats on Zen 4: 37 -> 31 us against a compare per pair of vectors).
// The AVX-512 level keeps its compares (ops_avx512.hpp says why).
struct range_nan {
    vi top;
};
QAFFINE_OP range_nan range_nan_none() noexcept { return {_mm256_setzero_si256()}; }
QAFFINE_OP vi abs_bits(vf v) noexcept { return _mm256_and_si256(_mm256_castps_si256(v), _mm256_set1_epi32(0x7FFFFFFF)); }
QAFFINE_OP void note_nan(range_nan& acc, vf a) noexcept { acc.top = _mm256_max_epu32(acc.top, abs_bits(a)); }
QAFFINE_OP void note_nan(range_nan& acc, vf a, vf b, vf c, vf d) noexcept {
    acc.top = _mm256_max_epu32(acc.top, _mm256_max_epu32(_mm256_max_epu32(abs_bits(a), abs_bits(b)),
                                                         _mm256_max_epu32(abs_bits(c), abs_bits(d))));
}
QAFFINE_OP bool any(range_nan acc) noexcept {
    return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(acc.top, _mm256_set1_epi32(0x7F800000)))) != 0;
}

// ---- int32 and codes ------------------------------------------------------------------------------------
QAFFINE_OP vi set1_i32(std::int32_t v) noexcept { return _mm256_set1_epi32(v); }
QAFFINE_OP vi loadu_i32(const std::int32_t* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
QAFFINE_OP void storeu_i32(std::int32_t* p, vi v) noexcept { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
QAFFINE_OP vi add_i32(vi a, vi b) noexcept { return _mm256_add_epi32(a, b); }
QAFFINE_OP vi sub_i32(vi a, vi b) noexcept { return _mm256_sub_epi32(a, b); }

// Codes are 8-bit (std::uint8_t, std::int8_t) or 16-bit (std::uint16_t, std::int16_t); sizeof(Q) picks the
// instructions.

// `lanes` codes at q, sign- or zero-extended to int32.
template <class Q>
QAFFINE_OP vi widen(const Q* q) noexcept {
    if constexpr (sizeof(Q) == 2) {
        const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        return std::is_signed<Q>::value ? _mm256_cvtepi16_epi32(w) : _mm256_cvtepu16_epi32(w);
    } else {
        const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
        return std::is_signed<Q>::value ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
    }
}

// 4 * lanes codes as they are stored: one register of 8-bit codes, two of 16-bit codes.
template <class Q>
struct code_regs {
    vi r[sizeof(Q)];
};

// Four vectors of int32 to 4 * lanes codes in order, saturating to Q's range.
template <class Q>
QAFFINE_OP code_regs<Q> pack4(vi a, vi b, vi c, vi d) noexcept {
    if constexpr (sizeof(Q) == 2) {
        // per 128-bit lane: a0-3 b0-3 | a4-7 b4-7; the 64-bit permute puts a0-7 b0-7
        const vi ab = std::is_signed<Q>::value ? _mm256_packs_epi32(a, b) : _mm256_packus_epi32(a, b);
        const vi cd = std::is_signed<Q>::value ? _mm256_packs_epi32(c, d) : _mm256_packus_epi32(c, d);
        return {{_mm256_permute4x64_epi64(ab, 0xD8), _mm256_permute4x64_epi64(cd, 0xD8)}};
    } else {
        const vi ab = _mm256_packs_epi32(a, b);  // per 128-bit lane: a0-3 b0-3 | a4-7 b4-7
        const vi cd = _mm256_packs_epi32(c, d);
        const vi bytes = std::is_signed<Q>::value ? _mm256_packs_epi16(ab, cd) : _mm256_packus_epi16(ab, cd);
        return {{_mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))}};
    }
}

template <class Q>
QAFFINE_OP void storeu_bytes(Q* p, code_regs<Q> v) noexcept {
    for (std::size_t k = 0; k < sizeof(Q); ++k) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p) + k, v.r[k]);
}
// p aligned to 32 bytes.
template <class Q>
QAFFINE_OP void stream_bytes(Q* p, code_regs<Q> v) noexcept {
    for (std::size_t k = 0; k < sizeof(Q); ++k) _mm256_stream_si256(reinterpret_cast<__m256i*>(p) + k, v.r[k]);
}

// A register of int32 already inside Q's range to `lanes` codes (in the low 8 * sizeof(Q) bytes).
template <class Q>
QAFFINE_OP __m128i narrow(vi q) noexcept {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    if constexpr (sizeof(Q) == 2) return std::is_signed<Q>::value ? _mm_packs_epi32(lo, hi) : _mm_packus_epi32(lo, hi);
    const __m128i w = _mm_packs_epi32(lo, hi);
    return std::is_signed<Q>::value ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
}
template <class Q>
QAFFINE_OP void store_codes(Q* p, vi q) noexcept {
    if constexpr (sizeof(Q) == 2) _mm_storeu_si128(reinterpret_cast<__m128i*>(p), narrow<Q>(q));
    else _mm_storel_epi64(reinterpret_cast<__m128i*>(p), narrow<Q>(q));
}
template <class Q>
QAFFINE_OP void store_codes_n(Q* p, std::size_t count, vi q) noexcept {
    alignas(16) Q b[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(b), narrow<Q>(q));
    std::memcpy(p, b, count * sizeof(Q));
}
// store_codes with non-temporal stores; p aligned to 16 bytes (8 for 8-bit codes here).
template <class Q>
QAFFINE_OP void stream_codes(Q* p, vi q) noexcept {
    if constexpr (sizeof(Q) == 2) _mm_stream_si128(reinterpret_cast<__m128i*>(p), narrow<Q>(q));
    else _mm_stream_si64(reinterpret_cast<long long*>(p), _mm_cvtsi128_si64(narrow<Q>(q)));
}

// ---- packed fields (1-, 2- or 4-bit codes, first code in the lowest bits) --------------------------------
// A register of int32 codes already inside Q's range: the low W bits of each to lanes * W / 8 bytes at p.
template <unsigned W, class Q>
QAFFINE_OP void store_fields(std::uint8_t* p, vi q) noexcept {
    const __m128i b = narrow<Q>(q);  // 8 code bytes (two's complement for int8: the low W bits are the field)
    if (W == 1) {
        *p = static_cast<std::uint8_t>(_mm_movemask_epi8(_mm_slli_epi16(b, 7)));
    } else if (W == 2) {
        const __m128i t = _mm_maddubs_epi16(_mm_and_si128(b, _mm_set1_epi8(3)), _mm_set1_epi16(0x0401));
        const __m128i u = _mm_madd_epi16(t, _mm_set1_epi32(0x00100001));  // two int32 of 8 bits each
        const std::uint32_t w = static_cast<std::uint32_t>(_mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(u, u), u)));
        const std::uint16_t h = static_cast<std::uint16_t>(w);
        std::memcpy(p, &h, 2);
    } else {
        const __m128i t = _mm_maddubs_epi16(_mm_and_si128(b, _mm_set1_epi8(15)), _mm_set1_epi16(0x1001));
        const std::int32_t w = _mm_cvtsi128_si32(_mm_packus_epi16(t, t));
        std::memcpy(p, &w, 4);
    }
}

// lanes codes from the lanes * W / 8 bytes at p: W-bit fields zero- or (Q signed) sign-extended to int32.
template <unsigned W, class Q>
QAFFINE_OP vi widen_fields(const std::uint8_t* p) noexcept {
    std::uint32_t w = 0;
    std::memcpy(&w, p, W);  // lanes * W / 8 == W bytes
    // lane j reads byte j * W / 8 and keeps bits [(j * W) % 8, + W) at the top, then shifts them down
    const __m128i idx = W == 1 ? _mm_setzero_si128() : W == 2 ? _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0)
                                                              : _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0);
    const vi wide = _mm256_cvtepu8_epi32(_mm_shuffle_epi8(_mm_cvtsi32_si128(static_cast<int>(w)), idx));
    const vi up = W == 1 ? _mm256_setr_epi32(31, 30, 29, 28, 27, 26, 25, 24)
                : W == 2 ? _mm256_setr_epi32(30, 28, 26, 24, 30, 28, 26, 24)
                         : _mm256_setr_epi32(28, 24, 28, 24, 28, 24, 28, 24);
    const vi top = _mm256_sllv_epi32(wide, up);
    return std::is_signed<Q>::value ? _mm256_srai_epi32(top, 32 - static_cast<int>(W))
                                    : _mm256_srli_epi32(top, 32 - static_cast<int>(W));
}

// ---- int32 lanes of a double register -------------------------------------------------------------------
using vh = __m128i;
QAFFINE_OP vh set1_i32h(std::int32_t v) noexcept { return _mm_set1_epi32(v); }
QAFFINE_OP vh loadu_i32h(const std::int32_t* p) noexcept { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
QAFFINE_OP vh add_i32(vh a, vh b) noexcept { return _mm_add_epi32(a, b); }
QAFFINE_OP vh sub_i32(vh a, vh b) noexcept { return _mm_sub_epi32(a, b); }
QAFFINE_OP vd cvt_f64(vh v) noexcept { return _mm256_cvtepi32_pd(v); }
QAFFINE_OP vh cvt_i32(vd v) noexcept { return _mm256_cvtpd_epi32(v); }  // nearest, ties to even
QAFFINE_OP vi join(vh lo, vh hi) noexcept { return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1); }

// ---- 16-bit floats ---------------------------------------------------------------------------------------
// `lanes` bfloat16 (their bits) at p as floats: a bfloat16 is the upper half of a float, so a 16-bit shift
// (exact).
QAFFINE_OP vf load_bf16(const std::uint16_t* p) noexcept {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
// `lanes` IEEE float16 (their bits) at p as floats (F16C; exact; NaN made quiet, as half_to_float does).
QAFFINE_OP vf load_f16(const std::uint16_t* p) noexcept {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// `lanes` floats to IEEE float16 at p, round to nearest even (F16C; NaN made quiet, as half.hpp's
// float_to_half).
QAFFINE_OP void store_f16(std::uint16_t* p, vf v) noexcept {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
// `lanes` floats to bfloat16 at p, round to nearest even in integer ops (bits + 0x7FFF + lowest kept bit,
// then the upper half; NaN: the upper half made quiet), as half.hpp's float_to_bf16.
QAFFINE_OP void store_bf16(std::uint16_t* p, vf v) noexcept {
    const vi u = _mm256_castps_si256(v);
    const vi odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const vi rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7FFF)), odd), 16);
    const vi quiet = _mm256_srli_epi32(_mm256_or_si256(u, _mm256_set1_epi32(0x00400000)), 16);
    const vi nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7FFFFFFF)), _mm256_set1_epi32(0x7F800000));
    const vi r = _mm256_blendv_epi8(rounded, quiet, nan);  // every lane in [0, 0xFFFF]: packus is exact
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p),
                     _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}

// ---- memory ---------------------------------------------------------------------------------------------
QAFFINE_OP void prefetch(const void* p) noexcept { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0); }
QAFFINE_OP void sfence() noexcept { _mm_sfence(); }

#undef QAFFINE_OP

}  // namespace avx2
}  // namespace qaffine
QAFFINE_SIMD_END
#endif  // QAFFINE_X86_SIMD
