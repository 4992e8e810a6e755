// qaffine/quantize.hpp — floats to integer codes: q = clamp(round_half_even(x / s) + z, qmin, qmax).
//
// Three roundings of x / s (template parameter `rounding`):
//   divide    (default, ONNX QuantizeLinear)       q = round(x / s) + z, x / s a true IEEE division;
//   multiply  (PyTorch quantize_per_channel)       q = round((x * r) + z), r = float32(1 / s), two roundings;
//   fused     (PyTorch/FBGEMM quantize_per_tensor) q = round(fma(x, r, z)), one rounding.
// Arithmetic is float32 for float input and float64 for double input; rounding is half to even (the default
// floating-point environment). The clamp happens on y before the conversion to an integer, so ±Inf and huge
// values saturate to qmin / qmax and never wrap around. A NaN gives qmin and makes the function return true;
// callers that must reject NaN check the return value. Q is std::uint8_t or std::int8_t, [qmin, qmax] must lie
// inside Q's range and |z| <= 2^23 (see validate()).
//
// quantize(...)      one (scale, zero point) for the whole run;
// quantize_vec(...)  element i uses scale[i], zero_point[i] (per-channel along the last axis, per-block along
//                    a leading axis).
// The `s` argument of the kernels is the scale for `divide` and the reciprocal r for the other two.
// Every SIMD level writes the same bytes as the scalar loop. Kernels never throw.
// Thread safety: pure functions of their arguments; distinct output ranges may be written concurrently.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "cpu.hpp"
#include "qparams.hpp"

namespace qaffine {

/// How x / s is rounded; see the file comment.
enum class rounding : int { divide = 0, multiply = 1, fused = 2 };

/// The value kernels take as `s`: the scale for rounding::divide, float32(1 / scale) otherwise.
inline float kernel_scale(float scale, rounding r) noexcept { return r == rounding::divide ? scale : 1.0f / scale; }

namespace detail {

/// Runs of one (scale, zero point) at least this long (2^18 elements, 1 MiB of floats) prefetch their input
/// and write their codes with non-temporal stores (per block: detail::stream_min). After a range pass the
/// start of x is still in cache (minmax runs backwards), and codes that bypass the caches leave it there
/// (Zen 4, range + code pass, same process: 3e5 floats 18.6 -> 15.1 us, 1e6 67 -> 65 us).
constexpr std::size_t stream_codes_min = std::size_t(1) << 18;

/// Exact division by multiplication, for rounding::divide on float input. With
///   rA >= (1/s)(1 + 2^-20) and rB <= (1/s)(1 - 2^-20) (float32, from the double 1/s),
/// the exact products x*rA and x*rB lie strictly on either side of fl(x / s) for every x whose quotient is
/// a normal float (|fl(x/s) - x/s| <= 2^-24 |x/s|), and all three round to 0 when the quotient is tiny.
/// The FMAs tA = fl(x*rA + Mz), tB = fl(x*rB + Mz), Mz = 1.5*2^23 + z, round to the integer grid of
/// [2^23, 2^24). If tA == tB == Mz + n, both products lie within 1/2 of n, so fl(x/s), strictly between
/// them, does too and cannot be a tie: round_half_even(fl(x/s)) = n, and the float bits of tA minus
/// 0x4B400000 are n + z, the code. Outside that binade tA == tB only holds for quotients
/// far beyond [qmin - z, qmax - z], where the clamp of tA to [1.5*2^23 + qmin, 1.5*2^23 + qmax]
/// saturates exactly as the division would (±Inf too). Vectors with a lane where tA != tB (a tie, a
/// quotient within ~2^-19 relative of one, NaN) are recomputed by true division: about 1 vector in 300
/// on normal data. Used when 2^-120 <= s <= 2^120 and |z| < 2^21 (so that Mz + [qmin, qmax] stays in the
/// binade); other parameters take the division loop. tests/cpp/test_kernels.cpp checks it against the
/// scalar division next to every rounding boundary.
/// Shorter runs (the blocks of per-block quantization) divide: the setup costs more than it saves.
constexpr std::size_t bracket_min = 256;

struct bracket {
    bool usable = false;
    float ra = 0, rb = 0, mz = 0, tlo = 0, thi = 0;
};

/// [qmin, qmax] is all of Q: the saturating packs of the bracket loops then clamp, and the float clamp is skipped.
template <class Q>
constexpr bool whole_range(std::int32_t qmin, std::int32_t qmax) noexcept {
    return qmin == std::numeric_limits<Q>::min() && qmax == std::numeric_limits<Q>::max();
}

inline bracket make_bracket(float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax) noexcept {
    bracket b;
    if (!(s >= 0x1p-120f && s <= 0x1p120f) || z <= -(1 << 21) || z >= (1 << 21)) return b;
    const double d = 1.0 / static_cast<double>(s);
    // One float step up / down from the nearest float (positive normal floats: the next bit pattern).
    std::uint32_t ua = 0, ub = 0;
    const float fa = static_cast<float>(d * (1.0 + 0x1p-20)), fb = static_cast<float>(d * (1.0 - 0x1p-20));
    std::memcpy(&ua, &fa, 4);
    std::memcpy(&ub, &fb, 4);
    ++ua;
    --ub;
    std::memcpy(&b.ra, &ua, 4);
    std::memcpy(&b.rb, &ub, 4);
    b.mz = 0x1.8p23f + static_cast<float>(z);
    b.tlo = 0x1.8p23f + static_cast<float>(qmin);
    b.thi = 0x1.8p23f + static_cast<float>(qmax);
    b.usable = true;
    return b;
}

}  // namespace detail

namespace scalar {

// Keeps a product from being contracted with the following addition into an FMA (GCC contracts by
// default in GNU mode, also across intrinsics), so `multiply` rounds twice on every compiler and level.
// The SIMD steps do the same with QAFFINE_KEEP (cpu.hpp).
template <class T>
inline T opaque(T v) noexcept {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(_M_X64))
    __asm__("" : "+x"(v));
#else
    volatile T t = v;
    v = t;
#endif
    return v;
}

/// One element: the specification every SIMD level reproduces.
template <rounding R, class T>
inline std::int32_t quantize_one(T v, T s, std::int32_t z, std::int32_t qmin, std::int32_t qmax) noexcept {
    if (R != rounding::divide) {  // the zero point is added before rounding
        T y = R == rounding::fused ? std::fma(v, s, static_cast<T>(z)) : opaque(v * s) + static_cast<T>(z);
        const T lo = static_cast<T>(qmin), hi = static_cast<T>(qmax);
        y = y > lo ? y : lo;  // NaN -> lo, as the SIMD max(y, lo) does
        y = y < hi ? y : hi;
        return static_cast<std::int32_t>(std::nearbyint(y));
    }
    T y = v / s;
    const T lo = static_cast<T>(qmin - z), hi = static_cast<T>(qmax - z);
    y = y > lo ? y : lo;
    y = y < hi ? y : hi;
    return static_cast<std::int32_t>(std::nearbyint(y)) + z;
}

template <rounding R = rounding::divide, class T, class Q>
inline bool quantize(const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax,
                     Q* out) noexcept {
    const T st = static_cast<T>(s);
    bool nan = false;
    for (std::size_t i = 0; i < n; ++i) {
        nan |= (x[i] != x[i]);
        out[i] = static_cast<Q>(quantize_one<R>(x[i], st, z, qmin, qmax));
    }
    return nan;
}

template <rounding R = rounding::divide, class T, class Q>
inline bool quantize_vec(const T* x, std::size_t n, const float* s, const std::int32_t* z, std::int32_t qmin,
                         std::int32_t qmax, Q* out) noexcept {
    bool nan = false;
    for (std::size_t i = 0; i < n; ++i) {
        nan |= (x[i] != x[i]);
        out[i] = static_cast<Q>(quantize_one<R>(x[i], static_cast<T>(s[i]), z[i], qmin, qmax));
    }
    return nan;
}

}  // namespace scalar

