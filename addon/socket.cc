// Connections: Unix sequenced-packet sockets (listen, accept, connect, send
// and receive with file descriptors, the peer's credentials from the kernel),
// sealed memfds for the shared memory of a connection, a liveness lock on a
// file, and FdWatcher, which runs a JS callback from the event loop when an
// fd becomes readable or its peer hangs up. No RPC logic: the handshake's
// messages are built and checked in TypeScript.
//
// Every fd made here is non-blocking and close-on-exec, and is tracked per
// environment (main thread or worker) so that a terminated worker's fds are
// closed, which is how its peers learn that it is gone.
#include "shmrpc.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <set>
#include <vector>

namespace shmrpc {

namespace {

using OpenFds = std::set<int>;

OpenFds& Fds(const Napi::CallbackInfo& info) {
  return *static_cast<OpenFds*>(info.Data());
}

void CloseAll(void* data) {
  auto* fds = static_cast<OpenFds*>(data);
  for (int fd : *fds) close(fd);
  delete fds;
}

// Most fds a received message may carry; more are closed and reported.
constexpr int kMaxFds = 4;

// Calls fn with each fd a received message carried (SCM_RIGHTS), now open here.
template <typename Fn>
void ForEachPassedFd(msghdr& msg, Fn fn) {
  for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm != nullptr; cm = CMSG_NXTHDR(&msg, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
    size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t j = 0; j < k; j++) {
      int got;
      memcpy(&got, CMSG_DATA(cm) + j * sizeof(int), sizeof got);
      fn(got);
    }
  }
}

std::string ArgPath(const Napi::CallbackInfo& info, size_t i, sockaddr_un* addr) {
  if (!info[i].IsString()) {
    throw Napi::TypeError::New(info.Env(), "path must be a string");
  }
  std::string path = info[i].As<Napi::String>().Utf8Value();
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr->sun_path ||
      path.find('\0') != std::string::npos) {
    throw Napi::RangeError::New(
        info.Env(), "socket path must be 1 to " +
                        std::to_string(sizeof addr->sun_path - 1) + " bytes: " + path);
  }
  memcpy(addr->sun_path, path.data(), path.size());
  return path;
}

int NewSocket(Napi::Env env) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw SysError(env, errno, "socket");
  return fd;
}

// listenUnix(path, backlog, mode): fd. Binds a new socket at path (which must
// not exist: EADDRINUSE) and sets its mode, then listens.
Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_un addr;
  std::string path = ArgPath(info, 0, &addr);
  int backlog = static_cast<int>(ArgUInt(info, 1, "backlog", 65535));
  mode_t mode = static_cast<mode_t>(ArgUInt(info, 2, "mode", 0777));
  int fd = NewSocket(env);
  const char* failed = nullptr;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    failed = "bind";
  } else if (chmod(path.c_str(), mode) != 0) {
    failed = "chmod";
  } else if (listen(fd, backlog) != 0) {
    failed = "listen";
  }
  if (failed != nullptr) {
    int err = errno;
    close(fd);
    if (strcmp(failed, "bind") != 0) unlink(path.c_str());  // ours: leave nothing
    throw SysError(env, err, failed, path);
  }
  Fds(info).insert(fd);
  return Napi::Number::New(env, fd);
}

// connectUnix(path): fd. A Unix socket connects at once or fails (ENOENT,
// ECONNREFUSED, EACCES, EAGAIN when the listener's backlog is full).
Napi::Value ConnectUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  sockaddr_un addr;
  std::string path = ArgPath(info, 0, &addr);
  int fd = NewSocket(env);
  int rc;
  do {
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int err = errno;
    close(fd);
    throw SysError(env, err, "connect", path);
  }
  Fds(info).insert(fd);
  return Napi::Number::New(env, fd);
}

// acceptUnix(fd): fd of a new connection, or -1 when none is waiting.
Napi::Value AcceptUnix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  int conn;
  do {
    conn = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (conn < 0 && errno == EINTR);
  if (conn < 0) {
    // ECONNABORTED: the peer left while queued; EAGAIN: nobody is waiting.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
      return Napi::Number::New(env, -1);
    }
    throw SysError(env, errno, "accept4", "fd " + std::to_string(fd));
  }
  Fds(info).insert(conn);
  return Napi::Number::New(env, conn);
}

