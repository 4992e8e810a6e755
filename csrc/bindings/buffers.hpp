// Output buffers of large results, reused across calls.
//
// A fresh multi-megabyte NumPy array costs a page fault and the kernel zeroing every page on first touch:
// 2 ms for a 40 MB result on this project's machine, twice the kernel's own time. ONNX Runtime avoids it
// with its arena; qaffine keeps the buffers of large results that Python has dropped and hands them out
// again to the next result of a similar size, already mapped. Rules:
//   * only results of at least `min_bytes` (4 MiB) come from here; smaller ones are plain np.empty;
//   * at most `limit` bytes are kept (default 1 GiB; QAFFINE_BUFFER_CACHE_MB, qaffine.set_buffer_cache);
//     a block unused for `idle_seconds` (10 s) is returned to the system at the next allocation or release;
//   * a block is reused only for requests between 3/4 of its size and its size;
//   * blocks are 2 MiB-aligned and advised for transparent huge pages (MADV_HUGEPAGE) on Linux.
// Every function is called with the GIL held (array creation and the capsule destructor), so the GIL
// orders them; the mutex only guards against a future free-threaded build. A forked child inherits the
// kept blocks and may reuse them, which is safe: they are its own copies.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <mutex>
#include <new>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace qaffine_py {

class buffer_cache {
   public:
    static constexpr std::size_t min_bytes = std::size_t(4) << 20;
    static constexpr std::size_t align = std::size_t(2) << 20;
    static constexpr double idle_seconds = 10.0;

    static buffer_cache& instance() {
        static buffer_cache* c = new buffer_cache();  // never destroyed: capsules may outlive static teardown
        return *c;
    }

    /// A block of at least `bytes` bytes (its capacity in `capacity`); throws std::bad_alloc.
    void* acquire(std::size_t bytes, std::size_t& capacity) {
        const std::size_t cap = (bytes + align - 1) / align * align;
        std::vector<void*> drop;
        void* reused = nullptr;
        {
            std::lock_guard<std::mutex> lock(m_);
            trim_idle(now(), drop);
            std::size_t best = free_.size();
            for (std::size_t i = 0; i < free_.size(); ++i) {
                const std::size_t c = free_[i].capacity;
                if (c >= cap && cap >= c / 4 * 3 && (best == free_.size() || c < free_[best].capacity)) best = i;
            }
            if (best != free_.size()) {
                reused = free_[best].data;
                capacity = free_[best].capacity;
                held_ -= capacity;
                free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
            }
        }
        release_all(drop);
        if (reused != nullptr) return reused;
        void* p = std::aligned_alloc(align, cap);
        if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
        (void)madvise(p, cap, MADV_HUGEPAGE);
#endif
        capacity = cap;
        return p;
    }

    /// Gives a block back: kept if the limit allows (oldest blocks go first), else freed.
    void release(void* p, std::size_t capacity) noexcept {
        std::vector<void*> drop;
        {
            std::lock_guard<std::mutex> lock(m_);
            const double t = now();
            trim_idle(t, drop);
            if (capacity <= limit_) {
                free_.push_back(block{p, capacity, t});
                held_ += capacity;
                evict_to_limit(drop);
            } else {
                drop.push_back(p);
            }
        }
        release_all(drop);
    }

    /// Sets the most bytes kept (0: keep nothing, and free what is kept); returns the previous limit.
    std::size_t set_limit(std::size_t bytes) noexcept {
        std::vector<void*> drop;
        std::size_t old;
        {
            std::lock_guard<std::mutex> lock(m_);
            old = limit_;
            limit_ = bytes;
            evict_to_limit(drop);
        }
        release_all(drop);
        return old;
    }

    std::size_t held() {
        std::lock_guard<std::mutex> lock(m_);
        return held_;
    }

   private:
    struct block {
        void* data;
        std::size_t capacity;
        double released;
    };

    buffer_cache() {
        const char* env = std::getenv("QAFFINE_BUFFER_CACHE_MB");
        if (env != nullptr && *env != '\0') {
            char* end = nullptr;
            const unsigned long long mb = std::strtoull(env, &end, 10);
            if (end != nullptr && *end == '\0') limit_ = static_cast<std::size_t>(mb) << 20;
        }
    }

    static double now() {
        return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
    }

    static void release_all(const std::vector<void*>& blocks) noexcept {
        for (void* d : blocks) std::free(d);
    }

    // Moves the oldest blocks into `drop` until at most limit_ bytes are kept. Caller holds m_.
    void evict_to_limit(std::vector<void*>& drop) {
        while (held_ > limit_) {
            held_ -= free_.front().capacity;
            drop.push_back(free_.front().data);
            free_.erase(free_.begin());
        }
    }

    // Moves blocks idle for longer than idle_seconds into `drop` (freed by the caller after unlocking).
    // Caller holds m_.
    void trim_idle(double t, std::vector<void*>& drop) {
        for (std::size_t i = 0; i < free_.size();) {
            if (t - free_[i].released > idle_seconds) {
                held_ -= free_[i].capacity;
                drop.push_back(free_[i].data);
                free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
    }

    std::mutex m_;
    std::vector<block> free_;
    std::size_t held_ = 0;
    std::size_t limit_ = std::size_t(1) << 30;
};

}  // namespace qaffine_py