#if QAFFINE_X86_SIMD
QAFFINE_SIMD_BEGIN
namespace avx2 {

// y (clamped, not yet rounded) for 8 floats; lo/hi are the clamp bounds for this rounding.
template <rounding R>
QAFFINE_TARGET_AVX2 inline __m256 step(__m256 v, __m256 s, __m256 fz, __m256 lo, __m256 hi) noexcept {
    __m256 y;
    if (R == rounding::divide) y = _mm256_div_ps(v, s);
    else if (R == rounding::multiply) {
        y = _mm256_mul_ps(v, s);
        QAFFINE_KEEP(y);
        y = _mm256_add_ps(y, fz);
    }
    else y = _mm256_fmadd_ps(v, s, fz);
    return _mm256_min_ps(_mm256_max_ps(y, lo), hi);  // max(NaN, lo) = lo, as in the scalar loop
}

template <rounding R>
QAFFINE_TARGET_AVX2 inline __m256d step(__m256d v, __m256d s, __m256d fz, __m256d lo, __m256d hi) noexcept {
    __m256d y;
    if (R == rounding::divide) y = _mm256_div_pd(v, s);
    else if (R == rounding::multiply) {
        y = _mm256_mul_pd(v, s);
        QAFFINE_KEEP(y);
        y = _mm256_add_pd(y, fz);
    }
    else y = _mm256_fmadd_pd(v, s, fz);
    return _mm256_min_pd(_mm256_max_pd(y, lo), hi);
}

// Packs four vectors of 8 int32 (each already inside Q's range) into 32 bytes, in order.
template <class Q>
QAFFINE_TARGET_AVX2 inline __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) noexcept {
    const __m256i ab = _mm256_packs_epi32(a, b);  // per 128-bit lane: a0-3 b0-3 | a4-7 b4-7
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i bytes = std::is_signed<Q>::value ? _mm256_packs_epi16(ab, cd) : _mm256_packus_epi16(ab, cd);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    return _mm256_permutevar8x32_epi32(bytes, order);
}

template <class Q>
QAFFINE_TARGET_AVX2 inline void store32(Q* out, __m256i a, __m256i b, __m256i c, __m256i d) noexcept {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), pack32<Q>(a, b, c, d));
}

template <class Q>
QAFFINE_TARGET_AVX2 inline void store16(Q* out, __m128i a, __m128i b, __m128i c, __m128i d) noexcept {
    const __m128i ab = _mm_packs_epi32(a, b);
    const __m128i cd = _mm_packs_epi32(c, d);
    const __m128i bytes = std::is_signed<Q>::value ? _mm_packs_epi16(ab, cd) : _mm_packus_epi16(ab, cd);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), bytes);
}

// 8 codes (int32) of v by the rounding R (true division for divide); NaN lanes or'ed into nan.
template <rounding R>
QAFFINE_TARGET_AVX2 inline __m256i codes8(__m256 v, __m256 sv, __m256 fz, __m256 lo, __m256 hi, __m256i zadd,
                                          __m256& nan) noexcept {
    nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_add_epi32(_mm256_cvtps_epi32(step<R>(v, sv, fz, lo, hi)), zadd);
}

// 32 code bytes of x[0..32) by the rounding R (written out: GCC -O2 keeps a q[4] loop in memory).
template <rounding R, class Q>
QAFFINE_TARGET_AVX2 inline __m256i codes32(const float* x, __m256 sv, __m256 fz, __m256 lo, __m256 hi, __m256i zadd,
                                           __m256& nan) noexcept {
    __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
    return pack32<Q>(codes8<R>(v0, sv, fz, lo, hi, zadd, nan), codes8<R>(v1, sv, fz, lo, hi, zadd, nan),
                     codes8<R>(v2, sv, fz, lo, hi, zadd, nan), codes8<R>(v3, sv, fz, lo, hi, zadd, nan));
}

