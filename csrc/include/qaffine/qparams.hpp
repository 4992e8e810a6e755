// qaffine/qparams.hpp — quantization parameters (scale, zero point, code range) and how to choose them.
//
// choose_qparams(lo, hi[, qmin, qmax]) and choose_qparams<T>(lo, hi, scheme) with the default scheme reproduce
// ONNX DynamicQuantizeLinear bit for bit (T = float):
//   lo' = min(0, lo), hi' = max(0, hi)                       (the range always contains 0)
//   s   = float32(hi' == lo' ? 1 : hi' - lo') / float32(qmax - qmin)     (float32 arithmetic)
//   z   = round_half_even(clamp(float32(qmin) - lo' / s, qmin, qmax))
// scheme::symmetric: s = max(|lo|, |hi|) / ((qmax - qmin) / 2) (1 instead of 0 for all zeros), z = the middle
// code floor((qmin + qmax + 1) / 2) — PyTorch's symmetric observers.
// scheme::include_zero = false (the notebook's tight range): s = (hi - lo) / (qmax - qmin) (|lo| instead of 0
// for a constant, 1 for all zeros), z = round_half_even(qmin - lo / s), not clamped; |z| > 2^23 throws.
// Where ONNX's own answer is not a finite positive scale we define one instead:
//   * hi' - lo' overflows float32 (e.g. [-3e38, 3e38]): s = float32((double(hi') - double(lo')) / (qmax - qmin));
//   * the quotient underflows to 0 (a range below 255 * 2^-149): s = 2^-149, the smallest positive float.
// T = double does every step in double and rounds s to float32 at the end.
// Throws std::domain_error for a NaN or infinite bound or a scale that does not fit float32, and
// std::invalid_argument if lo > hi or the scheme is invalid. Thread safety: pure functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace qaffine {

/// Largest |zero point| accepted: every integer up to 2^24 is exact in float32, so the clamp bounds
/// qmin - z and qmax - z used by the kernels (|qmin|, |qmax| <= 65535) are exact.
constexpr std::int32_t max_abs_zero_point = 1 << 23;

/// The code types of the kernels: 8-bit (std::uint8_t, std::int8_t) and 16-bit (std::uint16_t, std::int16_t).
template <class Q>
struct is_code_type
    : std::integral_constant<bool, std::is_same<Q, std::uint8_t>::value || std::is_same<Q, std::int8_t>::value ||
                                       std::is_same<Q, std::uint16_t>::value || std::is_same<Q, std::int16_t>::value> {};

/// Per-tensor affine parameters: x ≈ scale * (q - zero_point), q in [qmin, qmax].
struct qparams {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
    std::int32_t qmin = 0;
    std::int32_t qmax = 255;
};

/// Throws std::invalid_argument unless scale is finite and > 0, qmin < qmax and |zero_point| <= 2^23.
inline void validate(const qparams& p) {
    if (!(p.scale > 0.0f) || !std::isfinite(p.scale))
        throw std::invalid_argument("scale must be a finite number > 0, got " + std::to_string(p.scale));
    if (p.qmin >= p.qmax)
        throw std::invalid_argument("qmin must be < qmax, got [" + std::to_string(p.qmin) + ", " +
                                    std::to_string(p.qmax) + "]");
    if (p.zero_point > max_abs_zero_point || p.zero_point < -max_abs_zero_point)
        throw std::invalid_argument("|zero_point| must be <= 2^23, got " + std::to_string(p.zero_point));
}

namespace detail {

template <class T>
inline void check_bounds(T lo, T hi, std::int32_t qmin, std::int32_t qmax) {
    if (std::isnan(lo) || std::isnan(hi)) throw std::domain_error("range bound is NaN");
    if (std::isinf(lo) || std::isinf(hi)) throw std::domain_error("range bound is infinite");
    if (lo > hi) throw std::invalid_argument("lo must be <= hi");
    if (qmin >= qmax) throw std::invalid_argument("qmin must be < qmax");
}

// Round half to even under the default floating-point environment (which both this and the SIMD
// conversions assume), after clamping so the conversion to int32 is always defined.
template <class T>
inline std::int32_t rint_clamped(T v, std::int32_t lo, std::int32_t hi) noexcept {
    const T l = static_cast<T>(lo), h = static_cast<T>(hi);
    v = v > l ? v : l;  // NaN -> lo, as the SIMD max(v, lo) does
    v = v < h ? v : h;
    return static_cast<std::int32_t>(std::nearbyint(v));
}

}  // namespace detail

/// How parameters are chosen from a range (the modes of choose_qparams).
struct scheme {
    std::int32_t qmin = 0;
    std::int32_t qmax = 255;
    /// Zero point at the middle code, scale = max(|lo|, |hi|) / ((qmax - qmin) / 2) (PyTorch's symmetric
    /// observers); 0.0 stays exact.
    bool symmetric = false;
    /// true (ONNX, PyTorch): the range is widened to contain 0 and the zero point clamped to [qmin, qmax].
    /// false (the notebook's tight range): [lo, hi] as given; the zero point may lie outside [qmin, qmax].
    bool include_zero = true;
};

