// qaffine/packed.hpp — codes of 1 to 4 bits packed into bytes, written and read by the kernels directly.
//
// A code of `bits` bits lives in a field of W = field_width(bits) bits (1, 2 or 4; 3-bit codes use 4-bit
// fields), 8 / W fields to a byte, the first code in the lowest bits (the ONNX uint4 / int4 order). Signed
// codes keep the low W bits of their two's complement and are sign-extended from W bits when read. The code
// at position i (C order of the array) is field i: byte i / (8 / W), bits (i % (8 / W)) * W.
//
//   packed_codes<Q>{bytes, W}  where quantize writes (Q, uint8_t or int8_t, says the codes' signedness)
//   packed_view<Q>{bytes, W}   where dequantize reads
// are accepted wherever the per-tensor, per-channel and per-block entry points (granular.hpp, dynamic.hpp)
// take a Q* / const Q*: the SIMD loops narrow each register of codes straight into fields (store_fields of the
// ops layer) and widen fields straight into int32 lanes (widen_fields); no unpacked code array is made.
// A run that starts inside a byte writes its first fields one by one (read-modify-write of that byte), so
// the entry points split work between threads only at byte boundaries (detail::packed_align). Bits of the
// last byte past the last code are left as they were: callers zero that byte first (the Python module does).
// Double input and output take the scalar loops at every level. Kernels never throw.
// Thread safety: pure functions; concurrent calls must write disjoint bytes.
#pragma once

#include <algorithm>
#include <cstddef>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu.hpp"
#include "dequantize.hpp"
#include "parallel.hpp"
#include "qparams.hpp"
#include "quantize.hpp"

