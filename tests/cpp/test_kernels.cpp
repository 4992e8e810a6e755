// Every SIMD level this CPU supports must give the same bytes as the scalar specification, on inputs
// chosen to break kernels: every length around the vector widths (bodies, unrolled bodies, tails),
// misaligned starts, ties at (k + 0.5) * s, values that saturate, ±Inf, NaN at every position, ±0,
// subnormals, float32 and float64 input, uint8, int8, uint16 and int16 codes. Mirrors tests/test_simd_levels.py.
// Exit status 0 and a "N passed, 0 failed" line when all checks pass.
#include <qaffine/qaffine.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

int g_passed = 0;
int g_failed = 0;
int g_per_level[qaffine::simd_level_count] = {};  // checks of each level's results (passed or not)

// Shard k of N (argv: "k/N") runs every N-th unit of work from the k-th, so that N processes run the suite in
// parallel (under an emulator, where a single process takes a minute); "0/1", the default, runs all of it.
unsigned g_shard = 0, g_shards = 1, g_unit = 0;
bool mine() { return g_unit++ % g_shards == g_shard; }

void check(bool ok, const char* what, const char* level, std::size_t n, std::size_t offset) {
    for (int l = 0; l < qaffine::simd_level_count; ++l)
        if (std::strcmp(level, qaffine::to_string(static_cast<qaffine::simd_level>(l))) == 0) ++g_per_level[l];
    if (ok) {
        ++g_passed;
    } else {
        ++g_failed;
        std::printf("FAIL %s at level %s, n=%zu offset=%zu\n", what, level, n, offset);
    }
}

