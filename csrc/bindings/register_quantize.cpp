// qaffine._core: parameters from ranges, and floats to codes (per tensor, any layout; per channel / block).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <vector>

#include <qaffine/convert.hpp>
#include <qaffine/dynamic.hpp>
#include <qaffine/granular.hpp>
#include <qaffine/packed.hpp>
#include <qaffine/qparams.hpp>
#include <qaffine/quantize.hpp>

#include "common.hpp"

namespace qaffine_py {

namespace {

using f32_array = py::array_t<float, py::array::c_style>;
using i32_array = py::array_t<std::int32_t, py::array::c_style>;
using f64_in = py::array_t<double, py::array::c_style | py::array::forcecast>;

qaffine::qparams choose(double lo, double hi, const qaffine::scheme& sc, bool in_double) {
    return in_double ? qaffine::choose_qparams<double>(lo, hi, sc)
                     : qaffine::choose_qparams<float>(static_cast<float>(lo), static_cast<float>(hi), sc);
}

// NaN / ±Inf met by dynamic quantization, as the exception types of register_types.cpp: the success path
// returns plain values (a bound enum costs ~0.1 us per call to create and compare; the whole call on 1,000
// floats is ~0.5 us), and the Python layer names the first bad index from the type it catches.
void raise_non_finite(qaffine::dynamic_status st) {
    if (st == qaffine::dynamic_status::nan) throw found_nan();
    if (st == qaffine::dynamic_status::inf) throw found_inf();
}

/// The codes buffer: uint8, int8, uint16 or int16 (returns which) of n elements that can hold [qmin, qmax].
ckind codes_out(py::array& out, std::size_t n, const qaffine::scheme& sc) {
    const ckind c = code_kind(out, "out");
    writable(out, n);
    visit(fkind::f32, c, [&](auto t) { qaffine::detail::check_fits<typename decltype(t)::code>(sc.qmin, sc.qmax); });
    return c;
}

py::tuple choose_qparams(double lo, double hi, const qaffine::scheme& sc, bool in_double) {
    const qaffine::qparams p = choose(lo, hi, sc, in_double);
    return py::make_tuple(p.scale, p.zero_point);
}

py::tuple choose_qparams_array(const f64_in& lo, const f64_in& hi, const qaffine::scheme& sc, bool in_double) {
    if (lo.size() != hi.size()) throw py::value_error("lo and hi must have the same size");
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

bool quantize(const py::array& x, float scale, std::int32_t zero_point, const qaffine::scheme& sc,
              qaffine::rounding r, py::array out, bool bf16) {
    const fkind k = float_kind(x, bf16);
    const qaffine::strided_view v = describe(x);
    const ckind code = codes_out(out, v.size, sc);
    void* dst = out.mutable_data();
    const float ks = qaffine::kernel_scale(scale, r);
    py::gil_scoped_release nogil;
    return visit(k, code, [&](auto t) {
        using D = decltype(t);
        return qaffine::quantize_strided<typename D::src, typename D::real>(
            r, v, ks, zero_point, sc.qmin, sc.qmax, static_cast<typename D::code*>(dst));
    });
}

py::tuple quantize_dynamic(const py::array& x, const qaffine::scheme& sc, qaffine::rounding r, py::array out,
                           bool bf16) {
    const fkind k = float_kind(x, bf16);
    const qaffine::strided_view v = describe(x);
    const ckind code = codes_out(out, v.size, sc);
    void* dst = out.mutable_data();
    qaffine::dynamic_result res;
    {
        py::gil_scoped_release nogil;
        res = visit(k, code, [&](auto t) {
            using D = decltype(t);
            return qaffine::quantize_dynamic_status<typename D::src, typename D::real>(
                v, sc, r, static_cast<typename D::code*>(dst));
        });
    }
    raise_non_finite(res.status);
    return py::make_tuple(res.params.scale, res.params.zero_point);
}

/// The per-group buffers: float input (not float16: the Python layer widens it), one (scale, zero point)
/// per group.
fkind group_input(const py::array& x, const qaffine::layout& g) {
    const fkind k = float_kind(x);
    if (k == fkind::f16) throw py::type_error("per-channel/per-block kernels take float32 or float64");
    contiguous(x, g.size(), "x");
    return k;
}

/// The scales the static per-group kernels take, after checking one scale and zero point per group: the
/// scales themselves, or (torch roundings) float32(1 / scale), kept in `reciprocal`.
const float* kernel_scales(const qaffine::layout& g, const f32_array& scale, const i32_array& zero_point,
                           qaffine::rounding r, std::vector<float>& reciprocal) {
    const std::size_t G = g.groups();
    if (static_cast<std::size_t>(scale.size()) != G || static_cast<std::size_t>(zero_point.size()) != G)
        throw py::value_error("scale and zero_point must have one value per group");
    if (r == qaffine::rounding::divide) return scale.data();
    reciprocal.resize(G);
    for (std::size_t i = 0; i < G; ++i) reciprocal[i] = qaffine::kernel_scale(scale.data()[i], r);
    return reciprocal.data();
}

bool quantize_groups(const py::array& x, const qaffine::layout& g, const f32_array& scale,
                     const i32_array& zero_point, const qaffine::scheme& sc, qaffine::rounding r, py::array out) {
    const fkind k = group_input(x, g);
    const ckind code = codes_out(out, g.size(), sc);
    std::vector<float> reciprocal;
    const float* ks = kernel_scales(g, scale, zero_point, r, reciprocal);
    const void* data = x.data();
    const std::int32_t* z = zero_point.data();
    void* dst = out.mutable_data();
    py::gil_scoped_release nogil;
    return visit(k, code, [&](auto t) {
        using D = decltype(t);
        return qaffine::quantize_groups(r, static_cast<const typename D::real*>(data), g, ks, z, sc.qmin, sc.qmax,
                                        static_cast<typename D::code*>(dst));
    });
}

/// Dynamic per-group quantization of x into dest(t), the destination (codes or packed fields) of the element
/// types t that visit(k, code) picks: the (scale, zero_point) arrays.
template <class Code, class Dest>
py::tuple dynamic_groups(const py::array& x, const qaffine::layout& g, const qaffine::scheme& sc, qaffine::rounding r,
                         fkind k, Code code, Dest dest) {
    const auto G = static_cast<py::ssize_t>(g.groups());
    f32_array scale(G);
    i32_array zp(G);
    float* s = scale.mutable_data();
    std::int32_t* z = zp.mutable_data();
    const void* data = x.data();
    qaffine::dynamic_status st;
    {
        py::gil_scoped_release nogil;
        st = visit(k, code, [&](auto t) {
            using D = decltype(t);
            return qaffine::quantize_dynamic_groups(static_cast<const typename D::real*>(data), g, sc, r, s, z, dest(t));
        });
    }
    raise_non_finite(st);
    return py::make_tuple(scale, zp);
}

py::tuple quantize_dynamic_groups(const py::array& x, const qaffine::layout& g, const qaffine::scheme& sc,
                                  qaffine::rounding r, py::array out) {
    const fkind k = group_input(x, g);
    const ckind code = codes_out(out, g.size(), sc);
    void* dst = out.mutable_data();
    return dynamic_groups(x, g, sc, r, k, code, [dst](auto t) { return static_cast<typename decltype(t)::code*>(dst); });
}

/// float16 (or, with bf16, bfloat16) bits to float32, both C-contiguous of the same size: the slabs the
/// per-group kernels take (python/qaffine/_kernels.py).
void widen(const py::array& src, py::array out, bool bf16) {
    if (src.dtype().kind() != 'u' || src.itemsize() != 2) throw py::type_error("src must hold uint16 bits");
    if (out.dtype().kind() != 'f' || out.itemsize() != 4) throw py::type_error("out must be float32");
    const auto n = static_cast<std::size_t>(src.size());
    const auto* s = static_cast<const std::uint16_t*>(contiguous(src, n, "src"));
    if (reinterpret_cast<std::uintptr_t>(s) % 2 != 0) throw py::value_error("src must be aligned");
    auto* d = static_cast<float*>(writable(out, n));
    py::gil_scoped_release nogil;
    if (bf16) qaffine::widen_bf16(s, n, d);
    else qaffine::widen_f16(s, n, d);
}

// ---- packed codes (1-, 2- or 4-bit fields): the same kernels writing the packed bytes directly ------------

/// The packed bytes: uint8, C-contiguous, writeable, packed_bytes(n, width) long; [qmin, qmax] must fit a
/// field. Zeroes the last byte (its bits past the last code stay zero).
std::uint8_t* packed_out(py::array& out, std::size_t n, unsigned width, bool is_signed, const qaffine::scheme& sc) {
    if (width != 1 && width != 2 && width != 4) throw py::value_error("field width must be 1, 2 or 4");
    if (out.dtype().kind() != 'u' || out.itemsize() != 1) throw py::type_error("packed out must be a uint8 array");
    auto* b = static_cast<std::uint8_t*>(writable(out, qaffine::packed_bytes(n, width)));
    const std::int32_t lo = is_signed ? -(1 << (width - 1)) : 0, hi = is_signed ? (1 << (width - 1)) - 1 : (1 << width) - 1;
    if (sc.qmin < lo || sc.qmax > hi) throw py::value_error("[qmin, qmax] does not fit the packed field");
    if (out.size() != 0) b[out.size() - 1] = 0;
    return b;
}

bool quantize_packed(const py::array& x, float scale, std::int32_t zero_point, const qaffine::scheme& sc,
                     qaffine::rounding r, unsigned width, bool is_signed, py::array out, bool bf16) {
    const fkind k = float_kind(x, bf16);
    const qaffine::strided_view v = describe(x);
    std::uint8_t* b = packed_out(out, v.size, width, is_signed, sc);
    const float ks = qaffine::kernel_scale(scale, r);
    py::gil_scoped_release nogil;
    return visit(k, is_signed, [&](auto t) {
        using D = decltype(t);
        return qaffine::quantize_strided<typename D::src, typename D::real>(
            r, v, ks, zero_point, sc.qmin, sc.qmax, qaffine::packed_codes<typename D::code>{b, width});
    });
}

py::tuple quantize_dynamic_packed(const py::array& x, const qaffine::scheme& sc, qaffine::rounding r, unsigned width,
                                  bool is_signed, py::array out, bool bf16) {
    const fkind k = float_kind(x, bf16);
    const qaffine::strided_view v = describe(x);
    std::uint8_t* b = packed_out(out, v.size, width, is_signed, sc);
    qaffine::dynamic_result res;
    {
        py::gil_scoped_release nogil;
        res = visit(k, is_signed, [&](auto t) {
            using D = decltype(t);
            return qaffine::quantize_dynamic_status<typename D::src, typename D::real>(
                v, sc, r, qaffine::packed_codes<typename D::code>{b, width});
        });
    }
    raise_non_finite(res.status);
    return py::make_tuple(res.params.scale, res.params.zero_point);
}

bool quantize_groups_packed(const py::array& x, const qaffine::layout& g, const f32_array& scale,
                            const i32_array& zero_point, const qaffine::scheme& sc, qaffine::rounding r,
                            unsigned width, bool is_signed, py::array out) {
    const fkind k = group_input(x, g);
    std::uint8_t* b = packed_out(out, g.size(), width, is_signed, sc);
    std::vector<float> reciprocal;
    const float* ks = kernel_scales(g, scale, zero_point, r, reciprocal);
    const void* data = x.data();
    const std::int32_t* z = zero_point.data();
    py::gil_scoped_release nogil;
    return visit(k, is_signed, [&](auto t) {
        using D = decltype(t);
        return qaffine::quantize_groups(r, static_cast<const typename D::real*>(data), g, ks, z, sc.qmin, sc.qmax,
                                        qaffine::packed_codes<typename D::code>{b, width});
    });
}

py::tuple quantize_dynamic_groups_packed(const py::array& x, const qaffine::layout& g, const qaffine::scheme& sc,
                                         qaffine::rounding r, unsigned width, bool is_signed, py::array out) {
    const fkind k = group_input(x, g);
    std::uint8_t* b = packed_out(out, g.size(), width, is_signed, sc);
    return dynamic_groups(x, g, sc, r, k, is_signed, [b, width](auto t) {
        return qaffine::packed_codes<typename decltype(t)::code>{b, width};
    });
}

}  // namespace

void register_quantize(py::module_& m) {
    m.def("choose_qparams", &choose_qparams, py::arg("lo"), py::arg("hi"), py::arg("scheme"), py::arg("in_double"),
          "(scale, zero_point) for the range [lo, hi].");
    m.def("choose_qparams_array", &choose_qparams_array, py::arg("lo"), py::arg("hi"), py::arg("scheme"),
          py::arg("in_double"), "Element-wise choose_qparams: (scale float32[], zero_point int32[]).");
    m.def("quantize", &quantize, py::arg("x"), py::arg("scale"), py::arg("zero_point"), py::arg("scheme"),
          py::arg("rounding"), py::arg("out"), py::arg("bf16") = false,
          "Writes codes of x (any layout; bf16: uint16 bfloat16 bits) into out (uint8/int8/uint16/int16, "
          "C-contiguous); returns has_nan.");
    m.def("quantize_dynamic", &quantize_dynamic, py::arg("x"), py::arg("scheme"), py::arg("rounding"), py::arg("out"),
          py::arg("bf16") = false,
          "Range + parameters + codes of x (any layout; bf16: uint16 bfloat16 bits): (scale, zero_point); FoundNaN / "
          "FoundInf.");
    m.def("quantize_groups", &quantize_groups, py::arg("x"), py::arg("layout"), py::arg("scale"),
          py::arg("zero_point"), py::arg("scheme"), py::arg("rounding"), py::arg("out"),
          "Static per-channel/per-block quantize; returns has_nan.");
    m.def("widen", &widen, py::arg("src"), py::arg("out"), py::arg("bf16"),
          "float16 (bf16: bfloat16) bits of C-contiguous src to float32 in out (exact).");
    m.def("quantize_dynamic_groups", &quantize_dynamic_groups, py::arg("x"), py::arg("layout"), py::arg("scheme"),
          py::arg("rounding"), py::arg("out"),
          "Dynamic per-channel/per-block quantize: (scale[], zero_point[]); FoundNaN / FoundInf.");
    m.def("quantize_packed", &quantize_packed, py::arg("x"), py::arg("scale"), py::arg("zero_point"),
          py::arg("scheme"), py::arg("rounding"), py::arg("width"), py::arg("signed"), py::arg("out"),
          py::arg("bf16") = false, "quantize() into packed fields of `width` bits (out: uint8 bytes); returns has_nan.");
    m.def("quantize_dynamic_packed", &quantize_dynamic_packed, py::arg("x"), py::arg("scheme"), py::arg("rounding"),
          py::arg("width"), py::arg("signed"), py::arg("out"), py::arg("bf16") = false,
          "quantize_dynamic() into packed fields: (scale, zero_point); FoundNaN / FoundInf.");
    m.def("quantize_groups_packed", &quantize_groups_packed, py::arg("x"), py::arg("layout"), py::arg("scale"),
          py::arg("zero_point"), py::arg("scheme"), py::arg("rounding"), py::arg("width"), py::arg("signed"),
          py::arg("out"), "quantize_groups() into packed fields; returns has_nan.");
    m.def("quantize_dynamic_groups_packed", &quantize_dynamic_groups_packed, py::arg("x"), py::arg("layout"),
          py::arg("scheme"), py::arg("rounding"), py::arg("width"), py::arg("signed"), py::arg("out"),
          "quantize_dynamic_groups() into packed fields: (scale[], zero_point[]); FoundNaN / FoundInf.");
}

}  // namespace qaffine_py
