// qaffine._core: codes back to floats (per tensor, any layout; per channel / per block).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include <qaffine/dequantize.hpp>
#include <qaffine/granular.hpp>
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

void dequantize_groups(const py::array& codes, const qaffine::layout& g, const f32_array& scale,
                       const i32_array& zero_point, py::array out, bool bf16) {
    const ckind code = code_kind(codes, "codes");
    const void* q = contiguous(codes, g.size(), "codes");
    const std::size_t G = g.groups();
    if (static_cast<std::size_t>(scale.size()) != G || static_cast<std::size_t>(zero_point.size()) != G)
        throw py::value_error("scale and zero_point must have one value per group");
    const fkind k = float_out(out, g.size(), bf16);
    void* dst = out.mutable_data();
    const float* s = scale.data();
    const std::int32_t* z = zero_point.data();
    py::gil_scoped_release nogil;
    visit(k, code, [&](auto t) {
        using D = decltype(t);
        qaffine::dequantize_groups(static_cast<const typename D::code*>(q), g, s, z,
                                   static_cast<out_type<D>*>(dst));
    });
}

}  // namespace

void register_dequantize(py::module_& m) {
    m.def("dequantize", &dequantize, py::arg("codes"), py::arg("scale"), py::arg("zero_point"), py::arg("out"),
          py::arg("bf16") = false,
          "Writes scale * (codes - zero_point) into out (float16/32/64; bf16: uint16 for bfloat16 bits).");
    m.def("dequantize_groups", &dequantize_groups, py::arg("codes"), py::arg("layout"), py::arg("scale"),
          py::arg("zero_point"), py::arg("out"), py::arg("bf16") = false,
          "Per-channel/per-block dequantize of C-contiguous codes (out as dequantize).");
}

}  // namespace qaffine_py
