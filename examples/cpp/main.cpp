// quantize_example — qaffine used from C++ alone: dynamic quantization of a float32 buffer.
//
//   quantize_example [FILE]
//
// FILE holds raw float32 values in the machine's byte order (numpy: x.astype(np.float32).tofile(FILE)).
// Without FILE the input is 1000 values from a fixed formula (exact in float32, so any language can
// rebuild them): x[i] = float(((i * 2654435761) mod 2001) - 500) / 256.
//
// Prints one "key value" line each: the count, the scale (%.9g: enough digits to give back the exact
// float32), the zero point, the FNV-1a 64-bit hash of the uint8 codes, the largest |dequantized - x|
// and the SIMD level used. Exit status 1 with a message on stderr if the input is unusable (empty,
// NaN, infinity, unreadable file).
#include <qaffine/qaffine.hpp>

#include <cinttypes>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<float> formula_input(std::size_t n) {
    std::vector<float> x(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto k = static_cast<std::int64_t>((static_cast<std::uint64_t>(i) * 2654435761u) % 2001u);
        x[i] = static_cast<float>(k - 500) / 256.0f;
    }
    return x;
}

std::vector<float> read_floats(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() % sizeof(float) != 0)
        throw std::runtime_error(path + ": size is not a multiple of 4 bytes (float32)");
    std::vector<float> x(bytes.size() / sizeof(float));
    if (!x.empty()) std::memcpy(x.data(), bytes.data(), bytes.size());
    return x;
}

// FNV-1a, 64 bit: offset basis 0xcbf29ce484222325, prime 0x100000001b3.
std::uint64_t fnv1a64(const std::uint8_t* data, std::size_t n) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::size_t i = 0; i < n; ++i) {
        h ^= data[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 2) {
        std::fprintf(stderr, "usage: %s [FILE of raw float32 values]\n", argv[0]);
        return 2;
    }
    try {
        const std::vector<float> x = argc == 2 ? read_floats(argv[1]) : formula_input(1000);
        const std::size_t n = x.size();

        // Range, scale and zero point, then the codes. Throws std::invalid_argument if x is empty and
        // std::domain_error if it holds a NaN or an infinity (nothing is written then).
        std::vector<std::uint8_t> codes(n);
        const qaffine::qparams p = qaffine::quantize_dynamic(x.data(), n, codes.data());

        // And back: x_hat = float(q - z) * s.
        std::vector<float> x_hat(n);
        qaffine::dequantize(codes.data(), n, p, x_hat.data());
        float max_err = 0.0f;
        for (std::size_t i = 0; i < n; ++i) max_err = std::fmax(max_err, std::fabs(x_hat[i] - x[i]));

        std::printf("count %zu\n", n);
        std::printf("scale %.9g\n", static_cast<double>(p.scale));
        std::printf("zero_point %" PRId32 "\n", p.zero_point);
        std::printf("fnv1a64 0x%016" PRIx64 "\n", fnv1a64(codes.data(), n));
        std::printf("max_abs_error %.9g\n", static_cast<double>(max_err));
        std::printf("simd_level %s\n", qaffine::to_string(qaffine::active_level()));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "quantize_example: %s\n", e.what());
        return 1;
    }
}
