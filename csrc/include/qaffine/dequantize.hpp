// qaffine/dequantize.hpp — integer codes back to floats: x = T(q - z) * T(s).
//
// q - z is exact in int32; its conversion to T is exact for |q - z| <= 2^24; one rounding in the
// product, as ONNX DequantizeLinear computes (float32(q) - float32(z)) * s. T is float or double, Q is
// std::uint8_t or std::int8_t. Every SIMD level writes the same bits as the scalar loop. The kernels
// never throw; dequantize() validates its qparams first (std::invalid_argument).
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu.hpp"
#include "qparams.hpp"

namespace qaffine {

namespace scalar {

template <class Q, class T>
inline void dequantize(const Q* q, std::size_t n, float scale, std::int32_t zero_point, T* out) noexcept {
    const T s = static_cast<T>(scale);
    for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(static_cast<std::int32_t>(q[i]) - zero_point) * s;
}

/// Element i uses (s[i], z[i]).
template <class Q, class T>
inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z, T* out) noexcept {
    for (std::size_t i = 0; i < n; ++i)
        out[i] = static_cast<T>(static_cast<std::int32_t>(q[i]) - z[i]) * static_cast<T>(s[i]);
}

}  // namespace scalar

#if QAFFINE_X86_SIMD
QAFFINE_SIMD_BEGIN
namespace avx2 {

template <class Q>
QAFFINE_TARGET_AVX2 inline __m256i widen8(const Q* q) noexcept {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q));
    return std::is_signed<Q>::value ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
}

template <class Q>
QAFFINE_TARGET_AVX2 inline void dequantize(const Q* q, std::size_t n, float scale, std::int32_t zero_point,
                                           float* out) noexcept {
    const __m256 s = _mm256_set1_ps(scale);
    const __m256i z = _mm256_set1_epi32(zero_point);
    std::size_t i = 0;
    const bool stream = n >= detail::dequantize_stream_min && reinterpret_cast<std::uintptr_t>(out) % sizeof(float) == 0;
    if (stream) {  // a scalar head up to a 32-byte boundary, then aligned non-temporal stores
        i = ((32 - (reinterpret_cast<std::uintptr_t>(out) & 31)) & 31) / sizeof(float);
        scalar::dequantize(q, i, scale, zero_point, out);
    }
    for (; i + 32 <= n; i += 32) {
        for (int k = 0; k < 4; ++k) {
            const __m256i d = _mm256_sub_epi32(widen8(q + i + 8 * k), z);
            const __m256 y = _mm256_mul_ps(_mm256_cvtepi32_ps(d), s);
            if (stream) _mm256_stream_ps(out + i + 8 * k, y);
            else _mm256_storeu_ps(out + i + 8 * k, y);
        }
    }
    if (stream) _mm_sfence();
    for (; i + 8 <= n; i += 8) {
        const __m256i d = _mm256_sub_epi32(widen8(q + i), z);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(d), s));
    }
    scalar::dequantize(q + i, n - i, scale, zero_point, out + i);
}

template <class Q>
QAFFINE_TARGET_AVX2 inline void dequantize(const Q* q, std::size_t n, float scale, std::int32_t zero_point,
                                           double* out) noexcept {
    const __m256d s = _mm256_set1_pd(static_cast<double>(scale));
    const __m256i z = _mm256_set1_epi32(zero_point);
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i d = _mm256_sub_epi32(widen8(q + i), z);
        _mm256_storeu_pd(out + i, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(d)), s));
        _mm256_storeu_pd(out + i + 4, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(d, 1)), s));
    }
    scalar::dequantize(q + i, n - i, scale, zero_point, out + i);
}

template <class Q>
QAFFINE_TARGET_AVX2 inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z,
                                               float* out) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i zi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + i));
        const __m256 d = _mm256_cvtepi32_ps(_mm256_sub_epi32(widen8(q + i), zi));
        _mm256_storeu_ps(out + i, _mm256_mul_ps(d, _mm256_loadu_ps(s + i)));
    }
    scalar::dequantize_vec(q + i, n - i, s + i, z + i, out + i);
}

template <class Q>
QAFFINE_TARGET_AVX2 inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z,
                                               double* out) noexcept {
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i d = _mm256_sub_epi32(widen8(q + i), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + i)));
        const __m256d s0 = _mm256_cvtps_pd(_mm_loadu_ps(s + i)), s1 = _mm256_cvtps_pd(_mm_loadu_ps(s + i + 4));
        _mm256_storeu_pd(out + i, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(d)), s0));
        _mm256_storeu_pd(out + i + 4, _mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(d, 1)), s1));
    }
    scalar::dequantize_vec(q + i, n - i, s + i, z + i, out + i);
}

}  // namespace avx2

