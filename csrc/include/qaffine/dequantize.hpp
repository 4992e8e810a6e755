// qaffine/dequantize.hpp — integer codes back to floats: x = T(q - z) * T(s).
//
// q - z is exact in int32; its conversion to T is exact for |q - z| <= 2^24; one rounding in the
// product, as ONNX DequantizeLinear computes (float32(q) - float32(z)) * s. T is float or double, or a
// 16-bit float (float16, bfloat16 of half.hpp): the float result rounded to nearest even, in registers (no
// float temporary), the bits of casting the float output. Q is std::uint8_t, std::int8_t, std::uint16_t or
// std::int16_t (|q - z| <= 2^23 + 65535 < 2^24: exact). Every SIMD level writes the same bits as the scalar
// loop. The kernels
// never throw; dequantize() validates its qparams first (std::invalid_argument).
// Thread safety: pure functions of their arguments.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu.hpp"
#include "half.hpp"
#include "qparams.hpp"

namespace qaffine {

namespace detail {
template <class T>
struct is_float16 : std::integral_constant<bool, std::is_same<T, float16>::value || std::is_same<T, bfloat16>::value> {};

// A float result stored as T: as is, or its 16-bit float rounded to nearest even.
inline void store_real(float* p, float v) noexcept { *p = v; }
inline void store_real(double* p, double v) noexcept { *p = v; }
inline void store_real(float16* p, float v) noexcept { p->bits = float_to_half(v); }
inline void store_real(bfloat16* p, float v) noexcept { p->bits = float_to_bf16(v); }

// The arithmetic type of output T: double for double, float otherwise.
template <class T>
using real_of = typename std::conditional<std::is_same<T, double>::value, double, float>::type;
}  // namespace detail

namespace scalar {

template <class Q, class T>
inline void dequantize(const Q* q, std::size_t n, float scale, std::int32_t zero_point, T* out) noexcept {
    using R = detail::real_of<T>;
    const R s = static_cast<R>(scale);
    for (std::size_t i = 0; i < n; ++i)
        detail::store_real(out + i, static_cast<R>(static_cast<std::int32_t>(q[i]) - zero_point) * s);
}

/// Element i uses (s[i], z[i]).
template <class Q, class T>
inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z, T* out) noexcept {
    using R = detail::real_of<T>;
    for (std::size_t i = 0; i < n; ++i)
        detail::store_real(out + i, static_cast<R>(static_cast<std::int32_t>(q[i]) - z[i]) * static_cast<R>(s[i]));
}

}  // namespace scalar

namespace portable {  // the scalar level's loops, for the vectorisers (minmax.hpp, namespace portable, says how)

template <class Q, class T>
QAFFINE_PORTABLE_LOOP void dequantize(const Q* q, std::size_t n, float scale, std::int32_t zero_point, T* out) noexcept {
    constexpr std::size_t block = 16;
    const T s = static_cast<T>(scale);
    std::size_t i = 0;
    for (; i + block <= n; i += block) {
        Q c[block];  // codes copied first: out may alias q as far as the compiler knows (Q is a character type)
        std::memcpy(c, q + i, sizeof(c));
        QAFFINE_NO_UNROLL
        for (std::size_t k = 0; k < block; ++k) out[i + k] = static_cast<T>(static_cast<std::int32_t>(c[k]) - zero_point) * s;
    }
    scalar::dequantize(q + i, n - i, scale, zero_point, out + i);
}

}  // namespace portable

namespace scalar {

/// Tagged forms, the scalar level's entries for dispatch() (the portable loops where there are some).
template <class Q, class T>
inline void dequantize(isa, const Q* q, std::size_t n, float scale, std::int32_t zero_point, T* out) noexcept {
    if constexpr (std::is_floating_point<T>::value) portable::dequantize(q, n, scale, zero_point, out);
    else scalar::dequantize(q, n, scale, zero_point, out);
}
template <class Q, class T>
inline void dequantize_vec(isa, const Q* q, std::size_t n, const float* s, const std::int32_t* z, T* out) noexcept {
    scalar::dequantize_vec(q, n, s, z, out);  // qualified: ADL on float16 / bfloat16 would also find qaffine's
}

}  // namespace scalar

}  // namespace qaffine

#include "ops.hpp"
#define QAFFINE_KERNELS "dequantize-inl.hpp"
#include "foreach_isa.hpp"

namespace qaffine {

/// Dispatching kernel with unchecked parameters.
template <class Q, class T>
inline void dequantize_unchecked(const Q* q, std::size_t n, const qparams& p, T* out,
                                 simd_level level = active_level()) noexcept {
    static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value || detail::is_float16<T>::value,
                  "qaffine::dequantize writes float, double, float16 or bfloat16");
    static_assert(is_code_type<Q>::value,
                  "qaffine::dequantize reads std::uint8_t, std::int8_t, std::uint16_t or std::int16_t codes");
    dispatch(level, [&](auto isa) { dequantize(isa, q, n, p.scale, p.zero_point, out); });
}

/// Dispatching kernel, element i uses (s[i], z[i]); unchecked parameters.
template <class Q, class T>
inline void dequantize_vec(const Q* q, std::size_t n, const float* s, const std::int32_t* z, T* out,
                           simd_level level = active_level()) noexcept {
    dispatch(level, [&](auto isa) { dequantize_vec(isa, q, n, s, z, out); });
}

/// Checks p (std::invalid_argument), then dequantizes.
template <class Q, class T>
inline void dequantize(const Q* q, std::size_t n, const qparams& p, T* out, simd_level level = active_level()) {
    validate(p);
    dequantize_unchecked(q, n, p, out, level);
}

}  // namespace qaffine
