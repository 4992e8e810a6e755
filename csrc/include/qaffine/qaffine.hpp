// qaffine/qaffine.hpp — the whole library.
//
//   #include <qaffine/qaffine.hpp>
//   std::vector<std::uint8_t> codes(n);
//   qaffine::qparams p = qaffine::quantize_dynamic(x.data(), n, codes.data());
//
// Header-only, C++17, no dependencies beyond the standard library. One header per kernel family:
//   cpu.hpp         SIMD levels, detection (cpuid + xgetbv), QAFFINE_SIMD, the level in use
//   qparams.hpp     qparams, scheme, choose_qparams (the ONNX / symmetric / tight-range rules)
//   minmax.hpp      range of an array (NaN reported), element-wise ranges
//   quantize.hpp    floats -> codes with one or per-element (scale, zero point), three roundings
//   dequantize.hpp  codes -> floats
//   granular.hpp    per-channel / per-block layouts, their ranges, codes and one-pass dynamic blocks
//   packed.hpp      1-, 2- and 4-bit fields: packed codes written and read by the kernels directly
//   parallel.hpp    the thread pool and the multi-threaded forms of the kernels
//   strided.hpp     arrays of any strides walked as contiguous chunks (float16, bfloat16 converted exactly)
//   half.hpp        float16 / bfloat16 to and from float (exact widening, round-to-nearest-even narrowing)
//   convert.hpp     runs of bfloat16 widened to float at every SIMD level
//   dynamic.hpp     quantize_dynamic: range, parameters and codes of a whole array, multi-threaded
//   histogram.hpp   histograms exact to merge (power-of-two bins anchored at 0) and the MSE range search
//   clip_search.hpp range="mse" per block: the least-squared-error clip of each block, by direct search
// Thread safety: every function is a pure function of its arguments apart from the process-wide SIMD level
// (cpu.hpp) and thread count (parallel.hpp).
#pragma once

#include "clip_search.hpp"
#include "convert.hpp"
#include "cpu.hpp"
#include "dequantize.hpp"
#include "dynamic.hpp"
#include "granular.hpp"
#include "half.hpp"
#include "histogram.hpp"
#include "minmax.hpp"
#include "packed.hpp"
#include "parallel.hpp"
#include "qparams.hpp"
#include "quantize.hpp"
#include "strided.hpp"
#include "version.hpp"
