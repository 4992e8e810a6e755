// qaffine/granular.hpp — per-tensor, per-channel and per-block quantization of a C-contiguous array.
//
// The array is viewed as [outer][channels][inner] around the quantized axis. A `layout` says how elements
// form groups, each with its own (scale, zero point):
//   block == 0  per channel: group c holds every element of channel c (params shape (channels,));
//   block == B  per block: group (o, c / B, i) holds B consecutive channels at one (o, i) position
//               (params shape (outer, ceil(channels / B), inner), the last block may be short);
//   per_tensor(n) is the one-group layout {1, n, 1, n}.
// Every loop walks contiguous runs of x: a run with one group goes to the run kernels, a run whose
// elements each have their own group (channel = last axis, or blocks along a leading axis) to the
// element-wise `_vec` kernels; no transposed copy is ever made.
// quantize_dynamic_groups() finds each group's range, chooses its parameters and writes its codes; blocks
// along the last axis do all three while the block is in L1 (one pass over memory).
// Codes go to a Q* or to packed fields (packed_codes<Q>, packed.hpp) and come from a const Q* or a
// packed_view<Q>: the same loops, split between threads only at byte boundaries of the fields.
// Functions throw what choose_qparams throws; kernels never throw. Thread safety: pure functions.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>
#include <algorithm>
#include <array>
#include <atomic>
#include <type_traits>

#include "dequantize.hpp"
#include "minmax.hpp"
#include "packed.hpp"
#include "parallel.hpp"
#include "qparams.hpp"
#include "quantize.hpp"

namespace qaffine {

struct layout {
    std::size_t outer = 1;
    std::size_t channels = 0;
    std::size_t inner = 1;
    std::size_t block = 0;  ///< 0: per channel; B > 0: blocks of B channels