// peerCred(fd): { pid, uid, gid } of the process at the other end, as the
// kernel recorded them at connect (or listen) time: a peer cannot forge them.
Napi::Value PeerCred(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    throw SysError(env, errno, "getsockopt(SO_PEERCRED)", "fd " + std::to_string(fd));
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("pid", Napi::Number::New(env, cred.pid));
  result.Set("uid", Napi::Number::New(env, cred.uid));
  result.Set("gid", Napi::Number::New(env, cred.gid));
  return result;
}

// sendPacket(fd, bytes, fds = []): true if sent, false if the socket's buffer
// is full. The fds travel as SCM_RIGHTS. EPIPE and ECONNRESET throw.
Napi::Value SendPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  if (!info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "bytes must be a Uint8Array");
  }
  Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
  // An empty message reads as a hang-up at the other end (recvmsg returns 0).
  if (bytes.ByteLength() == 0) throw Napi::RangeError::New(env, "a message must not be empty");
  std::vector<int> pass;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    if (!info[2].IsArray()) throw Napi::TypeError::New(env, "fds must be an array");
    Napi::Array array = info[2].As<Napi::Array>();
    if (array.Length() > kMaxFds) throw Napi::RangeError::New(env, "too many fds");
    for (uint32_t k = 0; k < array.Length(); k++) {
      Napi::Value v = array.Get(k);
      double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
      if (!(d >= 0 && d <= INT_MAX) || d != static_cast<int>(d)) {
        throw Napi::TypeError::New(env, "fds must hold file descriptors");
      }
      pass.push_back(static_cast<int>(d));
    }
  }
  iovec iov{bytes.Data(), bytes.ByteLength()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  if (!pass.empty()) {
    memset(control, 0, sizeof control);
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * pass.size());
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * pass.size());
    memcpy(CMSG_DATA(cm), pass.data(), sizeof(int) * pass.size());
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Boolean::New(env, false);
    throw SysError(env, errno, "sendmsg", "fd " + std::to_string(fd));
  }
  return Napi::Boolean::New(env, true);
}

// recvPacket(fd, buffer): null when nothing is waiting; otherwise
// { bytes, fds, truncated }: bytes 0 means the peer closed. Received fds are
// close-on-exec and tracked; truncated is true when the message or its fds
// did not fit (the kernel closed the fds that did not).
Napi::Value RecvPacket(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  if (!info[1].IsTypedArray()) {
    throw Napi::TypeError::New(env, "buffer must be a Uint8Array");
  }
  Napi::Uint8Array buffer = info[1].As<Napi::Uint8Array>();
  iovec iov{buffer.Data(), buffer.ByteLength()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  // ECONNRESET: the peer closed with messages of ours unread. The kernel reports
  // it once, and before the messages still queued for us, which the peer sent
  // before closing (a server's REFUSE, say): read on, so that they arrive first,
  // then bytes 0.
  bool reset = false;
  ssize_t n;
  for (;;) {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n >= 0) break;
    if (errno == EINTR) continue;
    if (errno == ECONNRESET && !reset) {
      reset = true;
      continue;
    }
    break;
  }
  if (n < 0) {
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && !reset) return env.Null();
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNRESET) {
      throw SysError(env, errno, "recvmsg", "fd " + std::to_string(fd));
    }
    // As good as closed. A failed recvmsg wrote no control data: parse none.
    n = 0;
    msg.msg_controllen = 0;
    msg.msg_flags = 0;
  }
  Napi::Array fds = Napi::Array::New(env);
  uint32_t count = 0;
  ForEachPassedFd(msg, [&](int got) {
    Fds(info).insert(got);
    fds.Set(count++, Napi::Number::New(env, got));
  });
  Napi::Object result = Napi::Object::New(env);
  result.Set("bytes", Napi::Number::New(env, static_cast<double>(n)));
  result.Set("fds", fds);
  result.Set("truncated",
             Napi::Boolean::New(env, (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0));
  return result;
}

