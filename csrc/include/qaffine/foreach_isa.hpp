// qaffine/foreach_isa.hpp — compiles one kernel body once per SIMD level (no include guard: a family
// header includes it once per body file).
//
//   #define QAFFINE_KERNELS "dequantize-inl.hpp"   // a body file, written over the ops of ops_*.hpp
//   #include "foreach_isa.hpp"
//
// The body is included inside `namespace qaffine::avx2` and again inside `namespace qaffine::avx512` on x86-64, or
// inside `namespace qaffine::neon` on aarch64, where its unqualified names (vf, loadu, min, lanes, ...) resolve to
// that level's operations (ops_avx2.hpp, ops_avx512.hpp, ops_neon.hpp), as Highway's foreach_target.h does. A body
// that only some levels use says which it skips before the include (QAFFINE_KERNELS_SKIP_AVX512: the loops of the
// levels without a narrowing store). Every function of a body is declared with QAFFINE_ISA (QAFFINE_ISA_OUTLINE for
// one kept out of line), defined here as the level's target attribute: an attribute cannot depend on a template
// parameter, so a template over an ops type could not carry it, and the per-function attribute means the same to GCC
// and Clang where the region pragmas (#pragma GCC target / #pragma clang attribute) differ between them. Standard-
// library headers are all included before (by the family header and ops_*.hpp): a standard template first
// instantiated inside a target function would be compiled for that target and could be the copy the linker keeps (an
// ODR hazard), so bodies use no standard templates or lambdas, only type traits. NEON is part of the aarch64 base
// architecture: no target attribute there. Each body takes its level's tag (avx2::isa, avx512::isa, neon::isa;
// cpu.hpp) as first parameter, so that dispatch() reaches it by argument-dependent lookup.
#ifndef QAFFINE_KERNELS
#error "define QAFFINE_KERNELS to the body file before including foreach_isa.hpp"
#endif

#if QAFFINE_X86_SIMD
QAFFINE_SIMD_BEGIN
namespace qaffine {
namespace avx2 {
#define QAFFINE_ISA QAFFINE_TARGET_AVX2 inline
#define QAFFINE_ISA_OUTLINE __attribute__((noinline)) QAFFINE_TARGET_AVX2 inline
#include QAFFINE_KERNELS
#undef QAFFINE_ISA
#undef QAFFINE_ISA_OUTLINE
}  // namespace avx2
#ifndef QAFFINE_KERNELS_SKIP_AVX512
namespace avx512 {
#define QAFFINE_ISA QAFFINE_TARGET_AVX512 inline
#define QAFFINE_ISA_OUTLINE __attribute__((noinline)) QAFFINE_TARGET_AVX512 inline
#include QAFFINE_KERNELS
#undef QAFFINE_ISA
#undef QAFFINE_ISA_OUTLINE
}  // namespace avx512
#endif
}  // namespace qaffine
QAFFINE_SIMD_END
#endif  // QAFFINE_X86_SIMD

#if QAFFINE_NEON_SIMD
namespace qaffine {
namespace neon {
// Forced inline: GCC's aarch64 heuristics leave the bodies' helpers (minmax4, codes4) out of line, and the
// accumulators they take by reference then live on the stack (a load and a store per vector and operation).
#define QAFFINE_ISA __attribute__((always_inline)) inline
#define QAFFINE_ISA_OUTLINE __attribute__((noinline)) inline
#include QAFFINE_KERNELS
#undef QAFFINE_ISA
#undef QAFFINE_ISA_OUTLINE
}  // namespace neon
}  // namespace qaffine
#endif  // QAFFINE_NEON_SIMD

#undef QAFFINE_KERNELS
#undef QAFFINE_KERNELS_SKIP_AVX512
