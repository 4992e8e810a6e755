// qaffine._core types: the kernels' rounding, scheme and layout, bound as the C++ types they are, and the
// exceptions for NaN / ±Inf met by dynamic quantization.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include <qaffine/granular.hpp>
#include <qaffine/qparams.hpp>
#include <qaffine/quantize.hpp>

#include "common.hpp"

namespace qaffine_py {

void register_types(py::module_& m) {
    py::enum_<qaffine::rounding>(m, "Rounding", "How x / s is rounded (csrc/include/qaffine/quantize.hpp).")
        .value("divide", qaffine::rounding::divide, "round(x / s) + z: ONNX QuantizeLinear")
        .value("multiply", qaffine::rounding::multiply, "round(x * (1/s) + z), two roundings: torch per channel")
        .value("fused", qaffine::rounding::fused, "round(fma(x, 1/s, z)): torch/FBGEMM per tensor");

    // Raised by quantize_dynamic(_groups) instead of a status value (nothing was written then).
    py::register_exception<found_nan>(m, "FoundNaN", PyExc_ValueError);
    py::register_exception<found_inf>(m, "FoundInf", PyExc_ValueError);

    // Scheme and Layout: two C++ structs bound the same way (a constructor, each field read-only, a repr); the
    // look-alike blocks bind different fields.
    py::class_<qaffine::scheme>(m, "Scheme", "Code range and how parameters are chosen (qaffine::scheme).")
        .def(py::init([](std::int32_t qmin, std::int32_t qmax, bool symmetric, bool include_zero) {
                 const qaffine::scheme sc{qmin, qmax, symmetric, include_zero};
                 qaffine::validate(sc);
                 return sc;
             }),
             py::arg("qmin"), py::arg("qmax"), py::arg("symmetric"), py::arg("include_zero"))
        .def_readonly("qmin", &qaffine::scheme::qmin)
        .def_readonly("qmax", &qaffine::scheme::qmax)
        .def_readonly("symmetric", &qaffine::scheme::symmetric)
        .def_readonly("include_zero", &qaffine::scheme::include_zero)
        .def("__repr__", [](const qaffine::scheme& sc) {
            return "Scheme(qmin=" + std::to_string(sc.qmin) + ", qmax=" + std::to_string(sc.qmax) +
                   ", symmetric=" + (sc.symmetric ? "True" : "False") +
                   ", include_zero=" + (sc.include_zero ? "True" : "False") + ")";
        });

    py::class_<qaffine::layout>(m, "Layout",
                                "An array as [outer][channels][inner]; block 0 = per channel, B = blocks of B.")
        .def(py::init([](std::size_t outer, std::size_t channels, std::size_t inner, std::size_t block) {
                 return qaffine::layout{outer, channels, inner, block};
             }),
             py::arg("outer"), py::arg("channels"), py::arg("inner"), py::arg("block"))
        .def_readonly("outer", &qaffine::layout::outer)
        .def_readonly("channels", &qaffine::layout::channels)
        .def_readonly("inner", &qaffine::layout::inner)
        .def_readonly("block", &qaffine::layout::block)
        .def_property_readonly("size", &qaffine::layout::size)
        .def_property_readonly("groups", &qaffine::layout::groups)
        .def("__repr__", [](const qaffine::layout& g) {
            return "Layout(outer=" + std::to_string(g.outer) + ", channels=" + std::to_string(g.channels) +
                   ", inner=" + std::to_string(g.inner) + ", block=" + std::to_string(g.block) + ")";
        });
}

}  // namespace qaffine_py
