// qaffine._core: codes back to floats (per tensor, any layout; per channel / per block).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include <qaffine/dequantize.hpp>
#include <qaffine/granular.hpp>
#include <qaffine/packed.hpp>
#include <qaffine/parallel.hpp>
#include <qaffine/strided.hpp>

#include "common.hpp"

namespace qaffine_py {

namespace {

using f32_array = py::array_t<float, py::array::c_style>;
using i32_array = py::array_t<std::int32_t, py::array::c_style>;

/// The float output: float16/32/64 (bf16: uint16 for bfloat16 bits), writeable, of n elements.
fkind float_out(py::array& out, std::size_t n, bool bf16) {
    const fkind k = float_kind(out, bf16);
    writable(out, n);
    return k;
}

/// The element type written for the kind of visit()'s types D.
template <class D>
using out_type = typename stored<typename D::src>::type;

void dequantize(const py::array& codes, float scale, std::int32_t zero_point, py::array out, bool bf16) {
    const ckind code = code_kind(codes, "codes");
    const qaffine::strided_view v = describe(codes);
    const fkind k = float_out(out, v.size, bf16);
    void* dst = out.mutable_data();
    const qaffine::qparams p{scale, zero_point, 0, 1};
    py::gil_scoped_release nogil;
    visit(k, code, [&](auto t) {
        using Q = typename decltype(t)::code;
        auto* o = static_cast<out_type<decltype(t)>*>(dst);
        qaffine::for_each_chunk<Q, Q>(v, [&](const Q* q, std::size_t n) {
            qaffine::dequantize_parallel(q, n, p, o);
            o += n;
        });
    });
}

/// Floats of every group of layout g from src(t), the source (codes or packed fields) of the element types t
/// that visit(k, code) picks, into out.
template <class Code, class Src>
void groups_to_floats(const qaffine::layout& g, const f32_array& scale, const i32_array& zero_point, py::array& out,
                      bool bf16, Code code, Src src) {
    const std::size_t G = g.groups();
    if (static_cast<std::size_t>(scale.size()) != G || static_cast<std::size_t>(zero_point.size()) != G)
        throw py::value_error("scale and zero_point must have one value per group");
    const fkind k = float_out(out, g.size(), bf16);
    void* dst = out.mutable_data();
    const float* s = scale.data();
    const std::int32_t* z = zero_point.data();
    py::gil_scoped_release nogil;
    visit(k, code, [&](auto t) { qaffine::dequantize_groups(src(t), g, s, z, static_cast<out_type<decltype(t)>*>(dst)); });
}

void dequantize_groups(const py::array& codes, const qaffine::layout& g, const f32_array& scale,
                       const i32_array& zero_point, py::array out, bool bf16) {
    const ckind code = code_kind(codes, "codes");
    const void* q = contiguous(codes, g.size(), "codes");
    groups_to_floats(g, scale, zero_point, out, bf16, code,
                     [q](auto t) { return static_cast<const typename decltype(t)::code*>(q); });
}

// ---- packed codes: the kernels read the fields directly --------------------------------------------------

/// The packed bytes of n codes in fields of `width` bits: uint8, C-contiguous, packed_bytes(n, width) long.
const std::uint8_t* packed_in(const py::array& packed, std::size_t n, unsigned width) {
    if (width != 1 && width != 2 && width != 4) throw py::value_error("field width must be 1, 2 or 4");
    if (packed.dtype().kind() != 'u' || packed.itemsize() != 1) throw py::type_error("packed codes must be a uint8 array");
    return static_cast<const std::uint8_t*>(contiguous(packed, qaffine::packed_bytes(n, width), "packed codes"));
}

void dequantize_packed(const py::array& packed, unsigned width, bool is_signed, float scale, std::int32_t zero_point,
                       py::array out, bool bf16) {
    if (!(out.flags() & py::array::c_style)) throw py::value_error("out must be C-contiguous");
    const std::size_t n = static_cast<std::size_t>(out.size());
    const fkind k = float_out(out, n, bf16);
    const std::uint8_t* b = packed_in(packed, n, width);
    void* dst = out.mutable_data();
    const qaffine::qparams p{scale, zero_point, 0, 1};
    py::gil_scoped_release nogil;
    visit(k, is_signed, [&](auto t) {
        using D = decltype(t);
        qaffine::dequantize_packed(qaffine::packed_view<typename D::code>{b, width}, n, p,
                                   static_cast<out_type<D>*>(dst));
    });
}

void dequantize_groups_packed(const py::array& packed, const qaffine::layout& g, unsigned width, bool is_signed,
                              const f32_array& scale, const i32_array& zero_point, py::array out, bool bf16) {
    const std::uint8_t* b = packed_in(packed, g.size(), width);
    groups_to_floats(g, scale, zero_point, out, bf16, is_signed,
                     [b, width](auto t) { return qaffine::packed_view<typename decltype(t)::code>{b, width}; });
}

}  // namespace

void register_dequantize(py::module_& m) {
    m.def("dequantize", &dequantize, py::arg("codes"), py::arg("scale"), py::arg("zero_point"), py::arg("out"),
          py::arg("bf16") = false,
          "Writes scale * (codes - zero_point) into out (float16/32/64; bf16: uint16 for bfloat16 bits).");
    m.def("dequantize_groups", &dequantize_groups, py::arg("codes"), py::arg("layout"), py::arg("scale"),
          py::arg("zero_point"), py::arg("out"), py::arg("bf16") = false,
          "Per-channel/per-block dequantize of C-contiguous codes (out as dequantize).");
    m.def("dequantize_packed", &dequantize_packed, py::arg("packed"), py::arg("width"), py::arg("signed"),
          py::arg("scale"), py::arg("zero_point"), py::arg("out"), py::arg("bf16") = false,
          "dequantize() of out.size codes in packed fields of `width` bits (uint8 bytes).");
    m.def("dequantize_groups_packed", &dequantize_groups_packed, py::arg("packed"), py::arg("layout"),
          py::arg("width"), py::arg("signed"), py::arg("scale"), py::arg("zero_point"), py::arg("out"),
          py::arg("bf16") = false, "dequantize_groups() of codes in packed fields.");
}

}  // namespace qaffine_py
