// qaffine/minmax.hpp — the smallest and largest value of a float array, in one pass, with NaN detection.
//
// minmax(x, n) returns {lo, hi, has_nan}: lo and hi ignore NaNs (a NaN compares false, so it never
// replaces an accumulator), has_nan says whether any NaN was seen. ±Inf are ordinary values.
// For n == 0 (or all NaN) lo = +Inf and hi = -Inf. A zero result is reported as +0.0 whatever the
// sign of the zeros, so that every SIMD level returns the same bits. Never throws.
// minmax_accumulate(x, n, lo, hi) is the element-wise variant (lo[i] = min(lo[i], x[i]), ...) for
// per-channel ranges. Thread safety: no shared state (minmax_accumulate writes only lo and hi).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "cpu.hpp"

namespace qaffine {

template <class T>
struct minmax_result {
    T lo;
    T hi;
    bool has_nan;

    /// The result of nothing (lo = +Inf, hi = -Inf), to merge() results of parts into.
    static minmax_result empty() noexcept {
        return {std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(), false};
    }
    /// Folds in the result of another part of the same array (exact: min and max combine in any order).
    void merge(const minmax_result& r) noexcept {
        lo = r.lo < lo ? r.lo : lo;
        hi = r.hi > hi ? r.hi : hi;
        has_nan = has_nan || r.has_nan;
    }
};

namespace detail {
template <class T>
inline minmax_result<T> finish_minmax(T lo, T hi, bool has_nan) noexcept {
    // -0.0 and +0.0 compare equal, so which one survives depends on the order of the lanes;
    // adding +0 maps -0 to +0 and leaves every other value unchanged.
    return {lo + T(0), hi + T(0), has_nan};
}
}  // namespace detail

namespace scalar {

/// The specification: a plain loop. Several accumulators so compilers can keep it branch-free.
template <class T>
inline minmax_result<T> minmax(const T* x, std::size_t n) noexcept {
    constexpr T inf = std::numeric_limits<T>::infinity();
    T lo[4] = {inf, inf, inf, inf};
    T hi[4] = {-inf, -inf, -inf, -inf};
    bool nan = false;
    std::size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        for (std::size_t k = 0; k < 4; ++k) {
            const T v = x[i + k];
            lo[k] = v < lo[k] ? v : lo[k];
            hi[k] = v > hi[k] ? v : hi[k];
            nan |= (v != v);
        }
    }
    for (; i < n; ++i) {
        const T v = x[i];
        lo[0] = v < lo[0] ? v : lo[0];
        hi[0] = v > hi[0] ? v : hi[0];
        nan |= (v != v);
    }
    for (std::size_t k = 1; k < 4; ++k) {
        lo[0] = lo[k] < lo[0] ? lo[k] : lo[0];
        hi[0] = hi[k] > hi[0] ? hi[k] : hi[0];
    }
    return detail::finish_minmax(lo[0], hi[0], nan);
}

/// Element-wise accumulation: lo[i] = min(lo[i], x[i]), hi[i] = max(hi[i], x[i]), NaN ignored and reported.
/// Used when each position of a row belongs to its own group (per-channel along the last axis).
template <class T>
inline bool minmax_accumulate(const T* x, std::size_t n, T* lo, T* hi) noexcept {
    bool nan = false;
    for (std::size_t i = 0; i < n; ++i) {
        const T v = x[i];
        lo[i] = v < lo[i] ? v : lo[i];
        hi[i] = v > hi[i] ? v : hi[i];
        nan |= (v != v);
    }
    return nan;
}

}  // namespace scalar

