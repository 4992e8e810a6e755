// qaffine/quantize.hpp — float codes to integer codes: q = clamp(round_half_even(x / s) + z, qmin, qmax).
//
// x / s is a true IEEE division (float32 for float input, float64 for double input), as ONNX
// QuantizeLinear computes it; rounding is half to even (the default floating-point environment).
// Clamping happens on x / s before the conversion to an integer, so ±Inf and huge values saturate to
// qmin / qmax and never wrap around. A NaN gives qmin and makes the function return true; callers that
// must reject NaN check the return value (the Python layer raises). Q is std::uint8_t or std::int8_t and
// [qmin, qmax] must lie inside Q's range. Every SIMD level writes the same bytes as the scalar loop.
// The kernels never throw; quantize() validates its qparams first (std::invalid_argument).
// Thread safety: pure functions of their arguments; distinct output ranges may be written concurrently.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "cpu.hpp"
#include "qparams.hpp"

namespace qaffine {

namespace scalar {

/// The specification, one element at a time.
template <class T, class Q>
inline bool quantize(const T* x, std::size_t n, float scale, std::int32_t zero_point, std::int32_t qmin,
                     std::int32_t qmax, Q* out) noexcept {
    const T s = static_cast<T>(scale);
    const T lo = static_cast<T>(qmin - zero_point);
    const T hi = static_cast<T>(qmax - zero_point);
    bool nan = false;
    for (std::size_t i = 0; i < n; ++i) {
        const T v = x[i];
        nan |= (v != v);
        T y = v / s;
        y = y > lo ? y : lo;  // NaN -> lo
        y = y < hi ? y : hi;
        out[i] = static_cast<Q>(static_cast<std::int32_t>(std::nearbyint(y)) + zero_point);
    }
    return nan;
}

}  // namespace scalar

#if QAFFINE_X86_SIMD
QAFFINE_SIMD_BEGIN
namespace avx2 {

// Packs four vectors of 8 int32 (each already inside Q's range) into 32 bytes, in order.
template <class Q>
QAFFINE_TARGET_AVX2 inline void store32(Q* out, __m256i a, __m256i b, __m256i c, __m256i d) noexcept {
    const __m256i ab = _mm256_packs_epi32(a, b);  // per 128-bit lane: a0-3 b0-3 | a4-7 b4-7
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i bytes = std::is_signed<Q>::value ? _mm256_packs_epi16(ab, cd) : _mm256_packus_epi16(ab, cd);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permutevar8x32_epi32(bytes, order));
}

template <class Q>
QAFFINE_TARGET_AVX2 inline bool quantize(const float* x, std::size_t n, float scale, std::int32_t zero_point,
                                         std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256 lo = _mm256_set1_ps(static_cast<float>(qmin - zero_point));
    const __m256 hi = _mm256_set1_ps(static_cast<float>(qmax - zero_point));
    const __m256i z = _mm256_set1_epi32(zero_point);
    __m256 nan = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i q[4];
        for (int k = 0; k < 4; ++k) {
            const __m256 v = _mm256_loadu_ps(x + i + 8 * k);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            __m256 y = _mm256_div_ps(v, s);
            y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);  // max(NaN, lo) = lo, as in the scalar loop
            q[k] = _mm256_add_epi32(_mm256_cvtps_epi32(y), z);
        }
        store32(out + i, q[0], q[1], q[2], q[3]);
    }
    const bool tail_nan = scalar::quantize(x + i, n - i, scale, zero_point, qmin, qmax, out + i);
    return tail_nan || _mm256_movemask_ps(nan) != 0;
}

template <class Q>
QAFFINE_TARGET_AVX2 inline bool quantize(const double* x, std::size_t n, float scale, std::int32_t zero_point,
                                         std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const __m256d s = _mm256_set1_pd(static_cast<double>(scale));
    const __m256d lo = _mm256_set1_pd(static_cast<double>(qmin - zero_point));
    const __m256d hi = _mm256_set1_pd(static_cast<double>(qmax - zero_point));
    const __m128i z = _mm_set1_epi32(zero_point);
    __m256d nan = _mm256_setzero_pd();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i q[4];
        for (int k = 0; k < 4; ++k) {
            const __m256d v = _mm256_loadu_pd(x + i + 4 * k);
            nan = _mm256_or_pd(nan, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
            __m256d y = _mm256_div_pd(v, s);
            y = _mm256_min_pd(_mm256_max_pd(y, lo), hi);
            q[k] = _mm_add_epi32(_mm256_cvtpd_epi32(y), z);
        }
        const __m128i ab = _mm_packs_epi32(q[0], q[1]);
        const __m128i cd = _mm_packs_epi32(q[2], q[3]);
        const __m128i bytes = std::is_signed<Q>::value ? _mm_packs_epi16(ab, cd) : _mm_packus_epi16(ab, cd);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), bytes);
    }
    const bool tail_nan = scalar::quantize(x + i, n - i, scale, zero_point, qmin, qmax, out + i);
    return tail_nan || _mm256_movemask_pd(nan) != 0;
}

}  // namespace avx2