    std::size_t size() const noexcept { return outer * channels * inner; }
    std::size_t blocks() const noexcept { return block == 0 ? channels : (channels + block - 1) / block; }
    /// Number of (scale, zero point) pairs.
    std::size_t groups() const noexcept { return block == 0 ? channels : outer * blocks() * inner; }
};

/// One group over n elements.
inline layout per_tensor(std::size_t n) noexcept { return layout{1, n, 1, n == 0 ? 1 : n}; }

namespace detail {

// Units of work for a layout: each unit is a set of contiguous runs that no other unit touches, of
// unit_size() elements; splitting over units keeps every result identical to the serial loop.
inline std::size_t unit_grain(std::size_t unit_size) noexcept {
    return std::max<std::size_t>(1, parallel_grain / std::max<std::size_t>(1, unit_size));
}

// parallel_ranges' align for the units of g's loops below (rows of I elements, or of C with I == 1, per
// channel; blocks of B rows per block) given the field width of the codes (8: plain).
inline std::size_t group_align(const layout& g, unsigned width, std::size_t plain = 1) noexcept {
    const std::size_t C = g.channels, I = g.inner;
    if (g.block == 0) return packed_align(width, plain, I == 1 ? C : I, 1, I == 1 ? C : I, 1);
    return packed_align(width, plain, g.block * I, g.blocks(), C * I, g.outer);
}

}  // namespace detail

/// Per-group range of x (lo/hi hold groups() values; NaN ignored). Returns true if x held a NaN.
/// Multi-threaded over independent groups (see parallel.hpp); the same result for any thread count.
template <class T>
inline bool minmax_groups(const T* x, const layout& g, T* lo, T* hi, simd_level level = active_level()) {
    const std::size_t C = g.channels, I = g.inner, G = g.groups();
    for (std::size_t k = 0; k < G; ++k) {
        lo[k] = std::numeric_limits<T>::infinity();
        hi[k] = -std::numeric_limits<T>::infinity();
    }
    std::atomic<bool> nan{false};
    if (g.block == 0 && I == 1) {  // columns: each thread takes a range of channels over all rows
        parallel_ranges(C, [&](std::size_t c0, std::size_t c1) {
            if (minmax_accumulate_rows(x + c0, C, g.outer, c1 - c0, lo + c0, hi + c0, level)) nan.store(true);
        }, detail::unit_grain(g.outer), 16);
    } else if (g.block == 0) {  // channel c: the rows (o, c) for every o
        parallel_ranges(C, [&](std::size_t c0, std::size_t c1) {
            bool n = false;
            for (std::size_t c = c0; c < c1; ++c)
                for (std::size_t o = 0; o < g.outer; ++o) {
                    const minmax_result<T> r = minmax(x + (o * C + c) * I, I, level);
                    lo[c] = r.lo < lo[c] ? r.lo : lo[c];
                    hi[c] = r.hi > hi[c] ? r.hi : hi[c];
                    n = n || r.has_nan;
                }
            if (n) nan.store(true);
        }, detail::unit_grain(g.outer * I), 1);
    } else {  // block (o, b): B consecutive rows of one outer index
        const std::size_t nb = g.blocks();
        parallel_ranges(g.outer * nb, [&](std::size_t u0, std::size_t u1) {
            bool n = false;
            for (std::size_t u = u0; u < u1; ++u) {
                const std::size_t o = u / nb, b = u % nb, start = b * g.block;
                const std::size_t len = (C - start) < g.block ? C - start : g.block;
                if (I == 1) {
                    const minmax_result<T> r = minmax(x + o * C + start, len, level);
                    lo[u] = r.lo;
                    hi[u] = r.hi;
                    n = n || r.has_nan;
                } else {
                    for (std::size_t c = start; c < start + len; ++c)
                        n = minmax_accumulate(x + (o * C + c) * I, I, lo + u * I, hi + u * I, level) || n;
                }
            }
            if (n) nan.store(true);
        }, detail::unit_grain(g.block * I), 1);
    }
    for (std::size_t k = 0; k < G; ++k) {  // +0 for -0, as minmax() reports
        lo[k] += T(0);
        hi[k] += T(0);
    }
    return nan.load();
}

/// Codes for every group; `s` holds kernel_scale(scale, r) per group. Returns true if x held a NaN.
/// Multi-threaded over rows or blocks; the same bytes for any thread count.
template <class T, class O>
inline bool quantize_groups(rounding r, const T* x, const layout& g, const float* s, const std::int32_t* z,
                            std::int32_t qmin, std::int32_t qmax, O out, simd_level level = active_level()) {
    const std::size_t C = g.channels, I = g.inner;
    const std::size_t align = detail::group_align(g, detail::width_of(out));
    std::atomic<bool> nan{false};
    if (g.block == 0) {  // row (o, c) of I elements; I == 1: row o of C elements with per-element params
        const std::size_t rows = I == 1 ? g.outer : g.outer * C, len = I == 1 ? C : I;
        parallel_ranges(rows, [&](std::size_t r0, std::size_t r1) {
            bool n = false;
            if (I == 1) {
                if constexpr (detail::is_packed<O>::value) {
                    for (std::size_t row = r0; row < r1; ++row)
                        n = detail::put_vec(r, x + row * C, C, s, z, qmin, qmax, out, row * C, level) || n;
                } else {
                    n = quantize_vec_rows(r, x + r0 * C, C, r1 - r0, C, s, z, qmin, qmax, out + r0 * C, level);
                }
            } else {
                for (std::size_t row = r0; row < r1; ++row) {
                    const std::size_t at = row * len;
                    n = detail::put_run(r, x + at, I, s[row % C], z[row % C], qmin, qmax, out, at, level) || n;
                }
            }
            if (n) nan.store(true);
        }, detail::unit_grain(len), align);
    } else {
        const std::size_t nb = g.blocks();
        parallel_ranges(g.outer * nb, [&](std::size_t u0, std::size_t u1) {
            bool n = false;
            for (std::size_t u = u0; u < u1; ++u) {
                const std::size_t o = u / nb, start = (u % nb) * g.block;
                const std::size_t len = (C - start) < g.block ? C - start : g.block;
                if (I == 1) {
                    const std::size_t at = o * C + start;
                    n = detail::put_run(r, x + at, len, s[u], z[u], qmin, qmax, out, at, level) || n;
                } else {
                    for (std::size_t c = start; c < start + len; ++c) {
                        const std::size_t row = (o * C + c) * I;
                        n = detail::put_vec(r, x + row, I, s + u * I, z + u * I, qmin, qmax, out, row, level) || n;
                    }
                }
            }
            if (n) nan.store(true);
        }, detail::unit_grain(g.block * I), align);
    }
    return nan.load();
}

namespace detail {
// Blocks u0..u1 of a last-axis layout from packed fields, the level and width resolved once for all of them.
template <class Isa, unsigned W, class Q, class T>
inline void get_blocks(Isa, packed_view<Q> q, const layout& g, std::size_t u0, std::size_t u1, const float* scale,
                       const std::int32_t* z, T* out) noexcept {
    const std::size_t C = g.channels, nb = g.blocks();
    for (std::size_t u = u0; u < u1; ++u) {
        const std::size_t o = u / nb, start = (u % nb) * g.block;
        const std::size_t len = (C - start) < g.block ? C - start : g.block, at = o * C + start;
        dequantize_fields_at<Isa, W, Q>(Isa{}, q.bytes, at, len, scale[u], z[u], out + at);
    }
}
}  // namespace detail

/// Floats for every group: out = T(q - z) * T(scale). Multi-threaded like quantize_groups.
template <class In, class T>
inline void dequantize_groups(In q, const layout& g, const float* scale, const std::int32_t* z, T* out,
                              simd_level level = active_level()) {
    const std::size_t C = g.channels, I = g.inner;
    if (g.block == 0) {
        const std::size_t rows = I == 1 ? g.outer : g.outer * C, len = I == 1 ? C : I;
        parallel_ranges(rows, [&](std::size_t r0, std::size_t r1) {
            for (std::size_t row = r0; row < r1; ++row) {
                const std::size_t at = row * len;
                if (I == 1)
                    detail::get_vec(q, at, C, scale, z, out + at, level);
                else
                    detail::get_run(q, at, I, scale[row % C], z[row % C], out + at, level);
            }
        }, detail::unit_grain(len), 1);
    } else {
        const std::size_t nb = g.blocks();
        parallel_ranges(g.outer * nb, [&](std::size_t u0, std::size_t u1) {
            if constexpr (detail::is_packed<In>::value) {
                if (I == 1) {
                    dispatch(level, [&](auto isa) {
                        dispatch_width(q.width, [&](auto W) {
                            detail::get_blocks<decltype(isa), decltype(W)::value>(isa, q, g, u0, u1, scale, z, out);
                        });
                    });
                    return;
                }
            }
            for (std::size_t u = u0; u < u1; ++u) {
                const std::size_t o = u / nb, start = (u % nb) * g.block;
                const std::size_t len = (C - start) < g.block ? C - start : g.block;
                if (I == 1) {
                    const std::size_t at = o * C + start;
                    detail::get_run(q, at, len, scale[u], z[u], out + at, level);
                } else {
                    for (std::size_t c = start; c < start + len; ++c) {
                        const std::size_t row = (o * C + c) * I;
                        detail::get_vec(q, row, I, scale + u * I, z + u * I, out + row, level);
                    }
                }
            }
        }, detail::unit_grain(g.block * I), 1);
    }
}

/// What quantize_dynamic_groups found.
enum class dynamic_status : int { ok = 0, nan = 1, inf = 2 };

#if QAFFINE_X86_SIMD
QAFFINE_SIMD_BEGIN
// ---- AVX-512 only ---------------------------------------------------------------------------------------
// Sixteen blocks at once (block16): dynamic per-block quantization along the last axis, ONNX rules, with the
// ranges reduced across registers and the parameters computed in lanes. It has no AVX2 counterpart (AVX2
// takes these blocks one by one with the shared kernels); detail::block_pass says where it is used.
namespace avx512 {

// Reduces 16 vectors to one whose lanes hold each vector's minimum (Min = true) or maximum, in a
// lane order fixed by the shuffles; block16_order() undoes it.
template <bool Min>
QAFFINE_TARGET_AVX512 inline __m512 op(__m512 a, __m512 b) noexcept {
    return Min ? _mm512_min_ps(a, b) : _mm512_max_ps(a, b);
}

template <bool Min>
QAFFINE_TARGET_AVX512 inline __m512 reduce16(const __m512 (&v)[16]) noexcept {
    __m512 a[8], b[4], c[2];
    for (int k = 0; k < 8; ++k)  // 256-bit halves: [v(2k) 8 partials | v(2k+1) 8 partials]
        a[k] = op<Min>(_mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0x44), _mm512_shuffle_f32x4(v[2 * k], v[2 * k + 1], 0xEE));
    for (int k = 0; k < 4; ++k)  // 128-bit lanes: 4 vectors x 4 partials
        b[k] = op<Min>(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x88), _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xDD));
    for (int k = 0; k < 2; ++k)  // within 128-bit lanes: 2 partials
        c[k] = op<Min>(_mm512_shuffle_ps(b[2 * k], b[2 * k + 1], 0x44), _mm512_shuffle_ps(b[2 * k], b[2 * k + 1], 0xEE));
    return op<Min>(_mm512_shuffle_ps(c[0], c[1], 0x88), _mm512_shuffle_ps(c[0], c[1], 0xDD));
}