// drainPackets(fd): reads and drops up to 64 waiting messages (wake-ups);
// closes any fd they carried. Returns how many, or -1 when the peer closed.
Napi::Value DrainPackets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  int count = 0;
  while (count < 64) {
    char byte[16];
    iovec iov{byte, sizeof byte};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ECONNRESET) return Napi::Number::New(env, -1);
      throw SysError(env, errno, "recvmsg", "fd " + std::to_string(fd));
    }
    ForEachPassedFd(msg, [](int got) { close(got); });
    if (n == 0) return Napi::Number::New(env, -1);
    count++;
  }
  return Napi::Number::New(env, count);
}

// pollFd(fd, events, timeoutMs): the poll(2) revents, 0 on timeout. events
// and revents use poll's bits: POLLIN 1, POLLOUT 4, POLLERR 8, POLLHUP 16,
// POLLRDHUP 0x2000.
Napi::Value PollFd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  short events = static_cast<short>(ArgUInt(info, 1, "events", 0xffff));
  double timeout_ms = ArgTimeoutMs(info, 2);
  timespec deadline;
  bool timed = DeadlineAfter(timeout_ms, &deadline);
  for (;;) {
    int wait = -1;
    if (timed) {
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      double left = (deadline.tv_sec - now.tv_sec) * 1e3 + (deadline.tv_nsec - now.tv_nsec) / 1e6;
      wait = left <= 0 ? 0 : static_cast<int>(left + 0.999);
    }
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, wait);
    if (rc > 0) return Napi::Number::New(env, p.revents);
    if (rc == 0) return Napi::Number::New(env, 0);
    if (errno != EINTR) throw SysError(env, errno, "poll", "fd " + std::to_string(fd));
  }
}

// memfdCreate(name, size): fd of a new anonymous shared-memory file of size
// bytes, its pages allocated now (fallocate: a full memory budget fails here
// with ENOSPC or ENOMEM, not later with SIGBUS in whoever touches a page) and
// sealed against shrinking, growing and further sealing.
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "name must be a string");
  std::string name = info[0].As<Napi::String>().Utf8Value();
  uint64_t size = ArgUInt(info, 1, "size", INT64_MAX);
  if (size == 0) throw Napi::RangeError::New(env, "size must be positive");
  int fd = memfd_create(name.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) throw SysError(env, errno, "memfd_create", name);
  const char* failed = nullptr;
  if (ftruncate(fd, static_cast<off_t>(size)) != 0) {
    failed = "ftruncate";
  } else {
    int rc;
    do {
      rc = fallocate(fd, 0, 0, static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      failed = "fallocate";
    } else if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
      failed = "fcntl(F_ADD_SEALS)";
    }
  }
  if (failed != nullptr) {
    int err = errno;
    close(fd);
    throw SysError(env, err, failed, name);
  }
  Fds(info).insert(fd);
  return Napi::Number::New(env, fd);
}

// memfdInfo(fd): { size, seals, regular } where seals is F_GET_SEALS's
// bitmask (F_SEAL_SEAL 1, SHRINK 2, GROW 4, WRITE 8), -1 if the file
// cannot be sealed (not a memfd).
Napi::Value MemfdInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  struct stat st;
  if (fstat(fd, &st) != 0) throw SysError(env, errno, "fstat", "fd " + std::to_string(fd));
  int seals = fcntl(fd, F_GET_SEALS);
  Napi::Object result = Napi::Object::New(env);
  result.Set("size", Napi::Number::New(env, static_cast<double>(st.st_size)));
  result.Set("seals", Napi::Number::New(env, seals < 0 ? -1 : seals));
  result.Set("regular", Napi::Boolean::New(env, S_ISREG(st.st_mode)));
  return result;
}