// 8 codes (int32) of v by the bracketed multiplication (detail::bracket); lanes to redo or'ed into bad.
// Clamp = false when [qmin, qmax] is Q's whole range: the saturating packs of pack32 then clamp instead. That
// holds because tA == tB only for |x/s| < 2^21 (where tA - 1.5*2^23 is the code minus nothing: an int32 of
// small magnitude) or for x = ±Inf (bits 0x7F800000 / 0xFF800000, which minus 0x4B400000 stay on their side
// of 0): for larger quotients the bracket is wider than a float step, so tA != tB.
template <bool Clamp>
QAFFINE_TARGET_AVX2 inline __m256i bracket8(__m256 v, __m256 ra, __m256 rb, __m256 mz, __m256 tlo, __m256 thi,
                                            __m256i m, __m256& bad) noexcept {
    const __m256 ta = _mm256_fmadd_ps(v, ra, mz), tb = _mm256_fmadd_ps(v, rb, mz);
    bad = _mm256_or_ps(bad, _mm256_cmp_ps(ta, tb, _CMP_NEQ_UQ));
    return _mm256_sub_epi32(_mm256_castps_si256(Clamp ? _mm256_min_ps(_mm256_max_ps(ta, tlo), thi) : ta), m);
}

// Stream: prefetch the input and write with non-temporal stores (out must be 32-byte aligned).
template <bool Clamp, bool Stream, rounding R, class Q>
QAFFINE_TARGET_AVX2 inline std::size_t bracket_loop(const float* x, std::size_t n, Q* out, const detail::bracket& b,
                                                    __m256 sv, __m256 fz, __m256 lo, __m256 hi, __m256i zadd,
                                                    __m256& nan) noexcept {
    const __m256 ra = _mm256_set1_ps(b.ra), rb = _mm256_set1_ps(b.rb), mz = _mm256_set1_ps(b.mz);
    const __m256 tlo = _mm256_set1_ps(b.tlo), thi = _mm256_set1_ps(b.thi);
    const __m256i m = _mm256_set1_epi32(0x4B400000);  // the bits of 1.5 * 2^23
    constexpr std::size_t ahead = detail::prefetch_bytes / sizeof(float);
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        if (Stream) {
            _mm_prefetch(reinterpret_cast<const char*>(x + i + ahead), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(x + i + ahead + 16), _MM_HINT_T0);
        }
        __m256 v0 = _mm256_loadu_ps(x + i), v1 = _mm256_loadu_ps(x + i + 8);
        __m256 v2 = _mm256_loadu_ps(x + i + 16), v3 = _mm256_loadu_ps(x + i + 24);
        QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
        __m256 bad = _mm256_setzero_ps();
        const __m256i q0 = bracket8<Clamp>(v0, ra, rb, mz, tlo, thi, m, bad);
        const __m256i q1 = bracket8<Clamp>(v1, ra, rb, mz, tlo, thi, m, bad);
        const __m256i q2 = bracket8<Clamp>(v2, ra, rb, mz, tlo, thi, m, bad);
        const __m256i q3 = bracket8<Clamp>(v3, ra, rb, mz, tlo, thi, m, bad);
        const __m256i w = _mm256_testz_ps(bad, bad) ? pack32<Q>(q0, q1, q2, q3)
                                                    : codes32<R, Q>(x + i, sv, fz, lo, hi, zadd, nan);  // rare
        if (Stream) _mm256_stream_si256(reinterpret_cast<__m256i*>(out + i), w);
        else _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), w);
    }
    return i;
}

// The leading elements of x[0, n) coded by bracket_loop when R divides and the bracket applies (else none);
// returns how many.
template <bool Stream, rounding R, class Q>
QAFFINE_TARGET_AVX2 inline std::size_t bracketed(const float* x, std::size_t n, float s, std::int32_t z,
                                                 std::int32_t qmin, std::int32_t qmax, Q* out, __m256 sv, __m256 fz,
                                                 __m256 lo, __m256 hi, __m256i zadd, __m256& nan) noexcept {
    if (R != rounding::divide) return 0;
    const detail::bracket b = detail::make_bracket(s, z, qmin, qmax);
    if (!b.usable) return 0;
    return detail::whole_range<Q>(qmin, qmax) ? bracket_loop<false, Stream, R>(x, n, out, b, sv, fz, lo, hi, zadd, nan)
                                              : bracket_loop<true, Stream, R>(x, n, out, b, sv, fz, lo, hi, zadd, nan);
}

