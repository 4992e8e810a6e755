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
// Functions throw what choose_qparams throws; kernels never throw. Thread safety: pure functions.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "dequantize.hpp"
#include "minmax.hpp"
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

/// Per-group range of x (lo/hi hold groups() values; NaN ignored). Returns true if x held a NaN.
template <class T>
inline bool minmax_groups(const T* x, const layout& g, T* lo, T* hi, simd_level level = active_level()) noexcept {
    const std::size_t C = g.channels, I = g.inner, G = g.groups();
    for (std::size_t k = 0; k < G; ++k) {
        lo[k] = std::numeric_limits<T>::infinity();
        hi[k] = -std::numeric_limits<T>::infinity();
    }
    bool nan = false;
    if (g.block == 0 && I == 1) {
        for (std::size_t o = 0; o < g.outer; ++o) nan = minmax_accumulate(x + o * C, C, lo, hi, level) || nan;
    } else if (g.block == 0) {
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const minmax_result<T> r = minmax(x + (o * C + c) * I, I, level);
                lo[c] = r.lo < lo[c] ? r.lo : lo[c];
                hi[c] = r.hi > hi[c] ? r.hi : hi[c];
                nan = nan || r.has_nan;
            }
    } else if (I == 1) {
        const std::size_t nb = g.blocks();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t b = 0; b < nb; ++b) {
                const std::size_t start = b * g.block, len = (C - start) < g.block ? C - start : g.block;
                const minmax_result<T> r = minmax(x + o * C + start, len, level);
                lo[o * nb + b] = r.lo;
                hi[o * nb + b] = r.hi;
                nan = nan || r.has_nan;
            }
    } else {
        const std::size_t nb = g.blocks();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t base = (o * nb + c / g.block) * I;
                nan = minmax_accumulate(x + (o * C + c) * I, I, lo + base, hi + base, level) || nan;
            }
    }
    for (std::size_t k = 0; k < G; ++k) {  // +0 for -0, as minmax() reports
        lo[k] += T(0);
        hi[k] += T(0);
    }
    return nan;
}

/// Codes for every group; `s` holds kernel_scale(scale, r) per group. Returns true if x held a NaN.
template <class T, class Q>
inline bool quantize_groups(rounding r, const T* x, const layout& g, const float* s, const std::int32_t* z,
                            std::int32_t qmin, std::int32_t qmax, Q* out, simd_level level = active_level()) noexcept {
    const std::size_t C = g.channels, I = g.inner;
    bool nan = false;
    if (g.block == 0 && I == 1) {
        for (std::size_t o = 0; o < g.outer; ++o)
            nan = quantize_vec(r, x + o * C, C, s, z, qmin, qmax, out + o * C, level) || nan;
    } else if (g.block == 0) {
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t row = (o * C + c) * I;
                nan = quantize_run(r, x + row, I, s[c], z[c], qmin, qmax, out + row, level) || nan;
            }
    } else if (I == 1) {
        const std::size_t nb = g.blocks();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t b = 0; b < nb; ++b) {
                const std::size_t start = b * g.block, len = (C - start) < g.block ? C - start : g.block;
                const std::size_t k = o * nb + b, at = o * C + start;
                nan = quantize_run(r, x + at, len, s[k], z[k], qmin, qmax, out + at, level) || nan;
            }
    } else {
        const std::size_t nb = g.blocks();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t row = (o * C + c) * I, base = (o * nb + c / g.block) * I;
                nan = quantize_vec(r, x + row, I, s + base, z + base, qmin, qmax, out + row, level) || nan;
            }
    }
    return nan;
}

/// Floats for every group: out = T(q - z) * T(scale).
template <class Q, class T>
inline void dequantize_groups(const Q* q, const layout& g, const float* scale, const std::int32_t* z, T* out,
                              simd_level level = active_level()) noexcept {
    const std::size_t C = g.channels, I = g.inner;
    if (g.block == 0 && I == 1) {
        for (std::size_t o = 0; o < g.outer; ++o) dequantize_vec(q + o * C, C, scale, z, out + o * C, level);
    } else if (g.block == 0) {
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t row = (o * C + c) * I;
                dequantize_unchecked(q + row, I, qparams{scale[c], z[c], 0, 1}, out + row, level);
            }
    } else if (I == 1) {
        const std::size_t nb = g.blocks();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t b = 0; b < nb; ++b) {
                const std::size_t start = b * g.block, len = (C - start) < g.block ? C - start : g.block;
                const std::size_t k = o * nb + b, at = o * C + start;
                dequantize_unchecked(q + at, len, qparams{scale[k], z[k], 0, 1}, out + at, level);
            }
    } else {
        const std::size_t nb = g.blocks();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t c = 0; c < C; ++c) {
                const std::size_t row = (o * C + c) * I, base = (o * nb + c / g.block) * I;
                dequantize_vec(q + row, I, scale + base, z + base, out + row, level);
            }
    }
}

/// What quantize_dynamic_groups found.
enum class dynamic_status : int { ok = 0, nan = 1, inf = 2 };

/// Dynamic quantization of every group: range, parameters (under scheme `sc`) and codes. `scale` and
/// `zero_point` receive groups() values. On NaN or ±Inf in x it stops and reports it (codes and parameters
/// then incomplete). Throws what choose_qparams throws.
template <class T, class Q>
inline dynamic_status quantize_dynamic_groups(const T* x, const layout& g, const scheme& sc, rounding r,
                                              float* scale, std::int32_t* zero_point, Q* out,
                                              simd_level level = active_level()) {
    const std::size_t C = g.channels;
    if (g.block != 0 && g.inner == 1) {
        // Blocks along the last axis: range, parameters and codes while the block is in L1.
        const std::size_t nb = g.blocks();
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t b = 0; b < nb; ++b) {
                const std::size_t start = b * g.block, len = (C - start) < g.block ? C - start : g.block;
                const std::size_t k = o * nb + b, at = o * C + start;
                const minmax_result<T> mm = minmax(x + at, len, level);
                if (mm.has_nan) return dynamic_status::nan;
                if (std::isinf(mm.lo) || std::isinf(mm.hi)) return dynamic_status::inf;
                const qparams p = choose_qparams<T>(mm.lo, mm.hi, sc);
                scale[k] = p.scale;
                zero_point[k] = p.zero_point;
                quantize_run(r, x + at, len, kernel_scale(p.scale, r), p.zero_point, sc.qmin, sc.qmax, out + at, level);
            }
        return dynamic_status::ok;
    }
    const std::size_t G = g.groups();
    std::vector<T> lo(G), hi(G);
    if (minmax_groups(x, g, lo.data(), hi.data(), level)) return dynamic_status::nan;
    for (std::size_t k = 0; k < G; ++k)
        if (std::isinf(lo[k]) || std::isinf(hi[k])) return dynamic_status::inf;
    std::vector<float> ks(G);
    for (std::size_t k = 0; k < G; ++k) {
        const qparams p = choose_qparams<T>(lo[k], hi[k], sc);
        scale[k] = p.scale;
        zero_point[k] = p.zero_point;
        ks[k] = kernel_scale(p.scale, r);
    }
    quantize_groups(r, x, g, ks.data(), zero_point, sc.qmin, sc.qmax, out, level);
    return dynamic_status::ok;
}

}  // namespace qaffine
