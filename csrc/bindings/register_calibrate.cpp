// qaffine._core: the histograms of calibration (qaffine/histogram.hpp) and the range searches over them.
// The Python layer (python/qaffine/_calibrate.py) holds each histogram as (counts, k, base, lo, hi, zeros),
// checks the data for NaN and infinities first and passes only finite values inside the window.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <qaffine/histogram.hpp>

#include "common.hpp"

namespace qaffine_py {

namespace {

using counts_array = py::array_t<std::uint64_t, py::array::c_style | py::array::forcecast>;

std::uint64_t histogram_count(const py::array& x, int k, std::int64_t base, py::array& counts) {
    const fkind f = float_kind(x);
    if (f == fkind::f16) throw py::type_error("histogram_count takes float32 or float64");
    if (counts.dtype().kind() != 'u' || counts.itemsize() != 8) throw py::type_error("counts must be uint64");
    const std::size_t bins = static_cast<std::size_t>(counts.size());
    auto* c = static_cast<std::uint64_t*>(writable(counts, bins));
    const void* data = contiguous(x, static_cast<std::size_t>(x.size()), "x");
    const std::size_t n = static_cast<std::size_t>(x.size());
    py::gil_scoped_release nogil;
    if (f == fkind::f32) return qaffine::histogram_count(static_cast<const float*>(data), n, k, base, c, bins);
    return qaffine::histogram_count(static_cast<const double*>(data), n, k, base, c, bins);
}

counts_array histogram_rebin(const counts_array& counts, int k, std::int64_t base, int k2, std::int64_t base2,
                             std::size_t bins2) {
    counts_array out(static_cast<py::ssize_t>(bins2));
    std::fill(out.mutable_data(), out.mutable_data() + bins2, std::uint64_t(0));
    try {
        qaffine::histogram_rebin(counts.data(), static_cast<std::size_t>(counts.size()), k, base, k2, base2,
                                 out.mutable_data(), bins2);
    } catch (const std::invalid_argument& e) {
        throw py::value_error(e.what());
    }
    return out;
}

py::tuple histogram_mse_range(const counts_array& counts, int k, std::int64_t base, double lo, double hi,
                              std::uint64_t zeros, double levels, bool symmetric, bool include_zero) {
    const qaffine::histogram_view v{counts.data(), static_cast<std::size_t>(counts.size()), k, base, lo, hi, zeros};
    qaffine::range_choice r{};
    {
        py::gil_scoped_release nogil;
        r = qaffine::histogram_mse_range(v, levels, symmetric, include_zero);
    }
    return py::make_tuple(r.lo, r.hi, r.error);
}

}  // namespace

void register_calibrate(py::module_& m) {
    m.attr("HISTOGRAM_MIN_EXPONENT") = qaffine::histogram_min_exponent;
    m.def("histogram_exponent", &qaffine::histogram_exponent, py::arg("lo"), py::arg("hi"), py::arg("bins"),
          py::arg("k_floor"), "The exponent of a histogram of finite data in [lo, hi], at least k_floor.");
    m.def("histogram_bin", &qaffine::histogram_bin, py::arg("x"), py::arg("k"), "floor(x * 2^-k).");
    m.def("histogram_count", &histogram_count, py::arg("x"), py::arg("k"), py::arg("base"), py::arg("counts"),
          "Adds the finite values of a C-contiguous float32/float64 array to counts; returns how many are 0.");
    m.def("histogram_rebin", &histogram_rebin, py::arg("counts"), py::arg("k"), py::arg("base"), py::arg("k2"),
          py::arg("base2"), py::arg("bins2"), "The counts coarsened to the window (k2, base2, bins2).");
    m.def("histogram_mse_range", &histogram_mse_range, py::arg("counts"), py::arg("k"), py::arg("base"),
          py::arg("lo"), py::arg("hi"), py::arg("zeros"), py::arg("levels"), py::arg("symmetric"),
          py::arg("include_zero"), "(lo, hi, modelled error) of the MSE-optimal clipping range.");
}

}  // namespace qaffine_py
