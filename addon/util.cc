// Argument checks and system-call errors shared by the other files.
#include "shmrpc.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>

namespace shmrpc {

namespace {

// 2^53 - 1: the largest integer a JS number holds exactly.
constexpr uint64_t kMaxSafeInteger = (uint64_t{1} << 53) - 1;

std::string Describe(uint64_t n) { return std::to_string(n); }

}  // namespace

const char* ErrnoName(int err) {
  // A table rather than strerrorname_np (glibc 2.32+), so the addon still
  // builds on older distributions that Node 20 supports.
  switch (err) {
#define SHMRPC_ERRNO(name) \
  case name:               \
    return #name;
    SHMRPC_ERRNO(EPERM)
    SHMRPC_ERRNO(ENOENT)
    SHMRPC_ERRNO(ESRCH)
    SHMRPC_ERRNO(EINTR)
    SHMRPC_ERRNO(EIO)
    SHMRPC_ERRNO(ENXIO)
    SHMRPC_ERRNO(E2BIG)
    SHMRPC_ERRNO(EBADF)
    SHMRPC_ERRNO(EAGAIN)  // also EWOULDBLOCK
    SHMRPC_ERRNO(ENOMEM)
    SHMRPC_ERRNO(EACCES)
    SHMRPC_ERRNO(EFAULT)
    SHMRPC_ERRNO(EBUSY)
    SHMRPC_ERRNO(EEXIST)
    SHMRPC_ERRNO(EXDEV)
    SHMRPC_ERRNO(ENODEV)
    SHMRPC_ERRNO(ENOTDIR)
    SHMRPC_ERRNO(EISDIR)
    SHMRPC_ERRNO(EINVAL)
    SHMRPC_ERRNO(ENFILE)
    SHMRPC_ERRNO(EMFILE)
    SHMRPC_ERRNO(ETXTBSY)
    SHMRPC_ERRNO(EFBIG)
    SHMRPC_ERRNO(ENOSPC)
    SHMRPC_ERRNO(ESPIPE)
    SHMRPC_ERRNO(EROFS)
    SHMRPC_ERRNO(EMLINK)
    SHMRPC_ERRNO(ERANGE)
    SHMRPC_ERRNO(EDEADLK)
    SHMRPC_ERRNO(ENAMETOOLONG)
    SHMRPC_ERRNO(ENOLCK)
    SHMRPC_ERRNO(ENOSYS)
    SHMRPC_ERRNO(ENOTEMPTY)
    SHMRPC_ERRNO(ELOOP)
    SHMRPC_ERRNO(EOVERFLOW)
    SHMRPC_ERRNO(ENOTSUP)  // also EOPNOTSUPP
    SHMRPC_ERRNO(ETIMEDOUT)
    SHMRPC_ERRNO(ECANCELED)
    SHMRPC_ERRNO(EDQUOT)
    SHMRPC_ERRNO(EPIPE)
    SHMRPC_ERRNO(ENOTSOCK)
    SHMRPC_ERRNO(EPROTOTYPE)
    SHMRPC_ERRNO(EADDRINUSE)
    SHMRPC_ERRNO(EADDRNOTAVAIL)
    SHMRPC_ERRNO(ECONNABORTED)
    SHMRPC_ERRNO(ECONNRESET)
    SHMRPC_ERRNO(ENOBUFS)
    SHMRPC_ERRNO(EISCONN)
    SHMRPC_ERRNO(ENOTCONN)
    SHMRPC_ERRNO(ECONNREFUSED)
    SHMRPC_ERRNO(EMSGSIZE)
#undef SHMRPC_ERRNO
    default:
      return "UNKNOWN";
  }
}

// strerror_r has two signatures: GNU's (glibc) returns the text, which may or may not be
// in buf; XSI's (musl) returns 0 and writes buf. Overloads pick whichever the libc declares.
[[maybe_unused]] static const char* StrerrorText(const char* gnu, const char*) { return gnu; }
[[maybe_unused]] static const char* StrerrorText(int xsi, const char* buf) { return xsi == 0 ? buf : "unknown error"; }

Napi::Error SysError(Napi::Env env, int err, const char* syscall,
                     const std::string& target) {
  char buf[128];
  const char* text = StrerrorText(strerror_r(err, buf, sizeof buf), buf);
  const char* code = ErrnoName(err);
  std::string message = syscall;
  if (!target.empty()) message += "(" + target + ")";
  message += std::string(": ") + code + " (" + text + ")";

  Napi::Error error = Napi::Error::New(env, message);
  Napi::Object obj = error.Value();
  obj.Set("code", code);
  obj.Set("errno", -err);
  obj.Set("syscall", syscall);
  if (!target.empty() && target[0] == '/') obj.Set("path", target);
  return error;
}

napi_value RefValue(napi_env env, napi_ref ref) {
  napi_value value = nullptr;
  if (ref == nullptr || napi_get_reference_value(env, ref, &value) != napi_ok) {
    return nullptr;
  }
  return value;
}

bool CallIntoJs(napi_env env, napi_async_context context, napi_value recv,
                napi_value fn, size_t argc, const napi_value* argv) {
  if (recv == nullptr || fn == nullptr) return false;
  napi_value result;
  napi_status status =
      context != nullptr
          ? napi_make_callback(env, context, recv, fn, argc, argv, &result)
          : napi_call_function(env, recv, fn, argc, argv, &result);
  if (status == napi_ok) return true;
  // The callback threw, or JS cannot run any more (then nothing is pending,
  // or only V8's termination exception, which is not an Error object).
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
    napi_value exception = nullptr;
    if (napi_get_and_clear_last_exception(env, &exception) == napi_ok &&
        exception != nullptr) {
      // Makes it an uncaught exception (Node 20 would only warn about one
      // left pending in a thread-safe function's callback). Its status is
      // not an error to report: while the environment is torn down
      // napi_fatal_exception refuses to run JS and does nothing, which is
      // what is wanted for an exception nobody can handle any more.
      napi_fatal_exception(env, exception);
    }
  }
  return false;
}

