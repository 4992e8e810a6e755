// qaffine/ops.hpp — every SIMD level's operations, for the family headers that compile a kernel body once per
// level (foreach_isa.hpp): one include, so that a new level is added here and nowhere else.
#pragma once

#include "ops_avx2.hpp"
#include "ops_avx512.hpp"
#include "ops_neon.hpp"