template <class T>
bool same_bits(const T& a, const T& b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// Byte equality of two buffers (memcmp must not see the null data() of empty vectors).
bool same_bytes(const void* a, const void* b, std::size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

std::vector<qaffine::simd_level> levels() {
    std::vector<qaffine::simd_level> out;
    for (int l = 0; l < qaffine::simd_level_count; ++l)
        if (qaffine::is_supported(static_cast<qaffine::simd_level>(l))) out.push_back(static_cast<qaffine::simd_level>(l));
    return out;
}

// Lengths: 0..130 (every tail of every width up to 64 twice), then a few larger odd sizes.
std::vector<std::size_t> lengths() {
    std::vector<std::size_t> out;
    for (std::size_t n = 0; n <= 130; ++n) out.push_back(n);
    for (std::size_t n : {255u, 256u, 257u, 1000u, 4099u, 65537u}) out.push_back(n);
    return out;
}

template <class T>
std::vector<T> make_data(std::size_t n, std::mt19937_64& rng, int flavour, const qaffine::qparams& p) {
    std::vector<T> x(n);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_int_distribution<int> code(-300, 300);
    for (std::size_t i = 0; i < n; ++i) {
        switch (flavour) {
            case 0: x[i] = static_cast<T>(normal(rng)); break;
            case 1:  // exact ties: (k + 0.5) * s
                x[i] = static_cast<T>((static_cast<double>(code(rng)) + 0.5) * static_cast<double>(p.scale));
                break;
            case 2:  // specials mixed in
            {
                const T specials[] = {T(0), -T(0), std::numeric_limits<T>::infinity(),
                                      -std::numeric_limits<T>::infinity(), std::numeric_limits<T>::max(),
                                      std::numeric_limits<T>::lowest(), std::numeric_limits<T>::denorm_min(),
                                      -std::numeric_limits<T>::denorm_min(), std::numeric_limits<T>::min(),
                                      static_cast<T>(1e30), static_cast<T>(-1e30)};
                x[i] = (i % 3 == 0) ? specials[i % (sizeof(specials) / sizeof(specials[0]))]
                                    : static_cast<T>(normal(rng) * 3.0);
                break;
            }
            default: x[i] = static_cast<T>(normal(rng) * 1e-3); break;
        }
    }
    return x;
}

// minmax_accumulate_rows (four rows at a time for float32) against the scalar row-by-row accumulation: row
// counts around multiples of four, every tail width, NaNs in each of the four rows and in the leftover rows.
template <class T>
void test_minmax_accumulate_rows(std::mt19937_64& rng) {
    std::normal_distribution<double> normal(0.0, 1.0);
    for (std::size_t rows : {1u, 3u, 4u, 5u, 8u, 9u}) {
        for (std::size_t n : {0u, 1u, 7u, 8u, 15u, 16u, 17u, 40u, 1000u}) {
            const std::size_t stride = n + 3;
            std::vector<T> x(rows * stride);
            for (auto& v : x) v = static_cast<T>(normal(rng));
            for (int nan_row = -1; nan_row < static_cast<int>(rows); ++nan_row) {
                std::vector<T> y = x;
                if (nan_row >= 0 && n > 0) y[static_cast<std::size_t>(nan_row) * stride + (n - 1) / 2] = std::numeric_limits<T>::quiet_NaN();
                std::vector<T> lo_ref(n, T(5)), hi_ref(n, T(-5));
                bool nan_ref = false;
                for (std::size_t r = 0; r < rows; ++r)
                    nan_ref = qaffine::scalar::minmax_accumulate(y.data() + r * stride, n, lo_ref.data(), hi_ref.data()) || nan_ref;
                for (auto level : levels()) {
                    std::vector<T> lo(n, T(5)), hi(n, T(-5));
                    const bool nan = qaffine::minmax_accumulate_rows(y.data(), stride, rows, n, lo.data(), hi.data(), level);
                    check(nan == nan_ref && same_bytes(lo.data(), lo_ref.data(), n * sizeof(T)) &&
                              same_bytes(hi.data(), hi_ref.data(), n * sizeof(T)),
                          "minmax_accumulate_rows", qaffine::to_string(level), n, rows * 100 + static_cast<std::size_t>(nan_row + 1));
                }
            }
        }
    }
}

// quantize_vec_rows (four rows at a time for float32 at AVX-512) against the scalar row by row: every rounding,
// row counts around multiples of four, tails, a NaN in each row reported.
template <class Q>
void test_quantize_vec_rows(std::mt19937_64& rng) {
    std::normal_distribution<float> normal(0.0f, 2.0f);
    std::uniform_real_distribution<float> scale(0.005f, 0.05f);
    const std::int32_t qmin = std::numeric_limits<Q>::min(), qmax = std::numeric_limits<Q>::max();
    std::uniform_int_distribution<std::int32_t> zp(qmin, qmax);
    for (std::size_t rows : {1u, 4u, 6u, 9u}) {
        for (std::size_t n : {0u, 5u, 16u, 21u, 300u}) {
            const std::size_t stride = n + 2;
            std::vector<float> x(rows * stride), s(n);
            std::vector<std::int32_t> z(n);
            for (auto& v : x) v = normal(rng);
            for (auto& v : s) v = scale(rng);
            for (auto& v : z) v = zp(rng);
            for (int nan_row = -1; nan_row < static_cast<int>(rows); ++nan_row) {
                std::vector<float> y = x;
                if (nan_row >= 0 && n > 0) y[static_cast<std::size_t>(nan_row) * stride + n / 2] = std::numeric_limits<float>::quiet_NaN();
                for (auto r : {qaffine::rounding::divide, qaffine::rounding::multiply, qaffine::rounding::fused}) {
                    std::vector<Q> ref(rows * stride, Q(7));
                    bool nan_ref = false;
                    for (std::size_t k = 0; k < rows; ++k)
                        nan_ref = qaffine::quantize_vec(r, y.data() + k * stride, n, s.data(), z.data(), qmin, qmax,
                                                        ref.data() + k * stride, qaffine::simd_level::scalar) || nan_ref;
                    for (auto level : levels()) {
                        std::vector<Q> got(rows * stride, Q(7));
                        const bool nan = qaffine::quantize_vec_rows(r, y.data(), stride, rows, n, s.data(), z.data(),
                                                                    qmin, qmax, got.data(), level);
                        check(nan == nan_ref && got == ref, "quantize_vec_rows", qaffine::to_string(level), n,
                              rows * 100 + static_cast<std::size_t>(nan_row + 1));
                    }
                }
            }
        }
    }
}

// The float minmax loops run from the end down with a prefetch behind them: an extreme or a NaN placed at
// each edge of the prefetching loop, the plain loop below it and the tail must be found at every level.
template <class T>
void test_minmax_positions(std::mt19937_64& rng) {
    for (std::size_t n : {2111u, 2112u, 2113u, 2176u, 2190u, 4099u, 65537u}) {
        std::vector<std::size_t> at{0, 1, 15, 16, 63, 64, 65, 2047, 2048, 2111, 2112, n / 2};
        for (std::size_t back : {1u, 2u, 16u, 17u, 64u, 65u, 2112u, 2113u}) at.push_back(n - back);
        const std::vector<T> base = make_data<T>(n, rng, 0, qaffine::qparams{});
        for (std::size_t k : at) {
            if (k >= n) continue;
            for (int what = 0; what < 3; ++what) {
                std::vector<T> y = base;
                y[k] = what == 0 ? T(-1e6) : what == 1 ? T(1e6) : std::numeric_limits<T>::quiet_NaN();
                const auto ref = qaffine::scalar::minmax(y.data(), n);
                check(what == 2 ? ref.has_nan : (what == 0 ? ref.lo == T(-1e6) : ref.hi == T(1e6)),
                      "scalar minmax finds the planted value", "scalar", n, k);
                for (auto level : levels()) {
                    const auto got = qaffine::minmax(y.data(), n, level);
                    check(same_bits(got.lo, ref.lo) && same_bits(got.hi, ref.hi) && got.has_nan == ref.has_nan,
                          "minmax planted extreme / NaN", qaffine::to_string(level), n, k);
                }
            }
        }
    }
}

template <class T>
void test_minmax(std::mt19937_64& rng) {
    const qaffine::qparams unit{};
    for (std::size_t n : lengths()) {
        for (int flavour = 0; flavour < 4; ++flavour) {
            for (std::size_t offset : {0u, 1u}) {
                std::vector<T> buf = make_data<T>(n + offset, rng, flavour, unit);
                const T* x = buf.data() + offset;
                const auto ref = qaffine::scalar::minmax(x, n);
                for (auto level : levels()) {
                    const auto got = qaffine::minmax(x, n, level);
                    check(same_bits(got.lo, ref.lo) && same_bits(got.hi, ref.hi) && got.has_nan == ref.has_nan,
                          "minmax", qaffine::to_string(level), n, offset);
                }
                // A NaN at every position must be seen at every level (and ignored by lo/hi).
                if (n > 0 && n <= 130 && flavour == 0) {
                    for (std::size_t at = 0; at < n; ++at) {
                        std::vector<T> y(x, x + n);
                        y[at] = std::numeric_limits<T>::quiet_NaN();
                        const auto r0 = qaffine::scalar::minmax(y.data(), n);
                        check(r0.has_nan, "scalar minmax sees NaN", "scalar", n, at);
                        for (auto level : levels()) {
                            const auto r = qaffine::minmax(y.data(), n, level);
                            check(r.has_nan && same_bits(r.lo, r0.lo) && same_bits(r.hi, r0.hi), "minmax NaN",
                                  qaffine::to_string(level), n, at);
                        }
                    }
                }
            }
        }
    }
}

template <class T, class Q>
void test_quantize(std::mt19937_64& rng) {
    const std::int32_t qmin = std::numeric_limits<Q>::min(), qmax = std::numeric_limits<Q>::max();
    const qaffine::qparams params[] = {
        {0.02f, std::is_signed<Q>::value ? 0 : 128, qmin, qmax},
        {0.013098039f, std::is_signed<Q>::value ? -128 : 0, qmin, qmax},
        {1e-30f, 3, qmin, qmax},
        {3.0e36f, std::is_signed<Q>::value ? 100 : 255, qmin, qmax},
        {std::numeric_limits<float>::denorm_min(), 7, qmin, qmax},
        {6.1e-5f, std::is_signed<Q>::value ? 1000 : 30000, qmin, qmax},  // 16-bit codes over their whole range
    };
    for (const auto& p : params) {
        for (std::size_t n : lengths()) {
            for (int flavour = 0; flavour < 4; ++flavour) {
                for (std::size_t offset : {0u, 3u}) {
                    std::vector<T> buf = make_data<T>(n + offset, rng, flavour, p);
                    const T* x = buf.data() + offset;
                    for (auto r : {qaffine::rounding::divide, qaffine::rounding::multiply, qaffine::rounding::fused}) {
                        const float ks = qaffine::kernel_scale(p.scale, r);
                        std::vector<Q> ref(n + 1, Q(0x5A)), got(n + 1, Q(0x5A));
                        bool ref_nan = false;
                        if (r == qaffine::rounding::divide)
                            ref_nan = qaffine::scalar::quantize<qaffine::rounding::divide>(x, n, ks, p.zero_point,
                                                                                           p.qmin, p.qmax, ref.data());
                        else if (r == qaffine::rounding::multiply)
                            ref_nan = qaffine::scalar::quantize<qaffine::rounding::multiply>(
                                x, n, ks, p.zero_point, p.qmin, p.qmax, ref.data());
                        else
                            ref_nan = qaffine::scalar::quantize<qaffine::rounding::fused>(x, n, ks, p.zero_point,
                                                                                          p.qmin, p.qmax, ref.data());
                        for (auto level : levels()) {
                            std::fill(got.begin(), got.end(), Q(0x5A));
                            const bool nan = qaffine::quantize(x, n, p, got.data(), level, r);
                            // Same codes, same NaN report, and the byte past the end untouched.
                            check(nan == ref_nan && got == ref, "quantize", qaffine::to_string(level), n, offset);
                        }
                    }
                }
            }
        }
    }
    // NaN at every position of a short array: reported at every level, code qmin everywhere.
    for (std::size_t n = 1; n <= 70; ++n) {
        for (std::size_t at = 0; at < n; ++at) {
            std::vector<T> x(n, T(1));
            x[at] = std::numeric_limits<T>::quiet_NaN();
            std::vector<Q> ref(n), got(n);
            const bool ref_nan = qaffine::scalar::quantize(x.data(), n, 0.5f, 0, qmin, qmax, ref.data());
            check(ref_nan && ref[at] == static_cast<Q>(qmin), "scalar NaN -> qmin", "scalar", n, at);
            for (auto level : levels()) {
                const bool nan = qaffine::quantize(x.data(), n, qaffine::qparams{0.5f, 0, qmin, qmax}, got.data(), level);
                check(nan && got == ref, "quantize NaN", qaffine::to_string(level), n, at);
            }
        }
    }
}

template <class Q, class T>
void test_dequantize(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> code(std::numeric_limits<Q>::min(), std::numeric_limits<Q>::max());
    const std::int32_t zps[] = {0, 128, -128, 77, 1 << 20, 65535, -32768, -(1 << 23)};
    for (std::int32_t z : zps) {
        const qaffine::qparams p{0.037f, z, std::numeric_limits<Q>::min(), std::numeric_limits<Q>::max()};
        for (std::size_t n : lengths()) {
            std::vector<Q> codes(n + 1);
            for (auto& c : codes) c = static_cast<Q>(code(rng));
            std::vector<T> ref(n + 1, T(-7)), got(n + 1, T(-7));
            qaffine::scalar::dequantize(codes.data() + 1, n, p.scale, p.zero_point, ref.data());
            for (auto level : levels()) {
                std::fill(got.begin(), got.end(), T(-7));
                qaffine::dequantize(codes.data() + 1, n, p, got.data(), level);
                check(same_bytes(got.data(), ref.data(), (n + 1) * sizeof(T)), "dequantize",
                      qaffine::to_string(level), n, 1);
            }
        }
    }
}

// Runs of at least detail::dequantize_stream_min codes are written with non-temporal stores after a head that
// reaches an aligned boundary: several output offsets within a 64-byte line, guard values on both sides untouched.
template <class Q>
void test_dequantize_streaming(std::mt19937_64& rng) {
    const std::size_t n = qaffine::detail::dequantize_stream_min + 1000 + 37;
    std::uniform_int_distribution<int> code(std::numeric_limits<Q>::min(), std::numeric_limits<Q>::max());
    std::vector<Q> codes(n + 3);
    for (auto& c : codes) c = static_cast<Q>(code(rng));
    const qaffine::qparams p{0.0371f, std::is_signed<Q>::value ? -5 : 131, std::numeric_limits<Q>::min(),
                             std::numeric_limits<Q>::max()};
    for (std::size_t in_off : {0u, 3u}) {
        for (std::size_t out_off : {0u, 7u}) {
            std::vector<float> ref(n + 32, -7.0f), got(n + 32, -7.0f);
            qaffine::scalar::dequantize(codes.data() + in_off, n, p.scale, p.zero_point, ref.data() + out_off);
            for (auto level : levels()) {
                std::fill(got.begin(), got.end(), -7.0f);
                qaffine::dequantize(codes.data() + in_off, n, p, got.data() + out_off, level);
                check(same_bytes(got.data(), ref.data(), got.size() * sizeof(float)), "streaming dequantize",
                      qaffine::to_string(level), n, out_off * 100 + in_off);
            }
        }
    }
}

// The codes of x with (s, z) in `range` at every level against the scalar loop.
template <class Q, class T>
void ties_case(const std::vector<T>& x, float s, std::int32_t z, std::pair<int, int> range, const char* what) {
    const qaffine::qparams p{s, z, range.first, range.second};
    std::vector<Q> ref(x.size()), got(x.size());
    qaffine::scalar::quantize(x.data(), x.size(), s, z, range.first, range.second, ref.data());
    for (auto level : levels()) {
        qaffine::quantize(x.data(), x.size(), p, got.data(), level);
        check(got == ref, what, qaffine::to_string(level), x.size(),
              static_cast<std::size_t>(z & 0xFFFF) * 100000 + static_cast<std::size_t>(range.second));
    }
}

// Values next to every rounding boundary (k + 1/2) * s, for many scales: the SIMD kernels' bracketed
// multiplication (quantize.hpp, detail::bracket) must round them exactly as the scalar true division does.
// Also |x / s| up to 2^24, where the bracket never decides, with zero points far from 0.
template <class T>
void test_ties(std::mt19937_64& rng) {
    std::uniform_real_distribution<double> mant(1.0, 2.0);
    std::uniform_int_distribution<int> expo(-40, 40);
    // The bracketed multiplication (quantize.hpp, detail::bracket) is used for 2^-120 <= s <= 2^120 and
    // |z| < 2^21: scales and zero points on both sides of those limits.
    std::vector<float> scales = {1.0f, 0.5f, 0.1f, 3.0f, 0x1p-100f, 0x1p100f, 0x1p-101f, 0x1.fffffep-1f,
                                 0x1p-120f, 0x1.000002p-120f, 0x1.fffffep-121f, 0x1p120f, 0x1.fffffep119f,
                                 0x1.000002p120f, 0x1p125f, 0x1p127f, 0x1.fffffep127f, 0x1p-126f, 0x1p-140f};
    for (int i = 0; i < 24; ++i) scales.push_back(static_cast<float>(std::ldexp(mant(rng), expo(rng))));
    for (float sc : scales) {
        if (!mine()) continue;
        std::vector<T> x;
        for (int k = -400; k <= 400; ++k) {
            T v = static_cast<T>((k + 0.5) * static_cast<double>(sc));
            for (int j = 0; j < 16; ++j) v = std::nextafter(v, -std::numeric_limits<T>::infinity());
            for (int j = 0; j < 33; ++j, v = std::nextafter(v, std::numeric_limits<T>::infinity())) x.push_back(v);
        }
        for (double big : {8388607.5, 8388608.5, 16777215.0, 4194303.5, 2097151.5, -8388607.5})
            for (int j = -3; j <= 3; ++j) x.push_back(static_cast<T>((big + j * 0.25) * static_cast<double>(sc)));
        for (std::int32_t z : {0, 1, 128, 255, -(1 << 23), (1 << 23) - 255, (1 << 21) - 1, (1 << 21),
                               -(1 << 21) + 1, -(1 << 21), (1 << 21) - 256}) {
            // The whole uint8 range (the SIMD packs saturate) and narrower ones (the kernels clamp).
            for (const auto& range : {std::pair<int, int>{0, 255}, {0, 15}, {3, 200}}) {
                const qaffine::qparams p{sc, z, range.first, range.second};
                std::vector<std::uint8_t> ref(x.size()), got(x.size());
                qaffine::scalar::quantize(x.data(), x.size(), sc, z, range.first, range.second, ref.data());
                for (auto level : levels()) {
                    qaffine::quantize(x.data(), x.size(), p, got.data(), level);
                    check(got == ref, "ties", qaffine::to_string(level), x.size(),
                          static_cast<std::size_t>(z & 0xFFFF) * 1000 + static_cast<std::size_t>(range.second));
                }
            }
            // int8 codes: the code byte of the bracket is the low byte of a negative difference too.
            const std::int32_t zs = z - 128;
            if (zs < -(1 << 23)) continue;
            for (const auto& range : {std::pair<int, int>{-128, 127}, {-8, 7}, {-100, 90}}) {
                const qaffine::qparams ps{sc, zs, range.first, range.second};
                std::vector<std::int8_t> ref8(x.size()), got8(x.size());
                qaffine::scalar::quantize(x.data(), x.size(), sc, zs, range.first, range.second, ref8.data());
                for (auto level : levels()) {
                    qaffine::quantize(x.data(), x.size(), ps, got8.data(), level);
                    check(got8 == ref8, "ties int8", qaffine::to_string(level), x.size(),
                          static_cast<std::size_t>(zs & 0xFFFF) * 1000 + static_cast<std::size_t>(range.second));
                }
            }
            // 16-bit codes: wide ranges divide, ranges up to detail::bracket_max_range take the bracket; int16
            // zero points shifted by 2^15.
            for (const auto& range : {std::pair<int, int>{0, 65535}, {0, 1024}, {0, 1025}, {3, 60000}})
                ties_case<std::uint16_t>(x, sc, z, range, "ties uint16");
            if (z - 32768 >= -(1 << 23))
                for (const auto& range : {std::pair<int, int>{-32768, 32767}, {-512, 512}, {-30000, 29000}})
                    ties_case<std::int16_t>(x, sc, z - 32768, range, "ties int16");
        }
    }
}

// Runs of at least detail::stream_codes_min elements take the streaming loop (prefetch, aligned non-temporal
// stores after an unaligned head): every rounding, both code types, misaligned input and output, NaN,
// ties and saturation mixed in, and guard bytes on both sides of the output left untouched.
// Both the whole code range (the saturating packs clamp) and a narrowed one (the float clamp). Ties are
// sparse (one in 499) so that most 64-element groups take the bracketed multiplication, not its redo.
template <class Q>
void test_streaming(std::mt19937_64& rng, bool narrowed) {
    const std::size_t n = qaffine::detail::stream_codes_min + 1000 + 37;
    const std::int32_t qmin = std::numeric_limits<Q>::min() + (narrowed ? 3 : 0);
    const std::int32_t qmax = std::numeric_limits<Q>::max() - (narrowed ? 5 : 0);
    // 16-bit codes: a scale that spreads the data over their range (and saturates it).
    const qaffine::qparams p{sizeof(Q) == 2 ? 1e-4f : 0.0213f, std::is_signed<Q>::value ? -3 : 125, qmin, qmax};
    std::vector<float> buf(n + 8);
    std::normal_distribution<float> normal(0.0f, 1.5f);
    std::uniform_int_distribution<int> code(-200, 200);
    std::uniform_int_distribution<std::size_t> pos(0, n + 7);
    for (std::size_t i = 0; i < buf.size(); ++i)
        buf[i] = (i % 499 == 3) ? static_cast<float>((code(rng) + 0.5) * static_cast<double>(p.scale)) : normal(rng) * 2.0f;
    buf[pos(rng)] = std::numeric_limits<float>::infinity();
    buf[pos(rng)] = -std::numeric_limits<float>::infinity();
    for (std::size_t in_off : {0u, 3u}) {
        for (std::size_t out_off : {0u, 1u, 33u}) {
            for (bool with_nan : {false, true}) {
                std::vector<float> xs(buf.begin(), buf.end());
                const std::size_t nan_at = pos(rng) % n;
                if (with_nan) xs[in_off + nan_at] = std::numeric_limits<float>::quiet_NaN();
                const float* x = xs.data() + in_off;
                for (auto r : {qaffine::rounding::divide, qaffine::rounding::multiply, qaffine::rounding::fused}) {
                    const float ks = qaffine::kernel_scale(p.scale, r);
                    std::vector<Q> ref(n + 128, Q(0x5A)), got(n + 128, Q(0x5A));
                    const bool ref_nan = qaffine::quantize_run(r, x, n, ks, p.zero_point, qmin, qmax, ref.data() + out_off,
                                                               qaffine::simd_level::scalar);
                    check(ref_nan == with_nan, "scalar streaming NaN report", "scalar", n, nan_at);
                    for (auto level : levels()) {
                        std::fill(got.begin(), got.end(), Q(0x5A));
                        const bool nan = qaffine::quantize_run(r, x, n, ks, p.zero_point, qmin, qmax, got.data() + out_off,
                                                               level);
                        check(nan == ref_nan && got == ref, "streaming quantize", qaffine::to_string(level), n,
                              out_off * 100 + in_off);
                    }
                }
            }
        }
    }
}

// Element-wise kernels (one scale and zero point per element) against their scalar loops.
template <class T, class Q>
void test_vec_kernels(std::mt19937_64& rng) {
    const std::int32_t qmin = std::numeric_limits<Q>::min(), qmax = std::numeric_limits<Q>::max();
    std::uniform_real_distribution<float> scale(0.001f, 0.1f);
    std::uniform_int_distribution<std::int32_t> zp(qmin, qmax);
    for (std::size_t n : lengths()) {
        if (n > 5000) continue;
        for (int flavour = 0; flavour < 4; ++flavour) {
            std::vector<float> s(n + 1);
            std::vector<std::int32_t> z(n + 1);
            for (std::size_t i = 0; i <= n; ++i) {
                s[i] = scale(rng);
                z[i] = zp(rng);
            }
            const std::vector<T> x = make_data<T>(n + 1, rng, flavour, qaffine::qparams{s[0], 0, 0, 255});
            for (auto r : {qaffine::rounding::divide, qaffine::rounding::multiply, qaffine::rounding::fused}) {
                std::vector<float> ks(n + 1);
                for (std::size_t i = 0; i <= n; ++i) ks[i] = qaffine::kernel_scale(s[i], r);
                std::vector<Q> ref(n + 1, Q(0x33)), got(n + 1, Q(0x33));
                const bool ref_nan = qaffine::quantize_vec(r, x.data() + 1, n, ks.data() + 1, z.data() + 1, qmin, qmax,
                                                           ref.data(), qaffine::simd_level::scalar);
                for (auto level : levels()) {
                    std::fill(got.begin(), got.end(), Q(0x33));
                    const bool nan = qaffine::quantize_vec(r, x.data() + 1, n, ks.data() + 1, z.data() + 1, qmin,
                                                           qmax, got.data(), level);
                    check(nan == ref_nan && got == ref, "quantize_vec", qaffine::to_string(level), n, 1);
                }
            }
            // dequantize_vec
            std::vector<Q> codes(n + 1);
            for (auto& c : codes) c = static_cast<Q>(zp(rng));
            std::vector<T> ref(n + 1, T(-3)), got(n + 1, T(-3));
            qaffine::scalar::dequantize_vec(codes.data() + 1, n, s.data(), z.data(), ref.data());
            for (auto level : levels()) {
                std::fill(got.begin(), got.end(), T(-3));
                qaffine::dequantize_vec(codes.data() + 1, n, s.data(), z.data(), got.data(), level);
                check(same_bytes(got.data(), ref.data(), (n + 1) * sizeof(T)), "dequantize_vec",
                      qaffine::to_string(level), n, 1);
            }
            // minmax_accumulate
            std::vector<T> lo0(n, T(0.25)), hi0(n, T(-0.25));
            std::vector<T> lo_ref = lo0, hi_ref = hi0;
            const bool nan_ref = qaffine::scalar::minmax_accumulate(x.data() + 1, n, lo_ref.data(), hi_ref.data());
            for (auto level : levels()) {
                std::vector<T> lo = lo0, hi = hi0;
                const bool nan = qaffine::minmax_accumulate(x.data() + 1, n, lo.data(), hi.data(), level);
                check(nan == nan_ref && same_bytes(lo.data(), lo_ref.data(), n * sizeof(T)) &&
                          same_bytes(hi.data(), hi_ref.data(), n * sizeof(T)),
                      "minmax_accumulate", qaffine::to_string(level), n, 1);
            }
        }
    }
}

// Per-channel and per-block results equal per-tensor quantization of each group's elements, gathered by hand.
template <class T, class Q>
void test_groups(std::mt19937_64& rng) {
    const std::int32_t qmin = std::numeric_limits<Q>::min(), qmax = std::numeric_limits<Q>::max();
    struct shape {
        std::size_t outer, channels, inner, block;
    };
    const shape shapes[] = {{1, 37, 1, 0},  {5, 37, 1, 0},  {3, 7, 11, 0}, {2, 100, 1, 16}, {3, 70, 1, 32},
                            {2, 33, 5, 4},  {1, 9, 19, 3},  {4, 1, 1, 0},  {2, 129, 1, 64}, {3, 10, 17, 10},
                            {1, 300, 1, 300}, {1, 5, 300, 0}, {1, 33, 64, 0}, {1, 3, 63, 0}};
    const qaffine::scheme schemes[] = {{qmin, qmax, false, true}, {qmin, qmax, true, true}, {qmin, qmax, false, false}};
    std::normal_distribution<double> normal(0.0, 1.0);
    for (const shape& sh : shapes) {
        const qaffine::layout g{sh.outer, sh.channels, sh.inner, sh.block};
        std::vector<T> x(g.size());
        for (auto& v : x) v = static_cast<T>(normal(rng));
        // Which group each element belongs to.
        std::vector<std::size_t> group(g.size());
        for (std::size_t o = 0; o < g.outer; ++o)
            for (std::size_t c = 0; c < g.channels; ++c)
                for (std::size_t i = 0; i < g.inner; ++i)
                    group[(o * g.channels + c) * g.inner + i] =
                        g.block == 0 ? c : (o * g.blocks() + c / g.block) * g.inner + i;
        for (const auto& sc : schemes) {
            for (auto r : {qaffine::rounding::divide, qaffine::rounding::multiply}) {
                std::vector<Q> expect(g.size());
                std::vector<float> exp_scale(g.groups());
                std::vector<std::int32_t> exp_zp(g.groups());
                for (std::size_t k = 0; k < g.groups(); ++k) {
                    std::vector<T> members;
                    std::vector<std::size_t> where;
                    for (std::size_t e = 0; e < g.size(); ++e)
                        if (group[e] == k) {
                            members.push_back(x[e]);
                            where.push_back(e);
                        }
                    const auto mm = qaffine::scalar::minmax(members.data(), members.size());
                    const qaffine::qparams p = qaffine::choose_qparams<T>(mm.lo, mm.hi, sc);
                    exp_scale[k] = p.scale;
                    exp_zp[k] = p.zero_point;
                    std::vector<Q> codes(members.size());
                    qaffine::quantize_run(r, members.data(), members.size(), qaffine::kernel_scale(p.scale, r),
                                          p.zero_point, qmin, qmax, codes.data(), qaffine::simd_level::scalar);
                    for (std::size_t j = 0; j < where.size(); ++j) expect[where[j]] = codes[j];
                }
                for (auto level : levels()) {
                    std::vector<Q> got(g.size());
                    std::vector<float> scale(g.groups());
                    std::vector<std::int32_t> zp(g.groups());
                    const auto st = qaffine::quantize_dynamic_groups(x.data(), g, sc, r, scale.data(), zp.data(),
                                                                     got.data(), level);
                    check(st == qaffine::dynamic_status::ok && got == expect && scale == exp_scale && zp == exp_zp,
                          "quantize_dynamic_groups", qaffine::to_string(level), g.size(), sh.block);
                    // And back: element-wise equal to dequantizing each element with its group's parameters.
                    std::vector<T> back(g.size());
                    qaffine::dequantize_groups(got.data(), g, scale.data(), zp.data(), back.data(), level);
                    bool same = true;
                    for (std::size_t e = 0; e < g.size(); ++e)
                        same = same && back[e] == static_cast<T>(static_cast<std::int32_t>(got[e]) - zp[group[e]]) *
                                                      static_cast<T>(scale[group[e]]);
                    check(same, "dequantize_groups", qaffine::to_string(level), g.size(), sh.block);
                }
            }
        }
        // NaN and Inf are reported, whichever group holds them.
        for (std::size_t at : {std::size_t{0}, g.size() / 2, g.size() - 1}) {
            std::vector<T> y = x;
            std::vector<Q> out(g.size());
            std::vector<float> scale(g.groups());
            std::vector<std::int32_t> zp(g.groups());
            y[at] = std::numeric_limits<T>::quiet_NaN();
            for (auto level : levels())
                check(qaffine::quantize_dynamic_groups(y.data(), g, schemes[0], qaffine::rounding::divide, scale.data(),
                                                       zp.data(), out.data(), level) == qaffine::dynamic_status::nan,
                      "groups NaN", qaffine::to_string(level), g.size(), at);
            y[at] = -std::numeric_limits<T>::infinity();
            for (auto level : levels())
                check(qaffine::quantize_dynamic_groups(y.data(), g, schemes[0], qaffine::rounding::divide, scale.data(),
                                                       zp.data(), out.data(), level) == qaffine::dynamic_status::inf,
                      "groups Inf", qaffine::to_string(level), g.size(), at);
        }
    }
}

// Last-axis blocks of a multiple of 16 floats with channels % block == 0 take the 16-blocks-at-once AVX-512
// path (granular.hpp, avx512::block16): parameters computed in SIMD lanes must equal choose_qparams's, for
// blocks built to hit every branch of it (all zero, one-signed, constant, -0.0, subnormal ranges, ranges
// past float32, NaN, Inf), for every level, uint8 and int8, and a block count that leaves a remainder.
template <class Q>
void test_block16(std::mt19937_64& rng) {
    const std::int32_t qmin = std::numeric_limits<Q>::min(), qmax = std::numeric_limits<Q>::max();
    const qaffine::scheme sc{qmin, qmax, false, true};
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> kind(0, 13);
    // Kinds 12 and 13 put rounding boundaries (k + 1/2) * s of the block's own scale in it: exact ties for a
    // power-of-two scale, and the float nearest each boundary, one step either side, for an arbitrary one.
    const qaffine::qparams p13 = qaffine::choose_qparams(-1.3f, 2.9f, qmin, qmax);
    for (std::size_t B : {16u, 32u, 48u, 64u, 128u}) {
        // Rows of whole blocks, and rows ending in a short block with 0, 3 or 16+ full blocks before it.
        for (std::size_t C : {B, 3 * B, 33 * B, B / 2 + 1, 3 * B + 5, 17 * B + 9, 3 * B + 16, 17 * B + 32, 20 * B + 16}) {
            const std::size_t outer = 19 + C % 7;
            const qaffine::layout g{outer, C, 1, B};
            std::vector<float> x(g.size());
            std::vector<int> kinds(g.groups());
            for (auto& k : kinds) k = kind(rng);
            for (std::size_t o = 0; o < outer; ++o) {
                for (std::size_t c = 0; c < C; ++c) {
                    const int k = kinds[o * g.blocks() + c / B];
                    const std::size_t i = c % B;
                    float v = normal(rng);
                    switch (k) {
                        case 0: v = 0.0f; break;
                        case 1: v = std::fabs(v) + 0.5f; break;
                        case 2: v = -std::fabs(v) - 0.5f; break;
                        case 3: v = 2.75f; break;
                        case 4: v = (i % 2) ? -0.0f : 0.0f; break;
                        case 5: v *= 1e-40f; break;  // subnormal range
                        case 6: v = (i % 2) ? 3e38f : -3e38f; break;  // range past float32
                        case 7: v *= 1e30f; break;
                        case 8: v = -std::fabs(v) * 1e-3f; break;
                        case 9: v = (i % 3) ? std::numeric_limits<float>::denorm_min() : 0.0f; break;  // s underflows
                        case 12:  // [0, 255 / 16]: s = 1/16, z = qmin; the rest exact ties
                            v = i == 0 ? 0.0f : i == 1 ? static_cast<float>(qmax - qmin) / 16.0f
                                                       : (static_cast<float>((i * 37) % 255) + 0.5f) / 16.0f;
                            break;
                        case 13: {  // [-1.3, 2.9]: the float nearest (k + 1/2 - z) * s, and its neighbours
                            if (i < 2) {
                                v = i == 0 ? -1.3f : 2.9f;
                                break;
                            }
                            const double k = static_cast<double>((i * 37) % 254) + qmin + 0.5 - p13.zero_point;
                            v = static_cast<float>(k * static_cast<double>(p13.scale));
                            if (i % 3 == 1) v = std::nextafter(v, 10.0f);
                            if (i % 3 == 2) v = std::nextafter(v, -10.0f);
                            v = std::min(std::max(v, -1.3f), 2.9f);
                            break;
                        }
                        default: break;
                    }
                    x[o * C + c] = v;
                }
            }
            std::vector<Q> ref(g.size());
            std::vector<float> ref_s(g.groups());
            std::vector<std::int32_t> ref_z(g.groups());
            const auto st0 = qaffine::quantize_dynamic_groups(x.data(), g, sc, qaffine::rounding::divide, ref_s.data(),
                                                              ref_z.data(), ref.data(), qaffine::simd_level::scalar);
            check(st0 == qaffine::dynamic_status::ok, "block16 scalar reference", "scalar", g.size(), B);
            for (auto level : levels()) {
                std::vector<Q> got(g.size());
                std::vector<float> gs(g.groups());
                std::vector<std::int32_t> gz(g.groups());
                const auto st = qaffine::quantize_dynamic_groups(x.data(), g, sc, qaffine::rounding::divide, gs.data(),
                                                                 gz.data(), got.data(), level);
                bool same_s = true;
                for (std::size_t k = 0; k < gs.size(); ++k) same_s = same_s && same_bits(gs[k], ref_s[k]);
                check(st == st0 && got == ref && same_s && gz == ref_z, "block16", qaffine::to_string(level), g.size(),
                      B * 1000 + C);
            }
            // NaN / Inf anywhere: reported at every level.
            for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()}) {
                std::vector<float> y = x;
                y[(g.size() / 3) | 5] = bad;
                const auto want = std::isnan(bad) ? qaffine::dynamic_status::nan : qaffine::dynamic_status::inf;
                for (auto level : levels()) {
                    std::vector<Q> got(g.size());
                    std::vector<float> gs(g.groups());
                    std::vector<std::int32_t> gz(g.groups());
                    check(qaffine::quantize_dynamic_groups(y.data(), g, sc, qaffine::rounding::divide, gs.data(),
                                                           gz.data(), got.data(), level) == want,
                          "block16 NaN/Inf", qaffine::to_string(level), g.size(), B);
                }
            }
        }
    }
}

