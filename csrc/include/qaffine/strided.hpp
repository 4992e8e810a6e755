// qaffine/strided.hpp — an N-d array of any byte strides, walked in C order as contiguous chunks.
//
// A C-contiguous, aligned array of the kernel's own type is handed over whole (no copy); anything else
// (views with strides or negative strides, misaligned data, float16 or bfloat16 stored as its bits) is
// gathered chunk by chunk into a buffer of at most 4096 elements, so no path allocates a temporary the size
// of the input. Contiguous runs of float16 and bfloat16 are widened with the SIMD kernels of convert.hpp.
// Thread safety: a strided_view is a read-only description; for_each_chunk may run on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "convert.hpp"
#include "cpu.hpp"
#include "half.hpp"

namespace qaffine {

/// What the kernels need to know about an array: its first element, shape and strides in bytes.
struct strided_view {
    const char* data = nullptr;
    std::vector<std::ptrdiff_t> shape;
    std::vector<std::ptrdiff_t> strides;  ///< bytes
    std::size_t size = 0;
    std::size_t itemsize = 0;
    bool c_contiguous = false;  ///< and aligned to itemsize

};

namespace detail {
template <class Src, class Dst>
inline Dst load_as(const char* p) noexcept {
    Src s;
    std::memcpy(&s, p, sizeof s);  // may be misaligned
    if constexpr (std::is_same<Src, std::uint16_t>::value && std::is_same<Dst, float>::value)
        return half_to_float(s);
    else if constexpr (std::is_same<Src, bfloat16>::value && std::is_same<Dst, float>::value)
        return bf16_to_float(s.bits);
    else
        return static_cast<Dst>(s);
}

// The next row in C order (odometer over the outer dimensions of v): the first element's address.
inline const char* next_row(const strided_view& v, std::vector<std::ptrdiff_t>& idx, const char* row) noexcept {
    for (std::size_t d = v.shape.size() - 1; d-- > 0;) {
        if (++idx[d] < v.shape[d]) return row + v.strides[d];
        row -= v.strides[d] * (v.shape[d] - 1);
        idx[d] = 0;
    }
    return row;
}
}  // namespace detail

/// Calls f(const Dst* chunk, std::size_t n) over all elements of v in C order. Src is the stored type
/// (std::uint16_t for float16, bfloat16), Dst the kernel's; `level` is the SIMD level of the conversions.
template <class Src, class Dst, class F>
void for_each_chunk(const strided_view& v, F&& f, simd_level level = active_level()) {
    if (v.size == 0) return;
    if constexpr (std::is_same<Src, Dst>::value) {
        if (v.c_contiguous) {
            f(reinterpret_cast<const Dst*>(v.data), v.size);
            return;
        }
    }
    // On the heap, sized to the input: a stack array of known size lets GCC "prove" pointer overflow in the
    // kernels' size_t loops over it (-Waggressive-loop-optimizations); one allocation per call costs ~50 ns.
    const std::size_t chunk = v.size < 4096 ? v.size : 4096;
    const std::unique_ptr<Dst[]> storage(new Dst[chunk]);
    Dst* const buf = storage.get();
    std::size_t k = 0;
    const std::size_t nd = v.shape.size();
    const std::ptrdiff_t inner = v.shape[nd - 1];
    const std::ptrdiff_t inner_stride = v.strides[nd - 1];
    std::vector<std::ptrdiff_t> idx(nd, 0);
    const char* row = v.data;
    constexpr bool half = std::is_same<Src, std::uint16_t>::value, bf16 = std::is_same<Src, bfloat16>::value;
    if constexpr ((half || bf16) && std::is_same<Dst, float>::value) {
        // Aligned runs of consecutive elements (the whole array if C-contiguous): widened in SIMD registers.
        bool runs = inner_stride == static_cast<std::ptrdiff_t>(sizeof(Src)) &&
                    reinterpret_cast<std::uintptr_t>(v.data) % sizeof(Src) == 0;
        for (const std::ptrdiff_t st : v.strides) runs = runs && st % static_cast<std::ptrdiff_t>(sizeof(Src)) == 0;
        if (runs || v.c_contiguous) {
            const std::size_t run = v.c_contiguous ? v.size : static_cast<std::size_t>(inner);
            for (std::size_t done = 0; done < v.size; done += run) {
                const auto* p = reinterpret_cast<const std::uint16_t*>(v.c_contiguous ? v.data : row);
                for (std::size_t j = 0; j < run;) {
                    const std::size_t m = run - j < chunk - k ? run - j : chunk - k;
                    if constexpr (bf16) widen_bf16(p + j, m, buf + k, level);
                    else widen_f16(p + j, m, buf + k, level);
                    j += m;
                    k += m;
                    if (k == chunk) {
                        f(static_cast<const Dst*>(buf), k);
                        k = 0;
                    }
                }
                if (v.c_contiguous) break;
                row = detail::next_row(v, idx, row);
            }
            if (k != 0) f(static_cast<const Dst*>(buf), k);
            return;
        }
    }
    for (std::size_t done = 0; done < v.size; done += static_cast<std::size_t>(inner)) {
        const char* p = row;
        for (std::ptrdiff_t j = 0; j < inner; ++j, p += inner_stride) {
            buf[k++] = detail::load_as<Src, Dst>(p);
            if (k == chunk) {
                f(static_cast<const Dst*>(buf), k);
                k = 0;
            }
        }
        row = detail::next_row(v, idx, row);
    }
    if (k != 0) f(static_cast<const Dst*>(buf), k);
}

}  // namespace qaffine
