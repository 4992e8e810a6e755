// qaffine/dynamic.hpp — dynamic quantization of a whole array: its range, its parameters, its codes.
//
//   std::vector<std::uint8_t> codes(n);
//   qaffine::qparams p = qaffine::quantize_dynamic(x.data(), n, codes.data());           // ONNX rules
//   qaffine::quantize_dynamic(x.data(), n, codes.data(), qaffine::scheme{-8, 7, true, true});  // 4-bit symmetric
//
// One implementation serves C++ callers and the Python module: it walks a strided_view (any strides,
// float16 or bfloat16 as its bits) in chunks, and each contiguous chunk runs on the thread pool of parallel.hpp, so
// the result is byte-identical for any thread count. ONNX DynamicQuantizeLinear semantics for the default
// scheme and rounding::divide. quantize_dynamic throws std::invalid_argument for an empty input or a
// scheme that does not fit Q, std::domain_error for NaN/Inf (nothing written then) or a range whose scale
// does not fit float32; quantize_dynamic_status reports NaN/Inf as a status instead (the Python layer then
// names the first bad index). Thread safety: pure functions (apart from the process-wide settings).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "cpu.hpp"
#include "granular.hpp"
#include "minmax.hpp"
#include "parallel.hpp"
#include "qparams.hpp"
#include "quantize.hpp"
#include "strided.hpp"

namespace qaffine {

namespace detail {

// The chunks of an input: a strided_view walked by for_each_chunk, or one contiguous run (whose callers
// then compile no gathering loop).
template <class Src, class T>
struct strided_chunks {
    const strided_view& v;
    simd_level level;  // of the conversions (bfloat16)
    template <class F>
    void operator()(F&& f) const { for_each_chunk<Src, T>(v, f, level); }
};

template <class T>
struct contiguous_chunks {
    const T* x;
    std::size_t n;
    template <class F>
    void operator()(F&& f) const { f(x, n); }
};

template <class T, class Chunks>
inline minmax_result<T> minmax_chunks(const Chunks& chunks, simd_level level) {
    minmax_result<T> all = minmax_result<T>::empty();
    chunks([&](const T* p, std::size_t n) { all.merge(minmax_parallel(p, n, level)); });
    return all;
}

// out: a Q* or packed_codes<Q> (packed.hpp); chunks other than the last hold a multiple of 64 elements, so
// every thread's range starts on a byte boundary of packed codes.
template <class T, class Chunks, class O>
inline bool quantize_chunks(const Chunks& chunks, rounding r, float s, std::int32_t z, std::int32_t qmin,
                            std::int32_t qmax, O out, simd_level level) {
    bool nan = false;
    std::size_t pos = 0;
    chunks([&](const T* x, std::size_t n) {
        nan = put_run_parallel(r, x, n, s, z, qmin, qmax, out, pos, level) || nan;
        pos += n;
    });
    return nan;
}

}  // namespace detail

/// Range of every element of v (stored as Src, computed as T), NaN ignored and reported.
template <class Src, class T>
inline minmax_result<T> minmax_strided(const strided_view& v, simd_level level = active_level()) {
    return detail::minmax_chunks<T>(detail::strided_chunks<Src, T>{v, level}, level);
}

/// Codes of every element of v with one (s, z) (`s` is kernel_scale(scale, r)) into a Q* or packed_codes<Q>;
/// returns true if v held a NaN.
template <class Src, class T, class O>
inline bool quantize_strided(rounding r, const strided_view& v, float s, std::int32_t z, std::int32_t qmin,
                             std::int32_t qmax, O out, simd_level level = active_level()) {
    return detail::quantize_chunks<T>(detail::strided_chunks<Src, T>{v, level}, r, s, z, qmin, qmax, out, level);
}

/// What quantize_dynamic_status found, and the parameters it chose (status ok only).
struct dynamic_result {
    qparams params;
    dynamic_status status = dynamic_status::ok;
};

namespace detail {
template <class T, class Chunks, class O>
inline dynamic_result quantize_dynamic_chunks(const Chunks& chunks, const scheme& sc, rounding r, O out,
                                              simd_level level) {
    dynamic_result res;
    const minmax_result<T> mm = minmax_chunks<T>(chunks, level);
    if (mm.has_nan) {
        res.status = dynamic_status::nan;
    } else if (std::isinf(mm.lo) || std::isinf(mm.hi)) {  // also an empty input: lo = +Inf
        res.status = dynamic_status::inf;
    } else {
        res.params = choose_qparams_checked<T>(mm.lo, mm.hi, sc);
        quantize_chunks<T>(chunks, r, kernel_scale(res.params.scale, r), res.params.zero_point, sc.qmin, sc.qmax,
                           out, level);
    }
    return res;
}
}  // namespace detail

/// Range, parameters under `sc` and codes of v; NaN or ±Inf are reported in the status (nothing written).
/// The scheme must be valid and fit Q (unchecked); throws what choose_qparams throws.
template <class Src, class T, class O>
inline dynamic_result quantize_dynamic_status(const strided_view& v, const scheme& sc, rounding r, O out,
                                              simd_level level = active_level()) {
    return detail::quantize_dynamic_chunks<T>(detail::strided_chunks<Src, T>{v, level}, sc, r, out, level);
}

/// Dynamic quantization of x[0, n) under scheme `sc` with rounding `r`, on the thread pool; returns the
/// parameters. Throws std::invalid_argument for n == 0 or a scheme that does not fit Q, std::domain_error
/// if x holds a NaN or an infinity (nothing is written then).
template <class T, class Q = std::uint8_t>
inline qparams quantize_dynamic(const T* x, std::size_t n, Q* out, const scheme& sc, rounding r = rounding::divide,
                                simd_level level = active_level()) {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                  "qaffine::quantize_dynamic takes float or double input");
    if (n == 0) throw std::invalid_argument("cannot choose quantization parameters for an empty array");
    validate(sc);
    detail::check_fits<Q>(sc.qmin, sc.qmax);
    const dynamic_result res = detail::quantize_dynamic_chunks<T>(detail::contiguous_chunks<T>{x, n}, sc, r, out, level);
    if (res.status == dynamic_status::nan) throw std::domain_error("input contains NaN");
    if (res.status == dynamic_status::inf) throw std::domain_error("input contains an infinite value");
    return res.params;
}

/// ONNX DynamicQuantizeLinear for codes in [qmin, qmax]: quantize_dynamic with the default scheme.
template <class T, class Q = std::uint8_t>
inline qparams quantize_dynamic(const T* x, std::size_t n, Q* out, std::int32_t qmin = 0, std::int32_t qmax = 255,
                                simd_level level = active_level()) {
    return quantize_dynamic(x, n, out, scheme{qmin, qmax, false, true}, rounding::divide, level);
}

}  // namespace qaffine
