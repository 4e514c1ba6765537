// copyBytes(): memmove between two Uint8Arrays, either of them a view of the
// WebAssembly memory (a SharedArrayBuffer). V8 copies to and from shared memory
// (TypedArray.prototype.set, Buffer.prototype.copy) with relaxed atomic word
// loads and stores, several times slower than memcpy (here about 3 GB/s against
// 20+); a big binary crosses that boundary once each way, so it goes through here.
// The bytes may be changed by the peer while they are copied: they are data for
// the caller, never read as structure.

#include <cstring>

#include "shmrpc.h"

namespace shmrpc {
namespace {

// copyBytes(src, srcOffset, dst, dstOffset, length): offsets count from the start
// of each view's buffer (WASM addresses for the memory) and both ranges must lie
// inside their views.
Napi::Value CopyBytesJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  MemView src = ArgMem(info, 0, false);
  uint64_t src_offset = ArgUInt(info, 1, "srcOffset", UINT64_MAX);
  MemView dst = ArgMem(info, 2, false);
  uint64_t dst_offset = ArgUInt(info, 3, "dstOffset", UINT64_MAX);
  uint64_t length = ArgUInt(info, 4, "length", UINT64_MAX);
  if (src_offset < src.begin || src_offset > src.end || length > src.end - src_offset ||
      dst_offset < dst.begin || dst_offset > dst.end || length > dst.end - dst_offset) {
    throw Napi::RangeError::New(env, "copyBytes: a range is outside its view");
  }
  if (length != 0) std::memmove(dst.base + dst_offset, src.base + src_offset, length);
  return env.Undefined();
}

}  // namespace

void InitCopy(Napi::Env env, Napi::Object exports) {
  exports.Set("copyBytes", Napi::Function::New(env, CopyBytesJs, "copyBytes"));
}

}  // namespace shmrpc
