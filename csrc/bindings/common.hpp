// What every register_*.cpp of qaffine._core shares: the checks that only the buffer protocol can make
// (dtype, byte order, writeability, layout, size of the buffers handed in) and one visitor over the
// element types. Everything else — modes, parameters, shapes, messages — was validated by the Python
// layer (python/qaffine/_mode.py and its callers) and is not checked again here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include <qaffine/strided.hpp>

namespace qaffine_py {

namespace py = pybind11;

void register_types(py::module_& m);
void register_minmax(py::module_& m);
void register_quantize(py::module_& m);
void register_dequantize(py::module_& m);
void register_runtime(py::module_& m);
void register_calibrate(py::module_& m);

/// Dynamic quantization met a NaN / an infinity (bound as _core.FoundNaN / _core.FoundInf, ValueErrors).
struct found_nan : std::domain_error {
    found_nan() : std::domain_error("x contains NaN") {}
};
struct found_inf : std::domain_error {
    found_inf() : std::domain_error("x contains an infinite value") {}
};

/// The element types of one kernel call: Src as stored (std::uint16_t for float16), T the kernels'
/// arithmetic type (float or double), Q the code type (std::uint8_t or std::int8_t).
template <class Src, class T, class Q>
struct types {
    using src = Src;
    using real = T;
    using code = Q;
};

enum class fkind { f16, f32, f64 };

/// f(types<Src, T, Q>{}) for a float kind and code signedness: the one place the combinations are listed.
template <class F>
decltype(auto) visit(fkind k, bool signed_codes, F&& f) {
    if (signed_codes) {
        if (k == fkind::f16) return f(types<std::uint16_t, float, std::int8_t>{});
        if (k == fkind::f32) return f(types<float, float, std::int8_t>{});
        return f(types<double, double, std::int8_t>{});
    }
    if (k == fkind::f16) return f(types<std::uint16_t, float, std::uint8_t>{});
    if (k == fkind::f32) return f(types<float, float, std::uint8_t>{});
    return f(types<double, double, std::uint8_t>{});
}

/// The float kind of a native-byte-order float16/32/64 array; TypeError otherwise.
inline fkind float_kind(const py::array& a) {
    const py::dtype dt = a.dtype();
    // '=' and '|' are native; an explicit '<' or '>' is native when it names this machine's order
    // (Zarr, for one, hands out explicitly little-endian arrays).
    const std::uint16_t probe = 1;
    unsigned char first = 0;
    std::memcpy(&first, &probe, 1);
    if (dt.byteorder() == (first == 1 ? '>' : '<')) throw py::type_error("array must be in native byte order");
    if (dt.kind() == 'f') {
        if (dt.itemsize() == 2) return fkind::f16;
        if (dt.itemsize() == 4) return fkind::f32;
        if (dt.itemsize() == 8) return fkind::f64;
    }
    throw py::type_error("expected a float16, float32 or float64 array, got " + std::string(py::str(dt)));
}

/// Whether codes (uint8 or int8, else TypeError) are signed.
inline bool codes_signed(const py::array& codes, const char* name) {
    const char kind = codes.dtype().kind();
    if ((kind != 'u' && kind != 'i') || codes.itemsize() != 1)
        throw py::type_error(std::string(name) + " must be a uint8 or int8 array");
    return kind == 'i';
}

/// A writeable, C-contiguous, aligned output of n elements; ValueError otherwise.
inline void* writable(py::array& out, std::size_t n) {
    if (!out.writeable()) throw py::value_error("out is read-only");
    if (!(out.flags() & py::array::c_style)) throw py::value_error("out must be C-contiguous");
    if (reinterpret_cast<std::uintptr_t>(out.data()) % static_cast<std::uintptr_t>(out.itemsize()) != 0)
        throw py::value_error("out must be aligned");
    if (static_cast<std::size_t>(out.size()) != n) throw py::value_error("out has the wrong size");
    return out.mutable_data();
}

/// The array as the kernels walk it (read with the GIL held).
inline qaffine::strided_view describe(const py::array& a) {
    qaffine::strided_view v;
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

/// A C-contiguous array of `n` elements (the per-channel / per-block kernels index it directly).
inline const void* contiguous(const py::array& a, std::size_t n, const char* name) {
    if (!(a.flags() & py::array::c_style)) throw py::value_error(std::string(name) + " must be C-contiguous");
    if (static_cast<std::size_t>(a.size()) != n) throw py::value_error(std::string(name) + " does not match the layout");
    return a.data();
}

}  // namespace qaffine_py
