// Waiter: sleeps on a futex word for the JS thread and, when the wait ends,
// calls back into JS through a thread-safe function (which wakes the libuv
// loop). A parked client is woken by its server through this path, so it is
// kept lean: no allocation per arm, no polling.
//
// Where it sleeps. With futex_waitv (Linux 5.16+) the arm goes to one of the
// process's shared waiter threads (wait_pool.cc), each of which sleeps on up
// to 127 Waiters' words at once: 50 Clients with calls in flight take one
// thread, not 50. Without it (or with SHMRPC_NO_FUTEX_WAITV=1) each Waiter
// has a thread of its own, handed its arm with a mutex and condition variable.
//
// Cancellation. disarm(), a replacing arm() and close() take the arm back:
// from the pool at once and exactly; in the fallback the thread must be got
// out of its futex wait by waking every sleeper on the caller's word (futex
// wake-ups may be spurious, so that is allowed), and a wake that lands just
// before the thread enters the kernel is lost, so the code that must see the
// thread idle wakes again until it is. In that fallback the word must stay
// mapped while armed: disarm or close a Waiter before unmapping the page it
// waits on.
//
// Teardown. close(), the finalizer and the environment's cleanup hook all end
// in Shutdown: the arm is taken back (the pool never reports to it again; the
// own thread is joined) before the thread-safe function is aborted, and the
// JS callback runs only through CallIntoJs, which tolerates an environment
// that can no longer run JS.
#include "shmrpc.h"

#include <chrono>
#include <climits>
#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

namespace shmrpc {

namespace {

class Waiter : public Napi::ObjectWrap<Waiter>, public WaitTarget {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit Waiter(const Napi::CallbackInfo& info);
  ~Waiter() override;

  // From a pool thread, with the pool's lock held.
  void WaitEnded(uint64_t gen) override;

 private:
  // One request to the thread. The generation numbers arms on the JS
  // thread; a callback runs only if its arm is still the live one.
  struct Arm {
    uint32_t* word;
    uint32_t expected;
    bool timed;
    timespec deadline;
    uint64_t gen;
  };

  static void CallJs(Napi::Env env, Napi::Function unused, Waiter* self,
                     void* data);
  using Tsfn = Napi::TypedThreadSafeFunction<Waiter, void, CallJs>;

  Napi::Value ArmJs(const Napi::CallbackInfo& info);
  Napi::Value DisarmJs(const Napi::CallbackInfo& info);
  Napi::Value RefJs(const Napi::CallbackInfo& info);
  Napi::Value UnrefJs(const Napi::CallbackInfo& info);
  Napi::Value CloseJs(const Napi::CallbackInfo& info);

  void ThreadMain();
  void Kick();                                // mu_ held
  void WaitIdle(std::unique_lock<std::mutex>& lock);  // mu_ held
  void Shutdown();
  void Pin();
  void Unpin();
  static void CleanupHook(void* arg);

  // JS thread only.
  napi_env env_;
  Tsfn tsfn_;
  Napi::FunctionReference callback_;  // weak: the wrapper holds it strongly
  Napi::Reference<Napi::Value> mem_;  // keeps the armed buffer alive
  bool closed_ = false;
  bool hook_added_ = false;
  bool pinned_ = false;  // the wrapper is strongly referenced while armed
  const bool pooled_ = HaveFutexWaitv();  // else: a thread of its own
  uint64_t next_gen_ = 0;
  uint64_t live_gen_ = 0;  // the arm whose callback may run; 0: none

  // The own thread's (fallback only). Guarded by mu_ (the atomic is also read
  // unlocked).
  std::mutex mu_;
  std::condition_variable request_cv_;  // JS -> thread: arm_ or stop_
  std::condition_variable idle_cv_;     // thread -> JS: busy_ went false
  Arm arm_{};
  bool has_arm_ = false;
  bool stop_ = false;
  bool busy_ = false;           // the thread is inside a wait
  uint32_t* busy_word_ = nullptr;
  std::atomic<bool> cancelled_{false};
  std::thread thread_;
};

Napi::Function Waiter::Define(Napi::Env env) {
  return DefineClass(env, "Waiter",
                     {
                         InstanceMethod<&Waiter::ArmJs>("arm"),
                         InstanceMethod<&Waiter::DisarmJs>("disarm"),
                         InstanceMethod<&Waiter::RefJs>("ref"),
                         InstanceMethod<&Waiter::UnrefJs>("unref"),
                         InstanceMethod<&Waiter::CloseJs>("close"),
                     });
}

Waiter::Waiter(const Napi::CallbackInfo& info)
    : Napi::ObjectWrap<Waiter>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (!info[0].IsFunction()) {
    throw Napi::TypeError::New(env, "callback must be a function");
  }
  Napi::Function callback = info[0].As<Napi::Function>();
  // The callback often closes over its Waiter. Held from a (hidden,
  // symbol-keyed) property of the wrapper, rather than by a strong native
  // reference, that cycle stays collectable and the finalizer can run.
  info.This().As<Napi::Object>().DefineProperty(Napi::PropertyDescriptor::Value(
      Napi::Symbol::New(env, "shmrpc.Waiter.callback"), callback,
      napi_default));
  callback_ = Napi::Weak(callback);