// Large per-block arrays take the prefetching, non-temporal-store variant of the 16-block kernel when the
// codes are 16-byte aligned: against the scalar level, with codes at offsets 0, 16 (streamed), 8 (streamed when
// 16-bit) and 1 (not).
template <class Q>
void test_block16_streaming(std::mt19937_64& rng) {
    const std::size_t C = 1024, B = 64, outer = qaffine::detail::stream_min / C + 3;
    const qaffine::layout g{outer, C, 1, B};
    std::vector<float> x(g.size());
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& v : x) v = normal(rng);
    for (std::size_t b = 5; b < g.groups(); b += 97)  // some all-zero and one-signed blocks
        for (std::size_t i = 0; i < B; ++i) x[b * B + i] = (b % 2) ? 0.0f : std::fabs(x[b * B + i]);
    const qaffine::scheme sc{std::numeric_limits<Q>::min(), std::numeric_limits<Q>::max(), false, true};
    std::vector<Q> ref(g.size());
    std::vector<float> rs(g.groups());
    std::vector<std::int32_t> rz(g.groups());
    qaffine::quantize_dynamic_groups(x.data(), g, sc, qaffine::rounding::divide, rs.data(), rz.data(), ref.data(),
                                     qaffine::simd_level::scalar);
    for (std::size_t off : {0u, 16u, 8u, 1u}) {
        std::vector<Q> buf(g.size() + 128, Q(0x5A));
        Q* base = buf.data() + ((64 - (reinterpret_cast<std::uintptr_t>(buf.data()) & 63)) & 63) / sizeof(Q);
        for (auto level : levels()) {
            std::fill(buf.begin(), buf.end(), Q(0x5A));
            std::vector<float> gs(g.groups());
            std::vector<std::int32_t> gz(g.groups());
            const auto st = qaffine::quantize_dynamic_groups(x.data(), g, sc, qaffine::rounding::divide, gs.data(),
                                                             gz.data(), base + off, level);
            const bool guard = base[off + g.size()] == Q(0x5A) && (off == 0 || base[off - 1] == Q(0x5A));
            check(st == qaffine::dynamic_status::ok && same_bytes(base + off, ref.data(), g.size() * sizeof(Q)) && gs == rs &&
                      gz == rz && guard,
                  "block16 streaming", qaffine::to_string(level), g.size(), off);
        }
    }
}