// lockPath(path, shared, mode): fd holding an open-file-description lock on
// the regular file at path (created with mode, default 0600, if missing; 0644
// lets other users see with lockState that it is held; never through a symlink,
// and only if this user owns it), or -1 while another open holds a
// conflicting lock. A write lock by default; a read lock when `shared` (any
// number of read locks together, none with a write lock: how replicas of a
// name share it while a server without replicas excludes them).
// The lock dies with its holder, even by SIGKILL. A file unlinked and made
// anew between our open and our lock is detected (the path must still name
// the inode we locked) and taken again.
Napi::Value LockPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  bool shared = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
  mode_t mode = info.Length() > 2 && info[2].IsNumber() ? (info[2].As<Napi::Number>().Uint32Value() & 0644) : 0600;
  for (int attempt = 0; attempt < 16; attempt++) {
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
    if (fd < 0) throw SysError(env, errno, "open", path);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
      close(fd);
      throw SysError(env, EPERM, "open", path);  // not a regular file of this user
    }
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = shared ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    int rc;
    do {
      rc = fcntl(fd, F_OFD_SETLK, &fl);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
      int err = errno;
      close(fd);
      if (err == EAGAIN || err == EACCES) return Napi::Number::New(env, -1);
      throw SysError(env, err, "fcntl(F_OFD_SETLK)", path);
    }
    struct stat now;
    if (stat(path.c_str(), &now) == 0 && now.st_ino == st.st_ino && now.st_dev == st.st_dev) {
      Fds(info).insert(fd);
      return Napi::Number::New(env, fd);
    }
    close(fd);  // replaced under us: lock the new one
  }
  throw SysError(env, EAGAIN, "lockPath", path);
}

// lockState(path): who holds a lock on the file at path, without taking one
// (F_OFD_GETLK), so that looking never makes a starting server fail: 0 nobody,
// 1 a write lock, 2 read locks, -1 no such file (or not readable by us).
Napi::Value LockState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw Napi::TypeError::New(env, "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) return Napi::Number::New(env, -1);
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;  // conflicts with any lock: reports one if there is any
  fl.l_whence = SEEK_SET;
  int rc = fcntl(fd, F_OFD_GETLK, &fl);
  int err = errno;
  close(fd);
  if (rc != 0) throw SysError(env, err, "fcntl(F_OFD_GETLK)", path);
  return Napi::Number::New(env, fl.l_type == F_UNLCK ? 0 : fl.l_type == F_WRLCK ? 1 : 2);
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

// randomFill(buffer): fills the Uint8Array with bytes of the kernel's CSPRNG
// (getrandom(2), the source OpenSSL seeds from). The handshake's nonces come
// from here so that connecting does not load node:crypto (most of an import's
// cost); the HMAC of a token still uses node:crypto, loaded when a token is used.
Napi::Value RandomFill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "randomFill: expected a Uint8Array");
  }
  auto view = info[0].As<Napi::Uint8Array>();
  uint8_t* at = view.Data();
  size_t left = view.ByteLength();
  while (left > 0) {
    ssize_t got = getrandom(at, left, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      throw SysError(env, errno, "getrandom");
    }
    at += got;
    left -= static_cast<size_t>(got);
  }
  return env.Undefined();
}

// writeAt(fd, bytes, offset): writes all of bytes at offset (pwrite(2)). The
// server writes a new connection's header this way, so that it can hand the
// memfd over before mapping it itself (the mapping is then off the client's path).
Napi::Value WriteAt(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = ArgFd(info, 0);
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw Napi::TypeError::New(env, "writeAt: expected a Uint8Array");
  }
  auto view = info[1].As<Napi::Uint8Array>();
  uint64_t offset = ArgUInt(info, 2, "offset", static_cast<uint64_t>(INT64_MAX));
  const uint8_t* at = view.Data();
  size_t left = view.ByteLength();
  while (left > 0) {
    ssize_t put = pwrite(fd, at, left, static_cast<off_t>(offset));
    if (put < 0) {
      if (errno == EINTR) continue;
      throw SysError(env, errno, "pwrite", "fd " + std::to_string(fd));
    }
    at += put;
    offset += static_cast<uint64_t>(put);
    left -= static_cast<size_t>(put);
  }
  return env.Undefined();
}

// openFds(): how many fds this environment holds (tests check for leaks).
Napi::Value OpenFdCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Fds(info).size()));
}