template <rounding R, class Q>
QAFFINE_TARGET_AVX2 inline bool quantize(const float* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                                         std::int32_t qmax, Q* out) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const __m256 sv = _mm256_set1_ps(s);
    const __m256 fz = _mm256_set1_ps(static_cast<float>(z));
    const __m256 lo = _mm256_set1_ps(static_cast<float>(fused ? qmin : qmin - z));
    const __m256 hi = _mm256_set1_ps(static_cast<float>(fused ? qmax : qmax - z));
    const __m256i zadd = _mm256_set1_epi32(fused ? 0 : z);
    __m256 nan = _mm256_setzero_ps();
    bool tail_nan = false;
    std::size_t i = 0;
    if (n >= detail::stream_codes_min) {
        // Large run: aligned non-temporal stores, input prefetched.
        i = (32 - (reinterpret_cast<std::uintptr_t>(out) & 31)) & 31;
        tail_nan = scalar::quantize<R>(x, i, s, z, qmin, qmax, out);
        i += bracketed<true, R>(x + i, n - i, s, z, qmin, qmax, out + i, sv, fz, lo, hi, zadd, nan);
        constexpr std::size_t ahead = detail::prefetch_bytes / sizeof(float);
        for (; i + 32 <= n; i += 32) {
            _mm_prefetch(reinterpret_cast<const char*>(x + i + ahead), _MM_HINT_T0);
            _mm_prefetch(reinterpret_cast<const char*>(x + i + ahead + 16), _MM_HINT_T0);
            _mm256_stream_si256(reinterpret_cast<__m256i*>(out + i), codes32<R, Q>(x + i, sv, fz, lo, hi, zadd, nan));
        }
        _mm_sfence();
    } else if (n >= detail::bracket_min) {
        i = bracketed<false, R>(x, n, s, z, qmin, qmax, out, sv, fz, lo, hi, zadd, nan);
    }
    for (; i + 32 <= n; i += 32)
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), codes32<R, Q>(x + i, sv, fz, lo, hi, zadd, nan));
    tail_nan = scalar::quantize<R>(x + i, n - i, s, z, qmin, qmax, out + i) || tail_nan;
    return tail_nan || _mm256_movemask_ps(nan) != 0;
}

template <rounding R, class Q>
QAFFINE_TARGET_AVX2 inline bool quantize(const double* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                                         std::int32_t qmax, Q* out) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const __m256d sv = _mm256_set1_pd(static_cast<double>(s));
    const __m256d fz = _mm256_set1_pd(static_cast<double>(z));
    const __m256d lo = _mm256_set1_pd(static_cast<double>(fused ? qmin : qmin - z));
    const __m256d hi = _mm256_set1_pd(static_cast<double>(fused ? qmax : qmax - z));
    const __m128i zadd = _mm_set1_epi32(fused ? 0 : z);
    __m256d nan = _mm256_setzero_pd();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i q[4];
        for (int k = 0; k < 4; ++k) {
            const __m256d v = _mm256_loadu_pd(x + i + 4 * k);
            nan = _mm256_or_pd(nan, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
            q[k] = _mm_add_epi32(_mm256_cvtpd_epi32(step<R>(v, sv, fz, lo, hi)), zadd);
        }
        store16(out + i, q[0], q[1], q[2], q[3]);
    }
    const bool tail_nan = scalar::quantize<R>(x + i, n - i, s, z, qmin, qmax, out + i);
    return tail_nan || _mm256_movemask_pd(nan) != 0;
}

template <rounding R, class Q>
QAFFINE_TARGET_AVX2 inline bool quantize_vec(const float* x, std::size_t n, const float* s, const std::int32_t* z,
                                             std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const __m256i qlo = _mm256_set1_epi32(qmin), qhi = _mm256_set1_epi32(qmax);
    __m256 nan = _mm256_setzero_ps();
    std::size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i q[4];
        for (int k = 0; k < 4; ++k) {
            const std::size_t j = i + 8 * static_cast<std::size_t>(k);
            const __m256 v = _mm256_loadu_ps(x + j);
            const __m256i zi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + j));
            const __m256 lo = _mm256_cvtepi32_ps(fused ? qlo : _mm256_sub_epi32(qlo, zi));
            const __m256 hi = _mm256_cvtepi32_ps(fused ? qhi : _mm256_sub_epi32(qhi, zi));
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
            const __m256 y = step<R>(v, _mm256_loadu_ps(s + j), _mm256_cvtepi32_ps(zi), lo, hi);
            q[k] = _mm256_cvtps_epi32(y);
            if (!fused) q[k] = _mm256_add_epi32(q[k], zi);
        }
        store32(out + i, q[0], q[1], q[2], q[3]);
    }
    const bool tail_nan = scalar::quantize_vec<R>(x + i, n - i, s + i, z + i, qmin, qmax, out + i);
    return tail_nan || _mm256_movemask_ps(nan) != 0;
}

template <rounding R, class Q>
QAFFINE_TARGET_AVX2 inline bool quantize_vec(const double* x, std::size_t n, const float* s, const std::int32_t* z,
                                             std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const __m128i qlo = _mm_set1_epi32(qmin), qhi = _mm_set1_epi32(qmax);
    __m256d nan = _mm256_setzero_pd();
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i q[4];
        for (int k = 0; k < 4; ++k) {
            const std::size_t j = i + 4 * static_cast<std::size_t>(k);
            const __m256d v = _mm256_loadu_pd(x + j);
            const __m128i zi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(z + j));
            const __m256d lo = _mm256_cvtepi32_pd(fused ? qlo : _mm_sub_epi32(qlo, zi));
            const __m256d hi = _mm256_cvtepi32_pd(fused ? qhi : _mm_sub_epi32(qhi, zi));
            nan = _mm256_or_pd(nan, _mm256_cmp_pd(v, v, _CMP_UNORD_Q));
            const __m256d sv = _mm256_cvtps_pd(_mm_loadu_ps(s + j));
            q[k] = _mm256_cvtpd_epi32(step<R>(v, sv, _mm256_cvtepi32_pd(zi), lo, hi));
            if (!fused) q[k] = _mm_add_epi32(q[k], zi);
        }
        store16(out + i, q[0], q[1], q[2], q[3]);
    }
    const bool tail_nan = scalar::quantize_vec<R>(x + i, n - i, s + i, z + i, qmin, qmax, out + i);
    return tail_nan || _mm256_movemask_pd(nan) != 0;
}

}  // namespace avx2