// Thread count never changes a byte: the multi-threaded drivers against one thread, on arrays large enough
// to be split (several times the grain), for thread counts 1..5.
void test_threads(std::mt19937_64& rng) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    const std::size_t n = 5 * qaffine::parallel_grain + 77;
    std::vector<float> x(n);
    for (auto& v : x) v = normal(rng);
    x[n - 3] = 40.0f;  // the maximum in the last range
    const qaffine::layout layouts[] = {qaffine::per_tensor(n), {1, n, 1, 64}, {n / 1000, 1000, 1, 0},
                                       {77, 100, n / 7700, 0}, {n / 64, 64, 1, 32}, {5, 40, n / 200, 8}};
    std::vector<std::vector<std::uint8_t>> ref_codes;
    std::vector<std::vector<float>> ref_back;
    std::vector<std::pair<std::vector<float>, std::vector<std::int32_t>>> ref_params;
    for (std::size_t threads : {1u, 2u, 3u, 5u}) {
        qaffine::set_num_threads(threads);
        const auto mm = qaffine::minmax_parallel(x.data(), n);
        const auto mm1 = qaffine::minmax(x.data(), n);
        check(same_bits(mm.lo, mm1.lo) && same_bits(mm.hi, mm1.hi) && !mm.has_nan, "minmax_parallel", "threads",
              n, threads);
        const qaffine::qparams p = qaffine::choose_qparams(mm.lo, mm.hi);
        std::vector<std::uint8_t> c(n), c1(n);
        qaffine::quantize_run_parallel(qaffine::rounding::divide, x.data(), n, p.scale, p.zero_point, 0, 255, c.data());
        qaffine::quantize_unchecked(x.data(), n, p, c1.data());
        check(c == c1, "quantize_run_parallel", "threads", n, threads);
        std::vector<float> b(n), b1(n);
        qaffine::dequantize_parallel(c.data(), n, p, b.data());
        qaffine::dequantize_unchecked(c.data(), n, p, b1.data());
        check(same_bytes(b.data(), b1.data(), n * sizeof(float)), "dequantize_parallel", "threads", n, threads);
        std::size_t li = 0;
        for (const auto& g : layouts) {
            std::vector<std::uint8_t> codes(g.size());
            std::vector<float> scale(g.groups()), back(g.size());
            std::vector<std::int32_t> zp(g.groups());
            const auto st = qaffine::quantize_dynamic_groups(x.data(), g, qaffine::scheme{}, qaffine::rounding::divide,
                                                             scale.data(), zp.data(), codes.data());
            qaffine::dequantize_groups(codes.data(), g, scale.data(), zp.data(), back.data());
            if (threads == 1) {
                ref_codes.push_back(codes);
                ref_back.push_back(back);
                ref_params.emplace_back(scale, zp);
            } else {
                check(st == qaffine::dynamic_status::ok && codes == ref_codes[li] && scale == ref_params[li].first &&
                          zp == ref_params[li].second &&
                          same_bytes(back.data(), ref_back[li].data(), back.size() * sizeof(float)),
                      "groups threads", "threads", g.size(), threads * 100 + li);
            }
            ++li;
        }
    }
    qaffine::set_num_threads(0);
}

