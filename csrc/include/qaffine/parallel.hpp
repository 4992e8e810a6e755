// qaffine/parallel.hpp — a small persistent thread pool and the multi-threaded forms of the kernels.
//
// set_num_threads(n) / get_num_threads(): how many threads a call may use (the caller included). The
// default is the number of CPUs this process may run on, or QAFFINE_NUM_THREADS if set. Work is split into
// fixed ranges of at least `grain` elements, so small arrays never pay for a wake-up, and every range is
// computed exactly as the single-threaded kernel would: results are byte-identical for any thread count
// (min/max combine exactly; codes are element-wise).
// Thread safety: any number of threads may call these functions at once. One call at a time uses the pool;
// a call that finds it busy runs on its own thread. set_num_threads may be called at any time; it takes
// effect for calls that start after it. No OpenMP: std::thread only.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#include <unistd.h>
#endif

#include "dequantize.hpp"
#include "minmax.hpp"
#include "quantize.hpp"

namespace qaffine {

namespace detail {

inline std::size_t available_cpus() noexcept {
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int count = CPU_COUNT(&set);
        if (count > 0) return static_cast<std::size_t>(count);
    }
#endif
    const unsigned hc = std::thread::hardware_concurrency();
    return hc == 0 ? 1 : hc;
}

inline std::size_t default_threads() noexcept {
    if (const char* env = std::getenv("QAFFINE_NUM_THREADS")) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (end != env && *end == '\0' && v > 0 && v <= 1024) return static_cast<std::size_t>(v);
    }
    return available_cpus();
}

inline std::atomic<std::size_t>& thread_setting() noexcept {
    static std::atomic<std::size_t> n{default_threads()};
    return n;
}

inline void cpu_relax() noexcept {
#if QAFFINE_X86_SIMD
    __builtin_ia32_pause();
#elif QAFFINE_NEON_SIMD
    __asm__ __volatile__("yield");
#endif
}

// Workers spin for a short while after each job (a wake-up through the kernel costs tens of microseconds,
// more than the work of a mid-sized array), then sleep on a condition variable. run() publishes a job by
// bumping `gen_`; each helper claims one of `slots_`, works through the shared task counter and counts
// itself out of `remaining_`; slots nobody claimed are withdrawn when the caller has finished, so a call
// never waits for a sleeping thread to wake up.
class pool {
public:
    static pool& instance() {
        static pool p;
        return p;
    }

    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    ~pool() {
        {
            std::lock_guard<std::mutex> lock(m_);
            stop_.store(true);
        }
        wake_.notify_all();
        for (auto& t : workers_) t.join();
    }

    /// Runs fn(0) .. fn(tasks - 1) on up to `threads` threads (the caller is one of them).
    void run(std::size_t tasks, std::size_t threads, const std::function<void(std::size_t)>& fn) {
        std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
        // Run here when another call holds the pool, or in a forked child (the workers stayed in the parent).
        if (!busy.owns_lock() || threads <= 1 || tasks <= 1 || forked()) {
            for (std::size_t i = 0; i < tasks; ++i) fn(i);
            return;
        }
        const std::size_t helpers = std::min(threads, tasks) - 1;
        while (workers_.size() < helpers) workers_.emplace_back([this] { loop(); });
        fn_ = &fn;
        tasks_ = tasks;
        next_.store(0);
        remaining_.store(helpers);
        slots_.store(helpers);
        {
            std::lock_guard<std::mutex> lock(m_);
            gen_.fetch_add(1);
        }
        wake_.notify_all();
        work();
        // Withdraw the slots no helper has claimed yet: nobody will run them.
        const std::size_t unclaimed = slots_.exchange(0);
        if (unclaimed != 0) remaining_.fetch_sub(unclaimed);
        for (int spin = 0; remaining_.load() != 0; ++spin) {
            if (spin < (1 << 16)) {
                cpu_relax();
                continue;
            }
            std::unique_lock<std::mutex> lock(m_);
            done_.wait(lock, [this] { return remaining_.load() == 0; });
        }
    }

private:
    pool() = default;

#if defined(__linux__)
    const pid_t owner_ = getpid();
    bool forked() const noexcept { return getpid() != owner_; }
#else
    bool forked() const noexcept { return false; }
#endif

    void work() {
        for (std::size_t i = next_.fetch_add(1); i < tasks_; i = next_.fetch_add(1)) (*fn_)(i);
    }