namespace avx512 {

template <rounding R>
QAFFINE_TARGET_AVX512 inline __m512 step(__m512 v, __m512 s, __m512 fz, __m512 lo, __m512 hi) noexcept {
    __m512 y;
    if (R == rounding::divide) y = _mm512_div_ps(v, s);
    else if (R == rounding::multiply) {
        y = _mm512_mul_ps(v, s);
        QAFFINE_KEEP(y);
        y = _mm512_add_ps(y, fz);
    }
    else y = _mm512_fmadd_ps(v, s, fz);
    return _mm512_min_ps(_mm512_max_ps(y, lo), hi);
}

template <rounding R>
QAFFINE_TARGET_AVX512 inline __m512d step(__m512d v, __m512d s, __m512d fz, __m512d lo, __m512d hi) noexcept {
    __m512d y;
    if (R == rounding::divide) y = _mm512_div_pd(v, s);
    else if (R == rounding::multiply) {
        y = _mm512_mul_pd(v, s);
        QAFFINE_KEEP(y);
        y = _mm512_add_pd(y, fz);
    }
    else y = _mm512_fmadd_pd(v, s, fz);
    return _mm512_min_pd(_mm512_max_pd(y, lo), hi);
}

inline __mmask16 tail_mask16(std::size_t left) noexcept {
    return left >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << left) - 1u);
}

// 16 codes (int32) of v by the rounding R (true division for divide); NaN lanes or'ed into nan.
template <rounding R>
QAFFINE_TARGET_AVX512 inline __m512i codes16(__m512 v, __m512 sv, __m512 fz, __m512 lo, __m512 hi, __m512i zadd,
                                             __mmask16& nan) noexcept {
    nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
    return _mm512_add_epi32(_mm512_cvtps_epi32(step<R>(v, sv, fz, lo, hi)), zadd);
}

// Packs four vectors of 16 int32 (inside Q's range, or to be saturated into it) into 64 bytes, in order.
template <class Q>
QAFFINE_TARGET_AVX512 inline __m512i pack64(__m512i a, __m512i b, __m512i c, __m512i d) noexcept {
    const __m512i ab = _mm512_packs_epi32(a, b);  // per 128-bit lane k: a[4k..4k+4) b[4k..4k+4)
    const __m512i cd = _mm512_packs_epi32(c, d);
    const __m512i bytes = std::is_signed<Q>::value ? _mm512_packs_epi16(ab, cd) : _mm512_packus_epi16(ab, cd);
    // lane k holds a, b, c, d's dwords k: gather dword k of every lane, then the next
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(order, bytes);
}

// 16 codes (int32) of v by the bracketed multiplication (detail::bracket); lanes to redo or'ed into bad.
// Clamp = false when [qmin, qmax] is Q's whole range: pack64's saturating packs clamp instead (see
// avx2::bracket8 for why the unclamped bits minus 0x4B400000 saturate to the right end).
template <bool Clamp>
QAFFINE_TARGET_AVX512 inline __m512i bracket16(__m512 v, __m512 ra, __m512 rb, __m512 mz, __m512 tlo, __m512 thi,
                                               __m512i m, __mmask16& bad) noexcept {
    const __m512 ta = _mm512_fmadd_ps(v, ra, mz), tb = _mm512_fmadd_ps(v, rb, mz);
    bad = static_cast<__mmask16>(bad | _mm512_cmp_ps_mask(ta, tb, _CMP_NEQ_UQ));
    return _mm512_sub_epi32(_mm512_castps_si512(Clamp ? _mm512_min_ps(_mm512_max_ps(ta, tlo), thi) : ta), m);
}

// Stream: prefetch the input and write with non-temporal stores (out must be 64-byte aligned).
template <bool Clamp, bool Stream, rounding R, class Q>
QAFFINE_TARGET_AVX512 inline std::size_t bracket_loop(const float* x, std::size_t n, Q* out, const detail::bracket& b,
                                                      __m512 sv, __m512 fz, __m512 lo, __m512 hi, __m512i zadd,
                                                      __mmask16& nan) noexcept {
    const __m512 ra = _mm512_set1_ps(b.ra), rb = _mm512_set1_ps(b.rb), mz = _mm512_set1_ps(b.mz);
    const __m512 tlo = _mm512_set1_ps(b.tlo), thi = _mm512_set1_ps(b.thi);
    const __m512i m = _mm512_set1_epi32(0x4B400000);  // the bits of 1.5 * 2^23
    std::size_t i = 0;
    constexpr std::size_t ahead = detail::prefetch_bytes / sizeof(float);
    for (; i + 64 <= n; i += 64) {
        if (Stream)
            for (std::size_t k = 0; k < 64; k += 16)
                _mm_prefetch(reinterpret_cast<const char*>(x + i + ahead + k), _MM_HINT_T0);
        __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
        QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
        __mmask16 bad = 0;
        __m512i q0 = bracket16<Clamp>(v0, ra, rb, mz, tlo, thi, m, bad);
        __m512i q1 = bracket16<Clamp>(v1, ra, rb, mz, tlo, thi, m, bad);
        __m512i q2 = bracket16<Clamp>(v2, ra, rb, mz, tlo, thi, m, bad);
        __m512i q3 = bracket16<Clamp>(v3, ra, rb, mz, tlo, thi, m, bad);
        if (bad != 0) {  // rare: true division
            q0 = codes16<R>(v0, sv, fz, lo, hi, zadd, nan);
            q1 = codes16<R>(v1, sv, fz, lo, hi, zadd, nan);
            q2 = codes16<R>(v2, sv, fz, lo, hi, zadd, nan);
            q3 = codes16<R>(v3, sv, fz, lo, hi, zadd, nan);
        }
        const __m512i w = pack64<Q>(q0, q1, q2, q3);
        if (Stream) _mm512_stream_si512(reinterpret_cast<__m512i*>(out + i), w);
        else _mm512_storeu_si512(reinterpret_cast<void*>(out + i), w);
    }
    return i;
}

