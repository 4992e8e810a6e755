// qaffine/quantize.hpp — floats to integer codes: q = clamp(round_half_even(x / s) + z, qmin, qmax).
//
// Three roundings of x / s (template parameter `rounding`):
//   divide    (default, ONNX QuantizeLinear)       q = round(x / s) + z, x / s a true IEEE division;
//   multiply  (PyTorch quantize_per_channel)       q = round((x * r) + z), r = float32(1 / s), two roundings;
//   fused     (PyTorch/FBGEMM quantize_per_tensor) q = round(fma(x, r, z)), one rounding.
// Arithmetic is float32 for float input and float64 for double input; rounding is half to even (the default
// floating-point environment). The clamp happens on y before the conversion to an integer, so ±Inf and huge
// values saturate to qmin / qmax and never wrap around. A NaN gives qmin and makes the function return true;
// callers that must reject NaN check the return value. Q is std::uint8_t, std::int8_t, std::uint16_t or
// std::int16_t, [qmin, qmax] must lie inside Q's range and |z| <= 2^23 (see validate()). Every code of 16-bit
// Q, and qmin - z, qmax - z, are integers below 2^24: exact in float32, so 16-bit codes follow the same
// arithmetic as 8-bit ones.
//
// quantize(...)      one (scale, zero point) for the whole run;
// quantize_vec(...)  element i uses scale[i], zero_point[i] (per-channel along the last axis, per-block along
//                    a leading axis).
// The `s` argument of the kernels is the scale for `divide` and the reciprocal r for the other two.
// Every SIMD level writes the same bytes as the scalar loop. Kernels never throw.
// Thread safety: pure functions of their arguments; distinct output ranges may be written concurrently.
#pragma once

#include <cfloat>
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

/// The rounding counterpart of dispatch(simd_level, f) (cpu.hpp): calls f(std::integral_constant<rounding, r>{}),
/// so that f can pass r on as a template argument.
template <class F>
inline decltype(auto) dispatch(rounding r, F&& f) {
    switch (r) {
        case rounding::multiply: return f(std::integral_constant<rounding, rounding::multiply>{});
        case rounding::fused: return f(std::integral_constant<rounding, rounding::fused>{});
        case rounding::divide: break;
    }
    return f(std::integral_constant<rounding, rounding::divide>{});
}

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
/// A lane is redone with probability about |x/s| * 2^-19 (the bracket's width in code units), so wide code
/// ranges lose: up to qmax - qmin = 2^10 (a vector redone about 1 time in 8 at the range's ends) it pays;
/// 16-bit ranges (|x/s| up to 2^16: nearly every vector redone) divide.
/// Shorter runs (the blocks of per-block quantization) divide: the setup costs more than it saves.
constexpr std::size_t bracket_min = 256;
constexpr std::int32_t bracket_max_range = 1 << 10;

struct bracket {
    bool usable = false;
    float ra = 0, rb = 0, mz = 0, tlo = 0, thi = 0;
};

/// std::invalid_argument unless [qmin, qmax] lies inside Q's range (the checked entry points' rule).
template <class Q>
inline void check_fits(std::int32_t qmin, std::int32_t qmax) {
    if (qmin < std::numeric_limits<Q>::min() || qmax > std::numeric_limits<Q>::max())
        throw std::invalid_argument("[qmin, qmax] does not fit the code type");
}

/// [qmin, qmax] is all of Q: the saturating packs of the bracket loops then clamp, and the float clamp is skipped.
template <class Q>
constexpr bool whole_range(std::int32_t qmin, std::int32_t qmax) noexcept {
    return qmin == std::numeric_limits<Q>::min() && qmax == std::numeric_limits<Q>::max();
}