    void loop() {
        std::size_t seen = gen_.load();
        for (;;) {
            for (int spin = 0; spin < (1 << 14) && gen_.load() == seen && !stop_.load(); ++spin) cpu_relax();
            if (gen_.load() == seen && !stop_.load()) {
                std::unique_lock<std::mutex> lock(m_);
                wake_.wait(lock, [&] { return stop_.load() || gen_.load() != seen; });
            }
            if (stop_.load()) return;
            seen = gen_.load();
            std::size_t free = slots_.load();
            while (free != 0 && !slots_.compare_exchange_weak(free, free - 1)) {
            }
            if (free == 0) continue;  // enough helpers already
            work();
            if (remaining_.fetch_sub(1) == 1) {
                std::lock_guard<std::mutex> lock(m_);
                done_.notify_one();
            }
        }
    }

    std::mutex run_mutex_;  // one run() at a time
    std::mutex m_;
    std::condition_variable wake_, done_;
    std::vector<std::thread> workers_;
    const std::function<void(std::size_t)>* fn_ = nullptr;
    std::size_t tasks_ = 0;
    std::atomic<std::size_t> next_{0};
    std::atomic<std::size_t> gen_{0};
    std::atomic<std::size_t> slots_{0};
    std::atomic<std::size_t> remaining_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace detail

/// Threads a call may use (>= 1).
inline std::size_t get_num_threads() noexcept { return detail::thread_setting().load(std::memory_order_relaxed); }

/// Sets the threads a call may use; 0 restores the default (QAFFINE_NUM_THREADS or the available CPUs).
inline void set_num_threads(std::size_t n) noexcept {
    detail::thread_setting().store(n == 0 ? detail::default_threads() : n, std::memory_order_relaxed);
}

/// Below this many elements per thread a call stays on one thread (a wake-up costs more than the work).
constexpr std::size_t parallel_grain = std::size_t(1) << 17;

/// Calls fn(begin, end) over [0, n) in ranges of at least `grain` (aligned to 64 elements), possibly in
/// parallel. The split depends only on n and the thread setting, never on timing.
/// An exception thrown by fn is rethrown in the caller (the first one, if several ranges throw).
template <class F>
inline void parallel_ranges(std::size_t n, F&& fn, std::size_t grain = parallel_grain, std::size_t align = 64) {
    const std::size_t threads = get_num_threads();
    std::size_t parts = std::min(threads, n / (grain == 0 ? 1 : grain));
    if (parts <= 1) {
        fn(std::size_t(0), n);
        return;
    }
    std::size_t step = (n + parts - 1) / parts;
    step = (step + align - 1) / align * align;
    parts = (n + step - 1) / step;
    std::exception_ptr error;
    std::mutex error_mutex;
    const std::function<void(std::size_t)> task = [&](std::size_t i) {
        const std::size_t begin = i * step, end = std::min(n, begin + step);
        try {
            fn(begin, end);
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
        }
    };
    detail::pool::instance().run(parts, threads, task);
    if (error) std::rethrow_exception(error);
}

/// minmax() over several threads; the same result as minmax() for any thread count.
template <class T>
inline minmax_result<T> minmax_parallel(const T* x, std::size_t n, simd_level level = active_level()) {
    if (n < 2 * parallel_grain || get_num_threads() <= 1) return minmax(x, n, level);
    std::mutex m;
    std::vector<minmax_result<T>> found;
    parallel_ranges(n, [&](std::size_t b, std::size_t e) {
        const minmax_result<T> r = minmax(x + b, e - b, level);
        std::lock_guard<std::mutex> lock(m);
        found.push_back(r);
    });
    minmax_result<T> all = minmax_result<T>::empty();
    for (const auto& r : found) all.merge(r);
    return all;
}

/// quantize_run() over several threads. Returns true if x held a NaN.
template <class T, class Q>
inline bool quantize_run_parallel(rounding r, const T* x, std::size_t n, float s, std::int32_t z, std::int32_t qmin,
                                  std::int32_t qmax, Q* out, simd_level level = active_level()) {
    std::atomic<bool> nan{false};
    parallel_ranges(n, [&](std::size_t b, std::size_t e) {
        if (quantize_run(r, x + b, e - b, s, z, qmin, qmax, out + b, level)) nan.store(true);
    });
    return nan.load();
}

/// dequantize_unchecked() over several threads.
template <class Q, class T>
inline void dequantize_parallel(const Q* q, std::size_t n, const qparams& p, T* out,
                                simd_level level = active_level()) {
    parallel_ranges(n, [&](std::size_t b, std::size_t e) { dequantize_unchecked(q + b, e - b, p, out + b, level); });
}

}  // namespace qaffine
