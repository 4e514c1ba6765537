// Module entry point. Every export is registered per environment (main
// thread or worker); the addon keeps no per-environment globals.
#include "shmrpc.h"

static Napi::Object InitAll(Napi::Env env, Napi::Object exports) {
  shmrpc::InitMapping(env, exports);
  shmrpc::InitSocket(env, exports);
  shmrpc::InitFutex(env, exports);
  shmrpc::InitWaiter(env, exports);
  shmrpc::InitCopy(env, exports);
  return exports;
}

NODE_API_MODULE(shmrpc, InitAll)