namespace qaffine {

/// The field width (1, 2 or 4 bits) that codes of `bits` bits (1 to 4) are packed in.
constexpr unsigned field_width(int bits) noexcept { return bits <= 1 ? 1u : bits == 2 ? 2u : 4u; }

/// Bytes that hold `count` fields of `width` bits.
constexpr std::size_t packed_bytes(std::size_t count, unsigned width) noexcept {
    return (count + 8 / width - 1) / (8 / width);
}

/// Destination of packed codes of type Q (whose signedness they carry); width 1, 2 or 4.
template <class Q>
struct packed_codes {
    std::uint8_t* bytes;
    unsigned width;
};

/// Source of packed codes, sign-extended when read if Q is signed.
template <class Q>
struct packed_view {
    const std::uint8_t* bytes;
    unsigned width;
};

/// Calls f(std::integral_constant<unsigned, W>{}) for the field width w (1, 2, otherwise 4).
template <class F>
inline decltype(auto) dispatch_width(unsigned w, F&& f) {
    if (w == 1) return f(std::integral_constant<unsigned, 1>{});
    if (w == 2) return f(std::integral_constant<unsigned, 2>{});
    return f(std::integral_constant<unsigned, 4>{});
}

namespace scalar {

/// Field i of the bytes at b: the specification every SIMD level reproduces.
template <unsigned W>
inline void put_field(std::uint8_t* b, std::size_t i, std::int32_t code) noexcept {
    constexpr unsigned per = 8 / W, mask = (1u << W) - 1u;
    const unsigned shift = static_cast<unsigned>(i % per) * W;
    std::uint8_t& byte = b[i / per];
    byte = static_cast<std::uint8_t>((byte & ~(mask << shift)) | ((static_cast<unsigned>(code) & mask) << shift));
}

template <unsigned W, class Q>
inline std::int32_t get_field(const std::uint8_t* b, std::size_t i) noexcept {
    constexpr unsigned per = 8 / W, mask = (1u << W) - 1u;
    const unsigned v = (static_cast<unsigned>(b[i / per]) >> (static_cast<unsigned>(i % per) * W)) & mask;
    if (std::is_signed<Q>::value && (v >> (W - 1)) != 0) return static_cast<std::int32_t>(v) - (1 << W);
    return static_cast<std::int32_t>(v);
}

/// Codes of x[0, n) into fields pos, pos + 1, ... of b. Returns true if x held a NaN.
template <rounding R, unsigned W, class T>
inline bool quantize_fields(const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax,
                            std::uint8_t* b, std::size_t pos) noexcept {
    const T st = static_cast<T>(s);
    bool nan = false;
    for (std::size_t i = 0; i < n; ++i) {
        nan |= (x[i] != x[i]);
        put_field<W>(b, pos + i, quantize_one<R>(x[i], st, z, qmin, qmax));
    }
    return nan;
}

template <rounding R, unsigned W, class T>
inline bool quantize_fields_vec(const T* x, std::size_t n, const float* s, const std::int32_t* z, std::int32_t qmin,
                                std::int32_t qmax, std::uint8_t* b, std::size_t pos) noexcept {
    bool nan = false;
    for (std::size_t i = 0; i < n; ++i) {
        nan |= (x[i] != x[i]);
        put_field<W>(b, pos + i, quantize_one<R>(x[i], static_cast<T>(s[i]), z[i], qmin, qmax));
    }
    return nan;
}

template <unsigned W, class Q, class T>
inline void dequantize_fields(const std::uint8_t* b, std::size_t pos, std::size_t n, float scale, std::int32_t z,
                              T* out) noexcept {
    using Rl = detail::real_of<T>;  // float for the 16-bit floats, rounded once when stored (dequantize.hpp)
    const Rl s = static_cast<Rl>(scale);
    for (std::size_t i = 0; i < n; ++i) detail::store_real(out + i, static_cast<Rl>(get_field<W, Q>(b, pos + i) - z) * s);
}

template <unsigned W, class Q, class T>
inline void dequantize_fields_vec(const std::uint8_t* b, std::size_t pos, std::size_t n, const float* s,
                                  const std::int32_t* z, T* out) noexcept {
    using Rl = detail::real_of<T>;
    for (std::size_t i = 0; i < n; ++i)
        detail::store_real(out + i, static_cast<Rl>(get_field<W, Q>(b, pos + i) - z[i]) * static_cast<Rl>(s[i]));
}

/// Tagged forms (b at a byte boundary), the scalar level's entries for dispatch().
template <rounding R, unsigned W, class Q, class T>
inline bool quantize_fields(isa, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                            std::int32_t qmax, std::uint8_t* b) noexcept {
    return quantize_fields<R, W>(x, n, s, z, qmin, qmax, b, 0);
}
template <rounding R, unsigned W, class Q, class T>
inline bool quantize_fields_vec(isa, const T* x, std::size_t n, const float* s, const std::int32_t* z,
                                std::int32_t qmin, std::int32_t qmax, std::uint8_t* b) noexcept {
    return quantize_fields_vec<R, W>(x, n, s, z, qmin, qmax, b, 0);
}
template <unsigned W, class Q, class T>
inline void dequantize_fields(isa, const std::uint8_t* b, std::size_t pos, std::size_t n, float scale, std::int32_t z,
                              T* out) noexcept {
    dequantize_fields<W, Q>(b, pos, n, scale, z, out);
}
template <unsigned W, class Q, class T>
inline void dequantize_fields_vec(isa, const std::uint8_t* b, std::size_t pos, std::size_t n, const float* s,
                                  const std::int32_t* z, T* out) noexcept {
    dequantize_fields_vec<W, Q>(b, pos, n, s, z, out);
}

}  // namespace scalar

namespace detail {
template <class O>
struct is_packed : std::false_type {};
template <class Q>
struct is_packed<packed_codes<Q>> : std::true_type {};
template <class Q>
struct is_packed<packed_view<Q>> : std::true_type {};
}  // namespace detail

}  // namespace qaffine

#include "ops.hpp"
#define QAFFINE_KERNELS "packed-inl.hpp"
#include "foreach_isa.hpp"

