// qaffine/ops_neon.hpp — the aarch64 Advanced SIMD (NEON) vector operations the shared kernel bodies are
// written over: the names of ops_avx2.hpp, in the same order, for a register of 8 floats held as two
// 128-bit q-registers (8 int32, 4 doubles likewise). Two q-registers per vf, not one, because the bodies and
// the per-level loops are shaped for 8 lanes: 32 codes per pack4 (two 16-byte stores), 8 codes per widen (one
// 8-byte load, two widenings), four-register minmax blocks of 32 floats whose 16 accumulators use half of
// aarch64's 32 vector registers for independent chains; a constant vf is one register twice, which the
// compiler keeps once. NEON is part of ARMv8-A, so nothing here needs a target attribute.
//
// Where x86 and NEON differ, these functions reproduce what the bodies rely on:
// - min(a, b) / max(a, b) return b when either is NaN and when a and b are equal (±0), as vminps/vmaxps do:
//   a compare and a select. vminq_f32 would return NaN, and vminnmq_f32 returns a quiet NaN for a
//   signalling one (and -0 for min(-0, +0)), so neither can keep NaN out of an accumulator exactly.
// - cvt_i32 is vcvtnq_s32_f32 (nearest, ties to even, whatever FPCR says): the scalar nearbyint in the
//   default rounding mode. Out of range it saturates where x86 gives 0x80000000; every use converts a
//   clamped value, where both are exact.
// - The saturating narrowings (vqmovn_s32, then vqmovn_s16 / vqmovun_s16) are packs/packus of x86.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu.hpp"

