// Shared-memory objects: create, open, unlink, link, list, lock, and mapping
// them into (and out of) a WebAssembly.Memory.
#include "shmrpc.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include <cerrno>
#include <climits>
#include <cstring>
#include <set>

namespace shmrpc {

namespace {

// glibc's shm_open works on this directory; link and list need it by path.
constexpr const char kShmDir[] = "/dev/shm";

// The fds this environment (main thread or worker) opened and has not closed.
// A worker may be terminated without running JS exit handlers; closing its fds
// then drops its liveness locks, so the peers notice it is gone.
using OpenFds = std::set<int>;

OpenFds& Fds(const Napi::CallbackInfo& info) {
  return *static_cast<OpenFds*>(info.Data());
}

void CloseAll(void* data) {
  auto* fds = static_cast<OpenFds*>(data);
  for (int fd : *fds) close(fd);
  delete fds;
}

// shmCreate(name, size, mode = 0o600): number (fd)
Napi::Value ShmCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgShmName(info, 0, "name");
  uint64_t size = ArgUInt(info, 1, "size", INT64_MAX);
  mode_t mode = 0600;
  if (!info[2].IsUndefined()) {
    mode = static_cast<mode_t>(ArgUInt(info, 2, "mode", 0777));
  }

  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) throw SysError(env, errno, "shm_open", name);

  // shm_open applied the umask; fchmod sets exactly the mode asked for.
  const char* failed = nullptr;
  if (fchmod(fd, mode) != 0) {
    failed = "fchmod";
  } else if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    failed = "ftruncate";
  }
  if (failed != nullptr) {
    int err = errno;
    close(fd);
    shm_unlink(name.c_str());  // we created it: leave nothing half-made
    throw SysError(env, err, failed, name);
  }
  Fds(info).insert(fd);
  return Napi::Number::New(env, fd);
}

// shmOpen(name): { fd, size }
Napi::Value ShmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgShmName(info, 0, "name");

  int fd = shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) throw SysError(env, errno, "shm_open", name);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    throw SysError(env, err, "fstat", name);
  }
  Napi::Object result = Napi::Object::New(env);
  Fds(info).insert(fd);
  result.Set("fd", Napi::Number::New(env, fd));
  result.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  // Who created it: the kernel's word, which a peer cannot forge.
  result.Set("uid", Napi::Number::New(env, st.st_uid));
  result.Set("gid", Napi::Number::New(env, st.st_gid));
  return result;
}

// The binary form of a POSIX access ACL (linux/posix_acl_xattr.h).
constexpr uint32_t kAclVersion = 2;
constexpr uint16_t kAclUserObj = 0x01, kAclUser = 0x02, kAclGroupObj = 0x04,
                   kAclGroup = 0x08, kAclMask = 0x10, kAclOther = 0x20;
constexpr uint16_t kAclReadWrite = 6;
constexpr uint32_t kAclNoId = UINT32_MAX;

struct AclEntry {
  uint16_t tag;
  uint16_t perm;
  uint32_t id;
};

std::vector<uint32_t> ArgIds(const Napi::CallbackInfo& info, size_t i,
                             const char* what) {
  if (!info[i].IsArray()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be an array");
  }
  Napi::Array array = info[i].As<Napi::Array>();
  std::vector<uint32_t> ids;
  for (uint32_t k = 0; k < array.Length(); k++) {
    Napi::Value v = array.Get(k);
    double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0 && d < kAclNoId) || d != static_cast<uint32_t>(d)) {
      throw Napi::TypeError::New(info.Env(), std::string(what) + " must hold uids/gids");
    }
    ids.push_back(static_cast<uint32_t>(d));
  }
  std::sort(ids.begin(), ids.end());  // the kernel wants entries sorted, ids unique
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

// grantAccess(fd, uids, gids): the owner and the given users and groups may
// read and write the object, nobody else (an access ACL; mode 0600 alone
// cannot name another user). Throws ENOTSUP/EOPNOTSUPP where the file system
// has no ACLs.
Napi::Value GrantAccess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = static_cast<int>(ArgUInt(info, 0, "fd", INT_MAX));
  std::vector<uint32_t> uids = ArgIds(info, 1, "uids");
  std::vector<uint32_t> gids = ArgIds(info, 2, "gids");
  std::vector<AclEntry> acl;
  acl.push_back({kAclUserObj, kAclReadWrite, kAclNoId});
  for (uint32_t uid : uids) acl.push_back({kAclUser, kAclReadWrite, uid});
  acl.push_back({kAclGroupObj, 0, kAclNoId});
  for (uint32_t gid : gids) acl.push_back({kAclGroup, kAclReadWrite, gid});
  acl.push_back({kAclMask, kAclReadWrite, kAclNoId});
  acl.push_back({kAclOther, 0, kAclNoId});

  std::vector<uint8_t> xattr(4 + 8 * acl.size());
  uint32_t version = kAclVersion;  // little-endian on every target we build for
  memcpy(xattr.data(), &version, 4);
  for (size_t k = 0; k < acl.size(); k++) memcpy(xattr.data() + 4 + 8 * k, &acl[k], 8);
  if (fsetxattr(fd, "system.posix_acl_access", xattr.data(), xattr.size(), 0) != 0) {
    throw SysError(env, errno, "fsetxattr", "fd " + std::to_string(fd));
  }
  return env.Undefined();
}

