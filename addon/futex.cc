// Cross-process futex wait and wake on 32-bit words of a WebAssembly.Memory.
// Atomics.wait/notify only reach threads of this process (V8 keeps its own
// wait lists), so processes sharing a segment need the kernel's futex.
#include "shmrpc.h"

#include <malloc.h>
#include <sched.h>

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449  // same number on every architecture
#endif

namespace shmrpc {

namespace {

// Timeouts this long (about 31 years) or longer are "forever": it keeps the
// nanosecond arithmetic below far from overflow.
constexpr double kForeverMs = 1e12;

long Futex(void* addr, int op, uint32_t val, const timespec* ts,
           uint32_t val3) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, val3);
}

bool ProbeFutexWaitv() {
  const char* off = getenv("SHMRPC_NO_FUTEX_WAITV");
  if (off != nullptr && off[0] != '\0' && strcmp(off, "0") != 0) return false;
  // Zero futexes is invalid: EINVAL means the call exists. ENOSYS (old
  // kernel) or EPERM (a seccomp filter) means it does not.
  long rc = syscall(SYS_futex_waitv, nullptr, 0, 0, nullptr, CLOCK_MONOTONIC);
  return rc == -1 && errno == EINVAL;
}

Napi::Value FutexWaitJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemView mem = ArgMem(info, 0, false);
  uint64_t offset = ArgUInt(info, 1, "offset", UINT64_MAX);
  uint32_t expected = ArgU32(info, 2, "expected");
  double timeout_ms = ArgTimeoutMs(info, 3);
  uint32_t* word = MemWord(env, mem, offset);

  timespec deadline;
  bool timed = DeadlineAfter(timeout_ms, &deadline);
  int err = 0;
  WaitResult r =
      FutexWaitUntil(word, expected, timed ? &deadline : nullptr, nullptr, &err);
  if (r == WaitResult::kError) throw SysError(env, err, "futex");
  return Napi::Number::New(env, static_cast<int>(r));
}

Napi::Value FutexWakeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemView mem = ArgMem(info, 0, false);
  uint64_t offset = ArgUInt(info, 1, "offset", UINT64_MAX);
  int count = INT_MAX;
  // Infinity (or anything above INT_MAX) wakes everyone.
  if (!(info[2].IsNumber() &&
        info[2].As<Napi::Number>().DoubleValue() >= double{INT_MAX})) {
    count = static_cast<int>(ArgUInt(info, 2, "count", INT_MAX));
  }
  uint32_t* word = MemWord(env, mem, offset);
  long woken = FutexWake(word, count);
  if (woken < 0) throw SysError(env, static_cast<int>(-woken), "futex");
  return Napi::Number::New(env, static_cast<double>(woken));
}

Napi::Value PageSizeJs(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(PageSize()));
}

}  // namespace

bool DeadlineAfter(double timeout_ms, timespec* deadline) {
  if (!(timeout_ms >= 0) || timeout_ms >= kForeverMs) return false;
  clock_gettime(CLOCK_MONOTONIC, deadline);
  int64_t ns = static_cast<int64_t>(timeout_ms * 1e6);
  deadline->tv_sec += static_cast<time_t>(ns / 1000000000);
  deadline->tv_nsec += static_cast<long>(ns % 1000000000);
  if (deadline->tv_nsec >= 1000000000) {
    deadline->tv_sec += 1;
    deadline->tv_nsec -= 1000000000;
  }
  return true;
}

WaitResult FutexWaitUntil(uint32_t* word, uint32_t expected,
                          const timespec* deadline,
                          const std::atomic<bool>* cancelled, int* err) {
  for (;;) {
    if (cancelled != nullptr && cancelled->load(std::memory_order_acquire)) {
      return WaitResult::kCancelled;
    }
    // FUTEX_WAIT_BITSET is FUTEX_WAIT with an absolute CLOCK_MONOTONIC
    // deadline, so a retry after EINTR keeps the original deadline. A
    // deadline already past still reports EAGAIN first if the word differs.
    long rc = Futex(word, FUTEX_WAIT_BITSET, expected, deadline,
                    FUTEX_BITSET_MATCH_ANY);
    if (rc == 0) return WaitResult::kWoken;
    switch (errno) {
      case EAGAIN:
        return WaitResult::kNotEqual;
      case ETIMEDOUT:
        return WaitResult::kTimedOut;
      case EINTR:
        continue;
      default:
        *err = errno;
        return WaitResult::kError;
    }
  }
}

bool HaveFutexWaitv() {
  // A function-local static: probed once per process, thread-safe.
  static const bool have = ProbeFutexWaitv();
  return have;
}

long FutexWake(uint32_t* word, int count) {
  long rc = Futex(word, FUTEX_WAKE, static_cast<uint32_t>(count), nullptr, 0);
  return rc < 0 ? -errno : rc;
}

void FutexWakePrivate(std::atomic<uint32_t>* word, int count) {
  Futex(word, FUTEX_WAKE_PRIVATE, static_cast<uint32_t>(count), nullptr, 0);
}

// yieldCpu(): gives the CPU to another runnable thread on it, if any. A spinning
// side calls it so that a peer sharing its core gets to answer (pure spinning
// there costs the peer's whole time slice, milliseconds).
Napi::Value YieldCpuJs(const Napi::CallbackInfo& info) {
  sched_yield();
  return info.Env().Undefined();
}

// keepFreedMemory(): glibc's malloc serves blocks of up to 32 MiB from its heap and
// keeps up to 64 MiB free at the heap's top, instead of mmap-ing each big block and
// giving it back when freed. A decoded 1 MiB Buffer is such a block: by default every
// message paid a page fault per 4 KiB page (about 190 per 1 MiB echo on each side).
// Returns false where there is no glibc malloc to tune.
Napi::Value KeepFreedMemoryJs(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  bool ok = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// haveFutexWaitv(): whether Waiters share futex_waitv threads (see waiter.cc)
// or each has one of its own (the fallback).
Napi::Value HaveFutexWaitvJs(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), HaveFutexWaitv());
}

void InitFutex(Napi::Env env, Napi::Object exports) {
  exports.Set("haveFutexWaitv", Napi::Function::New(env, HaveFutexWaitvJs, "haveFutexWaitv"));
  exports.Set("keepFreedMemory", Napi::Function::New(env, KeepFreedMemoryJs, "keepFreedMemory"));
  exports.Set("yieldCpu", Napi::Function::New(env, YieldCpuJs, "yieldCpu"));
  exports.Set("futexWait", Napi::Function::New(env, FutexWaitJs, "futexWait"));
  exports.Set("futexWake", Napi::Function::New(env, FutexWakeJs, "futexWake"));
  exports.Set("pageSize", Napi::Function::New(env, PageSizeJs, "pageSize"));
}

}  // namespace shmrpc
