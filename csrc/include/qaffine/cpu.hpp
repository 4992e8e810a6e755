// qaffine/cpu.hpp — SIMD levels, CPU feature detection and the process-wide dispatch decision.
//
// The level in use is decided once per process: the highest level the CPU *and* the OS support
// (x86-64: cpuid for the instructions, xgetbv for the register state the OS saves; aarch64 Linux:
// getauxval(AT_HWCAP)), lowered by the
// QAFFINE_SIMD environment variable if it is set. set_active_level() changes it later (tests use it
// to run every kernel at every level). Thread safety: all functions here may be called from any
// thread; the level is an atomic.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

// SIMD kernels are compiled with per-function target attributes, so the headers need no -mavx flags
// and a binary built from them runs on any x86-64 CPU. Other compilers and architectures get the
// portable scalar loops (which compilers vectorise with their baseline instruction set).
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(QAFFINE_DISABLE_SIMD)
#define QAFFINE_X86_SIMD 1
#include <cpuid.h>
#include <immintrin.h>
#define QAFFINE_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))  // F16C: float16 output
#define QAFFINE_TARGET_AVX512 __attribute__((target("avx512f,avx512bw")))
// GCC 12 reports -Wmaybe-uninitialized inside its own AVX-512 intrinsics (the `__Y = __Y` idiom of
// _mm512_undefined_*, GCC bug 105593); the SIMD sections silence that one false positive.
#if defined(__GNUC__) && !defined(__clang__)
#define QAFFINE_SIMD_BEGIN _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"") \
    _Pragma("GCC diagnostic ignored \"-Wuninitialized\"")
#define QAFFINE_SIMD_END _Pragma("GCC diagnostic pop")
#else
#define QAFFINE_SIMD_BEGIN
#define QAFFINE_SIMD_END
#endif
// Keeps a vector in its register as an opaque value: GCC then neither folds a load into a second
// instruction (vcmpunordps mem, ..., which doubles the loads of a load-bound loop) nor contracts a product
// with the following addition into an FMA.
#define QAFFINE_KEEP(v) __asm__("" : "+v"(v))
#else
#define QAFFINE_X86_SIMD 0
#endif

// aarch64 with GCC or Clang: Advanced SIMD (NEON) is part of the base architecture (ARMv8-A), so its kernels
// need no target attribute; getauxval still confirms it on Linux (cpu.hpp, detect_max_level). MSVC on ARM64
// takes the portable loops.
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(QAFFINE_DISABLE_SIMD)
#define QAFFINE_NEON_SIMD 1
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#define QAFFINE_SIMD_BEGIN
#define QAFFINE_SIMD_END
// As on x86-64: keeps the vector(s) of v in registers as opaque values (no load folding, no FMA
// contraction of a product with the following addition). A vf is two q-registers here (ops_neon.hpp).
#define QAFFINE_KEEP(v) keep_in_register(v)
#else
#define QAFFINE_NEON_SIMD 0
#endif

// The portable loops (namespace portable in the family headers) stay out of line with GCC, and their fixed
// block loops are not unrolled: GCC -O3 unrolls a 16-iteration loop completely first and then vectorises the
// straight code no more, and inlined into a caller the loop lost its vectorisation too (1e6 floats, SSE2: code
// pass 0.33 -> 1.3 ms, minmax 0.19 -> 0.56 ms).
#if defined(__GNUC__) && !defined(__clang__)
#define QAFFINE_PORTABLE_LOOP __attribute__((noinline)) inline
#define QAFFINE_NO_UNROLL _Pragma("GCC unroll 1")
#else
#define QAFFINE_PORTABLE_LOOP inline
#define QAFFINE_NO_UNROLL
#endif

