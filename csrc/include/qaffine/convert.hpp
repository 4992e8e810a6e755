// qaffine/convert.hpp — runs of 16-bit floats widened to float32 for the kernels (exact).
//
// strided.hpp gathers inputs that are not float32 or float64 chunk by chunk; a contiguous run of bfloat16
// or float16 goes through widen_bf16 / widen_f16 here: one shift per lane (ops load_bf16) or one F16C /
// AVX-512 conversion (ops load_f16) at the SIMD levels, the bits of half.hpp's bf16_to_float /
// half_to_float at every level. Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu.hpp"
#include "half.hpp"

namespace qaffine {

namespace scalar {

/// dst[i] = the float of the bfloat16 bits src[i] (exact).
inline void widen_bf16(const std::uint16_t* src, std::size_t n, float* dst) noexcept {
    for (std::size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(src[i]);
}

/// dst[i] = the float of the IEEE float16 bits src[i] (exact).
inline void widen_f16(const std::uint16_t* src, std::size_t n, float* dst) noexcept {
    for (std::size_t i = 0; i < n; ++i) dst[i] = half_to_float(src[i]);
}

/// The tagged forms, the scalar level's entries for dispatch().
inline void widen_bf16(isa, const std::uint16_t* src, std::size_t n, float* dst) noexcept { widen_bf16(src, n, dst); }
inline void widen_f16(isa, const std::uint16_t* src, std::size_t n, float* dst) noexcept { widen_f16(src, n, dst); }

}  // namespace scalar

}  // namespace qaffine

#include "ops.hpp"
#define QAFFINE_KERNELS "convert-inl.hpp"
#include "foreach_isa.hpp"

namespace qaffine {

/// Dispatching widen_bf16 (src 2-byte aligned).
inline void widen_bf16(const std::uint16_t* src, std::size_t n, float* dst, simd_level level = active_level()) noexcept {
    dispatch(level, [&](auto isa) { widen_bf16(isa, src, n, dst); });
}

/// Dispatching widen_f16 (src 2-byte aligned).
inline void widen_f16(const std::uint16_t* src, std::size_t n, float* dst, simd_level level = active_level()) noexcept {
    dispatch(level, [&](auto isa) { widen_f16(isa, src, n, dst); });
}

}  // namespace qaffine
