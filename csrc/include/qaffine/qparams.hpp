// qaffine/qparams.hpp — quantization parameters (scale, zero point, code range) and how to choose them.
//
// choose_qparams<float>(lo, hi) reproduces ONNX DynamicQuantizeLinear bit for bit:
//   lo' = min(0, lo), hi' = max(0, hi)                       (the range always contains 0)
//   s   = float32(hi' == lo' ? 1 : hi' - lo') / float32(qmax - qmin)     (float32 arithmetic)
//   z   = round_half_even(clamp(float32(qmin) - lo' / s, qmin, qmax))
// Where ONNX's own answer is not a finite positive scale we define one instead:
//   * hi' - lo' overflows float32 (e.g. [-3e38, 3e38]): s = float32((double(hi') - double(lo')) / (qmax - qmin));
//   * the quotient underflows to 0 (a range below 255 * 2^-149): s = 2^-149, the smallest positive float.
// choose_qparams<double> does the same in double arithmetic and rounds s to float32 at the end; it throws
// std::domain_error if that scale does not fit in float32.
// Both throw std::domain_error for a NaN or infinite bound and std::invalid_argument if lo > hi or the code
// range is empty. Thread safety: pure functions.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

namespace qaffine {

/// Largest |zero point| accepted: every integer up to 2^24 is exact in float32, so the clamp bounds
/// qmin - z and qmax - z used by the kernels are exact.
constexpr std::int32_t max_abs_zero_point = 1 << 24;

/// Per-tensor affine parameters: x ≈ scale * (q - zero_point), q in [qmin, qmax].
struct qparams {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
    std::int32_t qmin = 0;
    std::int32_t qmax = 255;
};

/// Throws std::invalid_argument unless scale is finite and > 0, qmin < qmax and |zero_point| <= 2^24.
inline void validate(const qparams& p) {
    if (!(p.scale > 0.0f) || !std::isfinite(p.scale))
        throw std::invalid_argument("scale must be a finite number > 0, got " + std::to_string(p.scale));
    if (p.qmin >= p.qmax)
        throw std::invalid_argument("qmin must be < qmax, got [" + std::to_string(p.qmin) + ", " +
                                    std::to_string(p.qmax) + "]");
    if (p.zero_point > max_abs_zero_point || p.zero_point < -max_abs_zero_point)
        throw std::invalid_argument("|zero_point| must be <= 2^24, got " + std::to_string(p.zero_point));
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

/// float32 semantics (ONNX DynamicQuantizeLinear); see the file comment.
inline qparams choose_qparams(float lo, float hi, std::int32_t qmin = 0, std::int32_t qmax = 255) {
    detail::check_bounds(lo, hi, qmin, qmax);
    const float maxx = hi > 0.0f ? hi : 0.0f;
    const float minx = lo < 0.0f ? lo : 0.0f;
    const float levels = static_cast<float>(qmax - qmin);
    const float range = maxx == minx ? 1.0f : maxx - minx;
    float s;
    if (std::isinf(range))
        s = static_cast<float>((static_cast<double>(maxx) - static_cast<double>(minx)) / static_cast<double>(levels));
    else
        s = range / levels;
    if (s == 0.0f) s = std::numeric_limits<float>::denorm_min();
    const float initial = static_cast<float>(qmin) - minx / s;
    qparams p;
    p.scale = s;
    p.qmin = qmin;
    p.qmax = qmax;
    p.zero_point = detail::rint_clamped(initial, qmin, qmax);
    return p;
}

/// float64 semantics: every step in double, the scale rounded to float32 once.
inline qparams choose_qparams(double lo, double hi, std::int32_t qmin = 0, std::int32_t qmax = 255) {
    detail::check_bounds(lo, hi, qmin, qmax);
    const double maxx = hi > 0.0 ? hi : 0.0;
    const double minx = lo < 0.0 ? lo : 0.0;
    const double levels = static_cast<double>(qmax - qmin);
    const double range = maxx == minx ? 1.0 : maxx - minx;
    const double sd = range / levels;
    if (!(sd <= static_cast<double>(std::numeric_limits<float>::max())))
        throw std::domain_error("range too wide: its scale does not fit in float32");
    float s = static_cast<float>(sd);
    if (s == 0.0f) s = std::numeric_limits<float>::denorm_min();
    const double initial = static_cast<double>(qmin) - minx / static_cast<double>(s);
    qparams p;
    p.scale = s;
    p.qmin = qmin;
    p.qmax = qmax;
    p.zero_point = detail::rint_clamped(initial, qmin, qmax);
    return p;
}

}  // namespace qaffine
