// qaffine/convert-inl.hpp — the SIMD 16-bit float conversions, one body for every level (no include guard:
// foreach_isa.hpp includes it once per level; the specification is scalar:: in convert.hpp).

QAFFINE_ISA void widen_bf16(isa, const std::uint16_t* src, std::size_t n, float* dst) noexcept {
    std::size_t i = 0;
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
        storeu(dst + i, load_bf16(src + i));
        storeu(dst + i + lanes, load_bf16(src + i + lanes));
    }
    for (; i + lanes <= n; i += lanes) storeu(dst + i, load_bf16(src + i));
    scalar::widen_bf16(src + i, n - i, dst + i);
}

QAFFINE_ISA void widen_f16(isa, const std::uint16_t* src, std::size_t n, float* dst) noexcept {
    std::size_t i = 0;
    for (; i + 2 * lanes <= n; i += 2 * lanes) {
        storeu(dst + i, load_f16(src + i));
        storeu(dst + i + lanes, load_f16(src + i + lanes));
    }
    for (; i + lanes <= n; i += lanes) storeu(dst + i, load_f16(src + i));
    scalar::widen_f16(src + i, n - i, dst + i);
}