uint64_t ArgUInt(const Napi::CallbackInfo& info, size_t i, const char* what,
                 uint64_t max) {
  Napi::Env env = info.Env();
  if (!info[i].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (max > kMaxSafeInteger) max = kMaxSafeInteger;
  if (!(d >= 0) || d != std::floor(d) || d > static_cast<double>(max)) {
    throw Napi::RangeError::New(env, std::string(what) +
                                         " must be an integer from 0 to " +
                                         Describe(max));
  }
  return static_cast<uint64_t>(d);
}

int ArgFd(const Napi::CallbackInfo& info, size_t i) {
  return static_cast<int>(ArgUInt(info, i, "fd", INT_MAX));
}

uint32_t ArgU32(const Napi::CallbackInfo& info, size_t i, const char* what) {
  Napi::Env env = info.Env();
  if (!info[i].IsNumber()) {
    throw Napi::TypeError::New(env, std::string(what) + " must be a number");
  }
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (!(d >= -2147483648.0 && d <= 4294967295.0) || d != std::floor(d)) {
    throw Napi::RangeError::New(
        env, std::string(what) + " must be an integer from -2^31 to 2^32-1");
  }
  return static_cast<uint32_t>(static_cast<int64_t>(d));
}

double ArgTimeoutMs(const Napi::CallbackInfo& info, size_t i) {
  if (info[i].IsUndefined()) return -1;
  if (!info[i].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), "timeoutMs must be a number");
  }
  return info[i].As<Napi::Number>().DoubleValue();
}

MemView ArgMem(const Napi::CallbackInfo& info, size_t i, bool require_shared) {
  Napi::Env env = info.Env();
  napi_value value = info[i];
  bool is_typedarray = false;
  NAPI_THROW_IF_FAILED(env, napi_is_typedarray(env, value, &is_typedarray),
                       MemView{});
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  size_t byte_offset = 0;
  if (is_typedarray) {
    NAPI_THROW_IF_FAILED(
        env,
        napi_get_typedarray_info(env, value, &type, &length, &data,
                                 require_shared ? &buffer : nullptr,
                                 &byte_offset),
        MemView{});
  }
  if (!is_typedarray || type != napi_uint8_array) {
    throw Napi::TypeError::New(env, "mem must be a Uint8Array");
  }
  if (require_shared) {
    // napi_is_arraybuffer is false for a SharedArrayBuffer. A non-shared
    // WebAssembly.Memory may be moved by memory.grow, losing the mapping.
    bool is_plain = false;
    NAPI_THROW_IF_FAILED(env, napi_is_arraybuffer(env, buffer, &is_plain),
                         MemView{});
    if (is_plain) {
      throw Napi::TypeError::New(
          env,
          "mem must be a view of a SharedArrayBuffer (a shared "
          "WebAssembly.Memory)");
    }
  }
  // data points at the view's first byte; step back to the buffer's start.
  uint8_t* base = static_cast<uint8_t*>(data) - byte_offset;
  return MemView{base, byte_offset, byte_offset + length};
}

uint8_t* MemRegion(Napi::Env env, const MemView& mem, uint64_t offset,
                   uint64_t length) {
  const uint64_t page = PageSize();
  if (length == 0 || offset % page != 0 || length % page != 0) {
    throw Napi::RangeError::New(
        env, "offset and length must be multiples of the page size (" +
                 Describe(page) + ") and length must be > 0 (got offset " +
                 Describe(offset) + ", length " + Describe(length) + ")");
  }
  if (offset < mem.begin || offset > mem.end || length > mem.end - offset) {
    throw Napi::RangeError::New(
        env, "the region [" + Describe(offset) + ", " +
                 Describe(offset + length) + ") is outside mem [" +
                 Describe(mem.begin) + ", " + Describe(mem.end) + ")");
  }
  if (reinterpret_cast<uintptr_t>(mem.base) % page != 0) {
    throw Napi::RangeError::New(env, "mem's buffer is not page-aligned");
  }
  return mem.base + offset;
}

uint32_t* MemWord(Napi::Env env, const MemView& mem, uint64_t offset) {
  if (offset < mem.begin || offset > mem.end || mem.end - offset < 4) {
    throw Napi::RangeError::New(env, "offset " + Describe(offset) +
                                         " is outside mem [" +
                                         Describe(mem.begin) + ", " +
                                         Describe(mem.end) + ")");
  }
  uint8_t* p = mem.base + offset;
  if (reinterpret_cast<uintptr_t>(p) % 4 != 0) {
    throw Napi::RangeError::New(
        env, "offset " + Describe(offset) + " is not 4-byte aligned");
  }
  return reinterpret_cast<uint32_t*>(p);
}

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

}  // namespace shmrpc