  // No JS function: CallJs finds the callback itself. Unref'd, so an idle
  // Waiter never keeps the process alive.
  tsfn_ = Tsfn::New(env, "shmrpc.Waiter", 0, 1, this);
  tsfn_.Unref(env);
  // Hooks run last-added first, so this one runs before the tsfn's own
  // cleanup hook frees it: the thread is joined while the tsfn still exists.
  NAPI_THROW_IF_FAILED_VOID(env,
                            napi_add_env_cleanup_hook(env, CleanupHook, this));
  hook_added_ = true;
}

Waiter::~Waiter() { Shutdown(); }

void Waiter::CleanupHook(void* arg) {
  Waiter* self = static_cast<Waiter*>(arg);
  self->hook_added_ = false;  // being run: Node drops it itself
  self->Shutdown();
}

// arm(mem, offset, expected, timeoutMs)
Napi::Value Waiter::ArmJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw Napi::Error::New(env, "Waiter is closed");
  MemView mem = ArgMem(info, 0, false);
  uint64_t offset = ArgUInt(info, 1, "offset", UINT64_MAX);
  uint32_t expected = ArgU32(info, 2, "expected");
  double timeout_ms = ArgTimeoutMs(info, 3);
  uint32_t* word = MemWord(env, mem, offset);

  Arm arm{word, expected, false, {}, ++next_gen_};
  arm.timed = DeadlineAfter(timeout_ms, &arm.deadline);
  live_gen_ = arm.gen;  // any earlier arm's callback is now stale
  if (pooled_) {
    try {
      PoolArm(this, word, expected, arm.timed ? &arm.deadline : nullptr, arm.gen);
    } catch (const std::system_error& e) {
      // Not a Napi::Error: it would otherwise terminate the process.
      live_gen_ = 0;
      throw Napi::Error::New(env, std::string("cannot start a waiter thread: ") + e.what());
    }
    // Only now drop the previous buffer: the pool no longer reads its word.
    mem_ = Napi::Persistent(info[0]);
    Pin();
    return env.Undefined();
  }
  {
    std::unique_lock<std::mutex> lock(mu_);
    // Replacing an arm the thread is still waiting on: cancel it and wait
    // until the thread is free (it is woken directly; rarely a retry).
    if (busy_) WaitIdle(lock);
    arm_ = arm;
    has_arm_ = true;
  }
  // Only now drop the previous buffer: the thread no longer touches it.
  mem_ = Napi::Persistent(info[0]);
  Pin();
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread(&Waiter::ThreadMain, this);
    } catch (const std::system_error& e) {
      // Not a Napi::Error: it would otherwise terminate the process.
      live_gen_ = 0;
      Unpin();
      std::lock_guard<std::mutex> lock(mu_);
      has_arm_ = false;
      throw Napi::Error::New(env, std::string("cannot start the Waiter thread: ") + e.what());
    }
  }
  request_cv_.notify_one();
  return env.Undefined();
}

// disarm(): the pending arm's callback will not run. The pool takes the arm
// back at once. The own thread's kick can be lost, and a caller may unmap the
// word right after disarming: a thread still asleep there would sleep on a
// word nobody can wake any more, and the next arm() would kick the new
// mapping in vain forever. So the fallback waits until the thread has left
// its wait.
Napi::Value Waiter::DisarmJs(const Napi::CallbackInfo& info) {
  live_gen_ = 0;
  Unpin();
  if (pooled_) {
    PoolDisarm(this);
    return info.Env().Undefined();
  }
  std::unique_lock<std::mutex> lock(mu_);
  has_arm_ = false;
  if (busy_) WaitIdle(lock);
  return info.Env().Undefined();
}

