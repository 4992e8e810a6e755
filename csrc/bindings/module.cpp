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
#include <cstring>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <qaffine/qaffine.hpp>

#include "buffers.hpp"
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
    // '=' and '|' are native; an explicit '<' or '>' is native when it names this machine's order
    // (Zarr, for one, hands out explicitly little-endian arrays).
    const std::uint16_t probe = 1;
    unsigned char first = 0;
    std::memcpy(&first, &probe, 1);
    const char foreign = first == 1 ? '>' : '<';
    if (a.dtype().byteorder() == foreign) throw py::type_error("array must be in native byte order");
}

// Codes are uint8 or int8; returns the pointer and whether they are signed.
std::pair<void*, bool> writable_codes(py::array& out, std::size_t n) {
    const char kind = out.dtype().kind();
    if ((kind != 'u' && kind != 'i') || out.itemsize() != 1) throw py::type_error("out must be a uint8 or int8 array");
    if (!out.writeable()) throw py::value_error("out is read-only");
    if (!(out.flags() & py::array::c_style)) throw py::value_error("out must be C-contiguous");
    if (static_cast<std::size_t>(out.size()) != n) throw py::value_error("out has the wrong size");
    return {out.mutable_data(), kind == 'i'};
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
    for_each_chunk<Src, T>(v, [&](const T* p, std::size_t n) { acc.add(qaffine::minmax_parallel(p, n)); });
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

struct run_params {
    qaffine::rounding r;
    float s;  // kernel scale
    std::int32_t z, qmin, qmax;
};

template <class Src, class T, class Q>
bool quantize_strided(const strided& v, const run_params& p, Q* out) {
    bool nan = false;
    for_each_chunk<Src, T>(v, [&](const T* x, std::size_t n) {
        nan = qaffine::quantize_run_parallel(p.r, x, n, p.s, p.z, p.qmin, p.qmax, out) || nan;
        out += n;
    });
    return nan;
}

template <class Q>
bool quantize_any(const strided& v, fkind k, const run_params& p, Q* out) {
    switch (k) {
        case fkind::f16: return quantize_strided<std::uint16_t, float>(v, p, out);
        case fkind::f32: return quantize_strided<float, float>(v, p, out);
        case fkind::f64: break;
    }
    return quantize_strided<double, double>(v, p, out);
}

bool quantize_codes(const strided& v, fkind k, const run_params& p, std::pair<void*, bool> out) {
    if (out.second) return quantize_any(v, k, p, static_cast<std::int8_t*>(out.first));
    return quantize_any(v, k, p, static_cast<std::uint8_t*>(out.first));
}

void check_range(std::int32_t qmin, std::int32_t qmax, bool is_signed) {
    const std::int32_t lo = is_signed ? -128 : 0, hi = is_signed ? 127 : 255;
    if (qmin < lo || qmax > hi || qmin >= qmax)
        throw std::invalid_argument("[qmin, qmax] must be a non-empty range inside the code type");
}

qaffine::rounding to_rounding(int r) {
    if (r < 0 || r > 2) throw std::invalid_argument("rounding must be 0 (divide), 1 (multiply) or 2 (fused)");
    return static_cast<qaffine::rounding>(r);
}

qaffine::scheme make_scheme(std::int32_t qmin, std::int32_t qmax, bool symmetric, bool include_zero) {
    qaffine::scheme sc{qmin, qmax, symmetric, include_zero};
    qaffine::validate(sc);
    return sc;
}

qaffine::qparams choose(double lo, double hi, const qaffine::scheme& sc, bool in_double) {
    return in_double ? qaffine::choose_qparams<double>(lo, hi, sc)
                     : qaffine::choose_qparams<float>(static_cast<float>(lo), static_cast<float>(hi), sc);
}

// ---- per-tensor, any layout ----

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

py::tuple py_choose_qparams(double lo, double hi, std::int32_t qmin, std::int32_t qmax, bool symmetric,
                            bool include_zero, bool in_double) {
    const qaffine::qparams p = choose(lo, hi, make_scheme(qmin, qmax, symmetric, include_zero), in_double);
    return py::make_tuple(p.scale, p.zero_point);
}

bool py_quantize(const py::array& x, float scale, std::int32_t zero_point, std::int32_t qmin, std::int32_t qmax,
                 int rounding, py::array out) {
    const fkind k = float_kind(x);
    check_native(x);
    qaffine::validate(qaffine::qparams{scale, zero_point, qmin, qmax});
    const strided v = describe(x);
    const auto dst = writable_codes(out, v.size);
    check_range(qmin, qmax, dst.second);
    const qaffine::rounding r = to_rounding(rounding);
    const run_params p{r, qaffine::kernel_scale(scale, r), zero_point, qmin, qmax};
    py::gil_scoped_release nogil;
    return quantize_codes(v, k, p, dst);
}

// Status: 0 ok, 1 NaN seen, 2 infinity seen (codes not written in both cases).
py::tuple py_quantize_dynamic(const py::array& x, std::int32_t qmin, std::int32_t qmax, bool symmetric,
                              bool include_zero, int rounding, py::array out) {
    const fkind k = float_kind(x);
    check_native(x);
    const strided v = describe(x);
    if (v.size == 0) throw py::value_error("cannot choose quantization parameters for an empty array");
    const auto dst = writable_codes(out, v.size);
    check_range(qmin, qmax, dst.second);
    const qaffine::scheme sc = make_scheme(qmin, qmax, symmetric, include_zero);
    const qaffine::rounding r = to_rounding(rounding);
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
            p = choose(mm.lo, mm.hi, sc, k == fkind::f64);
            quantize_codes(v, k, run_params{r, qaffine::kernel_scale(p.scale, r), p.zero_point, qmin, qmax}, dst);
        }
    }
    return py::make_tuple(p.scale, p.zero_point, status);
}

