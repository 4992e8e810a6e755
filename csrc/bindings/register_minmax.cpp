// qaffine._core: ranges of whole arrays (any layout) and of per-channel / per-block groups.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <qaffine/dynamic.hpp>
#include <qaffine/granular.hpp>

#include "common.hpp"

namespace qaffine_py {

namespace {

py::tuple minmax(const py::array& x, bool bf16) {
    const fkind k = float_kind(x, bf16);
    const qaffine::strided_view v = describe(x);
    double lo = 0, hi = 0;
    bool nan = false;
    {
        py::gil_scoped_release nogil;
        visit(k, false, [&](auto t) {
            using Src = typename decltype(t)::src;
            using T = typename decltype(t)::real;
            const qaffine::minmax_result<T> r = qaffine::minmax_strided<Src, T>(v);
            lo = static_cast<double>(r.lo);
            hi = static_cast<double>(r.hi);
            nan = r.has_nan;
        });
    }
    return py::make_tuple(lo, hi, nan);
}

py::tuple minmax_groups(const py::array& x, const qaffine::layout& g) {
    const fkind k = float_kind(x);
    if (k == fkind::f16) throw py::type_error("per-channel/per-block kernels take float32 or float64");
    const void* data = contiguous(x, g.size(), "x");
    return visit(k, false, [&](auto t) -> py::tuple {
        using T = typename decltype(t)::real;
        py::array_t<T> lo(static_cast<py::ssize_t>(g.groups())), hi(static_cast<py::ssize_t>(g.groups()));
        T *l = lo.mutable_data(), *h = hi.mutable_data();
        bool nan = false;
        {
            py::gil_scoped_release nogil;
            nan = qaffine::minmax_groups(static_cast<const T*>(data), g, l, h);
        }
        return py::make_tuple(lo, hi, nan);
    });
}

}  // namespace

void register_minmax(py::module_& m) {
    m.def("minmax", &minmax, py::arg("x"), py::arg("bf16") = false,
          "(lo, hi, has_nan) of a float16/32/64 array (bf16: uint16 bfloat16 bits) of any layout; lo/hi ignore "
          "NaN.");
    m.def("minmax_groups", &minmax_groups, py::arg("x"), py::arg("layout"),
          "Per-group (lo, hi, has_nan) of a C-contiguous float32/float64 array.");
}

}  // namespace qaffine_py