void test_qparams() {
    // Degenerate ranges still give a finite positive scale (values: the defined fallbacks).
    const auto zero = qaffine::choose_qparams(0.0f, 0.0f);
    check(zero.scale == 1.0f / 255.0f && zero.zero_point == 0, "all-zero params", "scalar", 0, 0);
    const auto wide = qaffine::choose_qparams(-3e38f, 3e38f);
    check(std::isfinite(wide.scale) && wide.scale > 0, "overflowing range", "scalar", 0, 0);
    const auto tiny = qaffine::choose_qparams(0.0f, std::numeric_limits<float>::denorm_min());
    check(tiny.scale == std::numeric_limits<float>::denorm_min(), "underflowing scale", "scalar", 0, 0);
    bool threw = false;
    try {
        (void)qaffine::choose_qparams(0.0f, std::numeric_limits<float>::quiet_NaN());
    } catch (const std::domain_error&) {
        threw = true;
    }
    check(threw, "NaN bound throws", "scalar", 0, 0);
    threw = false;
    try {
        (void)qaffine::choose_qparams(-1e308, 1e308);
    } catch (const std::domain_error&) {
        threw = true;
    }
    check(threw, "double range beyond float32 scale throws", "scalar", 0, 0);
    threw = false;
    try {
        std::uint8_t out = 0;
        const float x = 1.0f;
        (void)qaffine::quantize(&x, 1, qaffine::qparams{0.0f, 0, 0, 255}, &out);
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    check(threw, "zero scale throws", "scalar", 0, 0);
    // quantize_dynamic equals minmax + choose_qparams + quantize, and rejects what it must.
    std::vector<float> x = {0.283f, 0.779f, 1.122f, 3.342f, -0.5f};
    std::vector<std::uint8_t> a(x.size()), b(x.size());
    const auto p = qaffine::quantize_dynamic(x.data(), x.size(), a.data());
    const auto mm = qaffine::scalar::minmax(x.data(), x.size());
    const auto p2 = qaffine::choose_qparams(mm.lo, mm.hi);
    qaffine::scalar::quantize(x.data(), x.size(), p2.scale, p2.zero_point, 0, 255, b.data());
    check(p.scale == p2.scale && p.zero_point == p2.zero_point && a == b, "quantize_dynamic composition", "scalar",
          x.size(), 0);
    x[2] = std::numeric_limits<float>::infinity();
    threw = false;
    try {
        (void)qaffine::quantize_dynamic(x.data(), x.size(), a.data());
    } catch (const std::domain_error&) {
        threw = true;
    }
    check(threw, "quantize_dynamic rejects Inf", "scalar", x.size(), 0);
}

// quantize_dynamic, the public entry point and the strided form the Python module runs: the parameters
// and bytes of the serial specification (scalar minmax, choose_qparams, scalar codes) for every scheme,
// rounding, SIMD level and thread count, and for a reversed (negative-stride) view; NaN and ±Inf throw and
// leave the output untouched.
template <class T, class Q>
void test_quantize_dynamic(std::mt19937_64& rng) {
    const std::size_t n = (std::size_t(1) << 18) + 77;  // above 2 * parallel_grain: the pool splits it
    std::normal_distribution<double> normal(0.0, 2.0);
    std::vector<T> x(n);
    for (auto& v : x) v = static_cast<T>(normal(rng));
    const std::int32_t lo = std::numeric_limits<Q>::min(), hi = std::numeric_limits<Q>::max();
    const std::int32_t lo4 = std::is_signed<Q>::value ? -8 : 0, hi4 = std::is_signed<Q>::value ? 7 : 15;
    const qaffine::scheme schemes[] = {{lo, hi, false, true}, {lo4, hi4, true, true}, {lo, hi, false, false}};
    const qaffine::rounding roundings[] = {qaffine::rounding::divide, qaffine::rounding::multiply,
                                           qaffine::rounding::fused};
    const std::vector<T> xr(x.rbegin(), x.rend());
    qaffine::strided_view rev;
    rev.data = reinterpret_cast<const char*>(x.data() + (n - 1));
    rev.shape = {static_cast<std::ptrdiff_t>(n)};
    rev.strides = {-static_cast<std::ptrdiff_t>(sizeof(T))};
    rev.size = n;
    rev.itemsize = sizeof(T);
    for (const qaffine::scheme& sc : schemes) {
        const qaffine::minmax_result<T> mm = qaffine::scalar::minmax(x.data(), n);
        const qaffine::qparams p = qaffine::choose_qparams<T>(mm.lo, mm.hi, sc);
        for (const qaffine::rounding r : roundings) {
            const float ks = qaffine::kernel_scale(p.scale, r);
            std::vector<Q> ref(n), ref_r(n);
            qaffine::quantize_run(r, x.data(), n, ks, p.zero_point, sc.qmin, sc.qmax, ref.data(), qaffine::simd_level::scalar);
            qaffine::quantize_run(r, xr.data(), n, ks, p.zero_point, sc.qmin, sc.qmax, ref_r.data(),
                                  qaffine::simd_level::scalar);
            for (std::size_t threads : {1u, 2u, 3u}) {
                qaffine::set_num_threads(threads);
                for (qaffine::simd_level level : levels()) {
                    std::vector<Q> got(n);
                    const qaffine::qparams g = qaffine::quantize_dynamic(x.data(), n, got.data(), sc, r, level);
                    check(same_bits(g.scale, p.scale) && g.zero_point == p.zero_point &&
                              same_bytes(got.data(), ref.data(), n * sizeof(Q)),
                          "quantize_dynamic", qaffine::to_string(level), n, threads);
                    const qaffine::dynamic_result s = qaffine::quantize_dynamic_status<T, T>(rev, sc, r, got.data(), level);
                    check(s.status == qaffine::dynamic_status::ok && same_bits(s.params.scale, p.scale) &&
                              s.params.zero_point == p.zero_point && same_bytes(got.data(), ref_r.data(), n * sizeof(Q)),
                          "quantize_dynamic_status (reversed view)", qaffine::to_string(level), n, threads);
                }
            }
        }
    }
    qaffine::set_num_threads(0);
    const T bad[] = {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                     -std::numeric_limits<T>::infinity()};
    for (const T b : bad) {
        std::vector<T> y = x;
        y[n / 2 + 1] = b;
        for (qaffine::simd_level level : levels()) {
            std::vector<Q> got(n, Q(7));
            bool threw = false;
            try {
                qaffine::quantize_dynamic(y.data(), n, got.data(), schemes[0], qaffine::rounding::divide, level);
            } catch (const std::domain_error&) {
                threw = true;
            }
            bool untouched = true;
            for (const Q c : got) untouched = untouched && c == Q(7);
            check(threw && untouched, "quantize_dynamic rejects NaN/Inf", qaffine::to_string(level), n, 0);
        }
    }
    bool empty_threw = false;
    try {
        qaffine::quantize_dynamic(x.data(), 0, static_cast<Q*>(nullptr), schemes[0]);
    } catch (const std::invalid_argument&) {
        empty_threw = true;
    }
    check(empty_threw, "quantize_dynamic rejects n == 0", "any", 0, 0);
}

}  // namespace