template <class Q, class T>
void dequantize_into(const strided& v, const qaffine::qparams& p, T* dst) {
    for_each_chunk<Q, Q>(v, [&](const Q* q, std::size_t n) {
        qaffine::dequantize_parallel(q, n, p, dst);
        dst += n;
    });
}

// Checks a float output buffer for dequantize; returns whether it is float64.
bool check_float_out(const py::array& out, std::size_t n) {
    const fkind k = float_kind(out);
    check_native(out);
    if (k == fkind::f16) throw py::type_error("dequantize writes float32 or float64");
    if (!out.writeable()) throw py::value_error("out is read-only");
    if (!(out.flags() & py::array::c_style)) throw py::value_error("out must be C-contiguous");
    if (reinterpret_cast<std::uintptr_t>(out.data()) % static_cast<std::uintptr_t>(out.itemsize()) != 0)
        throw py::value_error("out must be aligned");
    if (static_cast<std::size_t>(out.size()) != n) throw py::value_error("out has the wrong size");
    return k == fkind::f64;
}

bool codes_signed(const py::array& codes) {
    const char kind = codes.dtype().kind();
    if ((kind != 'u' && kind != 'i') || codes.itemsize() != 1) throw py::type_error("codes must be uint8 or int8");
    return kind == 'i';
}

void py_dequantize(const py::array& codes, float scale, std::int32_t zero_point, py::array out) {
    const bool is_signed = codes_signed(codes);
    qaffine::qparams p{scale, zero_point, 0, 1};
    qaffine::validate(p);
    const strided v = describe(codes);
    const bool f64 = check_float_out(out, v.size);
    void* dst = out.mutable_data();
    py::gil_scoped_release nogil;
    if (is_signed) {
        if (f64) dequantize_into<std::int8_t>(v, p, static_cast<double*>(dst));
        else dequantize_into<std::int8_t>(v, p, static_cast<float*>(dst));
    } else {
        if (f64) dequantize_into<std::uint8_t>(v, p, static_cast<double*>(dst));
        else dequantize_into<std::uint8_t>(v, p, static_cast<float*>(dst));
    }
}

// ---- per-channel / per-block: C-contiguous input, params as flat arrays ----

using f32_array = py::array_t<float, py::array::c_style>;
using i32_array = py::array_t<std::int32_t, py::array::c_style>;

qaffine::layout make_layout(std::size_t outer, std::size_t channels, std::size_t inner, std::size_t block) {
    return qaffine::layout{outer, channels, inner, block};
}

const void* contiguous_float(const py::array& x, fkind& k, std::size_t expected) {
    k = float_kind(x);
    check_native(x);
    if (k == fkind::f16) throw py::type_error("per-channel/per-block kernels take float32 or float64");
    if (!(x.flags() & py::array::c_style)) throw py::value_error("x must be C-contiguous");
    if (static_cast<std::size_t>(x.size()) != expected) throw py::value_error("x does not match the layout");
    return x.data();
}