// The scalar level's loops (the portable ones: builds without a SIMD level, other architectures, MSVC), written
// for the compilers' vectorisers: blocks of a fixed count, one accumulator per position of the block,
// branch-free selects (v < lo ? v : lo is minps itself on x86 and a compare and select elsewhere) and NaN
// flags accumulated as integers of the element's width. GCC vectorises them at -O2 too (its "very cheap"
// cost model takes fixed trip counts), Clang at -O2. Results equal the specification's: the accumulators
// never hold NaN, so their order changes nothing but the sign of a zero, which finish_minmax normalises.
namespace portable {

constexpr std::size_t block = 16;

template <class T>
QAFFINE_PORTABLE_LOOP minmax_result<T> minmax(const T* x, std::size_t n) noexcept {
    using flag = typename std::conditional<sizeof(T) == 4, std::int32_t, std::int64_t>::type;
    constexpr T inf = std::numeric_limits<T>::infinity();
    T lo[block], hi[block];
    flag nan[block];
    for (std::size_t k = 0; k < block; ++k) {
        lo[k] = inf;
        hi[k] = -inf;
        nan[k] = 0;
    }
    std::size_t i = 0;
    for (; i + block <= n; i += block) {
        QAFFINE_NO_UNROLL
        for (std::size_t k = 0; k < block; ++k) {
            const T v = x[i + k];
            lo[k] = v < lo[k] ? v : lo[k];
            hi[k] = v > hi[k] ? v : hi[k];
            nan[k] |= static_cast<flag>(v != v);
        }
    }
    minmax_result<T> r = scalar::minmax(x + i, n - i);
    bool any_nan = r.has_nan;
    for (std::size_t k = 0; k < block; ++k) {
        r.lo = lo[k] < r.lo ? lo[k] : r.lo;
        r.hi = hi[k] > r.hi ? hi[k] : r.hi;
        any_nan = any_nan || nan[k] != 0;
    }
    return detail::finish_minmax(r.lo, r.hi, any_nan);
}

}  // namespace portable

namespace scalar {

/// Tagged forms, the scalar level's entries for dispatch() (the portable loops where there are some). Four rows
/// at a time is row by row here.
template <class T>
inline minmax_result<T> minmax(isa, const T* x, std::size_t n) noexcept {
    return portable::minmax(x, n);
}
template <class T>
inline bool minmax_accumulate(isa, const T* x, std::size_t n, T* lo, T* hi) noexcept {
    return minmax_accumulate(x, n, lo, hi);
}
inline bool minmax_accumulate4(isa, const float* x, std::size_t stride, std::size_t n, float* lo, float* hi) noexcept {
    bool nan = false;
    for (std::size_t r = 0; r < 4; ++r) nan = minmax_accumulate(x + r * stride, n, lo, hi) || nan;
    return nan;
}

}  // namespace scalar

}  // namespace qaffine

#include "ops.hpp"
#define QAFFINE_KERNELS "minmax-inl.hpp"
#include "foreach_isa.hpp"

namespace qaffine {

/// Dispatching entry point: runs the kernel of `level` (lowered to what this CPU supports).
template <class T>
inline minmax_result<T> minmax(const T* x, std::size_t n, simd_level level = active_level()) noexcept {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "qaffine::minmax takes float or double");
    return dispatch(level, [&](auto isa) { return minmax(isa, x, n); });
}

/// Dispatching element-wise accumulation (see scalar::minmax_accumulate); returns true if x held a NaN.
template <class T>
inline bool minmax_accumulate(const T* x, std::size_t n, T* lo, T* hi, simd_level level = active_level()) noexcept {
    return dispatch(level, [&](auto isa) { return minmax_accumulate(isa, x, n, lo, hi); });
}

/// minmax_accumulate() of `rows` rows x, x + stride, ...: the same lo, hi and NaN report as row by row (float32
/// takes four rows at a time at the SIMD levels: lo and hi then move through the cache a quarter as often).
template <class T>
inline bool minmax_accumulate_rows(const T* x, std::size_t stride, std::size_t rows, std::size_t n, T* lo, T* hi,
                                   simd_level level = active_level()) noexcept {
    return dispatch(level, [&](auto isa) {
        bool nan = false;
        std::size_t r = 0;
        if constexpr (std::is_same<T, float>::value)
            for (; r + 4 <= rows; r += 4) nan = minmax_accumulate4(isa, x + r * stride, stride, n, lo, hi) || nan;
        for (; r < rows; ++r) nan = minmax_accumulate(isa, x + r * stride, n, lo, hi) || nan;
        return nan;
    });
}

}  // namespace qaffine
