// Mapping shared memory into (and out of) a WebAssembly.Memory, in place.
#include "shmrpc.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cstring>

namespace shmrpc {

namespace {

// mapShared(mem, offset, length, fd): maps the object's first length bytes
// over mem[offset, offset + length), in place, so WASM code sees it.
Napi::Value MapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemView mem = ArgMem(info, 0, true);
  uint64_t offset = ArgUInt(info, 1, "offset", UINT64_MAX);
  uint64_t length = ArgUInt(info, 2, "length", UINT64_MAX);
  int fd = ArgFd(info, 3);
  uint8_t* target = MemRegion(env, mem, offset, length);

  // Touching a page past the object's end raises SIGBUS, which would kill
  // the process from inside WASM code: refuse such a mapping up front.
  struct stat st;
  if (fstat(fd, &st) != 0) {
    throw SysError(env, errno, "fstat", "fd " + std::to_string(fd));
  }
  if (static_cast<uint64_t>(st.st_size) < length) {
    throw Napi::RangeError::New(
        env, "length " + std::to_string(length) +
                 " is larger than the shared-memory object (" +
                 std::to_string(st.st_size) + " bytes)");
  }

  // MAP_FIXED atomically replaces V8's anonymous pages in the region; the
  // rest of the WASM reservation is untouched.
  void* p = mmap(target, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
                 fd, 0);
  if (p == MAP_FAILED) {
    throw SysError(env, errno, "mmap", "fd " + std::to_string(fd));
  }
  return env.Undefined();
}

// unmapShared(mem, offset, length): puts private zero pages back, so the
// WASM memory never has a hole (a hole would fault in WASM code).
Napi::Value UnmapShared(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemView mem = ArgMem(info, 0, true);
  uint64_t offset = ArgUInt(info, 1, "offset", UINT64_MAX);
  uint64_t length = ArgUInt(info, 2, "length", UINT64_MAX);
  uint8_t* target = MemRegion(env, mem, offset, length);

  void* p = mmap(target, length, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) throw SysError(env, errno, "mmap");
  return env.Undefined();
}

}  // namespace

void InitMapping(Napi::Env env, Napi::Object exports) {
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("unmapShared",
              Napi::Function::New(env, UnmapShared, "unmapShared"));
}

}  // namespace shmrpc