namespace avx512 {

// The last 1..15 codes: a masked 16-byte load needs AVX512VL (not part of the avx512 level), so copy them
// into a zeroed buffer instead.
template <class Q>
QAFFINE_TARGET_AVX512 inline __m512i widen16_tail(const Q* q, std::size_t count) noexcept {
    alignas(16) Q buf[16] = {};
    std::memcpy(buf, q, count * sizeof(Q));
    const __m128i v = _mm_load_si128(reinterpret_cast<const __m128i*>(buf));
    return std::is_signed<Q>::value ? _mm512_cvtepi8_epi32(v) : _mm512_cvtepu8_epi32(v);
}

template <class Q>
QAFFINE_TARGET_AVX512 inline __m512i widen16(const Q* q) noexcept {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    return std::is_signed<Q>::value ? _mm512_cvtepi8_epi32(v) : _mm512_cvtepu8_epi32(v);
}

template <class Q>
QAFFINE_TARGET_AVX512 inline void dequantize(const Q* q, std::size_t n, float scale, std::int32_t zero_point,
                                             float* out) noexcept {
    const __m512 s = _mm512_set1_ps(scale);
    const __m512i z = _mm512_set1_epi32(zero_point);
    std::size_t i = 0;
    const bool stream = n >= detail::dequantize_stream_min && reinterpret_cast<std::uintptr_t>(out) % sizeof(float) == 0;
    if (stream) {  // a scalar head up to a 64-byte boundary, then aligned non-temporal stores
        i = ((64 - (reinterpret_cast<std::uintptr_t>(out) & 63)) & 63) / sizeof(float);
        scalar::dequantize(q, i, scale, zero_point, out);
    }
    for (; i + 64 <= n; i += 64) {
        for (int k = 0; k < 4; ++k) {
            const __m512i d = _mm512_sub_epi32(widen16(q + i + 16 * k), z);
            const __m512 y = _mm512_mul_ps(_mm512_cvtepi32_ps(d), s);
            if (stream) _mm512_stream_ps(out + i + 16 * k, y);
            else _mm512_storeu_ps(out + i + 16 * k, y);
        }
    }
    if (stream) _mm_sfence();
    for (; i + 16 <= n; i += 16) {
        const __m512i d = _mm512_sub_epi32(widen16(q + i), z);
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_cvtepi32_ps(d), s));
    }
    if (i < n) {
        const __mmask16 m = static_cast<__mmask16>((1u << (n - i)) - 1u);
        const __m512i d = _mm512_sub_epi32(widen16_tail(q + i, n - i), z);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_cvtepi32_ps(d), s));
    }
}

template <class Q>
QAFFINE_TARGET_AVX512 inline void dequantize(const Q* q, std::size_t n, float scale, std::int32_t zero_point,
                                             double* out) noexcept {
    const __m512d s = _mm512_set1_pd(static_cast<double>(scale));
    const __m512i z = _mm512_set1_epi32(zero_point);
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i d = _mm512_sub_epi32(widen16(q + i), z);
        _mm512_storeu_pd(out + i, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(d)), s));
        _mm512_storeu_pd(out + i + 8, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(d, 1)), s));
    }
    scalar::dequantize(q + i, n - i, scale, zero_point, out + i);
}

template <class Q>
QAFFINE_TARGET_AVX512 inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z,
                                                 float* out) noexcept {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i zi = _mm512_loadu_si512(z + i);
        const __m512 d = _mm512_cvtepi32_ps(_mm512_sub_epi32(widen16(q + i), zi));
        _mm512_storeu_ps(out + i, _mm512_mul_ps(d, _mm512_loadu_ps(s + i)));
    }
    scalar::dequantize_vec(q + i, n - i, s + i, z + i, out + i);
}

template <class Q>
QAFFINE_TARGET_AVX512 inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z,
                                                 double* out) noexcept {
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i d = _mm512_sub_epi32(widen16(q + i), _mm512_loadu_si512(z + i));
        const __m512d s0 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i)), s1 = _mm512_cvtps_pd(_mm256_loadu_ps(s + i + 8));
        _mm512_storeu_pd(out + i, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(d)), s0));
        _mm512_storeu_pd(out + i + 8, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(d, 1)), s1));
    }
    scalar::dequantize_vec(q + i, n - i, s + i, z + i, out + i);
}

}  // namespace avx512
QAFFINE_SIMD_END
#endif  // QAFFINE_X86_SIMD

/// Dispatching kernel with unchecked parameters.
template <class Q, class T>
inline void dequantize_unchecked(const Q* q, std::size_t n, const qparams& p, T* out,
                                 simd_level level = active_level()) noexcept {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "qaffine::dequantize writes float or double");
    static_assert(std::is_same<Q, std::uint8_t>::value || std::is_same<Q, std::int8_t>::value,
                  "qaffine::dequantize reads std::uint8_t or std::int8_t codes");
#if QAFFINE_X86_SIMD
    switch (usable_level(level)) {
        case simd_level::avx512: avx512::dequantize(q, n, p.scale, p.zero_point, out); return;
        case simd_level::avx2: avx2::dequantize(q, n, p.scale, p.zero_point, out); return;
        case simd_level::scalar: break;
    }
#else
    (void)level;
#endif
    scalar::dequantize(q, n, p.scale, p.zero_point, out);
}

/// Dispatching kernel, element i uses (s[i], z[i]); unchecked parameters.
template <class Q, class T>
inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z, T* out,
                           simd_level level = active_level()) noexcept {
#if QAFFINE_X86_SIMD
    switch (usable_level(level)) {
        case simd_level::avx512: avx512::dequantize_vec(q, n, s, z, out); return;
        case simd_level::avx2: avx2::dequantize_vec(q, n, s, z, out); return;
        case simd_level::scalar: break;
    }
#else
    (void)level;
#endif
    scalar::dequantize_vec(q, n, s, z, out);
}

/// Checks p (std::invalid_argument), then dequantizes.
template <class Q, class T>
inline void dequantize(const Q* q, std::size_t n, const qparams& p, T* out, simd_level level = active_level()) {
    validate(p);
    dequantize_unchecked(q, n, p, out, level);
}

}  // namespace qaffine