#if QAFFINE_NEON_SIMD
namespace qaffine {
namespace neon {

#define QAFFINE_OP __attribute__((always_inline)) inline

struct vf {  // float lanes: 0-3 in a, 4-7 in b
    float32x4_t a, b;
};
struct vd {  // double lanes: half as many
    float64x2_t a, b;
};
struct vi {  // int32 lanes, one per float lane; or 32 code bytes (pack4)
    int32x4_t a, b;
};
struct mf {  // per-float-lane flags (all ones where set), OR-accumulated
    uint32x4_t a, b;
};
struct md {  // per-double-lane flags
    uint64x2_t a, b;
};
constexpr std::size_t lanes = 8;

QAFFINE_OP void keep_in_register(vf& v) noexcept { __asm__("" : "+w"(v.a), "+w"(v.b)); }
QAFFINE_OP void keep_in_register(vd& v) noexcept { __asm__("" : "+w"(v.a), "+w"(v.b)); }

// ---- float ----------------------------------------------------------------------------------------------
QAFFINE_OP vf set1(float v) noexcept { const float32x4_t r = vdupq_n_f32(v); return {r, r}; }
QAFFINE_OP vf loadu(const float* p) noexcept { return {vld1q_f32(p), vld1q_f32(p + 4)}; }
QAFFINE_OP void storeu(float* p, vf v) noexcept { vst1q_f32(p, v.a); vst1q_f32(p + 4, v.b); }
QAFFINE_OP void store(float* p, vf v) noexcept { storeu(p, v); }
// No non-temporal hint: STNP needs a pair of registers at one address and is a hint the cores mostly
// ignore; an ordinary store is what MLAS and XNNPACK write on aarch64.
QAFFINE_OP void stream_store(float* p, vf v) noexcept { storeu(p, v); }
QAFFINE_OP float32x4_t min(float32x4_t a, float32x4_t b) noexcept { return vbslq_f32(vcltq_f32(a, b), a, b); }
QAFFINE_OP float32x4_t max(float32x4_t a, float32x4_t b) noexcept { return vbslq_f32(vcgtq_f32(a, b), a, b); }
QAFFINE_OP vf min(vf a, vf b) noexcept { return {min(a.a, b.a), min(a.b, b.b)}; }  // b when either is NaN
QAFFINE_OP vf max(vf a, vf b) noexcept { return {max(a.a, b.a), max(a.b, b.b)}; }  // b when either is NaN
QAFFINE_OP vf add(vf a, vf b) noexcept { return {vaddq_f32(a.a, b.a), vaddq_f32(a.b, b.b)}; }
QAFFINE_OP vf mul(vf a, vf b) noexcept { return {vmulq_f32(a.a, b.a), vmulq_f32(a.b, b.b)}; }
QAFFINE_OP vf div(vf a, vf b) noexcept { return {vdivq_f32(a.a, b.a), vdivq_f32(a.b, b.b)}; }
QAFFINE_OP vf fma(vf a, vf b, vf c) noexcept { return {vfmaq_f32(c.a, a.a, b.a), vfmaq_f32(c.b, a.b, b.b)}; }
QAFFINE_OP vf floor(vf v) noexcept { return {vrndmq_f32(v.a), vrndmq_f32(v.b)}; }  // toward -Inf, exact
QAFFINE_OP uint32x4_t ordered(float32x4_t a, float32x4_t b) noexcept { return vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b)); }
QAFFINE_OP mf unord(vf a, vf b) noexcept {  // a or b NaN
    return {vmvnq_u32(ordered(a.a, b.a)), vmvnq_u32(ordered(a.b, b.b))};
}
QAFFINE_OP mf neq(vf a, vf b) noexcept { return {vmvnq_u32(vceqq_f32(a.a, b.a)), vmvnq_u32(vceqq_f32(a.b, b.b))}; }
QAFFINE_OP mf eq(vf a, vf b) noexcept { return {vceqq_f32(a.a, b.a), vceqq_f32(a.b, b.b)}; }  // false when either is NaN
QAFFINE_OP vf select(mf m, vf a, vf b) noexcept { return {vbslq_f32(m.a, a.a, b.a), vbslq_f32(m.b, a.b, b.b)}; }  // a where m is set, else b
QAFFINE_OP vi cvt_i32(vf v) noexcept { return {vcvtnq_s32_f32(v.a), vcvtnq_s32_f32(v.b)}; }  // nearest, ties to even
QAFFINE_OP vf cvt_f32(vi v) noexcept { return {vcvtq_f32_s32(v.a), vcvtq_f32_s32(v.b)}; }
QAFFINE_OP vi bits(vf v) noexcept { return {vreinterpretq_s32_f32(v.a), vreinterpretq_s32_f32(v.b)}; }

// The first `count` floats at p (all lanes from `lanes` on, as the masks of x86 do), `fill` in the other
// lanes; reads nothing past p + count.
QAFFINE_OP vf loadu_n(const float* p, std::size_t count, float fill) noexcept {
    float b[8] = {fill, fill, fill, fill, fill, fill, fill, fill};
    std::memcpy(b, p, (count < 8 ? count : 8) * sizeof(float));
    return loadu(b);
}

// Writes the first `count` (< lanes) lanes of v to p.
QAFFINE_OP void storeu_n(float* p, std::size_t count, vf v) noexcept {
    float b[8];
    storeu(b, v);
    std::memcpy(p, b, count * sizeof(float));
}

// Accumulators never hold NaN, so the NaN-propagating across-lane reductions see none.
QAFFINE_OP float reduce_min(vf v) noexcept { return vminvq_f32(min(v.a, v.b)); }
QAFFINE_OP float reduce_max(vf v) noexcept { return vmaxvq_f32(max(v.a, v.b)); }

