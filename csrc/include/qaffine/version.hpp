// qaffine/version.hpp — the library version (kept equal to the Python package's by the build).
#pragma once

#define QAFFINE_VERSION_MAJOR 0
#define QAFFINE_VERSION_MINOR 1
#define QAFFINE_VERSION_PATCH 0

namespace qaffine {
constexpr const char* version = "0.1.0";
}  // namespace qaffine
