// Shared declarations of the shmrpc addon: argument checks, errno errors and
// the futex primitives. The addon holds no RPC logic: it maps shared
// memory into a WebAssembly.Memory and lets threads and processes sleep on
// and wake 32-bit words in it.
#pragma once

#if !defined(__linux__)
#error "shmrpc's addon needs Linux (futex, memfd, SO_PEERCRED, MAP_FIXED over WebAssembly memory)"
#endif

#include <napi.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>

namespace shmrpc {

// --- errors (util.cc) -------------------------------------------------------

// A JS Error for a failed system call, shaped like Node's own system errors:
// message "syscall(target): ECODE (description)", and err.code, err.errno
// (negative, as in Node and util.getSystemErrorName), err.syscall, and
// err.path when the target is a path.
Napi::Error SysError(Napi::Env env, int err, const char* syscall,
                     const std::string& target = std::string());

// The symbolic name of an errno value ("ENOENT"), or "UNKNOWN".
const char* ErrnoName(int err);

// --- callbacks into JS (util.cc) ---------------------------------------------
//
// Code that runs from the event loop rather than from a JS call (a watcher's
// libuv callback, a thread-safe function's call_js_cb) may run while its
// environment is being torn down (a worker being terminated): JS can no
// longer run, and N-API calls fail with napi_pending_exception or
// napi_cannot_run_js. That is expected there, not fatal. Such code uses the
// raw N-API with its statuses checked, never node-addon-api's wrappers,
// which turn a failed status into a Napi::Error whose construction itself
// aborts the process when no value can be made any more.

// The value a reference holds, or nullptr (collected, cleared, or no ref).
napi_value RefValue(napi_env env, napi_ref ref);

// Calls fn(recv, argv...) from the event loop (napi_make_callback when
// context is given, napi_call_function otherwise). A JS exception becomes an
// uncaught exception, as for any other callback; during teardown the call
// and the exception are dropped. Returns whether the call ran to completion.
bool CallIntoJs(napi_env env, napi_async_context context, napi_value recv,
                napi_value fn, size_t argc, const napi_value* argv);

// --- arguments (util.cc) ----------------------------------------------------

// A non-negative integral JS number no larger than max.
uint64_t ArgUInt(const Napi::CallbackInfo& info, size_t i, const char* what,
                 uint64_t max);

// A file descriptor: an integer in 0..INT_MAX.
int ArgFd(const Napi::CallbackInfo& info, size_t i);

// A futex value: any integer from -2^31 to 2^32-1, taken modulo 2^32, so
// both Uint32Array and Int32Array readings of a word are accepted.
uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what);

// A timeout in milliseconds: a number, possibly fractional. Negative, NaN,
// +Infinity and undefined mean "no timeout".
double ArgTimeoutMs(const Napi::CallbackInfo& info, size_t i);

// A Uint8Array over (usually) a WebAssembly.Memory's SharedArrayBuffer.
// Offsets given to the addon count from the start of the buffer (they are
// WASM addresses); a range must also lie inside the view.
struct MemView {
  uint8_t* base;   // start of the underlying buffer
  uint64_t begin;  // the view's byteOffset
  uint64_t end;    // byteOffset + byteLength
};
MemView ArgMem(const Napi::CallbackInfo& info, size_t i, bool require_shared);

// The page-aligned region [offset, offset + length) of mem, or RangeError.
uint8_t* MemRegion(Napi::Env env, const MemView& mem, uint64_t offset,
                   uint64_t length);

// The 4-byte-aligned 32-bit word at offset in mem, or RangeError.
uint32_t* MemWord(Napi::Env env, const MemView& mem, uint64_t offset);

// The OS page size (4096 on x86-64).
size_t PageSize();

// --- futex (futex.cc) -------------------------------------------------------

enum class WaitResult : int {
  kWoken = 0,      // FUTEX_WAKE (or a spurious wake-up: callers re-check)
  kNotEqual = 1,   // the word did not hold the expected value
  kTimedOut = 2,   // the deadline passed
  kCancelled = 3,  // Waiter only: disarm()/close() cut the wait short
  kError = 4,      // unexpected errno, in *err
};

// Sets *deadline to now + timeout_ms on CLOCK_MONOTONIC and returns true, or
// returns false when the timeout means "wait forever".
bool DeadlineAfter(double timeout_ms, timespec* deadline);

// Sleeps while *word == expected, until woken or the absolute deadline
// (nullptr: none). Never FUTEX_PRIVATE: the word may be in a MAP_SHARED
// mapping that other processes wake. EINTR is retried until the deadline.
// If cancelled is given, it is checked before each (re)try.
WaitResult FutexWaitUntil(uint32_t* word, uint32_t expected,
                          const timespec* deadline,
                          const std::atomic<bool>* cancelled, int* err);

// Whether the kernel has futex_waitv (Linux 5.16+). Probed once; setting
// SHMRPC_NO_FUTEX_WAITV=1 in the environment forces the fallback (for tests).
bool HaveFutexWaitv();

// FUTEX_WAKE (shared); returns the number woken, or -errno.
long FutexWake(uint32_t* word, int count);

// FUTEX_WAKE_PRIVATE, for words only this process sleeps on.
void FutexWakePrivate(std::atomic<uint32_t>* word, int count);

// --- the shared futex_waitv threads (wait_pool.cc) -------------------------

// What a pooled wait reports to: WaitEnded(gen) runs on a pool thread, with
// the pool's lock held, when the wait armed with gen ends (woken, the word
// differs, the deadline passed, or an unexpected error): it must only hand
// the news on (a thread-safe function's non-blocking call), never block.
class WaitTarget {
 public:
  virtual void WaitEnded(uint64_t gen) = 0;

 protected:
  ~WaitTarget() = default;
};

// Arms (or re-arms, replacing the earlier arm) target's wait on *word while
// it equals expected, until deadline (nullptr: none), on a shared thread.
// Only when HaveFutexWaitv(). Throws std::system_error if a thread is needed
// and cannot be started.
void PoolArm(WaitTarget* target, uint32_t* word, uint32_t expected,
             const timespec* deadline, uint64_t gen);

// Drops target's arm, if any. Once this returns, target is not called until
// it is armed again.
void PoolDisarm(WaitTarget* target);

// --- module parts -----------------------------------------------------------

void InitMapping(Napi::Env env, Napi::Object exports);
void InitSocket(Napi::Env env, Napi::Object exports);
void InitFutex(Napi::Env env, Napi::Object exports);
void InitWaiter(Napi::Env env, Napi::Object exports);
void InitCopy(Napi::Env env, Napi::Object exports);

}  // namespace shmrpc