namespace qaffine {

namespace detail {
/// Software prefetch distance of the streaming loops, in bytes of input (8 KiB: measured best of
/// 2-16 KiB for minmax over 4 MB-400 MB arrays on Zen 4; the hardware prefetcher alone reaches ~30 GB/s).
/// The float minmax loops run from the end of the array down, prefetching behind them: the range pass
/// of dynamic quantization then leaves the *start* of x in the caches, where the forward code pass
/// begins (1e6 floats on Zen 4: range + codes 80 -> 66 us; same speed alone from 4 MB to 400 MB).
constexpr std::size_t prefetch_bytes = 8192;

/// Per-block quantization runs of at least this many elements write their codes with non-temporal
/// stores and prefetch their input: their output would not stay in cache anyway, and skipping the
/// read-for-ownership of the output lines saves a sixth of the memory traffic (1e7 floats on Zen 4:
/// 1.20 -> 0.72 ms).
constexpr std::size_t stream_min = std::size_t(1) << 21;

/// Dequantize runs of at least this many elements (32 MiB of float32, an L3's worth) write with
/// non-temporal stores: skipping the read-for-ownership saves a third of the traffic once the output is
/// bound for memory (Zen 4, 1e8 codes: 15.2 -> 11.3 ms on one thread, 14.2 -> 11.0 ms on two), while
/// smaller outputs are absorbed by the L3 faster than streaming stores drain (1e7 on two threads, 5e6
/// per run: 0.72 ms with ordinary stores, 0.95 ms streaming).
constexpr std::size_t dequantize_stream_min = std::size_t(1) << 23;
}  // namespace detail

/// Instruction-set levels. scalar runs everywhere; the others belong to one architecture each, and within
/// an architecture they are ordered (a CPU that supports a level supports every lower one of its kind):
/// avx2 means AVX2 + FMA and avx512 means AVX512F + AVX512BW (every AVX-512 CPU since Skylake-SP), on
/// x86-64; neon means aarch64 Advanced SIMD (with its FMA and round-to-nearest conversions).
enum class simd_level : int { scalar = 0, avx2 = 1, avx512 = 2, neon = 3 };

/// One past the largest simd_level value (to enumerate them).
constexpr int simd_level_count = 4;

/// "scalar", "avx2", "avx512" or "neon".
inline const char* to_string(simd_level level) noexcept {
    switch (level) {
        case simd_level::avx2: return "avx2";
        case simd_level::avx512: return "avx512";
        case simd_level::neon: return "neon";
        case simd_level::scalar: break;
    }
    return "scalar";
}

/// Parses "scalar" | "avx2" | "avx512" | "neon". Throws std::invalid_argument for anything else.
inline simd_level parse_simd_level(const std::string& name) {
    if (name == "scalar") return simd_level::scalar;
    if (name == "avx2") return simd_level::avx2;
    if (name == "avx512") return simd_level::avx512;
    if (name == "neon") return simd_level::neon;
    throw std::invalid_argument("unknown SIMD level '" + name + "'; expected scalar, avx2, avx512 or neon");
}

namespace detail {

#if QAFFINE_X86_SIMD
inline unsigned long long read_xcr0() noexcept {
    unsigned int eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<unsigned long long>(edx) << 32) | eax;
}
#endif

inline simd_level detect_max_level() noexcept {
#if QAFFINE_X86_SIMD
    unsigned int eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return simd_level::scalar;
    const bool fma = (ecx >> 12) & 1u;
    const bool osxsave = (ecx >> 27) & 1u;
    const bool avx = (ecx >> 28) & 1u;
    const bool f16c = (ecx >> 29) & 1u;  // every AVX2 CPU has it; checked because the avx2 level uses it
    if (!osxsave || !avx || !fma || !f16c) return simd_level::scalar;
    const unsigned long long xcr0 = read_xcr0();
    // The OS must save XMM (bit 1) and YMM (bit 2) state, or AVX registers are not usable.
    if ((xcr0 & 0x6u) != 0x6u) return simd_level::scalar;
    if (__get_cpuid_max(0, nullptr) < 7) return simd_level::scalar;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    const bool avx2 = (ebx >> 5) & 1u;
    const bool avx512 = ((ebx >> 16) & 1u) && ((ebx >> 30) & 1u);  // AVX512F and AVX512BW
    if (!avx2) return simd_level::scalar;
    // AVX-512 also needs opmask (bit 5) and the upper ZMM halves (bits 6, 7) saved by the OS.
    if (avx512 && (xcr0 & 0xE0u) == 0xE0u) return simd_level::avx512;
    return simd_level::avx2;
#elif QAFFINE_NEON_SIMD
#if defined(__linux__)
    // HWCAP_ASIMD (bit 1): every ARMv8-A Linux reports it; a kernel that does not cannot run the NEON loops.
    return (getauxval(AT_HWCAP) & (1ul << 1)) != 0 ? simd_level::neon : simd_level::scalar;
#else
    return simd_level::neon;  // macOS and the other aarch64 systems: Advanced SIMD is always there
#endif
#else
    return simd_level::scalar;
#endif
}

/// The architecture a level belongs to (0: every one, 1: x86-64, 2: aarch64), and its rank within it.
constexpr int level_family(simd_level level) noexcept {
    return level == simd_level::scalar ? 0 : level == simd_level::neon ? 2 : 1;
}

inline simd_level initial_level() noexcept {
    const simd_level max_level = detect_max_level();
    const char* env = std::getenv("QAFFINE_SIMD");
    if (env == nullptr || *env == '\0') return max_level;
    simd_level wanted = max_level;
    if (std::strcmp(env, "scalar") == 0) wanted = simd_level::scalar;
    else if (std::strcmp(env, "avx2") == 0) wanted = simd_level::avx2;
    else if (std::strcmp(env, "avx512") == 0) wanted = simd_level::avx512;
    else if (std::strcmp(env, "neon") == 0) wanted = simd_level::neon;
    // An unknown value keeps the detected level (the Python layer warns about it), and so does a level
    // above the detected one or of another architecture.
    const bool runs = wanted == simd_level::scalar ||
                      (level_family(wanted) == level_family(max_level) && static_cast<int>(wanted) <= static_cast<int>(max_level));
    return runs ? wanted : max_level;
}

inline std::atomic<int>& level_slot() noexcept {
    static std::atomic<int> slot{static_cast<int>(initial_level())};
    return slot;
}

}  // namespace detail

