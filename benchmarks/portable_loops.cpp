// The scalar level's portable loops against AVX2, in one binary: one thread, 1e6 float32, best of 200 runs.
// The scalar level is compiled with no target attribute (SSE2 on x86-64), as a build without SIMD levels is.
//
//   g++ -std=c++17 -O3 -Icsrc/include benchmarks/portable_loops.cpp -o /tmp/portable_loops -pthread && /tmp/portable_loops
//
// Prints microseconds per call at each level and their ratio, and whether the codes are identical.
#include <qaffine/qaffine.hpp>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>
#include <algorithm>
template <class F> double best(F f) { double b = 1e9; for (int r = 0; r < 200; ++r) { auto t = std::chrono::steady_clock::now(); f(); b = std::min(b, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count()); } return b; }
int main() {
  if (!qaffine::is_supported(qaffine::simd_level::avx2)) { std::printf("needs an AVX2 CPU\n"); return 0; }
  qaffine::set_num_threads(1);
  const std::size_t n = 1000000; std::vector<float> x(n), y(n); std::mt19937 g(1); std::normal_distribution<float> d;
  for (auto& v : x) v = d(g);
  std::vector<unsigned char> q(n), q2(n);
  std::printf("%-12s %10s %10s %10s\n", "us, 1e6", "scalar", "avx2", "ratio");
  double t[2][4];
  for (int li = 0; li < 2; ++li) {
    auto lv = li == 0 ? qaffine::simd_level::scalar : qaffine::simd_level::avx2;
    t[li][0] = best([&] { volatile float s = qaffine::minmax(x.data(), n, lv).lo; (void)s; });
    t[li][1] = best([&] { qaffine::quantize_dynamic(x.data(), n, (li ? q2 : q).data(), 0, 255, lv); });
    t[li][3] = best([&] { qaffine::quantize_run(x.data(), n, 0.02f, 128, 0, 255, (li ? q2 : q).data(), lv); });
    t[li][2] = best([&] { qaffine::dequantize(q.data(), n, qaffine::qparams{0.02f, 128, 0, 255}, y.data(), lv); });
  }
  const char* names[4] = {"minmax", "dynamic", "dequantize", "codes"};
  for (int k = 0; k < 4; ++k) std::printf("%-12s %10.1f %10.1f %10.2f\n", names[k], t[0][k], t[1][k], t[0][k] / t[1][k]);
  std::printf("codes identical: %d\n", int(q == q2));
}
