// Walks an N-d NumPy array of any strides in C order, handing the kernels contiguous, aligned chunks.
// A C-contiguous, aligned array of the kernel's own type is passed through whole (no copy); anything
// else (views with strides, misaligned data, float16) is gathered chunk by chunk into a small buffer,
// so no path allocates a temporary the size of the input.
#pragma once

#include <pybind11/numpy.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include <qaffine/half.hpp>

namespace qaffine_py {

namespace py = pybind11;

/// What the kernels need to know about an array, read while holding the GIL.
struct strided {
    const char* data = nullptr;
    std::vector<std::ptrdiff_t> shape;
    std::vector<std::ptrdiff_t> strides;  // bytes
    std::size_t size = 0;
    std::size_t itemsize = 0;
    bool c_contiguous = false;
};

inline strided describe(const py::array& a) {
    strided v;
    v.data = static_cast<const char*>(a.data());
    v.itemsize = static_cast<std::size_t>(a.itemsize());
    v.size = static_cast<std::size_t>(a.size());
    for (py::ssize_t d = 0; d < a.ndim(); ++d) {
        v.shape.push_back(static_cast<std::ptrdiff_t>(a.shape(d)));
        v.strides.push_back(static_cast<std::ptrdiff_t>(a.strides(d)));
    }
    const bool aligned = reinterpret_cast<std::uintptr_t>(v.data) % v.itemsize == 0;
    v.c_contiguous = aligned && (a.flags() & py::array::c_style) != 0;
    if (v.shape.empty()) {  // 0-d: one element
        v.shape.push_back(1);
        v.strides.push_back(static_cast<std::ptrdiff_t>(v.itemsize));
    }
    return v;
}

template <class Src, class Dst>
inline Dst load_as(const char* p) noexcept {
    Src s;
    std::memcpy(&s, p, sizeof s);  // may be misaligned
    if constexpr (std::is_same<Src, std::uint16_t>::value && std::is_same<Dst, float>::value)
        return qaffine::half_to_float(s);
    else
        return static_cast<Dst>(s);
}

/// Calls f(const Dst* chunk, std::size_t n) over all elements in C order. Src is the stored type
/// (std::uint16_t for float16), Dst the kernel's. Needs no GIL.
template <class Src, class Dst, class F>
void for_each_chunk(const strided& v, F&& f) {
    if (v.size == 0) return;
    if constexpr (std::is_same<Src, Dst>::value) {
        if (v.c_contiguous) {
            f(reinterpret_cast<const Dst*>(v.data), v.size);
            return;
        }
    }
    constexpr std::size_t chunk = 4096;
    Dst buf[chunk];
    std::size_t k = 0;
    const std::size_t nd = v.shape.size();
    const std::ptrdiff_t inner = v.shape[nd - 1];
    const std::ptrdiff_t inner_stride = v.strides[nd - 1];
    std::vector<std::ptrdiff_t> idx(nd, 0);
    const char* row = v.data;
    for (std::size_t done = 0; done < v.size; done += static_cast<std::size_t>(inner)) {
        const char* p = row;
        for (std::ptrdiff_t j = 0; j < inner; ++j, p += inner_stride) {
            buf[k++] = load_as<Src, Dst>(p);
            if (k == chunk) {
                f(static_cast<const Dst*>(buf), k);
                k = 0;
            }
        }
        // Next row in C order (odometer over the outer dimensions).
        for (std::size_t d = nd - 1; d-- > 0;) {
            if (++idx[d] < v.shape[d]) {
                row += v.strides[d];
                break;
            }
            row -= v.strides[d] * (v.shape[d] - 1);
            idx[d] = 0;
        }
    }
    if (k != 0) f(static_cast<const Dst*>(buf), k);
}

}  // namespace qaffine_py