inline bracket make_bracket(float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax) noexcept {
    bracket b;
    if (!(s >= 0x1p-120f && s <= 0x1p120f) || z <= -(1 << 21) || z >= (1 << 21) || qmax - qmin > bracket_max_range)
        return b;
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
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
    __asm__("" : "+w"(v));
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

// The scalar level's loops, for the vectorisers (minmax.hpp, namespace portable, says how). The code loop
// divides as the specification does, then rounds by adding and subtracting M = 1.5 * 2^23 (2^52 + 2^51 for
// double): for |y| < 2^22 the sum lies in [2^23, 2^24), where floats are the integers, so the addition rounds y
// half to even under the default rounding mode (nearbyint's assumption too) and the subtraction is exact;
// M is even, so ties keep their parity. The clamp bounds decide it once per run: past 2^22 (zero points far
// from 0), or where float arithmetic is wider than its type (FLT_EVAL_METHOD != 0, x87), the specification's
// loop runs. Only division is done here: `multiply` must not be contracted into an FMA, and the barrier that
// stops it (scalar::opaque) stops the vectoriser too; `fused` needs a hardware FMA to vectorise.
namespace portable {

template <rounding R, class T, class Q>
QAFFINE_PORTABLE_LOOP bool quantize(const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                                    std::int32_t qmax, Q* out) noexcept {
    using flag = typename std::conditional<sizeof(T) == 4, std::int32_t, std::int64_t>::type;
    constexpr std::size_t block = 16;
    const T lo = static_cast<T>(qmin - z), hi = static_cast<T>(qmax - z);
    constexpr T magic = sizeof(T) == 4 ? T(0x1.8p23) : T(0x1.8p52);
    constexpr T limit = sizeof(T) == 4 ? T(0x1p22) : T(0x1p51);
    if (R != rounding::divide || FLT_EVAL_METHOD != 0 || !(lo > -limit && hi < limit))
        return scalar::quantize<R>(x, n, s, z, qmin, qmax, out);
    const T st = static_cast<T>(s);
    flag nan[block] = {};
    std::size_t i = 0;
    for (; i + block <= n; i += block) {
        // Codes through a local block: out may alias x as far as the compiler knows (Q is a character type), and
        // GCC -O2 adds no run-time alias checks.
        Q c[block];
        QAFFINE_NO_UNROLL
        for (std::size_t k = 0; k < block; ++k) {
            const T v = x[i + k];
            nan[k] |= static_cast<flag>(v != v);
            T y = v / st;
            y = y > lo ? y : lo;  // NaN -> lo
            y = y < hi ? y : hi;
            c[k] = static_cast<Q>(static_cast<std::int32_t>((y + magic) - magic) + z);
        }
        std::memcpy(out + i, c, sizeof(c));
    }
    bool any_nan = scalar::quantize<R>(x + i, n - i, s, z, qmin, qmax, out + i);
    for (std::size_t k = 0; k < block; ++k) any_nan = any_nan || nan[k] != 0;
    return any_nan;
}

}  // namespace portable

namespace scalar {

/// Tagged forms, the scalar level's entries for dispatch() (the portable loops where there are some).
template <rounding R, class T, class Q>
inline bool quantize(isa, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax,
                     Q* out) noexcept {
    return portable::quantize<R>(x, n, s, z, qmin, qmax, out);
}
template <rounding R, class T, class Q>
inline bool quantize_vec(isa, const T* x, std::size_t n, const float* s, const std::int32_t* z, std::int32_t qmin,
                         std::int32_t qmax, Q* out) noexcept {
    return quantize_vec<R>(x, n, s, z, qmin, qmax, out);
}

}  // namespace scalar

}  // namespace qaffine

#include "ops.hpp"
#define QAFFINE_KERNELS "quantize-inl.hpp"
#include "foreach_isa.hpp"
#define QAFFINE_KERNELS "quantize_pack4-inl.hpp"
#define QAFFINE_KERNELS_SKIP_AVX512
#include "foreach_isa.hpp"

