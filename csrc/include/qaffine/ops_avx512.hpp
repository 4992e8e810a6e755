// qaffine/ops_avx512.hpp — the AVX-512 (F + BW) vector operations the shared kernel bodies are written over
// (16 floats, 16 int32 or 8 doubles per register): the names of ops_avx2.hpp, with opmask registers for
// the flags and masked loads and stores for the tails. Every function carries QAFFINE_TARGET_AVX512.
// The two files have the same shape on purpose (the same names in the same order, float and double alike):
// that shared shape is the interface the *-inl.hpp bodies are written against, each line a different
// instruction.
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
namespace avx512 {

#define QAFFINE_OP QAFFINE_TARGET_AVX512 inline

using vf = __m512;
using vd = __m512d;
using vi = __m512i;
using mf = __mmask16;
using md = __mmask8;
constexpr std::size_t lanes = 16;

// The first `count` lanes (all 16 from 16 on).
QAFFINE_OP __mmask16 mask_n(std::size_t count) noexcept {
    return count >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << count) - 1u);
}

// ---- float ----------------------------------------------------------------------------------------------
QAFFINE_OP vf set1(float v) noexcept { return _mm512_set1_ps(v); }
QAFFINE_OP vf loadu(const float* p) noexcept { return _mm512_loadu_ps(p); }
QAFFINE_OP void storeu(float* p, vf v) noexcept { _mm512_storeu_ps(p, v); }
QAFFINE_OP void store(float* p, vf v) noexcept { _mm512_store_ps(p, v); }
QAFFINE_OP void stream_store(float* p, vf v) noexcept { _mm512_stream_ps(p, v); }  // p 64-byte aligned
QAFFINE_OP vf min(vf a, vf b) noexcept { return _mm512_min_ps(a, b); }
QAFFINE_OP vf max(vf a, vf b) noexcept { return _mm512_max_ps(a, b); }
QAFFINE_OP vf add(vf a, vf b) noexcept { return _mm512_add_ps(a, b); }
QAFFINE_OP vf mul(vf a, vf b) noexcept { return _mm512_mul_ps(a, b); }
QAFFINE_OP vf div(vf a, vf b) noexcept { return _mm512_div_ps(a, b); }
QAFFINE_OP vf fma(vf a, vf b, vf c) noexcept { return _mm512_fmadd_ps(a, b, c); }
QAFFINE_OP mf unord(vf a, vf b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
QAFFINE_OP mf neq(vf a, vf b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
QAFFINE_OP mf eq(vf a, vf b) noexcept { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }  // false when either is NaN
QAFFINE_OP vf select(mf m, vf a, vf b) noexcept { return _mm512_mask_blend_ps(m, b, a); }  // a where m is set, else b
QAFFINE_OP vf floor(vf v) noexcept { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }  // toward -Inf, exact
QAFFINE_OP vi cvt_i32(vf v) noexcept { return _mm512_cvtps_epi32(v); }
QAFFINE_OP vf cvt_f32(vi v) noexcept { return _mm512_cvtepi32_ps(v); }
QAFFINE_OP vi bits(vf v) noexcept { return _mm512_castps_si512(v); }

QAFFINE_OP vf loadu_n(const float* p, std::size_t count, float fill) noexcept {
    return _mm512_mask_loadu_ps(_mm512_set1_ps(fill), mask_n(count), p);
}
QAFFINE_OP void storeu_n(float* p, std::size_t count, vf v) noexcept { _mm512_mask_storeu_ps(p, mask_n(count), v); }
QAFFINE_OP float reduce_min(vf v) noexcept { return _mm512_reduce_min_ps(v); }
QAFFINE_OP float reduce_max(vf v) noexcept { return _mm512_reduce_max_ps(v); }

// ---- double ---------------------------------------------------------------------------------------------
QAFFINE_OP vd set1(double v) noexcept { return _mm512_set1_pd(v); }
QAFFINE_OP vd loadu(const double* p) noexcept { return _mm512_loadu_pd(p); }
QAFFINE_OP void storeu(double* p, vd v) noexcept { _mm512_storeu_pd(p, v); }
QAFFINE_OP vd min(vd a, vd b) noexcept { return _mm512_min_pd(a, b); }
QAFFINE_OP vd max(vd a, vd b) noexcept { return _mm512_max_pd(a, b); }
QAFFINE_OP vd add(vd a, vd b) noexcept { return _mm512_add_pd(a, b); }
QAFFINE_OP vd mul(vd a, vd b) noexcept { return _mm512_mul_pd(a, b); }
QAFFINE_OP vd div(vd a, vd b) noexcept { return _mm512_div_pd(a, b); }
QAFFINE_OP vd fma(vd a, vd b, vd c) noexcept { return _mm512_fmadd_pd(a, b, c); }
QAFFINE_OP md unord(vd a, vd b) noexcept { return _mm512_cmp_pd_mask(a, b, _CMP_UNORD_Q); }
QAFFINE_OP md eq(vd a, vd b) noexcept { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
QAFFINE_OP vd select(md m, vd a, vd b) noexcept { return _mm512_mask_blend_pd(m, b, a); }
QAFFINE_OP vd floor(vd v) noexcept { return _mm512_roundscale_pd(v, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC); }  // toward -Inf, exact
QAFFINE_OP vd cvt_lo_f64(vi v) noexcept { return _mm512_cvtepi32_pd(_mm512_castsi512_si256(v)); }
QAFFINE_OP vd cvt_hi_f64(vi v) noexcept { return _mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(v, 1)); }
QAFFINE_OP vd loadu_f64(const float* p) noexcept { return _mm512_cvtps_pd(_mm256_loadu_ps(p)); }
QAFFINE_OP vd loadu_n(const double* p, std::size_t count, double fill) noexcept {
    return _mm512_mask_loadu_pd(_mm512_set1_pd(fill), static_cast<__mmask8>(mask_n(count)), p);
}
QAFFINE_OP double reduce_min(vd v) noexcept { return _mm512_reduce_min_pd(v); }
QAFFINE_OP double reduce_max(vd v) noexcept { return _mm512_reduce_max_pd(v); }

// ---- flags ----------------------------------------------------------------------------------------------
QAFFINE_OP mf none(float) noexcept { return 0; }
QAFFINE_OP md none(double) noexcept { return 0; }
QAFFINE_OP mf either(mf a, mf b) noexcept { return static_cast<mf>(a | b); }
QAFFINE_OP md either(md a, md b) noexcept { return static_cast<md>(a | b); }
QAFFINE_OP bool any(mf m) noexcept { return m != 0; }
QAFFINE_OP bool any(md m) noexcept { return m != 0; }

// The range loops' NaN check stays a compare here: the integer form of ops_avx2.hpp gained in L2 (1e5
// floats: 2.1 -> 1.5 us) but lost from L3 (1e6: 30.4 -> 31.7 us) on Zen 4.
struct range_nan {
    mf m;
};
QAFFINE_OP range_nan range_nan_none() noexcept { return {0}; }
QAFFINE_OP void note_nan(range_nan& acc, vf a) noexcept { acc.m = either(acc.m, unord(a, a)); }
QAFFINE_OP void note_nan(range_nan& acc, vf a, vf b, vf c, vf d) noexcept {
    acc.m = static_cast<mf>(acc.m | unord(a, b) | unord(c, d));
}
QAFFINE_OP bool any(range_nan acc) noexcept { return acc.m != 0; }

// ---- int32 and codes ------------------------------------------------------------------------------------
QAFFINE_OP vi set1_i32(std::int32_t v) noexcept { return _mm512_set1_epi32(v); }
QAFFINE_OP vi loadu_i32(const std::int32_t* p) noexcept { return _mm512_loadu_si512(p); }
QAFFINE_OP void storeu_i32(std::int32_t* p, vi v) noexcept { _mm512_storeu_si512(p, v); }
QAFFINE_OP vi add_i32(vi a, vi b) noexcept { return _mm512_add_epi32(a, b); }
QAFFINE_OP vi sub_i32(vi a, vi b) noexcept { return _mm512_sub_epi32(a, b); }

template <class Q>
QAFFINE_OP vi widen(const Q* q) noexcept {
    if constexpr (sizeof(Q) == 2) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q));
        return std::is_signed<Q>::value ? _mm512_cvtepi16_epi32(v) : _mm512_cvtepu16_epi32(v);
    } else {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
        return std::is_signed<Q>::value ? _mm512_cvtepi8_epi32(v) : _mm512_cvtepu8_epi32(v);
    }
}