QAFFINE_TARGET_AVX512 inline void reduce16_lanes(float* lane) noexcept {
    __m512 v[16];
    for (int j = 0; j < 16; ++j) v[j] = _mm512_set1_ps(static_cast<float>(j));
    _mm512_storeu_ps(lane, reduce16<true>(v));
}

// The permutation that puts reduce16's lanes in vector order (found once by reducing v[j] = j).
inline const std::int32_t* block16_order() noexcept {
    static const std::array<std::int32_t, 16> idx = [] {
        std::array<std::int32_t, 16> out{};
        float lane[16];
        reduce16_lanes(lane);
        for (int i = 0; i < 16; ++i) out[static_cast<std::size_t>(lane[i])] = i;
        return out;
    }();
    return idx.data();
}

// The codes of one block's registers (NaN ruled out before): by the bracketed multiplication of
// detail::bracket where its constants cover the block's parameters (2 FMAs instead of a vdivps; a register
// with a lane it cannot settle divides), else by true division.
struct block_coder {
    __m512 ra, rb, mz, tlo, thi;  // the bracket (detail::make_bracket's constants)
    __m512 s, lo, hi;             // the division: x / s clamped to [qmin - z, qmax - z], then + z
    __m512i z;
};

template <bool Bracket>
QAFFINE_TARGET_AVX512 __attribute__((always_inline)) inline __m512i block_code(const block_coder& c, __m512 v) noexcept {
    if (Bracket) {
        const __m512 ta = _mm512_fmadd_ps(v, c.ra, c.mz), tb = _mm512_fmadd_ps(v, c.rb, c.mz);
        if (_mm512_cmp_ps_mask(ta, tb, _CMP_NEQ_UQ) == 0)
            return _mm512_sub_epi32(_mm512_castps_si512(_mm512_min_ps(_mm512_max_ps(ta, c.tlo), c.thi)),
                                    _mm512_set1_epi32(0x4B400000));
    }
    return _mm512_add_epi32(_mm512_cvtps_epi32(step<rounding::divide>(v, c.s, c.s, c.lo, c.hi)), c.z);
}

// Blocks of fewer floats divide: in cache (64 x 4096 float32, Zen 4, ns per float) the bracket took B = 32
// from 0.30 to 0.32 and B = 64 from 0.231 to 0.237, B = 128 0.195 -> 0.191 and B = 256 0.180 -> 0.162.
constexpr std::size_t block_bracket_min = 128;