// Histograms (histogram.hpp): every level and thread count gives the counts of the definition,
// floor(x * 2^-k) - base, for floats and doubles, every tail length, signed zeros, subnormals, a double whose
// product rounds to -0, values on bin edges; coarsening the counts equals counting at the coarser exponent.
// Mirrors tests/test_calibrate.py.
template <class T>
void test_histogram(std::mt19937_64& rng) {
    const char* name = std::is_same<T, float>::value ? "histogram<float>" : "histogram<double>";
    std::normal_distribution<double> normal(0.0, 1.0);
    const T tiny = std::numeric_limits<T>::denorm_min();
    for (int flavour = 0; flavour < 5; ++flavour) {
        for (std::size_t n : lengths()) {
            if (n == 0) continue;
            std::vector<T> x(n);
            for (std::size_t i = 0; i < n; ++i) {
                const double v = normal(rng);
                switch (flavour) {
                    case 0: x[i] = static_cast<T>(v); break;
                    case 1: x[i] = static_cast<T>(v * 1e-3 + 7.0); break;               // far from 0
                    case 2: x[i] = i % 3 == 0 ? T(0) : (i % 3 == 1 ? tiny : -tiny); break;  // zeros, subnormals
                    case 3: x[i] = static_cast<T>(std::ldexp(std::floor(v * 64), -6)); break;  // on bin edges
                    default: x[i] = i % 2 ? static_cast<T>(v * 1e30) : static_cast<T>(-v * 1e-30); break;
                }
            }
            if (flavour == 2 && n > 1) x[1] = -T(0);
            if (std::is_same<T, double>::value && flavour == 4) x[0] = static_cast<T>(-1e-300), x[n - 1] = static_cast<T>(1e300);
            T lo = x[0], hi = x[0];
            for (T v : x) lo = v < lo ? v : lo, hi = v > hi ? v : hi;
            for (std::size_t bins : {std::size_t(256), std::size_t(2048)}) {
                const int k = qaffine::histogram_exponent(double(lo), double(hi), bins, qaffine::histogram_min_exponent);
                const std::int64_t base = qaffine::histogram_bin(double(lo), k);
                std::vector<std::uint64_t> ref(bins, 0);
                std::uint64_t ref_zeros = 0;
                bool inside = true;
                for (T v : x) {
                    const std::int64_t j = qaffine::histogram_bin(double(v), k) - base;
                    inside = inside && j >= 0 && j < static_cast<std::int64_t>(bins);
                    if (j >= 0 && j < static_cast<std::int64_t>(bins)) ++ref[static_cast<std::size_t>(j)];
                    ref_zeros += v == T(0) ? 1u : 0u;
                }
                check(inside, "histogram window holds the data", name, n, bins);
                for (auto level : levels()) {
                    std::vector<std::uint64_t> c(bins, 0);
                    const std::uint64_t zeros = qaffine::histogram_count(x.data(), n, k, base, c.data(), bins, level);
                    check(c == ref && zeros == ref_zeros, name, qaffine::to_string(level), n, static_cast<std::size_t>(flavour));
                }
                // Coarsening by two doublings = counting at k + 2.
                const std::int64_t base2 = qaffine::histogram_bin(double(lo), k + 2);
                std::vector<std::uint64_t> coarse(bins, 0), direct(bins, 0);
                qaffine::histogram_rebin(ref.data(), bins, k, base, k + 2, base2, coarse.data(), bins);
                qaffine::histogram_count(x.data(), n, k + 2, base2, direct.data(), bins);
                check(coarse == direct, "histogram_rebin", name, n, bins);
            }
        }
    }
    // Several threads: the same counts.
    const std::size_t n = 3 * qaffine::parallel_grain + 5;
    std::vector<T> x(n);
    for (auto& v : x) v = static_cast<T>(normal(rng));
    const int k = -7;
    const std::int64_t base = qaffine::histogram_bin(-8.0, k);
    std::vector<std::uint64_t> one(2048, 0);
    qaffine::set_num_threads(1);
    qaffine::histogram_count(x.data(), n, k, base, one.data(), 2048, qaffine::simd_level::scalar);
    for (std::size_t threads : {1u, 2u, 3u}) {
        qaffine::set_num_threads(threads);
        for (auto level : levels()) {
            std::vector<std::uint64_t> c(2048, 0);
            qaffine::histogram_count(x.data(), n, k, base, c.data(), 2048, level);
            check(c == one, "histogram threads", qaffine::to_string(level), n, threads);
        }
    }
    qaffine::set_num_threads(0);
}

// 16-bit float output (tests/test_tensors.py): every level writes the scalar loop's bits, which are the
// round-to-nearest-even cast of the float result; scales of NaN (either sign, with a payload) and Inf drive
// NaN and ±Inf through the conversion ops, as do scales that overflow float16 and hit exact ties.
template <class Q, class H>
void test_float16_out(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> byte(0, 255);
    float nan_payload, neg_nan;
    const std::uint32_t nan_bits = 0x7FA12345u, neg_nan_bits = 0xFFC00001u;  // signaling with payload; -quiet
    std::memcpy(&nan_payload, &nan_bits, 4);
    std::memcpy(&neg_nan, &neg_nan_bits, 4);
    const float scales[] = {0.037f, 1.01171875f, 1.00146484375f, 300.0f, 1e-7f, 3e38f,
                            std::numeric_limits<float>::infinity(), nan_payload, neg_nan};
    for (float scale : scales) {
        for (std::int32_t z : {0, 77, -128}) {
            for (std::size_t n : lengths()) {
                std::vector<Q> codes(n + 1);
                for (auto& c : codes) c = static_cast<Q>(byte(rng) - (std::is_signed<Q>::value ? 128 : 0));
                std::vector<float> wide(n + 1);
                qaffine::scalar::dequantize(codes.data() + 1, n, scale, z, wide.data());
                std::vector<H> ref(n + 1, H{0xABCD}), got(n + 1, H{0xABCD});
                qaffine::scalar::dequantize(codes.data() + 1, n, scale, z, ref.data() + 1);
                bool cast_ok = true;
                for (std::size_t i = 0; i < n; ++i) {
                    const std::uint16_t want = std::is_same<H, qaffine::float16>::value
                                                   ? qaffine::float_to_half(wide[i])
                                                   : qaffine::float_to_bf16(wide[i]);
                    cast_ok = cast_ok && ref[i + 1].bits == want;
                }
                check(cast_ok, "16-bit dequantize is the cast of the float result", "scalar", n, 1);
                const qaffine::qparams p{scale, z, 0, 1};
                for (auto level : levels()) {
                    std::fill(got.begin(), got.end(), H{0xABCD});
                    qaffine::dequantize_unchecked(codes.data() + 1, n, p, got.data() + 1, level);
                    check(same_bytes(got.data(), ref.data(), (n + 1) * sizeof(H)), "16-bit dequantize",
                          qaffine::to_string(level), n, 1);
                    std::vector<float> s(n + 1, scale);
                    std::vector<std::int32_t> zv(n + 1, z);
                    std::fill(got.begin(), got.end(), H{0xABCD});
                    qaffine::dequantize_vec(codes.data() + 1, n, s.data(), zv.data(), got.data() + 1, level);
                    check(same_bytes(got.data(), ref.data(), (n + 1) * sizeof(H)), "16-bit dequantize_vec",
                          qaffine::to_string(level), n, 1);
                }
            }
        }
    }
}