py::tuple py_minmax_groups(const py::array& x, std::size_t outer, std::size_t channels, std::size_t inner,
                           std::size_t block) {
    const qaffine::layout g = make_layout(outer, channels, inner, block);
    fkind k;
    const void* data = contiguous_float(x, k, g.size());
    const auto G = static_cast<py::ssize_t>(g.groups());
    bool nan = false;
    if (k == fkind::f32) {
        py::array_t<float> lo(G), hi(G);
        float *l = lo.mutable_data(), *h = hi.mutable_data();
        {
            py::gil_scoped_release nogil;
            nan = qaffine::minmax_groups(static_cast<const float*>(data), g, l, h);
        }
        return py::make_tuple(lo, hi, nan);
    }
    py::array_t<double> lo(G), hi(G);
    double *l = lo.mutable_data(), *h = hi.mutable_data();
    {
        py::gil_scoped_release nogil;
        nan = qaffine::minmax_groups(static_cast<const double*>(data), g, l, h);
    }
    return py::make_tuple(lo, hi, nan);
}

py::tuple py_choose_qparams_array(const py::array_t<double, py::array::c_style | py::array::forcecast>& lo,
                                  const py::array_t<double, py::array::c_style | py::array::forcecast>& hi,
                                  std::int32_t qmin, std::int32_t qmax, bool symmetric, bool include_zero,
                                  bool in_double) {
    if (lo.size() != hi.size()) throw py::value_error("lo and hi must have the same size");
    const qaffine::scheme sc = make_scheme(qmin, qmax, symmetric, include_zero);
    f32_array scale(lo.size());
    i32_array zp(lo.size());
    const double *l = lo.data(), *h = hi.data();
    float* s = scale.mutable_data();
    std::int32_t* z = zp.mutable_data();
    for (py::ssize_t i = 0; i < lo.size(); ++i) {
        const qaffine::qparams p = choose(l[i], h[i], sc, in_double);
        s[i] = p.scale;
        z[i] = p.zero_point;
    }
    return py::make_tuple(scale, zp);
}

template <class T, class Q>
bool quantize_groups_typed(const void* x, const qaffine::layout& g, qaffine::rounding r, const float* ks,
                           const std::int32_t* z, std::int32_t qmin, std::int32_t qmax, void* out) {
    return qaffine::quantize_groups(r, static_cast<const T*>(x), g, ks, z, qmin, qmax, static_cast<Q*>(out));
}

bool py_quantize_groups(const py::array& x, std::size_t outer, std::size_t channels, std::size_t inner,
                        std::size_t block, const f32_array& scale, const i32_array& zero_point, std::int32_t qmin,
                        std::int32_t qmax, int rounding, py::array out) {
    const qaffine::layout g = make_layout(outer, channels, inner, block);
    fkind k;
    const void* data = contiguous_float(x, k, g.size());
    const auto dst = writable_codes(out, g.size());
    check_range(qmin, qmax, dst.second);
    const std::size_t G = g.groups();
    if (static_cast<std::size_t>(scale.size()) != G || static_cast<std::size_t>(zero_point.size()) != G)
        throw py::value_error("scale and zero_point must have one value per group");
    const qaffine::rounding r = to_rounding(rounding);
    std::vector<float> ks(G);
    for (std::size_t i = 0; i < G; ++i) {
        qaffine::validate(qaffine::qparams{scale.data()[i], zero_point.data()[i], qmin, qmax});
        ks[i] = qaffine::kernel_scale(scale.data()[i], r);
    }
    const std::int32_t* z = zero_point.data();
    py::gil_scoped_release nogil;
    if (k == fkind::f32)
        return dst.second ? quantize_groups_typed<float, std::int8_t>(data, g, r, ks.data(), z, qmin, qmax, dst.first)
                          : quantize_groups_typed<float, std::uint8_t>(data, g, r, ks.data(), z, qmin, qmax, dst.first);
    return dst.second ? quantize_groups_typed<double, std::int8_t>(data, g, r, ks.data(), z, qmin, qmax, dst.first)
                      : quantize_groups_typed<double, std::uint8_t>(data, g, r, ks.data(), z, qmin, qmax, dst.first);
}

template <class T, class Q>
qaffine::dynamic_status dynamic_groups_typed(const void* x, const qaffine::layout& g, const qaffine::scheme& sc,
                                             qaffine::rounding r, float* s, std::int32_t* z, void* out) {
    return qaffine::quantize_dynamic_groups(static_cast<const T*>(x), g, sc, r, s, z, static_cast<Q*>(out));
}