// As avx2::bracketed.
template <bool Stream, rounding R, class Q>
QAFFINE_TARGET_AVX512 inline std::size_t bracketed(const float* x, std::size_t n, float s, std::int32_t z,
                                                   std::int32_t qmin, std::int32_t qmax, Q* out, __m512 sv, __m512 fz,
                                                   __m512 lo, __m512 hi, __m512i zadd, __mmask16& nan) noexcept {
    if (R != rounding::divide) return 0;
    const detail::bracket b = detail::make_bracket(s, z, qmin, qmax);
    if (!b.usable) return 0;
    return detail::whole_range<Q>(qmin, qmax) ? bracket_loop<false, Stream, R>(x, n, out, b, sv, fz, lo, hi, zadd, nan)
                                              : bracket_loop<true, Stream, R>(x, n, out, b, sv, fz, lo, hi, zadd, nan);
}

// Values are inside Q's range after the clamp, so the truncating vpmovdb narrows exactly for both uint8
// and int8. Long runs stream (prefetch, non-temporal 64-byte stores); divide runs of detail::bracket_min or
// more use the exact bracketed multiplication (detail::bracket) where it applies; the rest divide.
template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize(const float* x, std::size_t n, float s, std::int32_t z,
                                           std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const __m512 sv = _mm512_set1_ps(s);
    const __m512 fz = _mm512_set1_ps(static_cast<float>(z));
    const __m512 lo = _mm512_set1_ps(static_cast<float>(fused ? qmin : qmin - z));
    const __m512 hi = _mm512_set1_ps(static_cast<float>(fused ? qmax : qmax - z));
    const __m512i zadd = _mm512_set1_epi32(fused ? 0 : z);
    __mmask16 nan = 0;
    std::size_t i = 0;
    if (n >= detail::stream_codes_min) {
        const std::size_t head = (64 - (reinterpret_cast<std::uintptr_t>(out) & 63)) & 63;
        for (; i < head; i += 16) {
            const __mmask16 m = tail_mask16(head - i);
            const __m512 v = _mm512_maskz_loadu_ps(m, x + i);  // zeros past the head: no NaN there
            _mm512_mask_cvtepi32_storeu_epi8(out + i, m, codes16<R>(v, sv, fz, lo, hi, zadd, nan));
        }
        i = head;
        i += bracketed<true, R>(x + i, n - i, s, z, qmin, qmax, out + i, sv, fz, lo, hi, zadd, nan);
        constexpr std::size_t ahead = detail::prefetch_bytes / sizeof(float);
        for (; i + 64 <= n; i += 64) {
            for (std::size_t k = 0; k < 64; k += 16)
                _mm_prefetch(reinterpret_cast<const char*>(x + i + ahead + k), _MM_HINT_T0);
            __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
            __m512 v2 = _mm512_loadu_ps(x + i + 32), v3 = _mm512_loadu_ps(x + i + 48);
            QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
            const __m128i b0 = _mm512_cvtepi32_epi8(codes16<R>(v0, sv, fz, lo, hi, zadd, nan));
            const __m128i b1 = _mm512_cvtepi32_epi8(codes16<R>(v1, sv, fz, lo, hi, zadd, nan));
            const __m128i b2 = _mm512_cvtepi32_epi8(codes16<R>(v2, sv, fz, lo, hi, zadd, nan));
            const __m128i b3 = _mm512_cvtepi32_epi8(codes16<R>(v3, sv, fz, lo, hi, zadd, nan));
            const __m512i w = _mm512_inserti32x4(
                _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(b0), b1, 1), b2, 2), b3, 3);
            _mm512_stream_si512(reinterpret_cast<__m512i*>(out + i), w);
        }
        _mm_sfence();
    } else if (n >= detail::bracket_min) {
        i = bracketed<false, R>(x, n, s, z, qmin, qmax, out, sv, fz, lo, hi, zadd, nan);
    }
    for (; i + 64 <= n; i += 64) {
        for (std::size_t k = 0; k < 64; k += 16) {
            __m512 v = _mm512_loadu_ps(x + i + k);
            QAFFINE_KEEP(v);
            const __m512i q = codes16<R>(v, sv, fz, lo, hi, zadd, nan);
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i + k), _mm512_cvtepi32_epi8(q));
        }
    }
    for (; i < n; i += 16) {
        const __mmask16 m = tail_mask16(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);  // zeros past the end: no NaN there
        _mm512_mask_cvtepi32_storeu_epi8(out + i, m, codes16<R>(v, sv, fz, lo, hi, zadd, nan));
    }
    return nan != 0;
}

template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize(const double* x, std::size_t n, float s, std::int32_t z,
                                           std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const __m512d sv = _mm512_set1_pd(static_cast<double>(s));
    const __m512d fz = _mm512_set1_pd(static_cast<double>(z));
    const __m512d lo = _mm512_set1_pd(static_cast<double>(fused ? qmin : qmin - z));
    const __m512d hi = _mm512_set1_pd(static_cast<double>(fused ? qmax : qmax - z));
    const __m512i zadd = _mm512_set1_epi32(fused ? 0 : z);
    __mmask8 nan = 0;
    for (std::size_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask16(n - i);
        const __mmask8 m0 = static_cast<__mmask8>(m & 0xFFu), m1 = static_cast<__mmask8>(m >> 8);
        const __m512d a = _mm512_maskz_loadu_pd(m0, x + i);
        const __m512d b = _mm512_maskz_loadu_pd(m1, x + i + 8);
        nan = static_cast<__mmask8>(nan | _mm512_mask_cmp_pd_mask(m0, a, a, _CMP_UNORD_Q) |
                                    _mm512_mask_cmp_pd_mask(m1, b, b, _CMP_UNORD_Q));
        const __m256i qa = _mm512_cvtpd_epi32(step<R>(a, sv, fz, lo, hi));
        const __m256i qb = _mm512_cvtpd_epi32(step<R>(b, sv, fz, lo, hi));
        const __m512i q = _mm512_add_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(qa), qb, 1), zadd);
        _mm512_mask_cvtepi32_storeu_epi8(out + i, m, q);
    }
    return nan != 0;
}