template <class Q>
struct code_regs {
    vi r[sizeof(Q)];
};

template <class Q>
QAFFINE_OP code_regs<Q> pack4(vi a, vi b, vi c, vi d) noexcept {
    if constexpr (sizeof(Q) == 2) {
        // per 128-bit lane k: a[4k..4k+4) b[4k..4k+4) as 64-bit halves: the even halves, then the odd ones
        const vi order = _mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7);
        const vi ab = std::is_signed<Q>::value ? _mm512_packs_epi32(a, b) : _mm512_packus_epi32(a, b);
        const vi cd = std::is_signed<Q>::value ? _mm512_packs_epi32(c, d) : _mm512_packus_epi32(c, d);
        return {{_mm512_permutexvar_epi64(order, ab), _mm512_permutexvar_epi64(order, cd)}};
    } else {
        const vi ab = _mm512_packs_epi32(a, b);  // per 128-bit lane k: a[4k..4k+4) b[4k..4k+4)
        const vi cd = _mm512_packs_epi32(c, d);
        const vi bytes = std::is_signed<Q>::value ? _mm512_packs_epi16(ab, cd) : _mm512_packus_epi16(ab, cd);
        // lane k holds a, b, c, d's dwords k: gather dword k of every lane, then the next
        return {{_mm512_permutexvar_epi32(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), bytes)}};
    }
}