// FdWatcher(fd, callback): calls callback(events) on the JS thread when the
// fd is readable (1) or its peer hung up (4), level-triggered, from the event
// loop (libuv's poll handle). Started at once, unref'd; close() before
// closing the fd.
class FdWatcher : public Napi::ObjectWrap<FdWatcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FdWatcher",
                       {
                           InstanceMethod<&FdWatcher::RefJs>("ref"),
                           InstanceMethod<&FdWatcher::UnrefJs>("unref"),
                           InstanceMethod<&FdWatcher::CloseJs>("close"),
                       });
  }

  explicit FdWatcher(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<FdWatcher>(info), env_(info.Env()) {
    Napi::Env env = info.Env();
    int fd = ArgFd(info, 0);
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "shmrpc.FdWatcher");
    uv_loop_t* loop = nullptr;
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_uv_event_loop(env, &loop));
    handle_ = new uv_poll_t;
    int rc = uv_poll_init(loop, handle_, fd);
    if (rc != 0) {
      delete handle_;
      handle_ = nullptr;
      throw Napi::Error::New(env, std::string("uv_poll_init: ") + uv_strerror(rc));
    }
    handle_->data = this;
    uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    rc = uv_poll_start(handle_, UV_READABLE | UV_DISCONNECT, OnEvent);
    if (rc != 0) {
      Stop();
      throw Napi::Error::New(env, std::string("uv_poll_start: ") + uv_strerror(rc));
    }
    Ref();  // a started watcher is a root, like an active timer
    pinned_ = true;
    NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, CleanupHook, this));
    hook_added_ = true;
  }

  ~FdWatcher() override { Stop(); }

 private:
  // From the event loop, possibly while the environment is torn down (see
  // CallIntoJs): raw N-API only, every status checked, nothing fatal.
  static void OnEvent(uv_poll_t* handle, int status, int events) {
    auto* self = static_cast<FdWatcher*>(handle->data);
    if (self == nullptr || self->handle_ == nullptr) return;
    napi_env env = self->env_;
    int what = status < 0 ? 4 : ((events & UV_READABLE) ? 1 : 0) | ((events & UV_DISCONNECT) ? 4 : 0);
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value arg;
    if (napi_create_int32(env, what, &arg) == napi_ok) {
      // The callback may close this watcher: self is not touched after it.
      CallIntoJs(env, *self->context_, RefValue(env, *self), RefValue(env, self->callback_), 1, &arg);
    }
    napi_close_handle_scope(env, scope);
  }

  static void CleanupHook(void* arg) {
    auto* self = static_cast<FdWatcher*>(arg);
    self->hook_added_ = false;
    self->Stop();
  }

  Napi::Value RefJs(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefJs(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value CloseJs(const Napi::CallbackInfo& info) {
    Stop();
    callback_.Reset();  // it often closes over this watcher: let both be collected
    if (pinned_) {
      pinned_ = false;
      Unref();
    }
    return info.Env().Undefined();
  }

  // Stops watching; the handle is freed once libuv has closed it.
  void Stop() {
    if (handle_ == nullptr) return;
    uv_poll_stop(handle_);
    handle_->data = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(handle_),
             [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
    handle_ = nullptr;
    if (hook_added_) {
      hook_added_ = false;
      napi_remove_env_cleanup_hook(env_, CleanupHook, this);
    }
  }

  napi_env env_;
  uv_poll_t* handle_ = nullptr;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
  bool pinned_ = false;
  bool hook_added_ = false;
};

}  // namespace

void InitSocket(Napi::Env env, Napi::Object exports) {
  auto* fds = new OpenFds();
  NAPI_THROW_IF_FAILED_VOID(env, napi_add_env_cleanup_hook(env, CloseAll, fds));
  auto fn = [&](const char* name, Napi::Function::Callback cb) {
    exports.Set(name, Napi::Function::New(env, cb, name, fds));
  };
  fn("listenUnix", ListenUnix);
  fn("connectUnix", ConnectUnix);
  fn("acceptUnix", AcceptUnix);
  fn("peerCred", PeerCred);
  fn("sendPacket", SendPacket);
  fn("recvPacket", RecvPacket);
  fn("drainPackets", DrainPackets);
  fn("pollFd", PollFd);
  fn("memfdCreate", MemfdCreate);
  fn("memfdInfo", MemfdInfo);
  fn("lockPath", LockPath);
  fn("lockState", LockState);
  fn("closeFd", CloseFd);
  fn("openFds", OpenFdCount);
  fn("randomFill", RandomFill);
  fn("writeAt", WriteAt);
  exports.Set("FdWatcher", FdWatcher::Define(env));
}

}  // namespace shmrpc
