// The floor: two processes ping-pong one cache line through shared memory (busy-wait).
// cc -O2 -o /tmp/floor floor.c && /tmp/floor [N]
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return x < y ? -1 : x > y; }
int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  volatile uint32_t *w = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  volatile uint32_t *ping = w, *pong = w + 32;  // separate 128-byte lines
  long warm = 20000;
  pid_t pid = fork();
  if (pid == 0) {
    for (long i = 1; i <= n + warm; i++) { while (__atomic_load_n(ping, __ATOMIC_ACQUIRE) != (uint32_t)i) __builtin_ia32_pause(); __atomic_store_n(pong, (uint32_t)i, __ATOMIC_RELEASE); }
    _exit(0);
  }
  double *s = malloc(sizeof(double) * n);
  for (long i = 1; i <= n + warm; i++) {
    double t0 = now();
    __atomic_store_n(ping, (uint32_t)i, __ATOMIC_RELEASE);
    while (__atomic_load_n(pong, __ATOMIC_ACQUIRE) != (uint32_t)i) __builtin_ia32_pause();
    if (i > warm) s[i - warm - 1] = now() - t0;
  }
  waitpid(pid, 0, 0);
  qsort(s, n, sizeof(double), cmp);
  printf("C shm ping-pong floor x%ld: p50 %.3f µs  p99 %.3f µs  p99.9 %.3f µs\n", n, s[n / 2] / 1000, s[n * 99 / 100] / 1000, s[n * 999 / 1000] / 1000);
  return 0;
}