template <class Q>
QAFFINE_OP void storeu_bytes(Q* p, code_regs<Q> v) noexcept {
    for (std::size_t k = 0; k < sizeof(Q); ++k) _mm512_storeu_si512(reinterpret_cast<__m512i*>(p) + k, v.r[k]);
}
template <class Q>
QAFFINE_OP void stream_bytes(Q* p, code_regs<Q> v) noexcept {
    for (std::size_t k = 0; k < sizeof(Q); ++k) _mm512_stream_si512(reinterpret_cast<__m512i*>(p) + k, v.r[k]);
}

// A register of int32 already inside Q's range to `lanes` codes at p (vpmovdb / vpmovdw truncate, which is
// exact there for signed and unsigned codes alike).
template <class Q>
QAFFINE_OP void store_codes(Q* p, vi q) noexcept {
    if constexpr (sizeof(Q) == 2) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(q));
    else _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(q));
}
template <class Q>
QAFFINE_OP void store_codes_n(Q* p, std::size_t count, vi q) noexcept {
    if constexpr (sizeof(Q) == 2) _mm512_mask_cvtepi32_storeu_epi16(p, mask_n(count), q);
    else _mm512_mask_cvtepi32_storeu_epi8(p, mask_n(count), q);
}
// Two 16-byte halves for 16-bit codes: NumPy's large arrays start 16 bytes past a page boundary.
template <class Q>
QAFFINE_OP void stream_codes(Q* p, vi q) noexcept {
    if constexpr (sizeof(Q) == 2) {
        const __m256i w = _mm512_cvtepi32_epi16(q);
        _mm_stream_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(w));
        _mm_stream_si128(reinterpret_cast<__m128i*>(p) + 1, _mm256_extracti128_si256(w, 1));
    } else {
        _mm_stream_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(q));
    }
}