// 16-bit float input (tests/test_tensors.py, tests/test_bad_inputs.py): widen_bf16 and widen_f16 of every one of
// the 65536 bit patterns at every level and start offset equal bf16_to_float (the upper half of the float's
// bits) and half_to_float; NaNs keep sign and payload (made quiet, for float16 as F16C's vcvtph2ps does).
void test_widen_16bit() {
    std::vector<std::uint16_t> all(65536 + 40);
    for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i * 40503u);
    for (std::size_t offset : {0u, 1u, 3u, 17u}) {
        const std::size_t n = 65536 + 40 - offset;
        std::vector<float> ref(n), got(n);
        for (std::size_t i = 0; i < n; ++i) {
            const std::uint32_t bits = static_cast<std::uint32_t>(all[offset + i]) << 16;
            std::memcpy(&ref[i], &bits, 4);
        }
        std::vector<float> ref16(n);
        for (std::size_t i = 0; i < n; ++i) ref16[i] = qaffine::half_to_float(all[offset + i]);
        for (auto level : levels()) {
            std::fill(got.begin(), got.end(), -7.0f);
            qaffine::widen_bf16(all.data() + offset, n, got.data(), level);
            check(same_bytes(got.data(), ref.data(), n * sizeof(float)), "widen_bf16", qaffine::to_string(level), n,
                  offset);
            std::fill(got.begin(), got.end(), -7.0f);
            qaffine::widen_f16(all.data() + offset, n, got.data(), level);
            check(same_bytes(got.data(), ref16.data(), n * sizeof(float)), "widen_f16", qaffine::to_string(level), n,
                  offset);
        }
    }
}

// Packed codes (mirrors tests/test_packed_kernels.py): the bytes that quantize_dynamic_groups, quantize_groups
// and quantize_strided write into packed_codes equal the unpacked codes packed field by field here (first code in
// the lowest bits), and dequantize of packed_view equals dequantize of the unpacked codes, at every level and
// thread count, for every field width, row lengths that start rows inside bytes and schemes with and without
// the sixteen-block kernel.
template <class Q>
std::vector<std::uint8_t> pack_reference(const std::vector<Q>& codes, unsigned width) {
    const std::size_t per = 8 / width;
    std::vector<std::uint8_t> out((codes.size() + per - 1) / per, 0);
    for (std::size_t i = 0; i < codes.size(); ++i) {
        const unsigned field = static_cast<unsigned>(static_cast<std::uint8_t>(codes[i])) & ((1u << width) - 1u);
        out[i / per] = static_cast<std::uint8_t>(out[i / per] | (field << ((i % per) * width)));
    }
    return out;
}

template <class Q>
void test_packed(std::mt19937_64& rng) {
    std::normal_distribution<float> nd(0.0f, 2.0f);
    const bool sgn = std::is_signed<Q>::value;
    struct shape {
        std::size_t outer, channels, inner, block;
    };
    const shape shapes[] = {{3, 1, 1, 1}, {5, 13, 1, 3}, {3, 130, 1, 32}, {7, 523, 1, 32}, {2, 1040, 1, 64},
                            {4, 33, 1, 0}, {1, 9, 7, 0}, {2, 11, 5, 2}, {300, 1031, 1, 16}};
    for (const shape& sh : shapes) {
        const qaffine::layout g{sh.outer, sh.channels, sh.inner, sh.block};
        std::vector<float> x(g.size());
        for (auto& v : x) v = nd(rng);
        for (int bits = 1; bits <= 4; ++bits) {
            const unsigned w = qaffine::field_width(bits);
            const std::int32_t qmin = sgn ? -(1 << (bits - 1)) : 0, qmax = sgn ? (1 << (bits - 1)) - 1 : (1 << bits) - 1;
            for (bool sym : {false, true}) {
                const qaffine::scheme sc{qmin, qmax, sym, true};
                const std::size_t G = g.groups();
                std::vector<float> s(G), s2(G);
                std::vector<std::int32_t> z(G), z2(G);
                std::vector<Q> codes(g.size());
                qaffine::quantize_dynamic_groups(x.data(), g, sc, qaffine::rounding::divide, s.data(), z.data(),
                                                 codes.data(), qaffine::simd_level::scalar);
                const std::vector<std::uint8_t> ref = pack_reference(codes, w);
                std::vector<float> back(g.size());
                qaffine::dequantize_groups(codes.data(), g, s.data(), z.data(), back.data(), qaffine::simd_level::scalar);
                std::vector<float> ks(G);
                for (std::size_t k = 0; k < G; ++k) ks[k] = qaffine::kernel_scale(s[k], qaffine::rounding::multiply);
                std::vector<Q> tcodes(g.size());
                qaffine::quantize_groups(qaffine::rounding::multiply, x.data(), g, ks.data(), z.data(), qmin, qmax,
                                         tcodes.data(), qaffine::simd_level::scalar);
                const std::vector<std::uint8_t> tref = pack_reference(tcodes, w);
                for (std::size_t threads : {std::size_t(1), std::size_t(3)}) {
                    qaffine::set_num_threads(threads);
                    for (auto level : levels()) {
                        std::vector<std::uint8_t> got(ref.size(), 0xA5);
                        if (!got.empty()) got.back() = 0;
                        qaffine::quantize_dynamic_groups(x.data(), g, sc, qaffine::rounding::divide, s2.data(),
                                                         z2.data(), qaffine::packed_codes<Q>{got.data(), w}, level);
                        check(got == ref && s2 == s && z2 == z, "packed quantize_dynamic_groups",
                              qaffine::to_string(level), g.size(), static_cast<std::size_t>(bits));
                        std::fill(got.begin(), got.end(), std::uint8_t(0x5A));
                        if (!got.empty()) got.back() = 0;
                        qaffine::quantize_groups(qaffine::rounding::multiply, x.data(), g, ks.data(), z.data(), qmin,
                                                 qmax, qaffine::packed_codes<Q>{got.data(), w}, level);
                        check(got == tref, "packed quantize_groups", qaffine::to_string(level), g.size(),
                              static_cast<std::size_t>(bits));
                        std::vector<float> out(g.size());
                        qaffine::dequantize_groups(qaffine::packed_view<Q>{ref.data(), w}, g, s.data(), z.data(),
                                                   out.data(), level);
                        check(same_bytes(out.data(), back.data(), out.size() * sizeof(float)), "packed dequantize_groups",
                              qaffine::to_string(level), g.size(), static_cast<std::size_t>(bits));
                        std::vector<float> flat(g.size());
                        qaffine::dequantize_packed(qaffine::packed_view<Q>{ref.data(), w}, g.size(),
                                                   qaffine::qparams{s[0], z[0], qmin, qmax}, flat.data(), level);
                        std::vector<float> flat_ref(g.size());
                        qaffine::dequantize(codes.data(), g.size(), qaffine::qparams{s[0], z[0], qmin, qmax},
                                            flat_ref.data(), qaffine::simd_level::scalar);
                        check(same_bytes(flat.data(), flat_ref.data(), flat.size() * sizeof(float)),
                              "packed dequantize (per tensor)", qaffine::to_string(level), g.size(),
                              static_cast<std::size_t>(bits));
                    }
                }
                qaffine::set_num_threads(0);
            }
        }
    }
}

// Packed reads from any field (a run or block that starts inside a byte: rows of odd length at 4 bits, blocks
// of rows that start mid-byte, thread splits), plain and per-element parameters, every start phase and every
// length around one, four and five registers, against the scalar loop; and one run above the streaming
// threshold whose register-aligned start falls inside a byte.
template <class Q>
void test_packed_read_any_field(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> byte(0, 255);
    for (unsigned w : {1u, 2u, 4u}) {
        std::vector<std::uint8_t> b(64);
        for (auto& v : b) v = static_cast<std::uint8_t>(byte(rng));
        const std::size_t per = 8 / w, room = (b.size() - 2) * per;
        std::vector<float> s(room), ref(room + 16), got(room + 16);
        std::vector<std::int32_t> z(room);
        for (std::size_t i = 0; i < room; ++i) {
            s[i] = 0.25f + 0.01f * static_cast<float>(i % 17);
            z[i] = static_cast<std::int32_t>(i % 5) - 2;
        }
        for (std::size_t pos = 0; pos < 2 * per; ++pos) {
            for (std::size_t n = 0; n + pos <= room && n <= 5 * 16 + 17; ++n) {
                qaffine::dispatch_width(w, [&](auto W) {
                    constexpr unsigned Wv = decltype(W)::value;
                    std::fill(ref.begin(), ref.end(), -7.0f);
                    qaffine::scalar::dequantize_fields<Wv, Q>(b.data(), pos, n, 0.375f, 3, ref.data() + 1);
                    for (auto level : levels()) {
                        std::fill(got.begin(), got.end(), -7.0f);
                        qaffine::dispatch(level, [&](auto isa) {
                            qaffine::detail::dequantize_fields_at<decltype(isa), Wv, Q>(isa, b.data(), pos, n, 0.375f, 3,
                                                                                      got.data() + 1);
                        });
                        check(got == ref, "packed read from any field", qaffine::to_string(level), n, pos * 10 + Wv);
                    }
                    std::fill(ref.begin(), ref.end(), -7.0f);
                    qaffine::scalar::dequantize_fields_vec<Wv, Q>(b.data(), pos, n, s.data(), z.data(), ref.data());
                    for (auto level : levels()) {
                        std::fill(got.begin(), got.end(), -7.0f);
                        qaffine::dispatch(level, [&](auto isa) {
                            qaffine::detail::dequantize_fields_vec_at<decltype(isa), Wv, Q>(isa, b.data(), pos, n,
                                                                                          s.data(), z.data(), got.data());
                        });
                        check(got == ref, "packed vec read from any field", qaffine::to_string(level), n, pos * 10 + Wv);
                    }
                });
            }
        }
    }
    // streaming: out + 1 puts the register-aligned start of out three fields in, inside a byte at 4 bits
    const std::size_t n = qaffine::detail::dequantize_stream_min + 1000 + 37;
    std::vector<std::uint8_t> b(n / 2 + 2);
    for (auto& v : b) v = static_cast<std::uint8_t>(byte(rng));
    for (std::size_t pos : {0u, 1u}) {
        std::vector<float> ref(n + 32, -7.0f), got(n + 32, -7.0f);
        qaffine::scalar::dequantize_fields<4, Q>(b.data(), pos, n, 0.0371f, 5, ref.data() + 1);
        for (auto level : levels()) {
            std::fill(got.begin(), got.end(), -7.0f);
            qaffine::dispatch(level, [&](auto isa) {
                qaffine::detail::dequantize_fields_at<decltype(isa), 4, Q>(isa, b.data(), pos, n, 0.0371f, 5, got.data() + 1);
            });
            check(same_bytes(got.data(), ref.data(), got.size() * sizeof(float)), "streaming packed read",
                  qaffine::to_string(level), n, pos);
        }
    }
}

