// qaffine._core — thin pybind11 layer over the header-only kernels.
//
// The Python package validates arguments and formats error messages; this module only checks what needs
// the buffer protocol (dtype, writeability, layout of `out`), releases the GIL around every kernel and
// reports NaN/Inf as status values so the Python layer can name an index.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <qaffine/qaffine.hpp>

#include "strided.hpp"

namespace py = pybind11;
using qaffine_py::describe;
using qaffine_py::for_each_chunk;
using qaffine_py::strided;

namespace {

enum class fkind { f16, f32, f64 };

fkind float_kind(const py::array& a) {
    const py::dtype dt = a.dtype();
    if (dt.kind() == 'f') {
        if (dt.itemsize() == 2) return fkind::f16;
        if (dt.itemsize() == 4) return fkind::f32;
        if (dt.itemsize() == 8) return fkind::f64;
    }
    throw py::type_error("expected a float16, float32 or float64 array, got " + std::string(py::str(dt)));
}

void check_native(const py::array& a) {
    const char order = a.dtype().attr("byteorder").cast<std::string>()[0];
    if (order == '>' || order == '<')  // '=' or '|' are native
        throw py::type_error("array must be in native byte order");
}

std::uint8_t* writable_codes(py::array& out, std::size_t n) {
    if (out.dtype().kind() != 'u' || out.itemsize() != 1) throw py::type_error("out must be a uint8 array");
    if (!out.writeable()) throw py::value_error("out is read-only");
    if (!(out.flags() & py::array::c_style)) throw py::value_error("out must be C-contiguous");
    if (static_cast<std::size_t>(out.size()) != n) throw py::value_error("out has the wrong size");
    return static_cast<std::uint8_t*>(out.mutable_data());
}

struct minmax_acc {
    double lo = INFINITY;
    double hi = -INFINITY;
    bool nan = false;
    template <class T>
    void add(const qaffine::minmax_result<T>& r) {
        lo = static_cast<double>(r.lo) < lo ? static_cast<double>(r.lo) : lo;
        hi = static_cast<double>(r.hi) > hi ? static_cast<double>(r.hi) : hi;
        nan = nan || r.has_nan;
    }
};

template <class Src, class T>
minmax_acc minmax_strided(const strided& v) {
    minmax_acc acc;
    for_each_chunk<Src, T>(v, [&](const T* p, std::size_t n) { acc.add(qaffine::minmax(p, n)); });
    return acc;
}

minmax_acc minmax_any(const strided& v, fkind k) {
    switch (k) {
        case fkind::f16: return minmax_strided<std::uint16_t, float>(v);
        case fkind::f32: return minmax_strided<float, float>(v);
        case fkind::f64: break;
    }
    return minmax_strided<double, double>(v);
}

template <class Src, class T>
bool quantize_strided(const strided& v, const qaffine::qparams& p, std::uint8_t* out) {
    bool nan = false;
    for_each_chunk<Src, T>(v, [&](const T* x, std::size_t n) {
        nan = qaffine::quantize_unchecked(x, n, p, out) || nan;
        out += n;
    });
    return nan;
}

bool quantize_any(const strided& v, fkind k, const qaffine::qparams& p, std::uint8_t* out) {
    switch (k) {
        case fkind::f16: return quantize_strided<std::uint16_t, float>(v, p, out);
        case fkind::f32: return quantize_strided<float, float>(v, p, out);
        case fkind::f64: break;
    }
    return quantize_strided<double, double>(v, p, out);
}

qaffine::qparams make_params(float scale, std::int32_t zero_point, std::int32_t qmin, std::int32_t qmax) {
    qaffine::qparams p;
    p.scale = scale;
    p.zero_point = zero_point;
    p.qmin = qmin;
    p.qmax = qmax;
    qaffine::validate(p);
    if (qmin < 0 || qmax > 255) throw std::invalid_argument("uint8 codes need 0 <= qmin < qmax <= 255");
    return p;
}

// ---- functions exposed to Python ----

py::tuple py_minmax(const py::array& x) {
    const fkind k = float_kind(x);
    check_native(x);
    const strided v = describe(x);
    minmax_acc acc;
    {
        py::gil_scoped_release nogil;
        acc = minmax_any(v, k);
    }
    return py::make_tuple(acc.lo, acc.hi, acc.nan);
}

py::tuple py_choose_qparams(double lo, double hi, std::int32_t qmin, std::int32_t qmax, bool in_double) {
    const qaffine::qparams p = in_double
                                   ? qaffine::choose_qparams(lo, hi, qmin, qmax)
                                   : qaffine::choose_qparams(static_cast<float>(lo), static_cast<float>(hi), qmin, qmax);
    return py::make_tuple(p.scale, p.zero_point);
}

bool py_quantize(const py::array& x, float scale, std::int32_t zero_point, std::int32_t qmin, std::int32_t qmax,
                 py::array out) {
    const fkind k = float_kind(x);
    check_native(x);
    const qaffine::qparams p = make_params(scale, zero_point, qmin, qmax);
    const strided v = describe(x);
    std::uint8_t* dst = writable_codes(out, v.size);
    py::gil_scoped_release nogil;
    return quantize_any(v, k, p, dst);
}

// Status: 0 ok, 1 NaN seen, 2 infinity seen (codes not written in both cases).
py::tuple py_quantize_dynamic(const py::array& x, std::int32_t qmin, std::int32_t qmax, py::array out) {
    const fkind k = float_kind(x);
    check_native(x);
    const strided v = describe(x);
    if (v.size == 0) throw py::value_error("cannot choose quantization parameters for an empty array");
    std::uint8_t* dst = writable_codes(out, v.size);
    qaffine::qparams p;
    int status = 0;
    {
        py::gil_scoped_release nogil;
        const minmax_acc mm = minmax_any(v, k);
        if (mm.nan) {
            status = 1;
        } else if (std::isinf(mm.lo) || std::isinf(mm.hi)) {
            status = 2;
        } else {
            p = k == fkind::f64 ? qaffine::choose_qparams(mm.lo, mm.hi, qmin, qmax)
                                : qaffine::choose_qparams(static_cast<float>(mm.lo), static_cast<float>(mm.hi), qmin, qmax);
            quantize_any(v, k, p, dst);
        }
    }
    return py::make_tuple(p.scale, p.zero_point, status);
}

template <class T>
void dequantize_into(const strided& v, const qaffine::qparams& p, T* dst) {
    for_each_chunk<std::uint8_t, std::uint8_t>(v, [&](const std::uint8_t* q, std::size_t n) {
        qaffine::dequantize_unchecked(q, n, p, dst);
        dst += n;
    });
}

void py_dequantize(const py::array& codes, float scale, std::int32_t zero_point, std::int32_t qmin,
                   std::int32_t qmax, py::array out) {
    if (codes.dtype().kind() != 'u' || codes.itemsize() != 1) throw py::type_error("codes must be a uint8 array");
    const qaffine::qparams p = make_params(scale, zero_point, qmin, qmax);
    const strided v = describe(codes);
    const fkind k = float_kind(out);
    check_native(out);
    if (!out.writeable()) throw py::value_error("out is read-only");
    if (!(out.flags() & py::array::c_style)) throw py::value_error("out must be C-contiguous");
    if (reinterpret_cast<std::uintptr_t>(out.data()) % static_cast<std::uintptr_t>(out.itemsize()) != 0)
        throw py::value_error("out must be aligned");
    if (static_cast<std::size_t>(out.size()) != v.size) throw py::value_error("out has the wrong size");
    if (k == fkind::f16) throw py::type_error("dequantize writes float32 or float64");
    void* dst = out.mutable_data();
    py::gil_scoped_release nogil;
    if (k == fkind::f32)
        dequantize_into(v, p, static_cast<float*>(dst));
    else
        dequantize_into(v, p, static_cast<double*>(dst));
}

std::vector<std::string> supported_levels() {
    std::vector<std::string> names;
    for (int l = 0; l <= static_cast<int>(qaffine::max_supported_level()); ++l)
        names.emplace_back(qaffine::to_string(static_cast<qaffine::simd_level>(l)));
    return names;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
    m.doc() = "qaffine's compiled kernels (private; use the qaffine package)";
    m.attr("__version__") = qaffine::version;

    m.def("minmax", &py_minmax, py::arg("x"),
          "(lo, hi, has_nan) of a float16/32/64 array of any layout; lo/hi ignore NaN.");
    m.def("choose_qparams", &py_choose_qparams, py::arg("lo"), py::arg("hi"), py::arg("qmin"), py::arg("qmax"),
          py::arg("in_double"), "(scale, zero_point) for the range [lo, hi].");
    m.def("quantize", &py_quantize, py::arg("x"), py::arg("scale"), py::arg("zero_point"), py::arg("qmin"),
          py::arg("qmax"), py::arg("out"), "Writes codes of x into out (uint8, C-contiguous); returns has_nan.");
    m.def("quantize_dynamic", &py_quantize_dynamic, py::arg("x"), py::arg("qmin"), py::arg("qmax"), py::arg("out"),
          "minmax + choose_qparams + quantize; returns (scale, zero_point, status).");
    m.def("dequantize", &py_dequantize, py::arg("codes"), py::arg("scale"), py::arg("zero_point"), py::arg("qmin"),
          py::arg("qmax"), py::arg("out"), "Writes scale * (codes - zero_point) into out (float32/float64).");

    m.def("simd_level", [] { return std::string(qaffine::to_string(qaffine::active_level())); },
          "The SIMD level the kernels use now.");
    m.def("max_simd_level", [] { return std::string(qaffine::to_string(qaffine::max_supported_level())); },
          "The highest SIMD level this CPU supports.");
    m.def("supported_simd_levels", &supported_levels, "Every SIMD level this CPU supports, lowest first.");
    m.def(
        "_set_simd_level", [](const std::string& name) { qaffine::set_active_level(qaffine::parse_simd_level(name)); },
        py::arg("level"), "Forces a SIMD level (for tests); ValueError if unknown or unsupported.");
}