// shmUnlink(name): boolean (false if there was no such object)
Napi::Value ShmUnlink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = ArgShmName(info, 0, "name");
  if (shm_unlink(name.c_str()) == 0) return Napi::Boolean::New(env, true);
  if (errno == ENOENT) return Napi::Boolean::New(env, false);
  throw SysError(env, errno, "shm_unlink", name);
}

// shmLink(from, to): publishes a fully initialised object under a second
// name in one step: link(2) never replaces an existing name (EEXIST).
Napi::Value ShmLink(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string from = ArgShmName(info, 0, "from");
  std::string to = ArgShmName(info, 1, "to");
  std::string from_path = kShmDir + from;
  std::string to_path = kShmDir + to;
  if (link(from_path.c_str(), to_path.c_str()) != 0) {
    // Like fs.link's errors: path is the source, dest the new name.
    Napi::Error error = SysError(env, errno, "link", from + ", " + to);
    error.Value().Set("path", from);
    error.Value().Set("dest", to);
    throw error;
  }
  return env.Undefined();
}

// shmList(prefix): names ("/...") in /dev/shm that start with prefix.
Napi::Value ShmList(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    throw Napi::TypeError::New(env, "prefix must be a string");
  }
  std::string prefix = info[0].As<Napi::String>().Utf8Value();
  if (prefix.empty() || prefix[0] != '/' ||
      prefix.find('/', 1) != std::string::npos) {
    throw Napi::TypeError::New(
        env, "prefix must start with '/' and contain no other '/'");
  }
  std::string bare = prefix.substr(1);

  DIR* dir = opendir(kShmDir);
  if (dir == nullptr) throw SysError(env, errno, "opendir", kShmDir);
  Napi::Array names = Napi::Array::New(env);
  uint32_t count = 0;
  for (;;) {
    errno = 0;
    struct dirent* entry = readdir(dir);
    if (entry == nullptr) break;
    const char* n = entry->d_name;
    if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0) continue;
    if (strncmp(n, bare.c_str(), bare.size()) != 0) continue;
    names.Set(count++, Napi::String::New(env, std::string("/") + n));
  }
  int err = errno;
  closedir(dir);
  if (err != 0) throw SysError(env, err, "readdir", kShmDir);
  return names;
}

// Liveness locks. An open-file-description lock (F_OFD_SETLK) belongs to one
// open of the object and dies with it, even on SIGKILL, so it marks a live
// owner; unlike flock, F_OFD_GETLK can test another's lock without taking it.
static struct flock WholeFile(short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;  // to the end, however large
  return fl;
}

// lock(fd): boolean. Takes the write lock through this open; false if another
// open holds it.
Napi::Value Lock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  struct flock fl = WholeFile(F_WRLCK);
  int rc;
  do {
    rc = fcntl(fd, F_OFD_SETLK, &fl);
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) return Napi::Boolean::New(env, true);
  if (errno == EAGAIN || errno == EACCES) return Napi::Boolean::New(env, false);
  throw SysError(env, errno, "fcntl(F_OFD_SETLK)", "fd " + std::to_string(fd));
}

// isLocked(fd): boolean. True when another open holds the lock (ours never
// conflicts with itself).
Napi::Value IsLocked(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  struct flock fl = WholeFile(F_WRLCK);
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
    throw SysError(env, errno, "fcntl(F_OFD_GETLK)", "fd " + std::to_string(fd));
  }
  return Napi::Boolean::New(env, fl.l_type != F_UNLCK);
}

// closeFd(fd)
Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  Fds(info).erase(fd);
  // On Linux the fd is released even when close reports EINTR: no retry.
  if (close(fd) != 0 && errno != EINTR) {
    throw SysError(env, errno, "close", "fd " + std::to_string(fd));
  }
  return env.Undefined();
}

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

void InitSegment(Napi::Env env, Napi::Object exports) {
  auto* fds = new OpenFds();
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, CloseAll, fds));
  exports.Set("shmCreate", Napi::Function::New(env, ShmCreate, "shmCreate", fds));
  exports.Set("shmOpen", Napi::Function::New(env, ShmOpen, "shmOpen", fds));
  exports.Set("grantAccess", Napi::Function::New(env, GrantAccess, "grantAccess"));
  exports.Set("shmUnlink", Napi::Function::New(env, ShmUnlink, "shmUnlink"));
  exports.Set("shmLink", Napi::Function::New(env, ShmLink, "shmLink"));
  exports.Set("shmList", Napi::Function::New(env, ShmList, "shmList"));
  exports.Set("lock", Napi::Function::New(env, Lock, "lock"));
  exports.Set("isLocked", Napi::Function::New(env, IsLocked, "isLocked"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd", fds));
  exports.Set("mapShared", Napi::Function::New(env, MapShared, "mapShared"));
  exports.Set("unmapShared",
              Napi::Function::New(env, UnmapShared, "unmapShared"));
}

}  // namespace shmrpc