// The per-block MSE clip search (clip_search.hpp): every level and thread count gives the result of the
// definition, computed here candidate by candidate with choose_qparams and quantize_one (tests/test_calibrate.py
// checks the same against qa.quantize / dequantize). The reference is compiled without FMA contraction, as the
// kernel is.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
template <class T>
void test_clip_search(std::mt19937_64& rng) {
    const char* name = std::is_same<T, float>::value ? "clip_search<float>" : "clip_search<double>";
    std::student_t_distribution<double> heavy(3.0);
    const std::size_t rows = 7, n = 45, block = 16, nb = 3;  // a short last block of 13
    std::vector<T> x(rows * n);
    const qaffine::scheme schemes[] = {{-8, 7, true, true}, {0, 15, false, true}, {0, 7, false, false}, {0, 255, false, true}};
    for (const qaffine::scheme& sc : schemes) {
        for (auto& v : x) v = static_cast<T>(heavy(rng) + (sc.include_zero ? 0.0 : 5.0));
        std::vector<T> ref_lo(rows * nb), ref_hi(rows * nb);
        for (std::size_t g = 0; g < rows * nb; ++g) {
            const T* b = x.data() + (g / nb) * n + (g % nb) * block;
            const std::size_t len = std::min(block, n - (g % nb) * block);
            T lo = b[0], hi = b[0];
            for (std::size_t j = 0; j < len; ++j) lo = std::min(lo, b[j]), hi = std::max(hi, b[j]);
            const double c = sc.include_zero ? 0.0 : 0.5 * double(lo) + 0.5 * double(hi);
            double best = std::numeric_limits<double>::infinity();
            for (std::size_t i = 0; i < qaffine::clip_search_steps; ++i) {
                const double f = double(i) / double(qaffine::clip_search_grid);
                const double dl = f * (c - double(lo)), dh = f * (double(hi) - c);
                const T l = i ? static_cast<T>(double(lo) + dl) : lo, h = i ? static_cast<T>(double(hi) - dh) : hi;
                qaffine::qparams p;
                try {
                    p = qaffine::choose_qparams<T>(l, h, sc);
                } catch (const std::exception&) {
                    continue;
                }
                double e = 0;
                for (std::size_t j = 0; j < len; ++j) {
                    const std::int32_t q = qaffine::scalar::quantize_one<qaffine::rounding::divide, T>(
                        b[j], static_cast<T>(p.scale), p.zero_point, sc.qmin, sc.qmax);
                    const double d = double(static_cast<T>(p.scale) * static_cast<T>(q - p.zero_point)) - double(b[j]);
                    const double sq = d * d;
                    e += sq;
                }
                if (e < best) best = e, ref_lo[g] = l, ref_hi[g] = h;
            }
        }
        for (std::size_t threads : {1u, 2u, 3u}) {
            qaffine::set_num_threads(threads);
            for (auto level : levels()) {
                std::vector<T> lo(rows * nb), hi(rows * nb);
                qaffine::clip_search_groups(x.data(), rows, n, block, sc, lo.data(), hi.data(), qaffine::clip_search_grid,
                                            qaffine::clip_search_steps, level);
                check(lo == ref_lo && hi == ref_hi, name, qaffine::to_string(level), threads,
                      static_cast<std::size_t>(sc.qmax));
            }
        }
        qaffine::set_num_threads(0);
    }
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif

int main(int argc, char** argv) {
    if (argc > 1 && std::sscanf(argv[1], "%u/%u", &g_shard, &g_shards) != 2) g_shards = 0;
    if (g_shards == 0 || g_shard >= g_shards) {
        std::printf("usage: test_kernels [k/N]  (shard k of N, 0 <= k < N)\n");
        return 2;
    }
    std::printf("qaffine C++ kernel tests; highest SIMD level here: %s\n",
                qaffine::to_string(qaffine::max_supported_level()));
    std::mt19937_64 rng(20261128);
    if (mine()) test_minmax<float>(rng);
    if (mine()) test_minmax<double>(rng);
    if (mine()) test_quantize_vec_rows<std::uint8_t>(rng);
    if (mine()) test_quantize_vec_rows<std::int8_t>(rng);
    if (mine()) test_quantize_vec_rows<std::uint16_t>(rng);
    if (mine()) test_quantize_vec_rows<std::int16_t>(rng);
    if (mine()) test_minmax_accumulate_rows<float>(rng);
    if (mine()) test_minmax_accumulate_rows<double>(rng);
    if (mine()) test_minmax_positions<float>(rng);
    if (mine()) test_minmax_positions<double>(rng);
    if (mine()) test_quantize<float, std::uint8_t>(rng);
    if (mine()) test_quantize<float, std::int8_t>(rng);
    if (mine()) test_quantize<double, std::uint8_t>(rng);
    if (mine()) test_quantize<double, std::int8_t>(rng);
    if (mine()) test_quantize<float, std::uint16_t>(rng);
    if (mine()) test_quantize<float, std::int16_t>(rng);
    if (mine()) test_quantize<double, std::uint16_t>(rng);
    if (mine()) test_quantize<double, std::int16_t>(rng);
    if (mine()) test_dequantize<std::uint8_t, float>(rng);
    if (mine()) test_dequantize<std::uint8_t, double>(rng);
    if (mine()) test_dequantize<std::int8_t, float>(rng);
    if (mine()) test_dequantize<std::int8_t, double>(rng);
    if (mine()) test_dequantize<std::uint16_t, float>(rng);
    if (mine()) test_dequantize<std::uint16_t, double>(rng);
    if (mine()) test_dequantize<std::int16_t, float>(rng);
    if (mine()) test_dequantize<std::int16_t, double>(rng);
    test_ties<float>(rng);
    if (mine()) test_dequantize_streaming<std::uint8_t>(rng);
    if (mine()) test_dequantize_streaming<std::int8_t>(rng);
    if (mine()) test_dequantize_streaming<std::uint16_t>(rng);
    if (mine()) test_dequantize_streaming<std::int16_t>(rng);
    for (bool narrowed : {false, true}) {
        if (mine()) test_streaming<std::uint8_t>(rng, narrowed);
        if (mine()) test_streaming<std::int8_t>(rng, narrowed);
        if (mine()) test_streaming<std::uint16_t>(rng, narrowed);
        if (mine()) test_streaming<std::int16_t>(rng, narrowed);
    }
    test_ties<double>(rng);
    if (mine()) test_vec_kernels<float, std::uint8_t>(rng);
    if (mine()) test_vec_kernels<float, std::int8_t>(rng);
    if (mine()) test_vec_kernels<double, std::uint8_t>(rng);
    if (mine()) test_vec_kernels<double, std::int8_t>(rng);
    if (mine()) test_vec_kernels<float, std::uint16_t>(rng);
    if (mine()) test_vec_kernels<float, std::int16_t>(rng);
    if (mine()) test_vec_kernels<double, std::int16_t>(rng);
    if (mine()) test_groups<float, std::uint8_t>(rng);
    if (mine()) test_groups<float, std::int8_t>(rng);
    if (mine()) test_groups<double, std::uint8_t>(rng);
    if (mine()) test_groups<float, std::uint16_t>(rng);
    if (mine()) test_groups<float, std::int16_t>(rng);
    if (mine()) test_groups<double, std::uint16_t>(rng);
    if (mine()) test_block16<std::uint8_t>(rng);
    if (mine()) test_block16<std::int8_t>(rng);
    if (mine()) test_block16<std::uint16_t>(rng);
    if (mine()) test_block16<std::int16_t>(rng);
    if (mine()) test_block16_streaming<std::uint8_t>(rng);
    if (mine()) test_block16_streaming<std::uint16_t>(rng);
    if (mine()) test_packed<std::uint8_t>(rng);
    if (mine()) test_packed<std::int8_t>(rng);
    if (mine()) test_packed_read_any_field<std::uint8_t>(rng);
    if (mine()) test_packed_read_any_field<std::int8_t>(rng);
    if (mine()) test_threads(rng);
    if (mine()) test_histogram<float>(rng);
    if (mine()) test_histogram<double>(rng);
    if (mine()) test_clip_search<float>(rng);
    if (mine()) test_clip_search<double>(rng);
    if (mine()) test_quantize_dynamic<float, std::uint8_t>(rng);
    if (mine()) test_quantize_dynamic<float, std::int8_t>(rng);
    if (mine()) test_quantize_dynamic<double, std::uint8_t>(rng);
    if (mine()) test_quantize_dynamic<double, std::int8_t>(rng);
    if (mine()) test_quantize_dynamic<float, std::uint16_t>(rng);
    if (mine()) test_quantize_dynamic<float, std::int16_t>(rng);
    if (mine()) test_qparams();
    if (mine()) test_float16_out<std::uint8_t, qaffine::float16>(rng);
    if (mine()) test_float16_out<std::int8_t, qaffine::bfloat16>(rng);
    if (mine()) test_float16_out<std::uint8_t, qaffine::bfloat16>(rng);
    if (mine()) test_float16_out<std::uint16_t, qaffine::float16>(rng);
    if (mine()) test_widen_16bit();
    std::printf("checks per level:");
    for (int l = 0; l < qaffine::simd_level_count; ++l)
        if (g_per_level[l] > 0) std::printf(" %s %d", qaffine::to_string(static_cast<qaffine::simd_level>(l)), g_per_level[l]);
    std::printf("\n%d passed, %d failed\n", g_passed, g_failed);
    return g_failed == 0 ? 0 : 1;
}
