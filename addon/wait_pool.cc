// The shared futex_waitv threads of the Waiters (Linux 5.16+). A Waiter used to
// own a thread that slept on its one word, so 50 Clients with calls in flight
// meant 50 threads; futex_waitv sleeps on up to 128 words at once, so here one
// thread serves up to 127 armed Waiters of any environment of the process (its
// 128th word is its own control word, which an arm bumps and wakes so that the
// thread takes the new word into its wait). Threads are made when every one
// is full and then kept (detached; a process holds as many as its peak of
// armed Waiters needs). Without futex_waitv each Waiter keeps a thread of its
// own (waiter.cc).
//
// Teardown: the thread reports an ended wait with WaitTarget::WaitEnded while
// holding the pool's mutex, and PoolDisarm takes that mutex, so once
// PoolDisarm returns the target is never called again: a Waiter disarms before
// it releases its thread-safe function (also from its environment's cleanup
// hook). The words the thread reads itself are those of live arms, whose
// memory their Waiter keeps alive; a word disarmed while the thread sleeps on
// it may go away under the kernel's wait, which then ends with an error or a
// spurious wake-up, never a read of freed memory here.
#include "shmrpc.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // same number on every architecture
#endif

namespace shmrpc {

namespace {

// <linux/futex.h> has these only from Linux 5.16; spelled out so older
// headers build too.
struct WaitvEntry {
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};
constexpr uint32_t kFutex2SizeU32 = 0x02;
constexpr uint32_t kFutex2Private = 128;
constexpr size_t kWaitvMax = 128;                 // the kernel's FUTEX_WAITV_MAX
constexpr size_t kArmsPerThread = kWaitvMax - 1;  // and the control word

struct Arm {
  WaitTarget* target;
  uint32_t* word;
  uint32_t expected;
  bool timed;
  timespec deadline;
  uint64_t gen;
};

struct PoolThread {
  std::vector<Arm> arms;                 // guarded by the pool's mutex
  std::atomic<uint32_t> control{0};      // bumped and woken by PoolArm
};

bool Before(const timespec& a, const timespec& b) {
  return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

// Process-wide and never destroyed: detached threads use it until the process
// ends, and no static destructor may run under them.
struct Pool {
  std::mutex mu;
  std::vector<PoolThread*> threads;
  std::unordered_map<WaitTarget*, PoolThread*> where;  // armed targets
};

Pool& ThePool() {
  static Pool* pool = new Pool();
  return *pool;
}

// Ends arm i of t: drops it and reports it. The pool's mutex is held.
void Finish(Pool& pool, PoolThread* t, size_t i) {
  const Arm arm = t->arms[i];
  t->arms[i] = t->arms.back();
  t->arms.pop_back();
  pool.where.erase(arm.target);
  arm.target->WaitEnded(arm.gen);
}

void ThreadMain(PoolThread* t) {
  Pool& pool = ThePool();
  std::vector<WaitvEntry> entries;
  std::vector<std::pair<WaitTarget*, uint64_t>> waited;  // entries[k + 1]'s arm
  entries.reserve(kWaitvMax);
  waited.reserve(kArmsPerThread);
  std::unique_lock<std::mutex> lock(pool.mu);
  for (;;) {
    // Every arm whose word no longer holds its value or whose deadline has
    // passed ends now (the JS side re-reads the word anyway).
    timespec now{};
    bool have_now = false;
    for (size_t i = 0; i < t->arms.size();) {
      const Arm& arm = t->arms[i];
      bool done = __atomic_load_n(arm.word, __ATOMIC_ACQUIRE) != arm.expected;
      if (!done && arm.timed) {
        if (!have_now) clock_gettime(CLOCK_MONOTONIC, &now);
        have_now = true;
        done = !Before(now, arm.deadline);
      }
      if (done) {
        Finish(pool, t, i);
      } else {
        i++;
      }
    }
    // Snapshot before unlocking: an arm made after it bumps the word, and the
    // kernel, which compares every word before sleeping, returns at once.
    const uint32_t control = t->control.load(std::memory_order_acquire);
    entries.clear();
    waited.clear();
    entries.push_back({control, reinterpret_cast<uintptr_t>(&t->control),
                       kFutex2SizeU32 | kFutex2Private, 0});
    const timespec* deadline = nullptr;
    for (const Arm& arm : t->arms) {
      // Shared (no FUTEX2_PRIVATE): other processes' FUTEX_WAKE reach it.
      entries.push_back({arm.expected, reinterpret_cast<uintptr_t>(arm.word), kFutex2SizeU32, 0});
      waited.emplace_back(arm.target, arm.gen);
      if (arm.timed && (deadline == nullptr || Before(arm.deadline, *deadline))) {
        deadline = &arm.deadline;
      }
    }
    timespec until{};
    if (deadline != nullptr) until = *deadline;  // the arm may change once unlocked
    lock.unlock();
    long rc = syscall(SYS_futex_waitv, entries.data(), entries.size(), 0,
                      deadline != nullptr ? &until : nullptr, CLOCK_MONOTONIC);
    const int err = rc < 0 ? errno : 0;
    lock.lock();
    if (rc >= 1 && static_cast<size_t>(rc) <= waited.size()) {
      // A FUTEX_WAKE on that word: its arm ends even if the value is back.
      const auto [target, gen] = waited[rc - 1];
      for (size_t i = 0; i < t->arms.size(); i++) {
        if (t->arms[i].target == target && t->arms[i].gen == gen) {
          Finish(pool, t, i);
          break;
        }
      }
    } else if (rc < 0 && err != EAGAIN && err != ETIMEDOUT && err != EINTR) {
      // Unexpected (EFAULT: a disarmed word went away under the wait): end
      // every arm rather than spin; their callbacks re-check their words.
      while (!t->arms.empty()) Finish(pool, t, t->arms.size() - 1);
    }
    // rc 0 (the control word), EAGAIN (a word differs), ETIMEDOUT, EINTR: the
    // scan at the top sorts them out.
  }
}

void Kick(PoolThread* t) {
  t->control.fetch_add(1, std::memory_order_acq_rel);
  FutexWakePrivate(&t->control, 1);
}

}  // namespace

void PoolArm(WaitTarget* target, uint32_t* word, uint32_t expected,
             const timespec* deadline, uint64_t gen) {
  Pool& pool = ThePool();
  const Arm arm{target, word, expected, deadline != nullptr,
                deadline != nullptr ? *deadline : timespec{}, gen};
  PoolThread* t = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    auto it = pool.where.find(target);
    if (it != pool.where.end()) {
      t = it->second;  // re-armed: replace its arm on the same thread
      for (Arm& a : t->arms) {
        if (a.target == target) a = arm;
      }
    } else {
      for (PoolThread* candidate : pool.threads) {
        if (candidate->arms.size() < kArmsPerThread) {
          t = candidate;
          break;
        }
      }
      if (t == nullptr) {
        auto* fresh = new PoolThread();
        fresh->arms.reserve(kArmsPerThread);
        try {
          std::thread(ThreadMain, fresh).detach();
        } catch (...) {
          delete fresh;
          throw;  // std::system_error: the caller turns it into a JS error
        }
        pool.threads.push_back(fresh);
        t = fresh;
      }
      t->arms.push_back(arm);
      pool.where.emplace(target, t);
    }
  }
  Kick(t);  // threads are never freed: t outlives the lock
}

void PoolDisarm(WaitTarget* target) {
  Pool& pool = ThePool();
  std::lock_guard<std::mutex> lock(pool.mu);
  auto it = pool.where.find(target);
  if (it == pool.where.end()) return;
  PoolThread* t = it->second;
  pool.where.erase(it);
  for (size_t i = 0; i < t->arms.size(); i++) {
    if (t->arms[i].target == target) {
      t->arms[i] = t->arms.back();
      t->arms.pop_back();
      break;
    }
  }
  // No kick: the thread may sleep on the word a while longer; when it next
  // wakes it leaves it out (a stray wake-up there costs one loop).
}

}  // namespace shmrpc