// ---- double ---------------------------------------------------------------------------------------------
QAFFINE_OP vd set1(double v) noexcept { const float64x2_t r = vdupq_n_f64(v); return {r, r}; }
QAFFINE_OP vd loadu(const double* p) noexcept { return {vld1q_f64(p), vld1q_f64(p + 2)}; }
QAFFINE_OP void storeu(double* p, vd v) noexcept { vst1q_f64(p, v.a); vst1q_f64(p + 2, v.b); }
QAFFINE_OP float64x2_t min(float64x2_t a, float64x2_t b) noexcept { return vbslq_f64(vcltq_f64(a, b), a, b); }
QAFFINE_OP float64x2_t max(float64x2_t a, float64x2_t b) noexcept { return vbslq_f64(vcgtq_f64(a, b), a, b); }
QAFFINE_OP vd min(vd a, vd b) noexcept { return {min(a.a, b.a), min(a.b, b.b)}; }
QAFFINE_OP vd max(vd a, vd b) noexcept { return {max(a.a, b.a), max(a.b, b.b)}; }
QAFFINE_OP vd add(vd a, vd b) noexcept { return {vaddq_f64(a.a, b.a), vaddq_f64(a.b, b.b)}; }
QAFFINE_OP vd mul(vd a, vd b) noexcept { return {vmulq_f64(a.a, b.a), vmulq_f64(a.b, b.b)}; }
QAFFINE_OP vd div(vd a, vd b) noexcept { return {vdivq_f64(a.a, b.a), vdivq_f64(a.b, b.b)}; }
QAFFINE_OP vd fma(vd a, vd b, vd c) noexcept { return {vfmaq_f64(c.a, a.a, b.a), vfmaq_f64(c.b, a.b, b.b)}; }
QAFFINE_OP vd floor(vd v) noexcept { return {vrndmq_f64(v.a), vrndmq_f64(v.b)}; }  // toward -Inf, exact
QAFFINE_OP uint64x2_t ordered(float64x2_t a, float64x2_t b) noexcept { return vandq_u64(vceqq_f64(a, a), vceqq_f64(b, b)); }
QAFFINE_OP md unord(vd a, vd b) noexcept {
    const uint64x2_t ones = vdupq_n_u64(~std::uint64_t(0));
    return {veorq_u64(ordered(a.a, b.a), ones), veorq_u64(ordered(a.b, b.b), ones)};
}
QAFFINE_OP md eq(vd a, vd b) noexcept { return {vceqq_f64(a.a, b.a), vceqq_f64(a.b, b.b)}; }
QAFFINE_OP vd select(md m, vd a, vd b) noexcept { return {vbslq_f64(m.a, a.a, b.a), vbslq_f64(m.b, a.b, b.b)}; }
// The low / high half of the int32 lanes of v, as doubles (exact: through int64).
QAFFINE_OP float64x2_t cvt_f64x2(int32x2_t v) noexcept { return vcvtq_f64_s64(vmovl_s32(v)); }
QAFFINE_OP vd cvt_lo_f64(vi v) noexcept { return {cvt_f64x2(vget_low_s32(v.a)), cvt_f64x2(vget_high_s32(v.a))}; }
QAFFINE_OP vd cvt_hi_f64(vi v) noexcept { return {cvt_f64x2(vget_low_s32(v.b)), cvt_f64x2(vget_high_s32(v.b))}; }
// lanes / 2 floats at p as doubles (exact).
QAFFINE_OP vd loadu_f64(const float* p) noexcept {
    const float32x4_t f = vld1q_f32(p);
    return {vcvt_f64_f32(vget_low_f32(f)), vcvt_high_f64_f32(f)};
}

QAFFINE_OP vd loadu_n(const double* p, std::size_t count, double fill) noexcept {
    double b[4] = {fill, fill, fill, fill};
    std::memcpy(b, p, (count < 4 ? count : 4) * sizeof(double));
    return loadu(b);
}
QAFFINE_OP double reduce_min(vd v) noexcept { return vminvq_f64(min(v.a, v.b)); }
QAFFINE_OP double reduce_max(vd v) noexcept { return vmaxvq_f64(max(v.a, v.b)); }

