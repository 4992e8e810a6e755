// qaffine/half.hpp — the 16-bit float formats: IEEE binary16 (float16) and bfloat16, to and from binary32.
// Widening is exact (every float16 and bfloat16 is a float); narrowing rounds to nearest, ties to even, as
// NumPy's and ml_dtypes' casts, torch's .to() and the F16C / AVX-512 conversion instructions do.
// Portable bit manipulation, no F16C needed. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <cstring>

namespace qaffine {

/// The element types of 16-bit float buffers (their bits as stored): distinct types, so that overloads tell
/// them apart from each other and from 16-bit integer codes.
struct float16 {
    std::uint16_t bits;
};
struct bfloat16 {
    std::uint16_t bits;
};
static_assert(sizeof(float16) == 2 && sizeof(bfloat16) == 2, "16-bit float buffers are arrays of uint16");

/// Converts the bits of an IEEE 754 half-precision number to float, exactly (NaN: sign and payload kept, made
/// quiet, as F16C's vcvtph2ps does, so that the SIMD levels agree bit for bit).
inline float half_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t mant = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (mant << 13) | (mant != 0 ? 0x00400000u : 0u);  // Inf or NaN (quiet)
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (mant << 13);  // normal: rebias 15 -> 127
    } else if (mant == 0) {
        bits = sign;  // ±0
    } else {
        // Subnormal half: normalise the mantissa.
        exp = 113u;
        while ((mant & 0x400u) == 0) {
            mant <<= 1;
            --exp;
        }
        bits = sign | (exp << 23) | ((mant & 0x3FFu) << 13);
    }
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

/// The bits of a bfloat16 as a float: the upper half of a binary32, so exact (NaN payloads kept).
inline float bf16_to_float(std::uint16_t b) noexcept {
    const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
}

/// float to IEEE binary16 bits, round to nearest even; overflow gives ±Inf, tiny values ±0 or subnormals.
/// NaN stays NaN with its sign and top payload bits, made quiet: what F16C's vcvtps2ph writes, so that the
/// SIMD levels and this agree on every input.
inline std::uint16_t float_to_half(float f) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    const auto sign = static_cast<std::uint16_t>((u >> 16) & 0x8000u);
    const std::uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u | ((a >> 13) & 0x3FFu));
    if (a >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // >= 65520 rounds to Inf
    if (a >= 0x38800000u) {  // a normal half (>= 2^-14): drop 13 bits, a carry may bump the exponent
        const std::uint32_t r = a + 0xFFFu + ((a >> 13) & 1u);
        return static_cast<std::uint16_t>(sign | ((r - 0x38000000u) >> 13));  // rebias 127 -> 15
    }
    // A half subnormal (or zero): round(|f| * 2^24), where |f| = mant * 2^(e - 150).
    const std::uint32_t e = a >> 23;
    const std::uint32_t shift = 126u - e;  // >= 14 here
    if (shift > 24u) return sign;  // |f| < 2^-25: rounds to zero
    const std::uint32_t mant = (a & 0x7FFFFFu) | 0x800000u;
    std::uint32_t n = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (n & 1u) != 0)) ++n;
    return static_cast<std::uint16_t>(sign | n);
}

/// float to bfloat16 bits, round to nearest even (overflow gives ±Inf). NaN stays NaN with its sign and top
/// payload bits, made quiet (as AVX512_BF16's vcvtneps2bf16 does).
inline std::uint16_t float_to_bf16(float f) noexcept {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
    return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

}  // namespace qaffine