namespace qaffine {

namespace detail {

// The kernels of level Isa for fields [pos, pos + n): the fields before the first byte boundary one by one,
// the rest from that byte on by the level's loop (float) or the scalar one (double).
template <class Isa, rounding R, unsigned W, class Q, class T>
inline bool quantize_fields_at(Isa, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                               std::int32_t qmax, std::uint8_t* b, std::size_t pos) noexcept {
    constexpr std::size_t per = 8 / W;
    const std::size_t head = std::min(n, (per - pos % per) % per);
    bool nan = scalar::quantize_fields<R, W>(x, head, s, z, qmin, qmax, b, pos);
    if (n == head) return nan;
    std::uint8_t* at = b + (pos + head) / per;
    using scalar::quantize_fields;
    if constexpr (std::is_same<T, float>::value)
        return quantize_fields<R, W, Q>(Isa{}, x + head, n - head, s, z, qmin, qmax, at) || nan;
    else
        return quantize_fields<R, W, Q>(scalar::isa{}, x + head, n - head, s, z, qmin, qmax, at) || nan;
}

template <class Isa, rounding R, unsigned W, class Q, class T>
inline bool quantize_fields_vec_at(Isa, const T* x, std::size_t n, const float* s, const std::int32_t* z,
                                   std::int32_t qmin, std::int32_t qmax, std::uint8_t* b, std::size_t pos) noexcept {
    constexpr std::size_t per = 8 / W;
    const std::size_t head = std::min(n, (per - pos % per) % per);
    bool nan = scalar::quantize_fields_vec<R, W>(x, head, s, z, qmin, qmax, b, pos);
    if (n == head) return nan;
    std::uint8_t* at = b + (pos + head) / per;
    using scalar::quantize_fields_vec;
    if constexpr (std::is_same<T, float>::value)
        return quantize_fields_vec<R, W, Q>(Isa{}, x + head, n - head, s + head, z + head, qmin, qmax, at) || nan;
    else
        return quantize_fields_vec<R, W, Q>(scalar::isa{}, x + head, n - head, s + head, z + head, qmin, qmax, at) || nan;
}

// Reading needs no byte boundary: the level's loops read a run that starts inside a byte at its bit offset.
template <class Isa, unsigned W, class Q, class T>
inline void dequantize_fields_at(Isa, const std::uint8_t* b, std::size_t pos, std::size_t n, float scale,
                                 std::int32_t z, T* out) noexcept {
    using scalar::dequantize_fields;
    if constexpr (std::is_same<T, float>::value)
        dequantize_fields<W, Q>(Isa{}, b, pos, n, scale, z, out);
    else
        dequantize_fields<W, Q>(scalar::isa{}, b, pos, n, scale, z, out);
}

template <class Isa, unsigned W, class Q, class T>
inline void dequantize_fields_vec_at(Isa, const std::uint8_t* b, std::size_t pos, std::size_t n, const float* s,
                                     const std::int32_t* z, T* out) noexcept {
    using scalar::dequantize_fields_vec;
    if constexpr (std::is_same<T, float>::value)
        dequantize_fields_vec<W, Q>(Isa{}, b, pos, n, s, z, out);
    else
        dequantize_fields_vec<W, Q>(scalar::isa{}, b, pos, n, s, z, out);
}

// ---- the destinations and sources the granular and per-tensor entry points are written over -------------
// put_*: codes of x[0, n) at positions [at, at + n) of the destination; get_*: floats of positions
// [at, at + n) of the source. Plain Q pointers call the code kernels of quantize.hpp / dequantize.hpp.

template <rounding R, class Isa, class T, class Q>
inline bool put_run(Isa, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax,
                    Q* out, std::size_t at) noexcept {
    using scalar::quantize;
    return quantize<R>(Isa{}, x, n, s, z, qmin, qmax, out + at);
}
template <rounding R, class Isa, class T, class Q>
inline bool put_run(Isa, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin, std::int32_t qmax,
                    packed_codes<Q> out, std::size_t at) noexcept {
    return dispatch_width(out.width, [&](auto W) {
        return quantize_fields_at<Isa, R, decltype(W)::value, Q>(Isa{}, x, n, s, z, qmin, qmax, out.bytes, at);
    });
}

template <class T, class O>
inline bool put_run(rounding r, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                    std::int32_t qmax, O out, std::size_t at, simd_level level) noexcept {
    return dispatch(level, [&](auto isa) {
        return dispatch(r, [&](auto R) { return put_run<decltype(R)::value>(isa, x, n, s, z, qmin, qmax, out, at); });
    });
}

template <class T, class Q>
inline bool put_vec(rounding r, const T* x, std::size_t n, const float* s, const std::int32_t* z, std::int32_t qmin,
                    std::int32_t qmax, Q* out, std::size_t at, simd_level level) noexcept {
    return quantize_vec(r, x, n, s, z, qmin, qmax, out + at, level);
}
template <class T, class Q>
inline bool put_vec(rounding r, const T* x, std::size_t n, const float* s, const std::int32_t* z, std::int32_t qmin,
                    std::int32_t qmax, packed_codes<Q> out, std::size_t at, simd_level level) noexcept {
    return dispatch(level, [&](auto isa) {
        return dispatch(r, [&](auto R) {
            return dispatch_width(out.width, [&](auto W) {
                return quantize_fields_vec_at<decltype(isa), decltype(R)::value, decltype(W)::value, Q>(
                    isa, x, n, s, z, qmin, qmax, out.bytes, at);
            });
        });
    });
}

template <class Q, class T>
inline void get_run(const Q* q, std::size_t at, std::size_t n, float scale, std::int32_t z, T* out,
                    simd_level level) noexcept {
    dequantize_unchecked(q + at, n, qparams{scale, z, 0, 1}, out, level);
}
template <class Q, class T>
inline void get_run(packed_view<Q> q, std::size_t at, std::size_t n, float scale, std::int32_t z, T* out,
                    simd_level level) noexcept {
    dispatch(level, [&](auto isa) {
        dispatch_width(q.width, [&](auto W) {
            dequantize_fields_at<decltype(isa), decltype(W)::value, Q>(isa, q.bytes, at, n, scale, z, out);
        });
    });
}

template <class Q, class T>
inline void get_vec(const Q* q, std::size_t at, std::size_t n, const float* s, const std::int32_t* z, T* out,
                    simd_level level) noexcept {
    dequantize_vec(q + at, n, s, z, out, level);
}
template <class Q, class T>
inline void get_vec(packed_view<Q> q, std::size_t at, std::size_t n, const float* s, const std::int32_t* z, T* out,
                    simd_level level) noexcept {
    dispatch(level, [&](auto isa) {
        dispatch_width(q.width, [&](auto W) {
            dequantize_fields_vec_at<decltype(isa), decltype(W)::value, Q>(isa, q.bytes, at, n, s, z, out);
        });
    });
}

/// Field width of a destination or source (8 for plain codes).
template <class Q>
constexpr unsigned width_of(Q*) noexcept { return 8; }
template <class Q>
inline unsigned width_of(packed_codes<Q> o) noexcept { return o.width; }
template <class Q>
inline unsigned width_of(packed_view<Q> o) noexcept { return o.width; }

/// The `align` for parallel_ranges over the units of a layout whose unit u starts at element
/// (u / per_row) * row + (u % per_row) * unit, so that every split falls on a byte boundary of packed codes
/// (a run that starts inside a byte rewrites that byte): `plain` when all unit starts are, multiples of 8
/// units when rows are (or there is one row), else multiples of 8 rows.
inline std::size_t packed_align(unsigned width, std::size_t plain, std::size_t unit, std::size_t per_row,
                                std::size_t row, std::size_t rows) noexcept {
    if (width >= 8) return plain;
    const std::size_t per = 8 / width;
    if (unit % per == 0 && row % per == 0) return plain;
    const std::size_t a = (row % per == 0 || rows <= 1) ? 8 : 8 * per_row;
    return a % plain == 0 ? a : a * plain;
}

/// Copies n bytes of fields to the bit stream of d from bit `shift` (1..7) on: d[0]'s bits below `shift` and
/// d[n]'s from `shift` up are kept (fields of neighbouring runs). For runs of whole bytes of fields that start
/// inside a byte (rows of an odd length, say), made by a loop that needs a byte boundary.
inline void shift_fields(const std::uint8_t* src, std::size_t n, std::uint8_t* d, unsigned shift) noexcept {
    const unsigned low = (1u << shift) - 1u;
    std::uint64_t carry = d[0] & low;  // the bits that go below the next source bits
    std::size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, src + k, 8);
        const std::uint64_t o = (w << shift) | carry;
        carry = w >> (64 - shift);
        std::memcpy(d + k, &o, 8);
    }
    for (; k < n; ++k) {
        const unsigned v = src[k];
        d[k] = static_cast<std::uint8_t>((v << shift) | carry);
        carry = v >> (8 - shift);
    }
    d[n] = static_cast<std::uint8_t>((d[n] & ~low) | carry);
}

