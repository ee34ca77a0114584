#ifndef AGENTLOG_SRC_SESSION_STRIPES_H_
#define AGENTLOG_SRC_SESSION_STRIPES_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agentlog/session.h"
#include "agentlog/session_id.h"
#include "echo.h"

namespace agentlog::internal {

// The last few sessions written through one stripe, decoded. Write-through:
// every change to a session is written to RocksDB under its stripe's lock
// and the cached copy changed with it, so under that lock a cached session
// is exactly the stored one and the append path skips a Get and a decode.
// Each entry may also hold the session's echo window, loaded on first use,
// kept in step by completions and dropped with the entry.
//
// Not thread-safe: used only under its stripe's mutex.
class SessionCache {
 public:
  // Small enough that a linear scan of 16-byte ids beats hashing.
  static constexpr size_t kCapacity = 8;

  // The cached session, or nullptr.
  Session* Find(const SessionId& id) {
    for (Entry& e : entries_) {
      if (e.session.id == id) {
        e.used = ++tick_;
        return &e.session;
      }
    }
    return nullptr;
  }

  // Caches `session`, replacing the least recently used entry when full.
  Session* Put(Session session) {
    Entry* slot = nullptr;
    for (Entry& e : entries_) {
      if (e.session.id == session.id) slot = &e;
    }
    if (slot == nullptr && entries_.size() < kCapacity) {
      slot = &entries_.emplace_back();
    }
    if (slot == nullptr) {
      slot = &entries_[0];
      for (Entry& e : entries_) {
        if (e.used < slot->used) slot = &e;
      }
    }
    slot->session = std::move(session);
    slot->echo.reset();
    slot->used = ++tick_;
    return &slot->session;
  }

  // The echo window slot of a cached session (empty until loaded), or
  // nullptr when the session is not cached.
  std::optional<EchoWindow>* Echo(const SessionId& id) {
    for (Entry& e : entries_) {
      if (e.session.id == id) return &e.echo;
    }
    return nullptr;
  }

  void Erase(const SessionId& id) {
    std::erase_if(entries_, [&](const Entry& e) { return e.session.id == id; });
  }

  // Heap bytes of the entries: their sessions' strings and vectors, and
  // their echo windows.
  size_t MemoryBytes() const {
    auto heap = [](const std::string& text) {
      // Short strings live inside the object (libstdc++ keeps 15 bytes).
      return text.capacity() > 15 ? text.capacity() + 1 : 0;
    };
    size_t bytes = entries_.capacity() * sizeof(Entry);
    for (const Entry& e : entries_) {
      const Session& s = e.session;
      bytes += heap(s.agent) + heap(s.model) + heap(s.title) +
               heap(s.metadata) + heap(s.lease.owner) +
               s.tags.capacity() * sizeof(std::string) +
               s.processing_turns.capacity() * sizeof(uint64_t);
      for (const std::string& tag : s.tags) bytes += heap(tag);
      if (e.echo) bytes += e.echo->MemoryBytes();
    }
    return bytes;
  }

 private:
  struct Entry {
    Session session;
    std::optional<EchoWindow> echo;
    uint64_t used = 0;
  };
  std::vector<Entry> entries_;
  uint64_t tick_ = 0;
};

// Serialises writers of one session while writers of different sessions run
// in parallel: a fixed array of stripes indexed by the id's hash, each a
// mutex and the SessionCache it guards. Two sessions may share a stripe;
// that costs parallelism, never correctness. A writer holds its stripe's
// lock across the read-modify-write of the session record and the WAL
// write, which is what makes turn numbering gap-free.
class SessionStripes {
 public:
  struct alignas(64) Stripe {  // Padded: neighbours share no cache line.
    std::mutex mu;
    SessionCache cache;  // Guarded by mu.
    // cache.MemoryBytes() when MemoryBytes() last found mu free.
    std::atomic<size_t> measured{0};
  };

  Stripe& For(const SessionId& id) {
    return stripes_[std::hash<SessionId>()(id) % kStripes];
  }

  // Heap bytes of every stripe's cache (MemoryReport::other). Never waits:
  // a writer may hold a stripe across an fsync, and a stripe that is busy
  // counts as it was when last measured.
  size_t MemoryBytes() {
    size_t bytes = 0;
    for (Stripe& stripe : stripes_) {
      std::unique_lock<std::mutex> lock(stripe.mu, std::try_to_lock);
      if (lock.owns_lock()) {
        stripe.measured.store(stripe.cache.MemoryBytes(),
                              std::memory_order_relaxed);
      }
      bytes += stripe.measured.load(std::memory_order_relaxed);
    }
    return bytes;
  }

 private:
  static constexpr size_t kStripes = 256;
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace agentlog::internal

#endif  // AGENTLOG_SRC_SESSION_STRIPES_H_