py::tuple py_quantize_dynamic_groups(const py::array& x, std::size_t outer, std::size_t channels, std::size_t inner,
                                     std::size_t block, std::int32_t qmin, std::int32_t qmax, bool symmetric,
                                     bool include_zero, int rounding, py::array out) {
    const qaffine::layout g = make_layout(outer, channels, inner, block);
    fkind k;
    const void* data = contiguous_float(x, k, g.size());
    if (g.size() == 0) throw py::value_error("cannot choose quantization parameters for an empty array");
    const auto dst = writable_codes(out, g.size());
    check_range(qmin, qmax, dst.second);
    const qaffine::scheme sc = make_scheme(qmin, qmax, symmetric, include_zero);
    const qaffine::rounding r = to_rounding(rounding);
    const auto G = static_cast<py::ssize_t>(g.groups());
    f32_array scale(G);
    i32_array zp(G);
    float* s = scale.mutable_data();
    std::int32_t* z = zp.mutable_data();
    qaffine::dynamic_status st;
    {
        py::gil_scoped_release nogil;
        if (k == fkind::f32)
            st = dst.second ? dynamic_groups_typed<float, std::int8_t>(data, g, sc, r, s, z, dst.first)
                            : dynamic_groups_typed<float, std::uint8_t>(data, g, sc, r, s, z, dst.first);
        else
            st = dst.second ? dynamic_groups_typed<double, std::int8_t>(data, g, sc, r, s, z, dst.first)
                            : dynamic_groups_typed<double, std::uint8_t>(data, g, sc, r, s, z, dst.first);
    }
    return py::make_tuple(scale, zp, static_cast<int>(st));
}

template <class Q, class T>
void dequantize_groups_typed(const void* q, const qaffine::layout& g, const float* s, const std::int32_t* z, void* out) {
    qaffine::dequantize_groups(static_cast<const Q*>(q), g, s, z, static_cast<T*>(out));
}

void py_dequantize_groups(const py::array& codes, std::size_t outer, std::size_t channels, std::size_t inner,
                          std::size_t block, const f32_array& scale, const i32_array& zero_point, py::array out) {
    const qaffine::layout g = make_layout(outer, channels, inner, block);
    const bool is_signed = codes_signed(codes);
    if (!(codes.flags() & py::array::c_style)) throw py::value_error("codes must be C-contiguous");
    if (static_cast<std::size_t>(codes.size()) != g.size()) throw py::value_error("codes do not match the layout");
    const std::size_t G = g.groups();
    if (static_cast<std::size_t>(scale.size()) != G || static_cast<std::size_t>(zero_point.size()) != G)
        throw py::value_error("scale and zero_point must have one value per group");
    for (std::size_t i = 0; i < G; ++i) qaffine::validate(qaffine::qparams{scale.data()[i], zero_point.data()[i], 0, 1});
    const bool f64 = check_float_out(out, g.size());
    const void* q = codes.data();
    void* dst = out.mutable_data();
    const float* s = scale.data();
    const std::int32_t* z = zero_point.data();
    py::gil_scoped_release nogil;
    if (is_signed) {
        if (f64) dequantize_groups_typed<std::int8_t, double>(q, g, s, z, dst);
        else dequantize_groups_typed<std::int8_t, float>(q, g, s, z, dst);
    } else {
        if (f64) dequantize_groups_typed<std::uint8_t, double>(q, g, s, z, dst);
        else dequantize_groups_typed<std::uint8_t, float>(q, g, s, z, dst);
    }
}