Napi::Value Waiter::RefJs(const Napi::CallbackInfo& info) {
  if (!closed_) tsfn_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Waiter::UnrefJs(const Napi::CallbackInfo& info) {
  if (!closed_) tsfn_.Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value Waiter::CloseJs(const Napi::CallbackInfo& info) {
  Shutdown();
  return info.Env().Undefined();
}

// Cuts the own thread's current wait short. mu_ held, busy_ true.
void Waiter::Kick() {
  cancelled_.store(true, std::memory_order_release);
  FutexWake(busy_word_, INT_MAX);
}

// Returns once the thread has left its wait. mu_ held.
void Waiter::WaitIdle(std::unique_lock<std::mutex>& lock) {
  while (busy_) {
    Kick();
    // A kick can land just before the thread sleeps, hence the retry.
    idle_cv_.wait_for(lock, std::chrono::milliseconds(1),
                      [this] { return !busy_; });
  }
}

// An armed Waiter is a root, like an active timer: its callback closure is
// often the only path to it, and a ref'd arm must still call back. An idle
// Waiter is unpinned and may be collected; the finalizer then closes it.
// Raw N-API: Unpin also runs at environment teardown, where a failed status
// must not become a (fatal) Napi::Error. Either can only fail on misuse.
void Waiter::Pin() {
  if (!pinned_) {
    napi_reference_ref(env_, *this, nullptr);
    pinned_ = true;
  }
}

void Waiter::Unpin() {
  if (pinned_) {
    pinned_ = false;
    napi_reference_unref(env_, *this, nullptr);
  }
}

void Waiter::Shutdown() {
  if (closed_) return;
  closed_ = true;
  live_gen_ = 0;
  // The pool never calls WaitEnded once this returns (the tsfn is aborted below).
  if (pooled_) PoolDisarm(this);
  {
    std::unique_lock<std::mutex> lock(mu_);
    stop_ = true;
    has_arm_ = false;
    if (busy_) WaitIdle(lock);
  }
  request_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  // Abort: pending calls are dropped (CallJs sees a null env), and no call
  // into JS happens once this returns.
  tsfn_.Abort();
  mem_.Reset();
  callback_.Reset();
  Unpin();  // (never pinned when called by the finalizer)
  if (hook_added_) {
    hook_added_ = false;
    napi_remove_env_cleanup_hook(env_, CleanupHook, this);
  }
}

void Waiter::WaitEnded(uint64_t gen) {
  // The generation travels as the data pointer: nothing is allocated.
  tsfn_.NonBlockingCall(reinterpret_cast<void*>(gen));
}

void Waiter::ThreadMain() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    request_cv_.wait(lock, [this] { return stop_ || has_arm_; });
    if (stop_) return;
    const Arm arm = arm_;
    has_arm_ = false;
    busy_ = true;
    busy_word_ = arm.word;
    cancelled_.store(false, std::memory_order_relaxed);
    lock.unlock();

    // Every outcome (woken, not equal, timed out, even an error) ends the
    // arm and is reported; the JS side re-reads the word anyway.
    int err = 0;
    FutexWaitUntil(arm.word, arm.expected, arm.timed ? &arm.deadline : nullptr, &cancelled_, &err);

    lock.lock();
    busy_ = false;
    const bool report = !cancelled_.load(std::memory_order_relaxed);
    lock.unlock();
    idle_cv_.notify_all();
    // The generation travels as the data pointer: nothing is allocated.
    // Shutdown joins this thread before it releases the tsfn.
    if (report) tsfn_.NonBlockingCall(reinterpret_cast<void*>(arm.gen));
    lock.lock();
  }
}

// On the JS thread (or with a null env while the tsfn is torn down, when
// self may already be gone and must not be touched). It may also run while
// the environment is being torn down: raw N-API only (see CallIntoJs).
void Waiter::CallJs(Napi::Env env, Napi::Function, Waiter* self, void* data) {
  if (static_cast<napi_env>(env) == nullptr || self == nullptr) return;
  const uint64_t gen = reinterpret_cast<uintptr_t>(data);
  if (self->closed_ || gen != self->live_gen_) return;  // disarmed/replaced
  self->live_gen_ = 0;
  // Locals in the tsfn's handle scope keep both alive for the call.
  napi_value callback = RefValue(env, self->callback_);
  napi_value receiver = RefValue(env, *self);
  self->Unpin();
  CallIntoJs(env, nullptr, receiver, callback, 0, nullptr);
}

}  // namespace

void InitWaiter(Napi::Env env, Napi::Object exports) {
  exports.Set("Waiter", Waiter::Define(env));
}

}  // namespace shmrpc
