// qaffine._core — the pybind11 module over the header-only kernels, one register_*.cpp per area:
//   register_types.cpp       Rounding, Scheme, Layout (the C++ types, bound as types); FoundNaN, FoundInf
//   register_minmax.cpp      minmax, minmax_groups
//   register_quantize.cpp    choose_qparams(_array), quantize(_dynamic), quantize(_dynamic)_groups
//   register_dequantize.cpp  dequantize, dequantize_groups
//   register_runtime.cpp     threads, SIMD level, the buffer cache of large results (buffers.hpp)
//   register_calibrate.cpp   histogram_count, histogram_rebin, histogram_mse_range (calibration)
//   register_clip.cpp        clip_search_groups (range="mse" per block)
// The Python package validates every argument and words every message; this module checks only what the
// buffer protocol can break (common.hpp), releases the GIL around every kernel and raises FoundNaN /
// FoundInf for NaN / Inf in dynamic quantization, so the Python layer can name an index.
#include <pybind11/pybind11.h>

#include <qaffine/version.hpp>

#include "common.hpp"

PYBIND11_MODULE(_core, m) {
    m.doc() = "qaffine's compiled kernels (private; use the qaffine package)";
    m.attr("__version__") = qaffine::version;
    qaffine_py::register_types(m);
    qaffine_py::register_minmax(m);
    qaffine_py::register_quantize(m);
    qaffine_py::register_dequantize(m);
    qaffine_py::register_runtime(m);
    qaffine_py::register_calibrate(m);
    qaffine_py::register_clip(m);
}
