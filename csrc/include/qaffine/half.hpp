// qaffine/half.hpp — IEEE binary16 to binary32 conversion (exact: every half is a float).
// Portable bit manipulation, no F16C needed. Thread safety: pure function.
#pragma once

#include <cstdint>
#include <cstring>

namespace qaffine {

/// Converts the bits of an IEEE 754 half-precision number to float, exactly (NaN payloads kept).
inline float half_to_float(std::uint16_t h) noexcept {
    const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
    std::uint32_t exp = (h >> 10) & 0x1Fu;
    std::uint32_t mant = h & 0x3FFu;
    std::uint32_t bits;
    if (exp == 0x1Fu) {
        bits = sign | 0x7F800000u | (mant << 13);  // Inf or NaN
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

}  // namespace qaffine