// A C-contiguous array of `shape` and `dtype` whose memory comes from the buffer cache (large results only:
// the Python layer asks for it from buffer_cache::min_bytes up).
py::array cached_empty(const std::vector<py::ssize_t>& shape, const py::dtype& dtype) {
    std::size_t bytes = static_cast<std::size_t>(dtype.itemsize());
    for (py::ssize_t d : shape) {
        if (d < 0) throw py::value_error("negative dimension");
        bytes *= static_cast<std::size_t>(d);
    }
    auto& cache = qaffine_py::buffer_cache::instance();
    std::size_t capacity = 0;
    void* p = cache.acquire(bytes == 0 ? 1 : bytes, capacity);
    struct owner {
        void* data;
        std::size_t capacity;
    };
    auto* o = new owner{p, capacity};
    py::capsule base(o, [](void* v) {
        auto* own = static_cast<owner*>(v);
        qaffine_py::buffer_cache::instance().release(own->data, own->capacity);
        delete own;
    });
    return py::array(dtype, shape, p, base);
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
          py::arg("symmetric"), py::arg("include_zero"), py::arg("in_double"),
          "(scale, zero_point) for the range [lo, hi].");
    m.def("quantize", &py_quantize, py::arg("x"), py::arg("scale"), py::arg("zero_point"), py::arg("qmin"),
          py::arg("qmax"), py::arg("rounding"), py::arg("out"),
          "Writes codes of x (any layout) into out (uint8/int8, C-contiguous); returns has_nan.");
    m.def("quantize_dynamic", &py_quantize_dynamic, py::arg("x"), py::arg("qmin"), py::arg("qmax"),
          py::arg("symmetric"), py::arg("include_zero"), py::arg("rounding"), py::arg("out"),
          "minmax + choose_qparams + quantize; returns (scale, zero_point, status).");
    m.def("dequantize", &py_dequantize, py::arg("codes"), py::arg("scale"), py::arg("zero_point"), py::arg("out"),
          "Writes scale * (codes - zero_point) into out (float32/float64).");
    m.def("minmax_groups", &py_minmax_groups, py::arg("x"), py::arg("outer"), py::arg("channels"), py::arg("inner"),
          py::arg("block"), "Per-group (lo, hi, has_nan) of a C-contiguous float32/float64 array.");
    m.def("choose_qparams_array", &py_choose_qparams_array, py::arg("lo"), py::arg("hi"), py::arg("qmin"),
          py::arg("qmax"), py::arg("symmetric"), py::arg("include_zero"), py::arg("in_double"),
          "Element-wise choose_qparams: (scale float32[], zero_point int32[]).");
    m.def("quantize_groups", &py_quantize_groups, py::arg("x"), py::arg("outer"), py::arg("channels"),
          py::arg("inner"), py::arg("block"), py::arg("scale"), py::arg("zero_point"), py::arg("qmin"),
          py::arg("qmax"), py::arg("rounding"), py::arg("out"), "Static per-channel/per-block quantize; returns has_nan.");
    m.def("quantize_dynamic_groups", &py_quantize_dynamic_groups, py::arg("x"), py::arg("outer"),
          py::arg("channels"), py::arg("inner"), py::arg("block"), py::arg("qmin"), py::arg("qmax"),
          py::arg("symmetric"), py::arg("include_zero"), py::arg("rounding"), py::arg("out"),
          "Dynamic per-channel/per-block quantize; returns (scale[], zero_point[], status).");
    m.def("dequantize_groups", &py_dequantize_groups, py::arg("codes"), py::arg("outer"), py::arg("channels"),
          py::arg("inner"), py::arg("block"), py::arg("scale"), py::arg("zero_point"), py::arg("out"),
          "Per-channel/per-block dequantize of C-contiguous codes.");

    m.def("empty", &cached_empty, py::arg("shape"), py::arg("dtype"),
          "An uninitialised C-contiguous array from the buffer cache (for large results).");
    m.def(
        "set_buffer_cache", [](std::size_t bytes) { return qaffine_py::buffer_cache::instance().set_limit(bytes); },
        py::arg("max_bytes"), "Sets the bytes of dropped large results kept for reuse; returns the previous limit.");
    m.def(
        "buffer_cache_held", [] { return qaffine_py::buffer_cache::instance().held(); },
        "Bytes of dropped large results kept for reuse now.");
    m.attr("BUFFER_CACHE_MIN_BYTES") = qaffine_py::buffer_cache::min_bytes;
    m.def("get_num_threads", [] { return qaffine::get_num_threads(); }, "Threads a call may use.");
    m.def("set_num_threads", [](std::size_t n) { qaffine::set_num_threads(n); }, py::arg("n"),
          "Sets the threads a call may use; 0 restores the default.");
    m.def("available_cpus", [] { return qaffine::detail::available_cpus(); }, "CPUs this process may run on.");
    m.def("simd_level", [] { return std::string(qaffine::to_string(qaffine::active_level())); },
          "The SIMD level the kernels use now.");
    m.def("max_simd_level", [] { return std::string(qaffine::to_string(qaffine::max_supported_level())); },
          "The highest SIMD level this CPU supports.");
    m.def("supported_simd_levels", &supported_levels, "Every SIMD level this CPU supports, lowest first.");
    m.def(
        "_set_simd_level", [](const std::string& name) { qaffine::set_active_level(qaffine::parse_simd_level(name)); },
        py::arg("level"), "Forces a SIMD level (for tests); ValueError if unknown or unsupported.");
}