// Two halves of float lanes to doubles and back (AVX-512 F has no 256-bit float insert).
QAFFINE_TARGET_AVX512 inline __m256 high_half(__m512 v) noexcept {
    return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
}
QAFFINE_TARGET_AVX512 inline __m512 join_halves(__m256 lo, __m256 hi) noexcept {
    return _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

// detail::make_bracket in lanes: the bracket's rA, rB (one float step beyond float(1/s (1 ± 2^-20)), 1/s in
// double) and Mz = 1.5 * 2^23 + z for 16 blocks; `usable` has the lanes whose (s, z) it covers.
QAFFINE_TARGET_AVX512 inline void bracket_lanes(__m512 s, __m512i z, std::int32_t qmin, std::int32_t qmax, float* ra,
                                                float* rb, float* mz, __mmask16& usable) noexcept {
    const __m512d one = _mm512_set1_pd(1.0);
    const __m512d dl = _mm512_div_pd(one, _mm512_cvtps_pd(_mm512_castps512_ps256(s)));
    const __m512d dh = _mm512_div_pd(one, _mm512_cvtps_pd(high_half(s)));
    const __m512d up = _mm512_set1_pd(1.0 + 0x1p-20), down = _mm512_set1_pd(1.0 - 0x1p-20);
    const __m512 fa = join_halves(_mm512_cvtpd_ps(_mm512_mul_pd(dl, up)), _mm512_cvtpd_ps(_mm512_mul_pd(dh, up)));
    const __m512 fb = join_halves(_mm512_cvtpd_ps(_mm512_mul_pd(dl, down)), _mm512_cvtpd_ps(_mm512_mul_pd(dh, down)));
    _mm512_store_ps(ra, _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(fa), _mm512_set1_epi32(1))));
    _mm512_store_ps(rb, _mm512_castsi512_ps(_mm512_sub_epi32(_mm512_castps_si512(fb), _mm512_set1_epi32(1))));
    _mm512_store_ps(mz, _mm512_add_ps(_mm512_set1_ps(0x1.8p23f), _mm512_cvtepi32_ps(z)));
    usable = static_cast<__mmask16>(_mm512_cmp_ps_mask(s, _mm512_set1_ps(0x1p-120f), _CMP_GE_OQ) &
                                    _mm512_cmp_ps_mask(s, _mm512_set1_ps(0x1p120f), _CMP_LE_OQ) &
                                    _mm512_cmpgt_epi32_mask(z, _mm512_set1_epi32(-(1 << 21))) &
                                    _mm512_cmplt_epi32_mask(z, _mm512_set1_epi32(1 << 21)));
    if (qmax - qmin > detail::bracket_max_range) usable = 0;
}

// How block16 chooses the parameters in lanes: the three branches of choose_qparams_checked.
enum class lane_rule { affine, symmetric, tight };

// The codes of the L floats at p to out + at (W = 8) or to fields at, at + 1, ... of the bytes at out.
template <bool Bracket, bool Stream, unsigned W, class Q, class O>
QAFFINE_TARGET_AVX512 __attribute__((always_inline)) inline void block_codes(const block_coder& c, const float* p, std::size_t L, O* out,
                                              std::size_t at) noexcept {
    const std::size_t full = L & ~std::size_t(15);
    std::size_t k = 0;
    if constexpr (W == 8) {
        O* o = out + at;
        for (; k < full; k += 16) {
            const __m512i q = block_code<Bracket>(c, _mm512_loadu_ps(p + k));
            if (Stream) stream_codes(o + k, q);  // o is 16-byte aligned
            else store_codes(o + k, q);
        }
        if (k < L) store_codes_n(o + k, L - k, block_code<Bracket>(c, _mm512_maskz_loadu_ps(mask_n(L - k), p + k)));
    } else {
        // Fields from bit `sh` of byte d: each register's 16 * W bits shifted up by sh, the bits it pushes
        // out carried into the next; the bits below sh in the first byte and past the block in the last are
        // kept (fields of the blocks around it).
        constexpr std::size_t per = 8 / W, vb = 16 * W / 8;
        std::uint8_t* d = reinterpret_cast<std::uint8_t*>(out) + at / per;
        const unsigned sh = static_cast<unsigned>(at % per) * W;
        std::uint64_t carry = sh == 0 ? 0 : (d[0] & ((1u << sh) - 1u));
        for (; k < full; k += 16, d += vb) {
            if (sh == 0) {
                store_fields<W, Q>(d, block_code<Bracket>(c, _mm512_loadu_ps(p + k)));
            } else {
                std::uint64_t w = 0;
                store_fields<W, Q>(reinterpret_cast<std::uint8_t*>(&w), block_code<Bracket>(c, _mm512_loadu_ps(p + k)));
                const std::uint64_t o = (w << sh) | carry;
                std::memcpy(d, &o, vb);
                carry = w >> (16 * W - sh);
            }
        }
        if (k < L || sh != 0) {
            const std::size_t t = L - k;  // fields left, < 16: at most 60 bits, and sh + t * W <= 64
            std::uint64_t w = 0;
            if (t != 0) {
                store_fields<W, Q>(reinterpret_cast<std::uint8_t*>(&w),
                                   block_code<Bracket>(c, _mm512_maskz_loadu_ps(mask_n(t), p + k)));
                w &= (std::uint64_t(1) << (t * W)) - 1u;
            }
            const std::uint64_t o = (w << sh) | carry;
            const unsigned bits = sh + static_cast<unsigned>(t * W), whole = bits / 8, rest = bits % 8;
            _mm512_mask_storeu_epi8(d, (__mmask64(1) << whole) - 1u,
                                    _mm512_castsi128_si512(_mm_cvtsi64_si128(static_cast<long long>(o))));
            if (rest != 0) {
                const unsigned m = (1u << rest) - 1u;
                d[whole] = static_cast<std::uint8_t>((d[whole] & ~m) | (static_cast<unsigned>(o >> (8 * whole)) & m));
            }
        }
    }
}