namespace qaffine {

#if QAFFINE_X86_SIMD
QAFFINE_SIMD_BEGIN
// ---- AVX-512 only ---------------------------------------------------------------------------------------
namespace avx512 {

// Values are inside Q's range after the clamp, so the truncating narrowing stores are exact for signed and
// unsigned codes. Long runs stream (prefetch, non-temporal 64-byte stores); divide runs of detail::bracket_min or
// more use the exact bracketed multiplication (detail::bracket) where it applies; the rest divide.
template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize(isa, const float* x, std::size_t n, float s, std::int32_t z,
                                           std::int32_t qmin, std::int32_t qmax, Q* out) noexcept {
    const run_params p = make_run_params<R>(s, z, qmin, qmax);
    mf nan = 0;
    std::size_t i = 0;
    if (n >= detail::stream_codes_min) {
        const std::size_t head = ((64 - (reinterpret_cast<std::uintptr_t>(out) & 63)) & 63) / sizeof(Q);
        for (; i < head; i += 16) {
            const vf v = _mm512_maskz_loadu_ps(mask_n(head - i), x + i);  // zeros past the head: no NaN there
            store_codes_n(out + i, head - i, codes<R>(v, p, nan));
        }
        i = head;
        i += bracketed<true, R>(x + i, n - i, s, z, qmin, qmax, out + i, p, nan);
        constexpr std::size_t ahead = detail::prefetch_bytes / sizeof(float);
        for (; i + 64 <= n; i += 64) {
            for (std::size_t k = 0; k < 64; k += 16) prefetch(x + i + ahead + k);
            vf v0 = loadu(x + i), v1 = loadu(x + i + 16), v2 = loadu(x + i + 32), v3 = loadu(x + i + 48);
            QAFFINE_KEEP(v0); QAFFINE_KEEP(v1); QAFFINE_KEEP(v2); QAFFINE_KEEP(v3);
            const vi c0 = codes<R>(v0, p, nan), c1 = codes<R>(v1, p, nan);
            const vi c2 = codes<R>(v2, p, nan), c3 = codes<R>(v3, p, nan);
            stream_bytes(out + i, pack4<Q>(c0, c1, c2, c3));
        }
        sfence();
    } else if (n >= detail::bracket_min) {
        i = bracketed<false, R>(x, n, s, z, qmin, qmax, out, p, nan);
    }
    for (; i + 64 <= n; i += 64) {
        for (std::size_t k = 0; k < 64; k += 16) {
            vf v = loadu(x + i + k);
            QAFFINE_KEEP(v);
            store_codes(out + i + k, codes<R>(v, p, nan));
        }
    }
    for (; i < n; i += 16) {
        const vf v = _mm512_maskz_loadu_ps(mask_n(n - i), x + i);  // zeros past the end: no NaN there
        store_codes_n(out + i, n - i, codes<R>(v, p, nan));
    }
    return nan != 0;
}

// Whole vectors with plain loads and a 16-byte store (a masked narrowing store per vector costs several times
// the arithmetic on Zen 4: 4096 x 4096 per column, code pass 7.9 -> 5.0 ms), then a masked tail.
template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize_vec(isa, const float* x, std::size_t n, const float* s,
                                               const std::int32_t* z, std::int32_t qmin, std::int32_t qmax,
                                               Q* out) noexcept {
    const vi qlo = set1_i32(qmin), qhi = set1_i32(qmax);
    mf nan = 0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        vf v = loadu(x + i);
        QAFFINE_KEEP(v);
        const vec_params p = make_vec_params<R>(loadu(s + i), loadu_i32(z + i), qlo, qhi);
        nan = either(nan, unord(v, v));
        store_codes(out + i, vec_codes<R>(v, p));
    }
    if (i < n) {
        const __mmask16 m = mask_n(n - i);
        const vf v = _mm512_maskz_loadu_ps(m, x + i);
        const vf sv = _mm512_mask_loadu_ps(set1(1.0f), m, s + i);  // scale 1 in unused lanes
        const vec_params p = make_vec_params<R>(sv, _mm512_maskz_loadu_epi32(m, z + i), qlo, qhi);
        nan = either(nan, _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q));
        store_codes_n(out + i, n - i, vec_codes<R>(v, p));
    }
    return nan != 0;
}