// Per-element parameters of 16 lanes in the form step() takes, converted once (quantize_vec, quantize_vec4).
struct vec_params16 {
    __m512 s, fz, lo, hi;
    __m512i z;
};

template <rounding R>
QAFFINE_TARGET_AVX512 inline vec_params16 vec_params(__m512 s, __m512i z, __m512i qlo, __m512i qhi) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    return {s, _mm512_cvtepi32_ps(z), _mm512_cvtepi32_ps(fused ? qlo : _mm512_sub_epi32(qlo, z)),
            _mm512_cvtepi32_ps(fused ? qhi : _mm512_sub_epi32(qhi, z)), z};
}

template <rounding R>
QAFFINE_TARGET_AVX512 inline __m512i vec_codes16(__m512 v, const vec_params16& p) noexcept {
    const __m512i q = _mm512_cvtps_epi32(step<R>(v, p.s, p.fz, p.lo, p.hi));
    return R != rounding::divide ? q : _mm512_add_epi32(q, p.z);
}

// Whole vectors with plain loads and a 16-byte store (a masked narrowing store per vector costs several times
// the arithmetic on Zen 4: 4096 x 4096 per column, code pass 7.9 -> 5.0 ms), then a masked tail.
template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize_vec(const float* x, std::size_t n, const float* s, const std::int32_t* z,
                                               std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const __m512i qlo = _mm512_set1_epi32(qmin), qhi = _mm512_set1_epi32(qmax);
    __mmask16 nan = 0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        QAFFINE_KEEP(v);
        const vec_params16 p = vec_params<R>(_mm512_loadu_ps(s + i), _mm512_loadu_si512(z + i), qlo, qhi);
        nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(vec_codes16<R>(v, p)));
    }
    if (i < n) {
        const __mmask16 m = tail_mask16(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        const __m512 sv = _mm512_mask_loadu_ps(_mm512_set1_ps(1.0f), m, s + i);  // scale 1 in unused lanes
        const vec_params16 p = vec_params<R>(sv, _mm512_maskz_loadu_epi32(m, z + i), qlo, qhi);
        nan = static_cast<__mmask16>(nan | _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q));
        _mm512_mask_cvtepi32_storeu_epi8(out + i, m, vec_codes16<R>(v, p));
    }
    return nan != 0;
}

// Four rows x + r * stride (codes at out + r * stride) with the same per-element parameters: the parameters
// are loaded and converted once for the four.
template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize_vec4(const float* x, std::size_t stride, std::size_t n, const float* s,
                                                const std::int32_t* z, std::int32_t qmin, std::int32_t qmax,
                                                Q* out) noexcept {
    const __m512i qlo = _mm512_set1_epi32(qmin), qhi = _mm512_set1_epi32(qmax);
    __mmask16 nan = 0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const vec_params16 p = vec_params<R>(_mm512_loadu_ps(s + i), _mm512_loadu_si512(z + i), qlo, qhi);
        for (std::size_t r = 0; r < 4; ++r) {
            __m512 v = _mm512_loadu_ps(x + r * stride + i);
            QAFFINE_KEEP(v);
            nan = static_cast<__mmask16>(nan | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + r * stride + i), _mm512_cvtepi32_epi8(vec_codes16<R>(v, p)));
        }
    }
    bool tail = false;
    for (std::size_t r = 0; r < 4; ++r)
        tail = quantize_vec<R>(x + r * stride + i, n - i, s + i, z + i, qmin, qmax, out + r * stride + i) || tail;
    return tail || nan != 0;
}

template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize_vec(const double* x, std::size_t n, const float* s,
                                               const std::int32_t* z, std::int32_t qmin, std::int32_t qmax,
                                               Q* out) noexcept {
    const bool fused = R != rounding::divide;  // z added before rounding
    const __m256i qlo = _mm256_set1_epi32(qmin), qhi = _mm256_set1_epi32(qmax);
    __mmask8 nan = 0;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m512d v = _mm512_loadu_pd(x + i);
        const __m256i zi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(z + i));
        const __m512d lo = _mm512_cvtepi32_pd(fused ? qlo : _mm256_sub_epi32(qlo, zi));
        const __m512d hi = _mm512_cvtepi32_pd(fused ? qhi : _mm256_sub_epi32(qhi, zi));
        const __m512d sv = _mm512_cvtps_pd(_mm256_loadu_ps(s + i));
        nan = static_cast<__mmask8>(nan | _mm512_cmp_pd_mask(v, v, _CMP_UNORD_Q));
        __m256i q = _mm512_cvtpd_epi32(step<R>(v, sv, _mm512_cvtepi32_pd(zi), lo, hi));
        if (!fused) q = _mm256_add_epi32(q, zi);
        alignas(32) std::int32_t tmp[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), q);
        for (int k = 0; k < 8; ++k) out[i + static_cast<std::size_t>(k)] = static_cast<Q>(tmp[k]);
    }
    const bool tail_nan = scalar::quantize_vec<R>(x + i, n - i, s + i, z + i, qmin, qmax, out + i);
    return tail_nan || nan != 0;
}

}  // namespace avx512
QAFFINE_SIMD_END
#endif  // QAFFINE_X86_SIMD

/// Dispatching kernel, one (s, z) for the run; unchecked parameters (see validate()). `s` is
/// kernel_scale(scale, R). Returns true if x held a NaN.
template <rounding R = rounding::divide, class T, class Q>
inline bool quantize_run(const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax,
                         Q* out, simd_level level = active_level()) noexcept {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "qaffine::quantize takes float or double input");
    static_assert(std::is_same<Q, std::uint8_t>::value || std::is_same<Q, std::int8_t>::value,
                  "qaffine::quantize writes std::uint8_t or std::int8_t codes");
