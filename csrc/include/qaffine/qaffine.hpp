// qaffine/qaffine.hpp — the whole library, plus the one-call dynamic quantization.
//
//   #include <qaffine/qaffine.hpp>
//   std::vector<std::uint8_t> codes(n);
//   qaffine::qparams p = qaffine::quantize_dynamic(x.data(), n, codes.data());
//
// Header-only, C++17, no dependencies beyond the standard library. quantize_dynamic throws
// std::invalid_argument for an empty input and std::domain_error for NaN/Inf; it is thread-safe (a pure
// function, like everything here apart from the process-wide SIMD level in cpu.hpp).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include "cpu.hpp"
#include "dequantize.hpp"
#include "granular.hpp"
#include "half.hpp"
#include "minmax.hpp"
#include "parallel.hpp"
#include "qparams.hpp"
#include "quantize.hpp"
#include "version.hpp"

namespace qaffine {

/// Dynamic quantization, ONNX DynamicQuantizeLinear semantics for float input: finds the range in one
/// pass, chooses the parameters, writes the codes in a second pass, returns the parameters.
/// Throws std::invalid_argument for n == 0 and std::domain_error if x holds a NaN or an infinity
/// (nothing is written then).
template <class T, class Q = std::uint8_t>
inline qparams quantize_dynamic(const T* x, std::size_t n, Q* out, std::int32_t qmin = 0, std::int32_t qmax = 255,
                                simd_level level = active_level()) {
    if (n == 0) throw std::invalid_argument("cannot choose quantization parameters for an empty array");
    const minmax_result<T> mm = minmax(x, n, level);
    if (mm.has_nan) throw std::domain_error("input contains NaN");
    if (std::isinf(mm.lo) || std::isinf(mm.hi)) throw std::domain_error("input contains an infinite value");
    const qparams p = choose_qparams(mm.lo, mm.hi, qmin, qmax);
    quantize(x, n, p, out, level);
    return p;
}

}  // namespace qaffine