/// The highest level this CPU and OS support (detected once).
inline simd_level max_supported_level() noexcept {
    static const simd_level level = detail::detect_max_level();
    return level;
}

/// True if kernels of `level` can run here: scalar, and the levels of this CPU's architecture up to the
/// highest it supports.
inline bool is_supported(simd_level level) noexcept {
    const simd_level top = max_supported_level();
    return level == simd_level::scalar ||
           (detail::level_family(level) == detail::level_family(top) && static_cast<int>(level) <= static_cast<int>(top));
}

/// The level the dispatching kernels use now.
inline simd_level active_level() noexcept {
    return static_cast<simd_level>(detail::level_slot().load(std::memory_order_relaxed));
}

/// Forces the level used by the dispatching kernels. Throws std::domain_error if this CPU lacks it.
inline void set_active_level(simd_level level) {
    if (!is_supported(level))
        throw std::domain_error(std::string("SIMD level '") + to_string(level) +
                                "' is not supported by this CPU (highest: " +
                                to_string(max_supported_level()) + ")");
    detail::level_slot().store(static_cast<int>(level), std::memory_order_relaxed);
}

/// Returns the level actually used when `level` is requested: the request, lowered to what runs here.
inline simd_level usable_level(simd_level level) noexcept {
    return is_supported(level) ? level : max_supported_level();
}

// The tag of each level: kernels of a level take its tag as first parameter (foreach_isa.hpp).
namespace scalar {
struct isa {
    static constexpr simd_level level = simd_level::scalar;
};
}  // namespace scalar
#if QAFFINE_X86_SIMD
namespace avx2 {
struct isa {
    static constexpr simd_level level = simd_level::avx2;
};
}  // namespace avx2
namespace avx512 {
struct isa {
    static constexpr simd_level level = simd_level::avx512;
};
}  // namespace avx512
#endif
#if QAFFINE_NEON_SIMD
namespace neon {
struct isa {
    static constexpr simd_level level = simd_level::neon;
};
}  // namespace neon
#endif

/// The one SIMD dispatch: calls f(tag) with the tag of `level` lowered to what runs here (scalar::isa,
/// avx2::isa, avx512::isa or neon::isa), so that f's call kernel(tag, ...) picks that level's kernel by
/// argument-dependent lookup. f must return the same type for every tag. A switch, not a pointer table: the
/// level is an argument of every entry point (tests and QAFFINE_SIMD change it at run time), and a switch on
/// it costs a compare where a pointer would cost an indirect call that keeps the kernel from being inlined.
template <class F>
inline decltype(auto) dispatch(simd_level level, F&& f) {
#if QAFFINE_X86_SIMD
    switch (usable_level(level)) {
        case simd_level::avx512: return f(avx512::isa{});
        case simd_level::avx2: return f(avx2::isa{});
        default: break;
    }
#elif QAFFINE_NEON_SIMD
    if (usable_level(level) == simd_level::neon) return f(neon::isa{});
#else
    (void)level;
#endif
    return f(scalar::isa{});
}

}  // namespace qaffine