// Dynamic per-block quantization (true division) of up to 16 blocks at once: block j < n is the len[j] >= 1
// floats at x + at[j] (any length: the last partial register of a block is a masked load, merged into the
// range by masked min/max, and a masked store of codes). The ranges of all n blocks are reduced across
// registers at once, their parameters computed in SIMD lanes with the arithmetic of choose_qparams_checked
// under `Rule`, then the codes. Returns false, writing nothing, when a block holds NaN or ±Inf, its range
// overflows float32 or (tight) its zero point exceeds 2^23: the caller redoes the n blocks one by one, which
// reports, handles or raises. W = 8: the codes of block j at out + at[j] (type Q); W = 1, 2, 4: packed fields
// at[j], at[j] + 1, ... of the bytes at out, from any field (a block that starts inside a byte shifts each
// register's fields into place; bits of fields outside the block are kept).
template <bool Prefetch, bool Stream, lane_rule Rule, unsigned W, class Q, class O, std::size_t N>
QAFFINE_TARGET_AVX512 inline bool block16(const float* x, const std::size_t* at, const std::size_t* len, std::size_t count,
                                          std::int32_t qmin, std::int32_t qmax, float* scale,
                                          std::int32_t* zero_point, O* out, const std::int32_t* order_idx) noexcept {
    const std::size_t n = N != 0 ? N : count;  // N = 16: 16 blocks of len[0] floats from at[0] on, one row
    const __m512i order = _mm512_loadu_si512(order_idx);
    const __m512 zero = _mm512_setzero_ps();
    __m512 lo[16], hi[16];
    __mmask16 bad = 0;
    std::size_t longest = 0;
    for (std::size_t j = 0; j < n; ++j) {
        const std::size_t aj = N != 0 ? at[0] + j * len[0] : at[j];
        const float* p = x + aj;
        const std::size_t L = N != 0 ? len[0] : len[j], full = L & ~std::size_t(15);
        longest = L > longest ? L : longest;
        if (Prefetch) {  // as much as this block reads, detail::prefetch_bytes ahead: a line per 16 floats
            const float* ahead = p + detail::prefetch_bytes / sizeof(float);
            for (std::size_t k = 0; k < L; k += 16) _mm_prefetch(reinterpret_cast<const char*>(ahead + k), _MM_HINT_T0);
        }
        std::size_t k = 16;
        __m512 l;
        if (full != 0) {
            l = _mm512_loadu_ps(p);
        } else {  // a block shorter than a register: its first value fills the other lanes
            l = _mm512_mask_loadu_ps(_mm512_set1_ps(p[0]), mask_n(L), p);
            k = L;
        }
        __m512 h = l;
        bad = static_cast<__mmask16>(bad | _mm512_cmp_ps_mask(l, l, _CMP_UNORD_Q));
        for (; k < full; k += 16) {
            __m512 v = _mm512_loadu_ps(p + k);
            QAFFINE_KEEP(v);
            l = _mm512_min_ps(v, l);
            h = _mm512_max_ps(v, h);
            bad = static_cast<__mmask16>(bad | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));
        }
        if (k < L) {
            const __mmask16 m = mask_n(L - k);
            const __m512 v = _mm512_maskz_loadu_ps(m, p + k);
            l = _mm512_mask_min_ps(l, m, v, l);
            h = _mm512_mask_max_ps(h, m, v, h);
            bad = static_cast<__mmask16>(bad | _mm512_mask_cmp_ps_mask(m, v, v, _CMP_UNORD_Q));
        }
        lo[j] = l;
        hi[j] = h;
    }
    if (bad != 0) return false;
    for (std::size_t j = n; j < 16; ++j) lo[j] = hi[j] = zero;  // unused lanes: a valid range, never stored
    const __m512 inf = _mm512_set1_ps(std::numeric_limits<float>::infinity());
    __m512 s;
    __m512i z;
    if (Rule == lane_rule::symmetric) {
        // choose_qparams_checked, symmetric branch: amax = -lo > hi ? -lo : hi (vmaxps: the first operand
        // only where it is greater); top = amax > 0 ? amax : 1; scale = top / (levels / 2), 0 -> the smallest
        // denormal; ±Inf or a scale past float32: the scalar path. The zero point is the middle code.
        const __m512 l16 = _mm512_permutexvar_ps(order, reduce16<true>(lo));
        const __m512 h16 = _mm512_permutexvar_ps(order, reduce16<false>(hi));
        const __m512 neg = _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(l16), _mm512_set1_epi32(INT32_MIN)));
        const __m512 amax = _mm512_max_ps(neg, h16);
        if (_mm512_cmp_ps_mask(amax, inf, _CMP_GE_OQ) != 0) return false;
        const __m512 top = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(amax, zero, _CMP_GT_OQ), _mm512_set1_ps(1.0f), amax);
        s = _mm512_div_ps(top, _mm512_set1_ps(static_cast<float>(qmax - qmin) / 2.0f));
        if (_mm512_cmp_ps_mask(s, inf, _CMP_GE_OQ) != 0) return false;
        s = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(s, zero, _CMP_EQ_OQ), s,
                                 _mm512_set1_ps(std::numeric_limits<float>::denorm_min()));
        z = _mm512_set1_epi32(static_cast<std::int32_t>(std::floor((static_cast<double>(qmin) + qmax + 1) / 2.0)));
    } else if (Rule == lane_rule::tight) {
        // choose_qparams_checked, tight branch on minmax()'s bounds (+0 for -0): range = hi == lo ? (lo == 0 ?
        // 1 : |lo|) : hi - lo; ±Inf or a range past float32: the scalar path. z = nearbyint(qmin - lo / s),
        // not clamped; |qmin - lo / s| > 2^23 (or NaN): the scalar path, which raises.
        const __m512 l16 = _mm512_add_ps(_mm512_permutexvar_ps(order, reduce16<true>(lo)), zero);
        const __m512 h16 = _mm512_add_ps(_mm512_permutexvar_ps(order, reduce16<false>(hi)), zero);
        const __m512 one = _mm512_set1_ps(1.0f);
        const __m512 flat = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(l16, zero, _CMP_EQ_OQ), _mm512_abs_ps(l16), one);
        const __m512 range = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(h16, l16, _CMP_EQ_OQ), _mm512_sub_ps(h16, l16), flat);
        if (_mm512_cmp_ps_mask(range, inf, _CMP_GE_OQ) != 0) return false;
        s = _mm512_div_ps(range, _mm512_set1_ps(static_cast<float>(qmax - qmin)));
        s = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(s, zero, _CMP_EQ_OQ), s,
                                 _mm512_set1_ps(std::numeric_limits<float>::denorm_min()));
        const __m512 initial = _mm512_sub_ps(_mm512_set1_ps(static_cast<float>(qmin)), _mm512_div_ps(l16, s));
        if (_mm512_cmp_ps_mask(_mm512_abs_ps(initial), _mm512_set1_ps(static_cast<float>(max_abs_zero_point)),
                               _CMP_LE_OQ) != 0xFFFF)
            return false;
        z = _mm512_cvtps_epi32(initial);
    } else {
        // choose_qparams_checked, include_zero branch: maxx = hi > 0 ? hi : 0; minx = lo < 0 ? lo : 0
        // (vmaxps/vminps return the second operand for ±0 pairs, so -0 becomes +0 as there).
        const __m512 maxx = _mm512_max_ps(_mm512_permutexvar_ps(order, reduce16<false>(hi)), zero);
        const __m512 minx = _mm512_min_ps(_mm512_permutexvar_ps(order, reduce16<true>(lo)), zero);
        __m512 range = _mm512_sub_ps(maxx, minx);
        // ±Inf in a block, or a range past float32: the scalar path (status, or the double scale).
        if (_mm512_cmp_ps_mask(range, inf, _CMP_GE_OQ) != 0 || _mm512_cmp_ps_mask(minx, _mm512_sub_ps(zero, inf), _CMP_EQ_OQ) != 0)
            return false;
        range = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(maxx, minx, _CMP_EQ_OQ), range, _mm512_set1_ps(1.0f));
        s = _mm512_div_ps(range, _mm512_set1_ps(static_cast<float>(qmax - qmin)));
        s = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(s, zero, _CMP_EQ_OQ), s,
                                 _mm512_set1_ps(std::numeric_limits<float>::denorm_min()));
        __m512 initial = _mm512_sub_ps(_mm512_set1_ps(static_cast<float>(qmin)), _mm512_div_ps(minx, s));
        initial = _mm512_min_ps(_mm512_max_ps(initial, _mm512_set1_ps(static_cast<float>(qmin))),
                                _mm512_set1_ps(static_cast<float>(qmax)));
        z = _mm512_cvtps_epi32(initial);
    }
    _mm512_mask_storeu_ps(scale, mask_n(n), s);
    _mm512_mask_storeu_epi32(zero_point, mask_n(n), z);
    // Each block's constants, broadcast from memory in its loop.
    alignas(64) float sl[16], ll[16], hl[16], ra[16], rb[16], mz[16];
    alignas(64) std::int32_t zl[16];
    _mm512_store_ps(sl, s);
    _mm512_store_si512(zl, z);
    _mm512_store_ps(ll, _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_set1_epi32(qmin), z)));
    _mm512_store_ps(hl, _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_set1_epi32(qmax), z)));
    // The bracket's constants only for batches with a long block: their setup (two vdivpd on the way from
    // the ranges to the codes) costs more than the short blocks' divisions save.
    __mmask16 usable = 0;
    // Not for the symmetric scheme: its largest |x| sits on the tie (qmax - qmin) / 2 of x / s, so every block
    // would redo a register by division (4096 x 4096, 4-bit symmetric, B = 128: 4.8 -> 7.6 ms).
    if (Rule != lane_rule::symmetric && longest >= block_bracket_min) bracket_lanes(s, z, qmin, qmax, ra, rb, mz, usable);
    const __m512 tlo = _mm512_set1_ps(0x1.8p23f + static_cast<float>(qmin));
    const __m512 thi = _mm512_set1_ps(0x1.8p23f + static_cast<float>(qmax));
    for (std::size_t j = 0; j < n; ++j) {
        const std::size_t aj = N != 0 ? at[0] + j * len[0] : at[j];
        const float* p = x + aj;
        const std::size_t L = N != 0 ? len[0] : len[j];
        block_coder cj{zero, zero, zero, tlo, thi, _mm512_set1_ps(sl[j]), _mm512_set1_ps(ll[j]), _mm512_set1_ps(hl[j]),
                       _mm512_set1_epi32(zl[j])};
        if (((usable >> j) & 1u) != 0 && L >= block_bracket_min) {
            cj.ra = _mm512_set1_ps(ra[j]);
            cj.rb = _mm512_set1_ps(rb[j]);
            cj.mz = _mm512_set1_ps(mz[j]);
            block_codes<true, Stream, W, Q>(cj, p, L, out, aj);
        } else {
            block_codes<false, Stream, W, Q>(cj, p, L, out, aj);
        }
    }
    return true;
}

}  // namespace avx512
QAFFINE_SIMD_END
#endif  // QAFFINE_X86_SIMD