// ---- flags ----------------------------------------------------------------------------------------------
QAFFINE_OP mf none(float) noexcept { const uint32x4_t z = vdupq_n_u32(0); return {z, z}; }
QAFFINE_OP md none(double) noexcept { const uint64x2_t z = vdupq_n_u64(0); return {z, z}; }
QAFFINE_OP mf either(mf a, mf b) noexcept { return {vorrq_u32(a.a, b.a), vorrq_u32(a.b, b.b)}; }
QAFFINE_OP md either(md a, md b) noexcept { return {vorrq_u64(a.a, b.a), vorrq_u64(a.b, b.b)}; }
QAFFINE_OP bool any(mf m) noexcept { return vmaxvq_u32(vorrq_u32(m.a, m.b)) != 0; }
QAFFINE_OP bool any(md m) noexcept { return vmaxvq_u32(vreinterpretq_u32_u64(vorrq_u64(m.a, m.b))) != 0; }

// NaN check of the range loops, integer-side as at AVX2: the largest |bits| seen (a NaN's exceed 0x7F800000).
// Two instructions per q-register (bic, umax), the same count as a compare and an AND into a flag, but
// without the NOT that flags need at the end.
struct range_nan {
    uint32x4_t top;
};
QAFFINE_OP range_nan range_nan_none() noexcept { return {vdupq_n_u32(0)}; }
QAFFINE_OP uint32x4_t abs_bits(float32x4_t v) noexcept { return vreinterpretq_u32_f32(vabsq_f32(v)); }
QAFFINE_OP void note_nan(range_nan& acc, vf a) noexcept {
    acc.top = vmaxq_u32(acc.top, vmaxq_u32(abs_bits(a.a), abs_bits(a.b)));
}
QAFFINE_OP void note_nan(range_nan& acc, vf a, vf b, vf c, vf d) noexcept {
    const uint32x4_t ab = vmaxq_u32(vmaxq_u32(abs_bits(a.a), abs_bits(a.b)), vmaxq_u32(abs_bits(b.a), abs_bits(b.b)));
    const uint32x4_t cd = vmaxq_u32(vmaxq_u32(abs_bits(c.a), abs_bits(c.b)), vmaxq_u32(abs_bits(d.a), abs_bits(d.b)));
    acc.top = vmaxq_u32(acc.top, vmaxq_u32(ab, cd));
}
QAFFINE_OP bool any(range_nan acc) noexcept { return vmaxvq_u32(acc.top) > 0x7F800000u; }

// ---- int32 and codes ------------------------------------------------------------------------------------
QAFFINE_OP vi set1_i32(std::int32_t v) noexcept { const int32x4_t r = vdupq_n_s32(v); return {r, r}; }
QAFFINE_OP vi loadu_i32(const std::int32_t* p) noexcept { return {vld1q_s32(p), vld1q_s32(p + 4)}; }
QAFFINE_OP void storeu_i32(std::int32_t* p, vi v) noexcept { vst1q_s32(p, v.a); vst1q_s32(p + 4, v.b); }
QAFFINE_OP vi add_i32(vi a, vi b) noexcept { return {vaddq_s32(a.a, b.a), vaddq_s32(a.b, b.b)}; }
QAFFINE_OP vi sub_i32(vi a, vi b) noexcept { return {vsubq_s32(a.a, b.a), vsubq_s32(a.b, b.b)}; }

// Codes are 8-bit (std::uint8_t, std::int8_t) or 16-bit (std::uint16_t, std::int16_t); sizeof(Q) picks the
// instructions.