/// Codes of x[0, n) at positions [pos, pos + n) of out, on the thread pool (splits at multiples of 64).
template <class T, class Q>
inline bool put_run_parallel(rounding r, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                             std::int32_t qmax, Q* out, std::size_t pos, simd_level level) {
    return quantize_run_parallel(r, x, n, s, z, qmin, qmax, out + pos, level);
}
template <class T, class Q>
inline bool put_run_parallel(rounding r, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                             std::int32_t qmax, packed_codes<Q> out, std::size_t pos, simd_level level) {
    std::atomic<bool> nan{false};
    parallel_ranges(n, [&](std::size_t b, std::size_t e) {
        if (put_run(r, x + b, e - b, s, z, qmin, qmax, out, pos + b, level)) nan.store(true);
    });
    return nan.load();
}

}  // namespace detail

/// Dequantizes the n packed codes of q (fields 0 .. n - 1) on the thread pool; unchecked parameters.
template <class Q, class T>
inline void dequantize_packed(packed_view<Q> q, std::size_t n, const qparams& p, T* out,
                              simd_level level = active_level()) {
    parallel_ranges(n, [&](std::size_t b, std::size_t e) {
        detail::get_run(q, b, e - b, p.scale, p.zero_point, out + b, level);
    });
}

}  // namespace qaffine
