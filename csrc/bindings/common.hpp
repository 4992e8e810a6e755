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

#include <qaffine/half.hpp>
#include <qaffine/strided.hpp>

namespace qaffine_py {

namespace py = pybind11;

void register_types(py::module_& m);
void register_minmax(py::module_& m);
void register_quantize(py::module_& m);
void register_dequantize(py::module_& m);
void register_runtime(py::module_& m);
void register_calibrate(py::module_& m);
void register_clip(py::module_& m);

/// Dynamic quantization met a NaN / an infinity (bound as _core.FoundNaN / _core.FoundInf, ValueErrors).
struct found_nan : std::domain_error {
    found_nan() : std::domain_error("x contains NaN") {}
};
struct found_inf : std::domain_error {
    found_inf() : std::domain_error("x contains an infinite value") {}
};

/// The element types of one kernel call: Src as stored (std::uint16_t for float16, qaffine::bfloat16), T the
/// kernels' arithmetic type (float or double), Q the code type (std::uint8_t, std::int8_t, std::uint16_t,
/// std::int16_t).
template <class Src, class T, class Q>
struct types {
    using src = Src;
    using real = T;
    using code = Q;
};

enum class fkind { f16, f32, f64, bf16 };

/// The code types: uint8, int8, uint16, int16.
enum class ckind { u8, i8, u16, i16 };

/// f(types<Src, T, Q>{}) for a float kind and a code type Q: the one place the float kinds are listed.
template <class Q, class F>
decltype(auto) visit_float(fkind k, F&& f) {
    if (k == fkind::f16) return f(types<std::uint16_t, float, Q>{});
    if (k == fkind::bf16) return f(types<qaffine::bfloat16, float, Q>{});
    if (k == fkind::f32) return f(types<float, float, Q>{});
    return f(types<double, double, Q>{});
}

/// f(types<Src, T, Q>{}) for a float kind and a code kind: the one place the code types are listed.
template <class F>
decltype(auto) visit(fkind k, ckind c, F&& f) {
    if (c == ckind::i16) return visit_float<std::int16_t>(k, f);
    if (c == ckind::u16) return visit_float<std::uint16_t>(k, f);
    if (c == ckind::i8) return visit_float<std::int8_t>(k, f);
    return visit_float<std::uint8_t>(k, f);
}

/// visit() for 8-bit codes of the given signedness.
template <class F>
decltype(auto) visit(fkind k, bool signed_codes, F&& f) {
    return visit(k, signed_codes ? ckind::i8 : ckind::u8, f);
}

/// The element type dequantize writes for a float kind: float16 and bfloat16 as their 16-bit types.
template <class Src>
struct stored {
    using type = Src;
};
template <>
struct stored<std::uint16_t> {
    using type = qaffine::float16;
};

/// Whether dt names the byte order this machine does not use.
inline bool foreign_order(const py::dtype& dt) {
    // '=' and '|' are native; an explicit '<' or '>' is native when it names this machine's order
    // (Zarr, for one, hands out explicitly little-endian arrays).
    const std::uint16_t probe = 1;
    unsigned char first = 0;
    std::memcpy(&first, &probe, 1);
    return dt.byteorder() == (first == 1 ? '>' : '<');
}

/// The float kind of a native-byte-order float16/32/64 array, or, with `bf16`, of a uint16 array holding
/// bfloat16 bits (the Python layer's view of ml_dtypes / torch bfloat16 data); TypeError otherwise.
inline fkind float_kind(const py::array& a, bool bf16 = false) {
    const py::dtype dt = a.dtype();
    if (foreign_order(dt)) throw py::type_error("array must be in native byte order");
    if (bf16) {
        if (dt.kind() == 'u' && dt.itemsize() == 2) return fkind::bf16;
        throw py::type_error("bfloat16 data must be passed as its uint16 bits, got " + std::string(py::str(dt)));
    }
    if (dt.kind() == 'f') {
        if (dt.itemsize() == 2) return fkind::f16;
        if (dt.itemsize() == 4) return fkind::f32;
        if (dt.itemsize() == 8) return fkind::f64;
    }
    throw py::type_error("expected a float16, float32 or float64 array, got " + std::string(py::str(dt)));
}

/// The code type of codes (uint8, int8, uint16 or int16 in native byte order, else TypeError).
inline ckind code_kind(const py::array& codes, const char* name) {
    const char kind = codes.dtype().kind();
    const py::ssize_t size = codes.itemsize();
    if ((kind != 'u' && kind != 'i') || (size != 1 && size != 2) || (size == 2 && foreign_order(codes.dtype())))
        throw py::type_error(std::string(name) + " must be a uint8, int8, uint16 or int16 array");
    if (size == 2) return kind == 'i' ? ckind::i16 : ckind::u16;
    return kind == 'i' ? ckind::i8 : ckind::u8;
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