// `lanes` codes at q, sign- or zero-extended to int32.
template <class Q>
QAFFINE_OP vi widen(const Q* q) noexcept {
    if constexpr (sizeof(Q) == 2) {
        if (std::is_signed<Q>::value) {
            const int16x8_t h = vld1q_s16(reinterpret_cast<const std::int16_t*>(q));
            return {vmovl_s16(vget_low_s16(h)), vmovl_high_s16(h)};
        }
        const uint16x8_t h = vld1q_u16(reinterpret_cast<const std::uint16_t*>(q));
        return {vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(h))), vreinterpretq_s32_u32(vmovl_high_u16(h))};
    } else {
        if (std::is_signed<Q>::value) {
            const int16x8_t h = vmovl_s8(vld1_s8(reinterpret_cast<const std::int8_t*>(q)));
            return {vmovl_s16(vget_low_s16(h)), vmovl_high_s16(h)};
        }
        const uint16x8_t h = vmovl_u8(vld1_u8(reinterpret_cast<const std::uint8_t*>(q)));
        return {vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(h))), vreinterpretq_s32_u32(vmovl_high_u16(h))};
    }
}

// Eight int16 to eight codes of Q, saturating (packs / packus).
template <class Q>
QAFFINE_OP uint8x8_t narrow16(int16x8_t h) noexcept {
    return std::is_signed<Q>::value ? vreinterpret_u8_s8(vqmovn_s16(h)) : vqmovun_s16(h);
}
template <class Q>
QAFFINE_OP uint8x16_t narrow16(int16x8_t lo, int16x8_t hi) noexcept {
    return std::is_signed<Q>::value ? vreinterpretq_u8_s8(vqmovn_high_s16(vqmovn_s16(lo), hi))
                                    : vqmovun_high_s16(vqmovun_s16(lo), hi);
}
// Eight int32 to eight int16, saturating (packs); or, for 16-bit codes, to eight codes of Q (packs / packus).
QAFFINE_OP int16x8_t narrow32(vi v) noexcept { return vqmovn_high_s32(vqmovn_s32(v.a), v.b); }
template <class Q>
QAFFINE_OP uint16x8_t narrow32_codes(vi v) noexcept {
    return std::is_signed<Q>::value ? vreinterpretq_u16_s16(narrow32(v)) : vqmovun_high_s32(vqmovun_s32(v.a), v.b);
}

// 4 * lanes codes as they are stored: one pair of q-registers of 8-bit codes, two pairs of 16-bit codes.
template <class Q>
struct code_regs {
    vi r[sizeof(Q)];
};

// Four vectors of int32 to 4 * lanes codes in order, saturating to Q's range.
template <class Q>
QAFFINE_OP code_regs<Q> pack4(vi a, vi b, vi c, vi d) noexcept {
    if constexpr (sizeof(Q) == 2) {
        return {{{vreinterpretq_s32_u16(narrow32_codes<Q>(a)), vreinterpretq_s32_u16(narrow32_codes<Q>(b))},
                 {vreinterpretq_s32_u16(narrow32_codes<Q>(c)), vreinterpretq_s32_u16(narrow32_codes<Q>(d))}}};
    } else {
        return {{{vreinterpretq_s32_u8(narrow16<Q>(narrow32(a), narrow32(b))),
                  vreinterpretq_s32_u8(narrow16<Q>(narrow32(c), narrow32(d)))}}};
    }
}

template <class Q>
QAFFINE_OP void storeu_bytes(Q* p, code_regs<Q> v) noexcept {
    std::uint8_t* o = reinterpret_cast<std::uint8_t*>(p);
    for (std::size_t k = 0; k < sizeof(Q); ++k) {
        vst1q_u8(o + 32 * k, vreinterpretq_u8_s32(v.r[k].a));
        vst1q_u8(o + 32 * k + 16, vreinterpretq_u8_s32(v.r[k].b));
    }
}
template <class Q>
QAFFINE_OP void stream_bytes(Q* p, code_regs<Q> v) noexcept { storeu_bytes(p, v); }  // see stream_store