// ---- packed fields (1-, 2- or 4-bit codes, first code in the lowest bits) --------------------------------
template <unsigned W, class Q>
QAFFINE_OP void store_fields(std::uint8_t* p, vi q) noexcept {
    if (W == 1) {  // bit 0 of each code, straight into a mask
        const std::uint16_t m = static_cast<std::uint16_t>(_mm512_test_epi32_mask(q, _mm512_set1_epi32(1)));
        std::memcpy(p, &m, 2);
        return;
    }
    const __m128i b = _mm512_cvtepi32_epi8(q);  // 16 code bytes
    if (W == 2) {
        const __m128i t = _mm_maddubs_epi16(_mm_and_si128(b, _mm_set1_epi8(3)), _mm_set1_epi16(0x0401));
        const __m128i u = _mm_madd_epi16(t, _mm_set1_epi32(0x00100001));  // four int32 of 8 bits each
        const std::int32_t w = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(u, u), u));
        std::memcpy(p, &w, 4);
    } else {
        const __m128i t = _mm_maddubs_epi16(_mm_and_si128(b, _mm_set1_epi8(15)), _mm_set1_epi16(0x1001));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(t, t));
    }
}

template <unsigned W, class Q>
QAFFINE_OP vi widen_fields(const std::uint8_t* p) noexcept {
    if (W == 1) {
        std::uint16_t m = 0;
        std::memcpy(&m, p, 2);
        return _mm512_maskz_mov_epi32(static_cast<__mmask16>(m), _mm512_set1_epi32(std::is_signed<Q>::value ? -1 : 1));
    }
    std::uint64_t w = 0;
    std::memcpy(&w, p, 2 * W);  // lanes * W / 8 == 2 * W bytes
    const __m128i idx = W == 2 ? _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)
                               : _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const vi wide = _mm512_cvtepu8_epi32(_mm_shuffle_epi8(_mm_cvtsi64_si128(static_cast<long long>(w)), idx));
    const vi up = W == 2 ? _mm512_setr_epi32(30, 28, 26, 24, 30, 28, 26, 24, 30, 28, 26, 24, 30, 28, 26, 24)
                         : _mm512_setr_epi32(28, 24, 28, 24, 28, 24, 28, 24, 28, 24, 28, 24, 28, 24, 28, 24);
    const vi top = _mm512_sllv_epi32(wide, up);
    return std::is_signed<Q>::value ? _mm512_srai_epi32(top, 32 - static_cast<int>(W))
                                    : _mm512_srli_epi32(top, 32 - static_cast<int>(W));
}

// ---- int32 lanes of a double register -------------------------------------------------------------------
using vh = __m256i;
QAFFINE_OP vh set1_i32h(std::int32_t v) noexcept { return _mm256_set1_epi32(v); }
QAFFINE_OP vh loadu_i32h(const std::int32_t* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
QAFFINE_OP vh add_i32(vh a, vh b) noexcept { return _mm256_add_epi32(a, b); }
QAFFINE_OP vh sub_i32(vh a, vh b) noexcept { return _mm256_sub_epi32(a, b); }
QAFFINE_OP vd cvt_f64(vh v) noexcept { return _mm512_cvtepi32_pd(v); }
QAFFINE_OP vh cvt_i32(vd v) noexcept { return _mm512_cvtpd_epi32(v); }
QAFFINE_OP vi join(vh lo, vh hi) noexcept { return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1); }

// ---- 16-bit floats ---------------------------------------------------------------------------------------
QAFFINE_OP vf load_bf16(const std::uint16_t* p) noexcept {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
QAFFINE_OP vf load_f16(const std::uint16_t* p) noexcept {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
QAFFINE_OP void store_f16(std::uint16_t* p, vf v) noexcept {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
}
QAFFINE_OP void store_bf16(std::uint16_t* p, vf v) noexcept {
    const vi u = _mm512_castps_si512(v);
    const vi odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const vi rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7FFF)), odd), 16);
    const vi quiet = _mm512_srli_epi32(_mm512_or_si512(u, _mm512_set1_epi32(0x00400000)), 16);
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7FFFFFFF)),
                                                  _mm512_set1_epi32(0x7F800000));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm512_cvtepi32_epi16(_mm512_mask_blend_epi32(nan, rounded, quiet)));
}

// ---- memory ---------------------------------------------------------------------------------------------
QAFFINE_OP void prefetch(const void* p) noexcept { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0); }
QAFFINE_OP void sfence() noexcept { _mm_sfence(); }

#undef QAFFINE_OP

}  // namespace avx512
}  // namespace qaffine
QAFFINE_SIMD_END
#endif  // QAFFINE_X86_SIMD
