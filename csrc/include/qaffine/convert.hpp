// qaffine/convert.hpp — runs of 16-bit floats widened to float32 for the kernels (bfloat16: exact).
//
// strided.hpp gathers inputs that are not float32 or float64 chunk by chunk; a contiguous run of bfloat16
// goes through widen_bf16 here, one shift per lane at the SIMD levels (ops load_bf16), the bits of
// half.hpp's bf16_to_float at every level. Thread safety: pure functions.
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

/// The tagged form, the scalar level's entry for dispatch().
inline void widen_bf16(isa, const std::uint16_t* src, std::size_t n, float* dst) noexcept { widen_bf16(src, n, dst); }

}  // namespace scalar

}  // namespace qaffine

#include "ops_avx2.hpp"
#include "ops_avx512.hpp"
#define QAFFINE_KERNELS "convert-inl.hpp"
#include "foreach_isa.hpp"

namespace qaffine {

/// Dispatching widen_bf16 (src 2-byte aligned).
inline void widen_bf16(const std::uint16_t* src, std::size_t n, float* dst, simd_level level = active_level()) noexcept {
    dispatch(level, [&](auto isa) { widen_bf16(isa, src, n, dst); });
}

}  // namespace qaffine