// A register of int32 already inside Q's range to `lanes` codes at p.
template <class Q>
QAFFINE_OP void store_codes(Q* p, vi q) noexcept {
    if constexpr (sizeof(Q) == 2) vst1q_u16(reinterpret_cast<std::uint16_t*>(p), narrow32_codes<Q>(q));
    else vst1_u8(reinterpret_cast<std::uint8_t*>(p), narrow16<Q>(narrow32(q)));
}
template <class Q>
QAFFINE_OP void store_codes_n(Q* p, std::size_t count, vi q) noexcept {
    Q b[8];
    store_codes(b, q);
    std::memcpy(p, b, count * sizeof(Q));
}
template <class Q>
QAFFINE_OP void stream_codes(Q* p, vi q) noexcept { store_codes(p, q); }  // see stream_store

// ---- packed fields (1-, 2- or 4-bit codes, first code in the lowest bits) --------------------------------
// A register of int32 codes already inside Q's range: the low W bits of each to lanes * W / 8 bytes at p.
// Each code byte is shifted to its field's place and the fields of a byte summed (they do not overlap, so the
// sum is their OR): one addv for W = 1, pairwise adds for W = 2 and 4.
template <unsigned W, class Q>
QAFFINE_OP void store_fields(std::uint8_t* p, vi q) noexcept {
    const uint8x8_t b = vand_u8(narrow16<Q>(narrow32(q)), vdup_n_u8(static_cast<std::uint8_t>((1u << W) - 1u)));
    if constexpr (W == 1) {
        const int8x8_t up = {0, 1, 2, 3, 4, 5, 6, 7};
        *p = vaddv_u8(vshl_u8(b, up));
    } else if constexpr (W == 2) {
        const int8x8_t up = {0, 2, 4, 6, 0, 2, 4, 6};
        const uint8x8_t t = vshl_u8(b, up);
        const uint8x8_t s1 = vpadd_u8(t, t);
        const std::uint16_t h = vget_lane_u16(vreinterpret_u16_u8(vpadd_u8(s1, s1)), 0);
        std::memcpy(p, &h, 2);
    } else {
        const int8x8_t up = {0, 4, 0, 4, 0, 4, 0, 4};
        const uint8x8_t t = vshl_u8(b, up);
        const std::uint32_t w = vget_lane_u32(vreinterpret_u32_u8(vpadd_u8(t, t)), 0);
        std::memcpy(p, &w, 4);
    }
}

// lanes codes from the lanes * W / 8 bytes at p: W-bit fields zero- or (Q signed) sign-extended to int32.
template <unsigned W, class Q>
QAFFINE_OP vi widen_fields(const std::uint8_t* p) noexcept {
    std::uint32_t w = 0;
    std::memcpy(&w, p, W);  // lanes * W / 8 == W bytes
    // lane j takes byte j * W / 8, moves bits [(j * W) % 8, + W) to the top of its int32, then shifts them down
    const uint8x8_t idx = W == 1 ? vdup_n_u8(0) : W == 2 ? vcreate_u8(0x0101010100000000ull) : vcreate_u8(0x0303020201010000ull);
    const uint16x8_t h = vmovl_u8(vtbl1_u8(vcreate_u8(w), idx));
    const int32x4_t up_lo = W == 1 ? int32x4_t{31, 30, 29, 28} : W == 2 ? int32x4_t{30, 28, 26, 24} : int32x4_t{28, 24, 28, 24};
    const int32x4_t up_hi = W == 1 ? int32x4_t{27, 26, 25, 24} : up_lo;
    const uint32x4_t lo = vshlq_u32(vmovl_u16(vget_low_u16(h)), up_lo);
    const uint32x4_t hi = vshlq_u32(vmovl_high_u16(h), up_hi);
    if (std::is_signed<Q>::value)
        return {vshrq_n_s32(vreinterpretq_s32_u32(lo), 32 - W), vshrq_n_s32(vreinterpretq_s32_u32(hi), 32 - W)};
    return {vreinterpretq_s32_u32(vshrq_n_u32(lo, 32 - W)), vreinterpretq_s32_u32(vshrq_n_u32(hi, 32 - W))};
}

