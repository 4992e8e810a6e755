// qaffine._core: clip_search_groups (qaffine/clip_search.hpp), the per-block search of range="mse".
// The Python layer (python/qaffine/_calibrate.py) moves the blocks' axis last, makes the data C-contiguous
// float32/float64 and checks it for NaN and infinities first.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <qaffine/clip_search.hpp>

#include "common.hpp"

namespace qaffine_py {

namespace {

/// (lo, hi) of every block of x[rows][n], blocks of `block` along the rows: arrays of x's dtype, shape (rows, nb).
py::tuple clip_search_groups(const py::array& x, std::size_t block, const qaffine::scheme& sc, std::size_t grid,
                             std::size_t steps) {
    const fkind f = float_kind(x);
    if (f != fkind::f32 && f != fkind::f64) throw py::type_error("clip_search_groups takes float32 or float64");
    if (x.ndim() != 2) throw py::value_error("x must be 2-D (rows, values)");
    const std::size_t rows = static_cast<std::size_t>(x.shape(0)), n = static_cast<std::size_t>(x.shape(1));
    const void* data = contiguous(x, rows * n, "x");
    const std::size_t nb = block == 0 ? 0 : (n + block - 1) / block;
    const std::vector<py::ssize_t> shape{static_cast<py::ssize_t>(rows), static_cast<py::ssize_t>(nb)};
    py::array lo(x.dtype(), shape), hi(x.dtype(), shape);
    void* l = lo.mutable_data();
    void* h = hi.mutable_data();
    {
        py::gil_scoped_release nogil;
        if (f == fkind::f32)
            qaffine::clip_search_groups(static_cast<const float*>(data), rows, n, block, sc, static_cast<float*>(l),
                                        static_cast<float*>(h), grid, steps);
        else
            qaffine::clip_search_groups(static_cast<const double*>(data), rows, n, block, sc, static_cast<double*>(l),
                                        static_cast<double*>(h), grid, steps);
    }
    return py::make_tuple(lo, hi);
}

}  // namespace

void register_clip(py::module_& m) {
    m.attr("CLIP_SEARCH_GRID") = qaffine::clip_search_grid;
    m.attr("CLIP_SEARCH_STEPS") = qaffine::clip_search_steps;
    m.def("clip_search_groups", &clip_search_groups, py::arg("x"), py::arg("block"), py::arg("scheme"),
          py::arg("grid") = qaffine::clip_search_grid, py::arg("steps") = qaffine::clip_search_steps,
          "(lo, hi) per block of finite C-contiguous x[rows][n]: the least-squared-error clip among the shrunk "
          "min/max ranges.");
}

}  // namespace qaffine_py