namespace detail {

// One pass over blocks u0..u1 of a last-axis layout with the kernels of one level (its tag Isa) and rounding
// fixed at compile time: per block, one at a time, its range, parameters and codes. Returns a dynamic_status
// value.
template <class Isa, rounding R, class T, class O>
int block_range(const T* x, const layout& g, const scheme& sc, std::size_t u0, std::size_t u1, float* scale,
               std::int32_t* zero_point, O out) {
    const std::size_t C = g.channels, nb = g.blocks();
    struct span {
        std::size_t at, len;
    };
    const auto block = [&](std::size_t u) {  // where block u starts in x, and its length
        const std::size_t o = u / nb, start = (u % nb) * g.block;
        return span{o * C + start, (C - start) < g.block ? C - start : g.block};
    };
    for (std::size_t u = u0; u < u1; ++u) {
        const std::size_t at = block(u).at, len = block(u).len;
#if QAFFINE_X86_SIMD || QAFFINE_NEON_SIMD
        // A block of at most 16 KiB is too short for minmax's own prefetch to run ahead of it: the next one's
        // lines are requested now (4096x4096 float32 per row on Zen 4: 3.2 -> 2.2 ms; from 32 KiB on, no gain).
        if (Isa::level != simd_level::scalar && u + 1 < u1) {
            const span next = block(u + 1);
            if (next.len * sizeof(T) <= 16384)
                for (std::size_t k = 0; k < next.len * sizeof(T); k += 64)
                    __builtin_prefetch(reinterpret_cast<const char*>(x + next.at) + k, 0, 3);  // prefetcht0 / prfm pldl1keep
        }
#endif
        const minmax_result<T> mm = minmax(Isa{}, x + at, len);
        if (mm.has_nan) return static_cast<int>(dynamic_status::nan);
        if (std::isinf(mm.lo) || std::isinf(mm.hi)) return static_cast<int>(dynamic_status::inf);
        const qparams p = choose_qparams_checked<T>(mm.lo, mm.hi, sc);
        scale[u] = p.scale;
        zero_point[u] = p.zero_point;
        put_run<R>(Isa{}, x + at, len, kernel_scale(p.scale, R), p.zero_point, sc.qmin, sc.qmax, out, at);
    }
    return 0;
}

template <class O>
struct code_type;
template <class Q>
struct code_type<Q*> { using type = Q; };
template <class Q>
struct code_type<packed_codes<Q>> { using type = Q; };

// The bytes or codes block16 writes from: the array itself for codes, the first byte for packed fields.
template <class Q>
inline Q* block16_base(Q* out) noexcept { return out; }
template <class Q>
inline std::uint8_t* block16_base(packed_codes<Q> out) noexcept { return out.bytes; }

#if QAFFINE_X86_SIMD
template <class O>
using block16_fn = bool (*)(const float*, const std::size_t*, const std::size_t*, std::size_t, std::int32_t,
                            std::int32_t, float*, std::int32_t*, O*, const std::int32_t*) noexcept;

// The block16 for a scheme, field width and the prefetch / non-temporal choice, resolved once per pass.
template <class Q, class O, bool Prefetch, bool Stream, unsigned W, std::size_t N>
inline block16_fn<O> block16_for(const scheme& sc) noexcept {
    if (sc.symmetric) return &avx512::block16<Prefetch, Stream, avx512::lane_rule::symmetric, W, Q, O, N>;
    if (!sc.include_zero) return &avx512::block16<Prefetch, Stream, avx512::lane_rule::tight, W, Q, O, N>;
    return &avx512::block16<Prefetch, Stream, avx512::lane_rule::affine, W, Q, O, N>;
}

// Blocks u0..u1 of a last-axis layout sixteen at a time, in order, whatever their rows and lengths (a row's
// full blocks, its short last block, blocks of the next rows); a batch that block16 declines (NaN, ±Inf, a
// range past float32, a tight zero point past 2^23) is redone one block at a time by block_range, which stops
// at its first such block as the scalar pass does.
template <class Isa, rounding R, class T, class O>
int block_lanes(const T* x, const layout& g, const scheme& sc, std::size_t u0, std::size_t u1, float* scale,
                std::int32_t* zero_point, O out) {
    using Q = typename code_type<O>::type;
    using B16 = std::remove_pointer_t<decltype(block16_base(out))>;
    const std::size_t C = g.channels, nb = g.blocks(), B = g.block;
    const unsigned width = width_of(out);
    B16* base = block16_base(out);
    // Large arrays: prefetch; and non-temporal stores where every block is whole, of a multiple of 16 floats,
    // and the codes are 16-byte aligned (groups then follow each other without ordinary stores between them;
    // mixing the two kinds on shared cache lines costs more than it saves).
    const bool big = g.size() >= stream_min;
    const bool stream = big && width == 8 && B % 16 == 0 && C % B == 0 &&
                        (reinterpret_cast<std::uintptr_t>(base) & 15) == 0;
    // Two kernels: 16 full blocks of one row (their starts by stride, the loops over blocks unrolled), and any
    // other batch (starts and lengths listed).
    block16_fn<B16> run[2];
    const auto pick = [&](auto N) -> block16_fn<B16> {
        constexpr std::size_t n = decltype(N)::value;
        if constexpr (is_packed<O>::value) {
            return dispatch_width(width, [&](auto W) {
                constexpr unsigned w = decltype(W)::value;
                return big ? block16_for<Q, B16, true, false, w, n>(sc) : block16_for<Q, B16, false, false, w, n>(sc);
            });
        } else {
            return stream ? block16_for<Q, B16, true, true, 8, n>(sc)
                   : big  ? block16_for<Q, B16, true, false, 8, n>(sc)
                          : block16_for<Q, B16, false, false, 8, n>(sc);
        }
    };
    run[0] = pick(std::integral_constant<std::size_t, 0>{});
    run[1] = pick(std::integral_constant<std::size_t, 16>{});
    const std::int32_t* order = avx512::block16_order();
    std::size_t at[16], len[16];
    std::size_t o = u0 / nb, b = u0 % nb;
    const std::size_t full = C / B;  // full blocks per row
    // Blocks u..u+n as listed in at/len through run[k]; a batch it turns down, one block at a time.
    const auto batch = [&](std::size_t k, std::size_t u, std::size_t n) -> int {
        if (run[k](x, at, len, n, sc.qmin, sc.qmax, scale + u, zero_point + u, base, order)) return 0;
        return block_range<Isa, R, T, O>(x, g, sc, u, u + n, scale, zero_point, out);
    };
    for (std::size_t u = u0; u < u1;) {
        const std::size_t n = std::min<std::size_t>(16, u1 - u);
        if (n == 16 && b + 16 <= full) {  // 16 full blocks of one row
            at[0] = o * C + b * B;
            len[0] = B;
            b += 16;
            if (b == nb) {
                b = 0;
                ++o;
            }
            if (const int st = batch(1, u, n)) return st;
            u += n;
            continue;
        }
        for (std::size_t j = 0; j < n; ++j) {
            const std::size_t start = b * B;
            at[j] = o * C + start;
            len[j] = C - start < B ? C - start : B;
            if (++b == nb) {
                b = 0;
                ++o;
            }
        }
        if (const int st = batch(0, u, n)) return st;
        u += n;
    }
    if (stream) _mm_sfence();
    return 0;
}
#endif

template <class Isa, rounding R, class T, class O>
int block_pass(const T* x, const layout& g, const scheme& sc, std::size_t u0, std::size_t u1, float* scale,
               std::int32_t* zero_point, O out) {
#if QAFFINE_X86_SIMD
    // float32 blocks of up to 1024 values, true division, at AVX-512: sixteen blocks at a time
    // (avx512::block16), every scheme, block size and row length.
    if constexpr (Isa::level == simd_level::avx512 && R == rounding::divide && std::is_same<T, float>::value) {
        if (g.block <= 1024) return block_lanes<Isa, R, T, O>(x, g, sc, u0, u1, scale, zero_point, out);
    }
#endif
    return block_range<Isa, R, T, O>(x, g, sc, u0, u1, scale, zero_point, out);
}

template <class T, class O>
using block_pass_fn = int (*)(const T*, const layout&, const scheme&, std::size_t, std::size_t, float*,
                              std::int32_t*, O);

}  // namespace detail