// ---- int32 lanes of a double register -------------------------------------------------------------------
using vh = int32x4_t;
QAFFINE_OP vh set1_i32h(std::int32_t v) noexcept { return vdupq_n_s32(v); }
QAFFINE_OP vh loadu_i32h(const std::int32_t* p) noexcept { return vld1q_s32(p); }
QAFFINE_OP vh add_i32(vh a, vh b) noexcept { return vaddq_s32(a, b); }
QAFFINE_OP vh sub_i32(vh a, vh b) noexcept { return vsubq_s32(a, b); }
QAFFINE_OP vd cvt_f64(vh v) noexcept { return {cvt_f64x2(vget_low_s32(v)), cvt_f64x2(vget_high_s32(v))}; }
// Nearest, ties to even; the values are clamped into int32 range first, so the narrowing is exact.
QAFFINE_OP vh cvt_i32(vd v) noexcept { return vqmovn_high_s64(vqmovn_s64(vcvtnq_s64_f64(v.a)), vcvtnq_s64_f64(v.b)); }
QAFFINE_OP vi join(vh lo, vh hi) noexcept { return {lo, hi}; }

// ---- 16-bit floats ---------------------------------------------------------------------------------------
// `lanes` bfloat16 (their bits) at p as floats: a bfloat16 is the upper half of a float, so a 16-bit shift
// (exact).
QAFFINE_OP vf load_bf16(const std::uint16_t* p) noexcept {
    const uint16x8_t h = vld1q_u16(p);
    return {vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)), vreinterpretq_f32_u32(vshll_high_n_u16(h, 16))};
}
// `lanes` IEEE float16 (their bits) at p as floats (fcvtl; exact; NaN made quiet, as half_to_float does).
QAFFINE_OP vf load_f16(const std::uint16_t* p) noexcept {
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
    return {vcvt_f32_f16(vget_low_f16(h)), vcvt_high_f32_f16(h)};
}
// `lanes` floats to IEEE float16 at p, round to nearest even (fcvtn under the default FPCR; NaN made quiet,
// as half.hpp's float_to_half).
QAFFINE_OP void store_f16(std::uint16_t* p, vf v) noexcept {
    vst1q_u16(p, vreinterpretq_u16_f16(vcvt_high_f16_f32(vcvt_f16_f32(v.a), v.b)));
}
// `lanes` floats to bfloat16 at p, round to nearest even in integer ops (bits + 0x7FFF + lowest kept bit,
// then the upper half; NaN: the upper half made quiet), as half.hpp's float_to_bf16.
QAFFINE_OP uint32x4_t bf16_bits(float32x4_t v) noexcept {
    const uint32x4_t u = vreinterpretq_u32_f32(v);
    const uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
    const uint32x4_t rounded = vshrq_n_u32(vaddq_u32(vaddq_u32(u, vdupq_n_u32(0x7FFF)), odd), 16);
    const uint32x4_t quiet = vshrq_n_u32(vorrq_u32(u, vdupq_n_u32(0x00400000)), 16);
    const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7FFFFFFF)), vdupq_n_u32(0x7F800000));
    return vbslq_u32(nan, quiet, rounded);  // every lane in [0, 0xFFFF]: the narrowing is exact
}
QAFFINE_OP void store_bf16(std::uint16_t* p, vf v) noexcept {
    vst1q_u16(p, vmovn_high_u32(vmovn_u32(bf16_bits(v.a)), bf16_bits(v.b)));
}

// ---- memory ---------------------------------------------------------------------------------------------
QAFFINE_OP void prefetch(const void* p) noexcept { __builtin_prefetch(p, 0, 3); }
QAFFINE_OP void sfence() noexcept {}  // the stores are ordinary ones (stream_store)

#undef QAFFINE_OP

}  // namespace neon
}  // namespace qaffine
#endif  // QAFFINE_NEON_SIMD