namespace avx512 {

template <class Q>
QAFFINE_TARGET_AVX512 inline bool quantize(const float* x, std::size_t n, float scale, std::int32_t zero_point,
                                           std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const __m512 s = _mm512_set1_ps(scale);
    const __m512 lo = _mm512_set1_ps(static_cast<float>(qmin - zero_point));
    const __m512 hi = _mm512_set1_ps(static_cast<float>(qmax - zero_point));
    const __m512i z = _mm512_set1_epi32(zero_point);
    __mmask16 nan = 0;
    std::size_t i = 0;
    // Values are inside Q's range after the clamp, so the truncating vpmovdb narrows exactly for
    // both uint8 and int8.
    for (; i + 64 <= n; i += 64) {
        for (int k = 0; k < 4; ++k) {
            const __m512 v = _mm512_loadu_ps(x + i + 16 * k);
            nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
            __m512 y = _mm512_div_ps(v, s);
            y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
            const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(y), z);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + 16 * k), _mm512_cvtepi32_epi8(q));
        }
    }
    for (; i < n; i += 16) {
        const std::size_t left = n - i;
        const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        nan = static_cast<__mmask16>(nan | _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q));
        __m512 y = _mm512_div_ps(v, s);
        y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
        const __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(y), z);
        _mm512_mask_cvtepi32_storeu_epi8(out + i, m, q);
    }
    return nan != 0;
}

template <class Q>
QAFFINE_TARGET_AVX512 inline bool quantize(const double* x, std::size_t n, float scale, std::int32_t zero_point,
                                           std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const __m512d s = _mm512_set1_pd(static_cast<double>(scale));
    const __m512d lo = _mm512_set1_pd(static_cast<double>(qmin - zero_point));
    const __m512d hi = _mm512_set1_pd(static_cast<double>(qmax - zero_point));
    const __m512i z = _mm512_set1_epi32(zero_point);
    __mmask8 nan = 0;
    std::size_t i = 0;
    for (; i < n; i += 16) {
        const std::size_t left = n - i;
        const __mmask8 m0 = left >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1u << left) - 1u);
        const __mmask8 m1 = left >= 16 ? static_cast<__mmask8>(0xFF)
                            : left > 8 ? static_cast<__mmask8>((1u << (left - 8)) - 1u)
                                       : static_cast<__mmask8>(0);
        const __m512d a = _mm512_maskz_loadu_pd(m0, x + i);
        const __m512d b = _mm512_maskz_loadu_pd(m1, x + i + 8);
        nan = static_cast<__mmask8>(nan | _mm512_mask_cmp_pd_mask(m0, a, a, _CMP_UNORD_Q) |
                                    _mm512_mask_cmp_pd_mask(m1, b, b, _CMP_UNORD_Q));
        const __m512d ya = _mm512_min_pd(_mm512_max_pd(_mm512_div_pd(a, s), lo), hi);
        const __m512d yb = _mm512_min_pd(_mm512_max_pd(_mm512_div_pd(b, s), lo), hi);
        const __m512i q = _mm512_add_epi32(
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtpd_epi32(ya)), _mm512_cvtpd_epi32(yb), 1), z);
        const __mmask16 m = static_cast<__mmask16>(m0 | (static_cast<unsigned>(m1) << 8));
        _mm512_mask_cvtepi32_storeu_epi8(out + i, m, q);
    }
    return nan != 0;
}

}  // namespace avx512
QAFFINE_SIMD_END
#endif  // QAFFINE_X86_SIMD

/// Dispatching kernel with unchecked parameters (see validate()); returns true if x held a NaN.
template <class T, class Q>
inline bool quantize_unchecked(const T* x, std::size_t n, const qparams& p, Q* out,
                               simd_level level = active_level()) noexcept {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "qaffine::quantize takes float or double input");
    static_assert(std::is_same<Q, std::uint8_t>::value || std::is_same<Q, std::int8_t>::value,
                  "qaffine::quantize writes std::uint8_t or std::int8_t codes");
#if QAFFINE_X86_SIMD
    switch (usable_level(level)) {
        case simd_level::avx512: return avx512::quantize(x, n, p.scale, p.zero_point, p.qmin, p.qmax, out);
        case simd_level::avx2: return avx2::quantize(x, n, p.scale, p.zero_point, p.qmin, p.qmax, out);
        case simd_level::scalar: break;
    }
#else
    (void)level;
#endif
    return scalar::quantize(x, n, p.scale, p.zero_point, p.qmin, p.qmax, out);
}

/// Checks p (std::invalid_argument if it is unusable or [qmin, qmax] does not fit Q), then quantizes.
/// Returns true if x held a NaN (its code is qmin).
template <class T, class Q>
inline bool quantize(const T* x, std::size_t n, const qparams& p, Q* out, simd_level level = active_level()) {
    validate(p);
    if (p.qmin < std::numeric_limits<Q>::min() || p.qmax > std::numeric_limits<Q>::max())
        throw std::invalid_argument("[qmin, qmax] does not fit the code type");
    return quantize_unchecked(x, n, p, out, level);
}

}  // namespace qaffine