#if QAFFINE_X86_SIMD
    switch (usable_level(level)) {
        case simd_level::avx512: return avx512::quantize<R>(x, n, s, z, qmin, qmax, out);
        case simd_level::avx2: return avx2::quantize<R>(x, n, s, z, qmin, qmax, out);
        case simd_level::scalar: break;
    }
#else
    (void)level;
#endif
    return scalar::quantize<R>(x, n, s, z, qmin, qmax, out);
}

/// Dispatching kernel, element i uses (s[i], z[i]); unchecked parameters. Returns true if x held a NaN.
template <rounding R = rounding::divide, class T, class Q>
inline bool quantize_vec(const T* x, std::size_t n, const float* s, const std::int32_t* z, std::int32_t qmin,
                         std::int32_t qmax, Q* out, simd_level level = active_level()) noexcept {
#if QAFFINE_X86_SIMD
    switch (usable_level(level)) {
        case simd_level::avx512: return avx512::quantize_vec<R>(x, n, s, z, qmin, qmax, out);
        case simd_level::avx2: return avx2::quantize_vec<R>(x, n, s, z, qmin, qmax, out);
        case simd_level::scalar: break;
    }
#else
    (void)level;
#endif
    return scalar::quantize_vec<R>(x, n, s, z, qmin, qmax, out);
}

/// Runtime choice of rounding for quantize_run.
template <class T, class Q>
inline bool quantize_run(rounding r, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                         std::int32_t qmax, Q* out, simd_level level = active_level()) noexcept {
    switch (r) {
        case rounding::multiply: return quantize_run<rounding::multiply>(x, n, s, z, qmin, qmax, out, level);
        case rounding::fused: return quantize_run<rounding::fused>(x, n, s, z, qmin, qmax, out, level);
        case rounding::divide: break;
    }
    return quantize_run<rounding::divide>(x, n, s, z, qmin, qmax, out, level);
}

/// quantize_vec() of `rows` rows x + r * stride, codes at out + r * stride, all with the parameters s, z (per
/// channel along the last axis). Float32 at AVX-512 takes four rows at a time.
template <rounding R, class T, class Q>
inline bool quantize_vec_rows(const T* x, std::size_t stride, std::size_t rows, std::size_t n, const float* s,
                              const std::int32_t* z, std::int32_t qmin, std::int32_t qmax, Q* out,
                              simd_level level = active_level()) noexcept {
    bool nan = false;
    std::size_t r = 0;
#if QAFFINE_X86_SIMD
    if (std::is_same<T, float>::value && usable_level(level) == simd_level::avx512)
        for (; r + 4 <= rows; r += 4)
            nan = avx512::quantize_vec4<R>(reinterpret_cast<const float*>(x) + r * stride, stride, n, s, z, qmin, qmax,
                                           out + r * stride) || nan;
#endif
    for (; r < rows; ++r) nan = quantize_vec<R>(x + r * stride, n, s, z, qmin, qmax, out + r * stride, level) || nan;
    return nan;
}

/// Runtime choice of rounding for quantize_vec_rows.
template <class T, class Q>
inline bool quantize_vec_rows(rounding r, const T* x, std::size_t stride, std::size_t rows, std::size_t n,
                              const float* s, const std::int32_t* z, std::int32_t qmin, std::int32_t qmax, Q* out,
                              simd_level level = active_level()) noexcept {
    switch (r) {
        case rounding::multiply: return quantize_vec_rows<rounding::multiply>(x, stride, rows, n, s, z, qmin, qmax, out, level);
        case rounding::fused: return quantize_vec_rows<rounding::fused>(x, stride, rows, n, s, z, qmin, qmax, out, level);
        case rounding::divide: break;
    }
    return quantize_vec_rows<rounding::divide>(x, stride, rows, n, s, z, qmin, qmax, out, level);
}

/// Runtime choice of rounding for quantize_vec.
template <class T, class Q>
inline bool quantize_vec(rounding r, const T* x, std::size_t n, const float* s, const std::int32_t* z,
                         std::int32_t qmin, std::int32_t qmax, Q* out, simd_level level = active_level()) noexcept {
    switch (r) {
        case rounding::multiply: return quantize_vec<rounding::multiply>(x, n, s, z, qmin, qmax, out, level);
        case rounding::fused: return quantize_vec<rounding::fused>(x, n, s, z, qmin, qmax, out, level);
        case rounding::divide: break;
    }
    return quantize_vec<rounding::divide>(x, n, s, z, qmin, qmax, out, level);
}

/// Dispatching kernel with unchecked parameters and ONNX rounding (true division).
template <class T, class Q>
inline bool quantize_unchecked(const T* x, std::size_t n, const qparams& p, Q* out,
                               simd_level level = active_level()) noexcept {
    return quantize_run<rounding::divide>(x, n, p.scale, p.zero_point, p.qmin, p.qmax, out, level);
}

/// Checks p (std::invalid_argument if it is unusable or [qmin, qmax] does not fit Q), then quantizes with
/// rounding `r` (default: true division, as ONNX). Returns true if x held a NaN (its code is qmin).
template <class T, class Q>
inline bool quantize(const T* x, std::size_t n, const qparams& p, Q* out, simd_level level = active_level(),
                     rounding r = rounding::divide) {
    validate(p);
    if (p.qmin < std::numeric_limits<Q>::min() || p.qmax > std::numeric_limits<Q>::max())
        throw std::invalid_argument("[qmin, qmax] does not fit the code type");
    return quantize_run(r, x, n, kernel_scale(p.scale, r), p.zero_point, p.qmin, p.qmax, out, level);
}

}  // namespace qaffine