/// Throws std::invalid_argument for an empty code range or symmetric without include_zero.
inline void validate(const scheme& sc) {
    if (sc.qmin >= sc.qmax) throw std::invalid_argument("qmin must be < qmax");
    if (sc.symmetric && !sc.include_zero)
        throw std::invalid_argument("a symmetric range always contains 0: symmetric needs include_zero");
}

namespace detail {

// The scale from range / levels: in T arithmetic (float32 for float input, as ONNX), redone in double when
// the float32 range overflowed, 2^-149 when it underflowed; std::domain_error if it does not fit float32.
template <class T>
inline float scale_from(T range, T levels, double range_exact) {
    double sd;
    if (std::is_same<T, float>::value && std::isfinite(range)) {
        const float s = static_cast<float>(range) / static_cast<float>(levels);
        if (std::isfinite(s)) return s == 0.0f ? std::numeric_limits<float>::denorm_min() : s;
        sd = static_cast<double>(s);
    } else {
        sd = (std::is_same<T, float>::value ? range_exact : static_cast<double>(range)) / static_cast<double>(levels);
    }
    if (!(sd <= static_cast<double>(std::numeric_limits<float>::max())))
        throw std::domain_error("range too wide: its scale does not fit in float32");
    const float s = static_cast<float>(sd);
    return s == 0.0f ? std::numeric_limits<float>::denorm_min() : s;
}

}  // namespace detail

/// Parameters for values in [lo, hi] under scheme `sc`, in T arithmetic (see the file comment).
template <class T>
inline qparams choose_qparams(T lo, T hi, const scheme& sc);

namespace detail {
/// choose_qparams for finite lo <= hi and a valid scheme, checked by the caller once for many groups.
template <class T>
inline qparams choose_qparams_checked(T lo, T hi, const scheme& sc);
}  // namespace detail

template <class T>
inline qparams choose_qparams(T lo, T hi, const scheme& sc) {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value, "float or double bounds");
    detail::check_bounds(lo, hi, sc.qmin, sc.qmax);
    validate(sc);
    return detail::choose_qparams_checked(lo, hi, sc);
}

template <class T>
inline qparams detail::choose_qparams_checked(T lo, T hi, const scheme& sc) {
    qparams p;
    p.qmin = sc.qmin;
    p.qmax = sc.qmax;
    const T levels = static_cast<T>(sc.qmax - sc.qmin);
    if (sc.symmetric) {
        const T amax = -lo > hi ? -lo : hi;
        const T half = levels / T(2);
        const T top = amax > T(0) ? amax : T(1);  // all zeros: as if the range were [-1, 1]
        p.scale = detail::scale_from<T>(top, half, static_cast<double>(top));
        p.zero_point = static_cast<std::int32_t>(std::floor((static_cast<double>(sc.qmin) + sc.qmax + 1) / 2.0));
        return p;
    }
    if (!sc.include_zero) {
        const T range = hi == lo ? (lo == T(0) ? T(1) : std::fabs(lo)) : hi - lo;
        const double exact = hi == lo ? static_cast<double>(range) : static_cast<double>(hi) - static_cast<double>(lo);
        p.scale = detail::scale_from<T>(range, levels, exact);
        const T initial = static_cast<T>(sc.qmin) - lo / static_cast<T>(p.scale);
        if (!(std::fabs(initial) <= static_cast<T>(max_abs_zero_point)))
            throw std::domain_error("tight range too far from 0 for its width: its zero point exceeds 2^23; "
                                    "use include_zero");
        p.zero_point = static_cast<std::int32_t>(std::nearbyint(initial));
        return p;
    }
    const T maxx = hi > T(0) ? hi : T(0);
    const T minx = lo < T(0) ? lo : T(0);
    const T range = maxx == minx ? T(1) : maxx - minx;
    p.scale = detail::scale_from<T>(range, levels, static_cast<double>(maxx) - static_cast<double>(minx));
    const T initial = static_cast<T>(sc.qmin) - minx / static_cast<T>(p.scale);
    p.zero_point = detail::rint_clamped(initial, sc.qmin, sc.qmax);
    return p;
}

/// ONNX DynamicQuantizeLinear rules for codes in [qmin, qmax] (float32 arithmetic; see the file comment).
inline qparams choose_qparams(float lo, float hi, std::int32_t qmin = 0, std::int32_t qmax = 255) {
    return choose_qparams<float>(lo, hi, scheme{qmin, qmax, false, true});
}

/// The same rules in double arithmetic, the scale rounded to float32 once.
inline qparams choose_qparams(double lo, double hi, std::int32_t qmin = 0, std::int32_t qmax = 255) {
    return choose_qparams<double>(lo, hi, scheme{qmin, qmax, false, true});
}

}  // namespace qaffine