// Four rows x + r * stride (codes at out + r * stride) with the same per-element parameters: the parameters
// are loaded and converted once for the four.
template <rounding R, class Q>
QAFFINE_TARGET_AVX512 inline bool quantize_vec4(isa, const float* x, std::size_t stride, std::size_t n,
                                                const float* s, const std::int32_t* z, std::int32_t qmin,
                                                std::int32_t qmax, Q* out) noexcept {
    const vi qlo = set1_i32(qmin), qhi = set1_i32(qmax);
    mf nan = 0;
    std::size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const vec_params p = make_vec_params<R>(loadu(s + i), loadu_i32(z + i), qlo, qhi);
        for (std::size_t r = 0; r < 4; ++r) {
            vf v = loadu(x + r * stride + i);
            QAFFINE_KEEP(v);
            nan = either(nan, unord(v, v));
            store_codes(out + r * stride + i, vec_codes<R>(v, p));
        }
    }
    bool tail = false;
    for (std::size_t r = 0; r < 4; ++r)
        tail = quantize_vec<R>(isa{}, x + r * stride + i, n - i, s + i, z + i, qmin, qmax, out + r * stride + i) || tail;
    return tail || nan != 0;
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
    static_assert(is_code_type<Q>::value,
                  "qaffine::quantize writes std::uint8_t, std::int8_t, std::uint16_t or std::int16_t codes");
    return dispatch(level, [&](auto isa) {
        using scalar::quantize;  // makes quantize<R> name a template here; the call finds isa's kernel by ADL
        return quantize<R>(isa, x, n, s, z, qmin, qmax, out);
    });
}

/// Dispatching kernel, element i uses (s[i], z[i]); unchecked parameters. Returns true if x held a NaN.
template <rounding R = rounding::divide, class T, class Q>
inline bool quantize_vec(const T* x, std::size_t n, const float* s, const std::int32_t* z, std::int32_t qmin,
                         std::int32_t qmax, Q* out, simd_level level = active_level()) noexcept {
    return dispatch(level, [&](auto isa) { return quantize_vec<R>(isa, x, n, s, z, qmin, qmax, out); });
}

/// Runtime choice of rounding for quantize_run.
template <class T, class Q>
inline bool quantize_run(rounding r, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                         std::int32_t qmax, Q* out, simd_level level = active_level()) noexcept {
    return dispatch(r, [&](auto R) { return quantize_run<decltype(R)::value>(x, n, s, z, qmin, qmax, out, level); });
}

/// quantize_vec() of `rows` rows x + r * stride, codes at out + r * stride, all with the parameters s, z (per
/// channel along the last axis). Float32 at AVX-512 takes four rows at a time (avx512::quantize_vec4).
template <rounding R, class T, class Q>
inline bool quantize_vec_rows(const T* x, std::size_t stride, std::size_t rows, std::size_t n, const float* s,
                              const std::int32_t* z, std::int32_t qmin, std::int32_t qmax, Q* out,
                              simd_level level = active_level()) noexcept {
    return dispatch(level, [&](auto isa) {
        bool nan = false;
        std::size_t r = 0;
#if QAFFINE_X86_SIMD
        if constexpr (std::is_same<T, float>::value && decltype(isa)::level == simd_level::avx512)
            for (; r + 4 <= rows; r += 4)
                nan = avx512::quantize_vec4<R>(isa, x + r * stride, stride, n, s, z, qmin, qmax, out + r * stride) || nan;
#endif
        for (; r < rows; ++r) nan = quantize_vec<R>(isa, x + r * stride, n, s, z, qmin, qmax, out + r * stride) || nan;
        return nan;
    });
}

/// Runtime choice of rounding for quantize_vec_rows.
template <class T, class Q>
inline bool quantize_vec_rows(rounding r, const T* x, std::size_t stride, std::size_t rows, std::size_t n,
                              const float* s, const std::int32_t* z, std::int32_t qmin, std::int32_t qmax, Q* out,
                              simd_level level = active_level()) noexcept {
    return dispatch(r, [&](auto R) {
        return quantize_vec_rows<decltype(R)::value>(x, stride, rows, n, s, z, qmin, qmax, out, level);
    });
}

/// Runtime choice of rounding for quantize_vec.
template <class T, class Q>
inline bool quantize_vec(rounding r, const T* x, std::size_t n, const float* s, const std::int32_t* z,
                         std::int32_t qmin, std::int32_t qmax, Q* out, simd_level level = active_level()) noexcept {
    return dispatch(r, [&](auto R) { return quantize_vec<decltype(R)::value>(x, n, s, z, qmin, qmax, out, level); });
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
    detail::check_fits<Q>(p.qmin, p.qmax);
    return quantize_run(r, x, n, kernel_scale(p.scale, r), p.zero_point, p.qmin, p.qmax, out, level);
}

}  // namespace qaffine
