// The floor: the fastest round trip two processes of this machine can make through
// shared memory. One cache line, shared by a parent and a forked child (MAP_SHARED),
// holds a counter: the parent writes an odd value, the child answers with the next
// even one. Nothing else: no message, no queue, no encoding.
//
//   pingpong spin <calls> <warmup>   both sides spin: the cache-line transfer floor
//   pingpong wake <calls> <idle_us>  the child sleeps in futex_wait; after <idle_us> of
//                                    idleness the parent writes, futex_wakes and spins:
//                                    the floor of waking a parked process
//
// Prints one round trip per line, in nanoseconds (after warm-up), then exits 0.
#define _GNU_SOURCE
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long futex(uint32_t *addr, int op, uint32_t val) {
  return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

#define STOP 0xffffffffu

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s spin|wake <calls> <warmup|idle_us>\n", argv[0]);
    return 2;
  }
  int wake = strcmp(argv[1], "wake") == 0;
  long calls = atol(argv[2]);
  long extra = atol(argv[3]);
  long warmup = wake ? 10 : extra;
  long total = calls + warmup;

  // One page, shared with the child; the counter is alone on its cache line.
  uint32_t *line = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  uint64_t *samples = malloc(sizeof(uint64_t) * (size_t)calls);
  if (line == MAP_FAILED || samples == NULL) {
    perror("mmap/malloc");
    return 1;
  }
  __atomic_store_n(line, 0, __ATOMIC_SEQ_CST);

  pid_t child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    // Answer each odd value with the next even one.
    for (uint32_t expect = 1;; expect += 2) {
      uint32_t v;
      while ((v = __atomic_load_n(line, __ATOMIC_ACQUIRE)) != expect && v != STOP) {
        if (wake) futex(line, FUTEX_WAIT, v);
        else relax();
      }
      if (v == STOP) _exit(0);
      __atomic_store_n(line, expect + 1, __ATOMIC_RELEASE);
    }
  }

  struct timespec idle = {0, extra * 1000};
  for (long i = 0; i < total; i++) {
    uint32_t ask = (uint32_t)(2 * i + 1);
    if (wake) nanosleep(&idle, NULL);
    uint64_t t0 = now_ns();
    __atomic_store_n(line, ask, __ATOMIC_SEQ_CST);
    if (wake) futex(line, FUTEX_WAKE, 1);
    while (__atomic_load_n(line, __ATOMIC_ACQUIRE) != ask + 1) relax();
    uint64_t t1 = now_ns();
    if (i >= warmup) samples[i - warmup] = t1 - t0;
  }
  __atomic_store_n(line, STOP, __ATOMIC_SEQ_CST);
  futex(line, FUTEX_WAKE, 1);
  waitpid(child, NULL, 0);

  // One write of everything: printing must not run while measuring.
  char *out = malloc((size_t)calls * 21 + 1);
  size_t at = 0;
  for (long i = 0; i < calls; i++) at += (size_t)sprintf(out + at, "%llu\n", (unsigned long long)samples[i]);
  fwrite(out, 1, at, stdout);
  return 0;
}
