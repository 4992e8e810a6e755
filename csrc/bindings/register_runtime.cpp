// qaffine._core: the process-wide settings (threads, SIMD level) and the buffer cache of large results.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstddef>
#include <string>
#include <vector>

#include <qaffine/cpu.hpp>
#include <qaffine/parallel.hpp>

#include "buffers.hpp"
#include "common.hpp"

namespace qaffine_py {

namespace {

// A C-contiguous array of `shape` and `dtype` whose memory comes from the buffer cache (large results only:
// the Python layer asks for it from buffer_cache::min_bytes up).
py::array cached_empty(const std::vector<py::ssize_t>& shape, const py::dtype& dtype) {
    std::size_t bytes = static_cast<std::size_t>(dtype.itemsize());
    for (py::ssize_t d : shape) {
        if (d < 0) throw py::value_error("negative dimension");
        bytes *= static_cast<std::size_t>(d);
    }
    auto& cache = buffer_cache::instance();
    std::size_t capacity = 0;
    void* p = cache.acquire(bytes == 0 ? 1 : bytes, capacity);
    struct owner {
        void* data;
        std::size_t capacity;
    };
    auto* o = new owner{p, capacity};
    py::capsule base(o, [](void* v) {
        auto* own = static_cast<owner*>(v);
        buffer_cache::instance().release(own->data, own->capacity);
        delete own;
    });
    return py::array(dtype, shape, p, base);
}

std::vector<std::string> supported_levels() {
    std::vector<std::string> names;
    for (int l = 0; l < qaffine::simd_level_count; ++l)
        if (qaffine::is_supported(static_cast<qaffine::simd_level>(l)))
            names.emplace_back(qaffine::to_string(static_cast<qaffine::simd_level>(l)));
    return names;
}

}  // namespace

void register_runtime(py::module_& m) {
    m.def("empty", &cached_empty, py::arg("shape"), py::arg("dtype"),
          "An uninitialised C-contiguous array from the buffer cache (for large results).");
    m.def(
        "set_buffer_cache", [](std::size_t bytes) { return buffer_cache::instance().set_limit(bytes); },
        py::arg("max_bytes"), "Sets the bytes of dropped large results kept for reuse; returns the previous limit.");
    m.def(
        "buffer_cache_held", [] { return buffer_cache::instance().held(); },
        "Bytes of dropped large results kept for reuse now.");
    m.attr("BUFFER_CACHE_MIN_BYTES") = buffer_cache::min_bytes;
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

}  // namespace qaffine_py