/// Dynamic quantization of every group: range, parameters (under scheme `sc`) and codes. `scale` and
/// `zero_point` receive groups() values. On NaN or ±Inf in x it stops and reports it (codes and parameters
/// then incomplete). Throws what choose_qparams throws.
template <class T, class O>
inline dynamic_status quantize_dynamic_groups(const T* x, const layout& g, const scheme& sc, rounding r,
                                              float* scale, std::int32_t* zero_point, O out,
                                              simd_level level = active_level()) {
    validate(sc);
    if (g.block == 0 && g.outer == 1 && g.inner >= 64 && g.channels > 0) {
        // Per channel along the first axis: channel c is the contiguous run [c * inner, (c + 1) * inner),
        // i.e. a last-axis block of a (channels, inner) array. One pass over memory instead of two (each
        // channel's range, parameters and codes while it is in cache): 4096 x 4096, axis 0, 4.0 -> 3.1 ms.
        return quantize_dynamic_groups(x, layout{g.channels, g.inner, 1, g.inner}, sc, r, scale, zero_point, out,
                                       level);
    }
    if (g.block != 0 && g.inner == 1) {
        // Blocks along the last axis: range, parameters and codes while the block is in L1; the SIMD level
        // and rounding are resolved once, not per block.
        const detail::block_pass_fn<T, O> run = dispatch(level, [r](auto isa) {
            return dispatch(r, [](auto R) -> detail::block_pass_fn<T, O> {
                return &detail::block_pass<decltype(isa), decltype(R)::value, T, O>;
            });
        });
        const std::size_t nb = g.blocks();
        std::atomic<int> status{0};
        parallel_ranges(g.outer * nb, [&](std::size_t u0, std::size_t u1) {
            const int st = run(x, g, sc, u0, u1, scale, zero_point, out);
            if (st == static_cast<int>(dynamic_status::nan)) {
                status.store(st);
            } else if (st != 0) {
                int expected = 0;  // NaN wins over Inf
                status.compare_exchange_strong(expected, st);
            }
        }, detail::unit_grain(g.block), detail::group_align(g, detail::width_of(out)));
        return static_cast<dynamic_status>(status.load());
    }
    const std::size_t G = g.groups();
    std::vector<T> lo(G), hi(G);
    if (minmax_groups(x, g, lo.data(), hi.data(), level)) return dynamic_status::nan;
    for (std::size_t k = 0; k < G; ++k)
        if (std::isinf(lo[k]) || std::isinf(hi[k])) return dynamic_status::inf;
    std::vector<float> ks(G);
    for (std::size_t k = 0; k < G; ++k) {
        const qparams p = detail::choose_qparams_checked<T>(lo[k], hi[k], sc);
        scale[k] = p.scale;
        zero_point[k] = p.zero_point;
        ks[k] = kernel_scale(p.scale, r);
    }
    quantize_groups(r, x, g, ks.data(), zero_point, sc.qmin, sc.qmax, out, level);
    return dynamic_status::ok;
}

}  // namespace qaffine
