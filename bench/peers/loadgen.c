/*
 * The native load generator of the peer suite: one thread, level-triggered epoll, non-blocking sockets. It costs
 * far less per message than any server it loads, so the figures it prints are the server's, not its own.
 *
 * Every mode checks every byte it gets back and prints one JSON object on stdout.
 *
 *   loadgen pingpong HOST PORT [-c CONNS] [-s SIZE] [-d SECONDS]
 *       Each connection sends SIZE bytes, waits for exactly those bytes back, and sends again. Warm-up: each
 *       connection sends one message and, once it is answered, waits; the clock starts when every connection has
 *       had its reply (at most 10 s: "warmupMs") and then all of them send at once. So the figures describe
 *       serving open connections, not accepting new ones, and answered connections never keep a busy server
 *       from accepting the rest. Reports round trips per second, latency percentiles, and
 *       per-connection fairness: the slowest and the median connection's round-trip counts, how many connections
 *       got none, and the longest stall any connection saw. Every mode also reports its own CPU ("cpuPercent").
 *   loadgen bulk HOST PORT [-c CONNS] [-b BYTES] [-s CHUNK]
 *       Each connection streams BYTES through the echo server and reads them all back; reports MB/s echoed.
 *   loadgen idle HOST PORT [-c CONNS] [-d SECONDS]
 *       Opens CONNS idle connections and holds them for SECONDS ("holding N" on stderr once all are open), then
 *       times a fresh connection's 64-byte echo and checks the idle ones are all still open.
 *   loadgen fanout HOST PORT [-c RECEIVERS] [-s SIZE] [-d SECONDS] [-w WINDOW]
 *       One sender and RECEIVERS receivers on a broadcast server. Messages carry a sequence number and a send
 *       time; at most WINDOW are in flight (sent but not yet received by every receiver). Reports delivered
 *       messages per second, delivery latency percentiles, and whether every receiver got every message in order.
 *
 * HOST may be an IPv4 or IPv6 address or name; HOST "unix" makes PORT a Unix socket path.
 * Build: cc -O2 -o loadgen loadgen.c -lm
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 512
#define PATTERN_PERIOD 65521 /* prime: a chunk boundary never lines up with the pattern */
#define FANOUT_MAGIC 0x534b464fu
#define PROBE_SEQ 0xffffffffu

static const char *g_host;
static const char *g_port;
static struct sockaddr_storage g_addr;
static socklen_t g_addrlen;
static uint8_t g_pattern[PATTERN_PERIOD + 1024 * 1024];

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time this process used so far (user + system), in ns: the generator's own cost, reported per run. */
static int64_t cpu_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL +
         ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

/* The share of one core used since `cpu0` over `wall_ns` of wall time, in %. */
static double cpu_percent(int64_t cpu0, int64_t wall_ns) {
  return wall_ns > 0 ? (double)(cpu_ns() - cpu0) * 100.0 / (double)wall_ns : 0.0;
}

static void die(const char *what) {
  fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void usage(void) {
  fprintf(stderr,
          "usage: loadgen pingpong|bulk|idle|fanout HOST PORT [-c CONNS] [-s SIZE] [-d SECONDS] [-b BYTES] "
          "[-w WINDOW]\n");
  exit(2);
}

static void resolve(void) {
  memset(&g_addr, 0, sizeof g_addr);
  if (strcmp(g_host, "unix") == 0) {
    struct sockaddr_un *un = (struct sockaddr_un *)&g_addr;
    un->sun_family = AF_UNIX;
    if (strlen(g_port) >= sizeof un->sun_path) usage();
    strcpy(un->sun_path, g_port);
    g_addrlen = sizeof *un;
    return;
  }
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
  int rc = getaddrinfo(g_host, g_port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "loadgen: cannot resolve %s: %s\n", g_host, gai_strerror(rc));
    exit(1);
  }
  memcpy(&g_addr, res->ai_addr, res->ai_addrlen);
  g_addrlen = res->ai_addrlen;
  freeaddrinfo(res);
}

/* A blocking connect, then non-blocking: connecting in a loop keeps the server's accept queue from overflowing. */
static int connect_one(void) {
  int fd = socket(g_addr.ss_family, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)&g_addr, g_addrlen) < 0) die("connect");
  int one = 1;
  if (g_addr.ss_family != AF_UNIX) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  return fd;
}

static void watch(int ep, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
}

static void rewatch(int ep, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* ---- latency histogram: 64 linear sub-buckets per power of two of nanoseconds (under 1.6% error) ---- */

#define SUB_BITS 6
#define BUCKETS (64 * (1 << SUB_BITS))

struct histogram {
  uint64_t counts[BUCKETS];
  uint64_t total;
  int64_t max;
};

static int bucket_of(int64_t v) {
  if (v < (1 << SUB_BITS)) return (int)(v < 0 ? 0 : v);
  int msb = 63 - __builtin_clzll((unsigned long long)v);
  int shift = msb - SUB_BITS;
  return ((shift + 1) << SUB_BITS) + (int)((v >> shift) & ((1 << SUB_BITS) - 1));
}

static int64_t bucket_value(int b) {
  if (b < (1 << SUB_BITS)) return b;
  int shift = (b >> SUB_BITS) - 1;
  int64_t sub = b & ((1 << SUB_BITS) - 1);
  return ((int64_t)((1 << SUB_BITS) | sub) << shift) + ((1LL << shift) >> 1);
}

static void record(struct histogram *h, int64_t ns) {
  h->counts[bucket_of(ns)]++;
  h->total++;
  if (ns > h->max) h->max = ns;
}

static double percentile_ms(const struct histogram *h, double p) {
  if (h->total == 0) return 0;
  uint64_t rank = (uint64_t)ceil(p / 100.0 * (double)h->total);
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int b = 0; b < BUCKETS; b++) {
    seen += h->counts[b];
    if (seen >= rank) return (double)bucket_value(b) / 1e6;
  }
  return (double)h->max / 1e6;
}

static void print_latency(const struct histogram *h) {
  printf("\"p50Ms\":%.3f,\"p90Ms\":%.3f,\"p99Ms\":%.3f,\"p999Ms\":%.3f,\"maxMs\":%.3f", percentile_ms(h, 50),
         percentile_ms(h, 90), percentile_ms(h, 99), percentile_ms(h, 99.9), (double)h->max / 1e6);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* ---- ping-pong ---- */

struct pp_conn {
  int fd, index;
  uint32_t seq;
  size_t sent, got; /* bytes of the current message written, and of its reply read */
  int64_t start, last;
  uint64_t trips;
  int64_t max_stall;
  int dead, warm;
  uint8_t *out, *in;
};

static void pp_fill(struct pp_conn *c, size_t size) {
  size_t off = ((size_t)c->index * 7919u + c->seq * 131u) % PATTERN_PERIOD;
  memcpy(c->out, g_pattern + off, size);
  uint32_t head[2] = {(uint32_t)c->index, c->seq};
  memcpy(c->out, head, size < sizeof head ? size : sizeof head);
}

/* Writes what is left of the current message; returns 1 while the socket is full, -1 on error. */
static int pp_write(struct pp_conn *c, size_t size) {
  while (c->sent < size) {
    ssize_t n = send(c->fd, c->out + c->sent, size - c->sent, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? 1 : -1;
    c->sent += (size_t)n;
  }
  return 0;
}

/* Sends message number c->seq, timed from `now`; watches for the socket to drain when it is full. -1: failed. */
static int pp_send(int ep, struct pp_conn *c, size_t size, int64_t now) {
  c->got = c->sent = 0;
  pp_fill(c, size);
  c->start = now;
  int r = pp_write(c, size);
  if (r > 0) rewatch(ep, c->fd, EPOLLIN | EPOLLOUT, c);
  return r < 0 ? -1 : 0;
}

/* A connection that failed or was closed: counted, and never waited on again. */
static void pp_lose(int ep, struct pp_conn *c, uint64_t *closed) {
  c->dead = 1;
  (*closed)++;
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
}

static int run_pingpong(int conns, size_t size, double seconds) {
  int ep = epoll_create1(0);
  struct pp_conn *cs = calloc((size_t)conns, sizeof *cs);
  for (int i = 0; i < conns; i++) {
    cs[i].fd = connect_one();
    cs[i].index = i;
    cs[i].out = malloc(size);
    cs[i].in = malloc(size);
    watch(ep, cs[i].fd, EPOLLIN, &cs[i]);
  }
  struct histogram *h = calloc(1, sizeof *h);
  uint64_t errors = 0, closed = 0;
  /* Warm-up: the clock starts once every connection has had one reply (or after 10 s), so the figures measure
   * serving connections, not accepting them. */
  int64_t t0 = now_ns(), deadline = t0 + 10000000000LL, cpu0 = cpu_ns(), warm_start = t0;
  int warming = 1, warmed = 0;
  for (int i = 0; i < conns; i++) {
    cs[i].last = t0;
    if (pp_send(ep, &cs[i], size, t0) < 0) pp_lose(ep, &cs[i], &closed);
  }
  struct epoll_event events[MAX_EVENTS];
  int64_t now = t0;
  while ((now = now_ns()) < deadline || warming) {
    int timeout = (int)((deadline - now) / 1000000) + 1;
    int n = epoll_wait(ep, events, MAX_EVENTS, timeout);
    now = now_ns();
    for (int e = 0; e < n; e++) {
      struct pp_conn *c = events[e].data.ptr;
      if (c->dead) continue;
      if (events[e].events & EPOLLOUT) {
        int r = pp_write(c, size);
        if (r == 0) rewatch(ep, c->fd, EPOLLIN, c);
        if (r < 0) goto lost;
      }
      for (;;) {
        ssize_t got = recv(c->fd, c->in + c->got, size - c->got, 0);
        if (got == 0 || (got < 0 && errno != EAGAIN)) goto lost;
        if (got < 0) break;
        c->got += (size_t)got;
        if (c->got < size) continue;
        if (c->sent < size || memcmp(c->in, c->out, size) != 0) {
          errors++;
          goto lost;
        }
        if (warming) {
          /* Answered: wait for the others, so the server's only work is the connections still to answer. */
          if (!c->warm) c->warm = 1, warmed++;
          c->got = 0;
          break;
        }
        if (now < deadline) {
          record(h, now - c->start);
          c->trips++;
          if (now - c->last > c->max_stall) c->max_stall = now - c->last;
          c->last = now;
        }
        c->seq++;
        if (pp_send(ep, c, size, now) < 0) goto lost;
        break; /* the reply cannot be there yet: epoll says when it is, without a read that finds nothing */
      }
      continue;
    lost:
      pp_lose(ep, c, &closed);
    }
    if (warming && ((uint64_t)warmed + closed >= (uint64_t)conns || now >= deadline)) {
      warming = 0;
      t0 = now;
      deadline = t0 + (int64_t)(seconds * 1e9);
      cpu0 = cpu_ns();
      /* Every answered connection sends its next message now; one that was never answered keeps waiting. */
      for (int i = 0; i < conns; i++) {
        struct pp_conn *c = &cs[i];
        c->last = t0;
        if (c->dead || !c->warm) continue;
        c->seq++;
        if (pp_send(ep, c, size, t0) < 0) pp_lose(ep, c, &closed);
      }
    }
  }
  double elapsed = (double)(now - t0) / 1e9, cpu = cpu_percent(cpu0, now - t0);
  uint64_t *trips = malloc(sizeof(uint64_t) * (size_t)conns);
  uint64_t total = 0, none = 0;
  int64_t worst_stall = 0;
  for (int i = 0; i < conns; i++) {
    trips[i] = cs[i].trips;
    total += cs[i].trips;
    if (cs[i].trips == 0) none++;
    int64_t tail = deadline - cs[i].last; /* a connection still waiting at the end is stalled too */
    int64_t stall = cs[i].max_stall > tail ? cs[i].max_stall : tail;
    if (stall > worst_stall) worst_stall = stall;
    close(cs[i].fd);
  }
  qsort(trips, (size_t)conns, sizeof *trips, cmp_u64);
  uint64_t median = trips[conns / 2], slowest = trips[0];
  printf("{\"mode\":\"pingpong\",\"connections\":%d,\"size\":%zu,\"seconds\":%.3f,\"roundTrips\":%llu,"
         "\"roundTripsPerSec\":%.0f,\"slowest\":%llu,\"median\":%llu,\"fastest\":%llu,\"fairness\":%.3f,"
         "\"connectionsWithout\":%llu,\"maxStallMs\":%.3f,\"errors\":%llu,\"closed\":%llu,\"cpuPercent\":%.1f,"
         "\"warmupMs\":%.3f,",
         conns, size, elapsed, (unsigned long long)total, (double)total / elapsed, (unsigned long long)slowest,
         (unsigned long long)median, (unsigned long long)trips[conns - 1],
         median ? (double)slowest / (double)median : 0.0, (unsigned long long)none, (double)worst_stall / 1e6,
         (unsigned long long)errors, (unsigned long long)closed, cpu, (double)(t0 - warm_start) / 1e6);
  print_latency(h);
  printf("}\n");
  return errors || closed ? 1 : 0;
}

/* ---- bulk ---- */

struct bulk_conn {
  int fd;
  uint64_t written, read;
  int done, shut;
};

static int run_bulk(int conns, uint64_t bytes, size_t chunk) {
  if (chunk > sizeof g_pattern - PATTERN_PERIOD) chunk = sizeof g_pattern - PATTERN_PERIOD;
  int ep = epoll_create1(0);
  struct bulk_conn *cs = calloc((size_t)conns, sizeof *cs);
  uint8_t *in = malloc(chunk);
  for (int i = 0; i < conns; i++) {
    cs[i].fd = connect_one();
    watch(ep, cs[i].fd, EPOLLIN | EPOLLOUT, &cs[i]);
  }
  uint64_t errors = 0;
  int left = conns;
  struct epoll_event events[MAX_EVENTS];
  int64_t t0 = now_ns(), cpu0 = cpu_ns();
  while (left > 0) {
    int n = epoll_wait(ep, events, MAX_EVENTS, 10000);
    if (n == 0) {
      fprintf(stderr, "loadgen: bulk: no progress for 10 s\n");
      errors++;
      break;
    }
    for (int e = 0; e < n; e++) {
      struct bulk_conn *c = events[e].data.ptr;
      if (c->done) continue;
      if ((events[e].events & EPOLLOUT) && c->written < bytes) {
        uint64_t want = bytes - c->written < chunk ? bytes - c->written : chunk;
        ssize_t w = send(c->fd, g_pattern + c->written % PATTERN_PERIOD, want, MSG_NOSIGNAL);
        if (w > 0) c->written += (uint64_t)w;
        if (c->written == bytes && !c->shut) {
          shutdown(c->fd, SHUT_WR);
          c->shut = 1;
          rewatch(ep, c->fd, EPOLLIN, c);
        }
      }
      if (events[e].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        ssize_t r = recv(c->fd, in, chunk, 0);
        if (r > 0) {
          if (c->read + (uint64_t)r > bytes || memcmp(in, g_pattern + c->read % PATTERN_PERIOD, (size_t)r) != 0)
            errors++;
          c->read += (uint64_t)r;
        }
        if (r == 0 || (r < 0 && errno != EAGAIN) || c->read >= bytes) {
          if (c->read < bytes) errors++;
          c->done = 1;
          left--;
          epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        }
      }
    }
  }
  int64_t wall = now_ns() - t0;
  double elapsed = (double)wall / 1e9, cpu = cpu_percent(cpu0, wall);
  uint64_t total = 0;
  for (int i = 0; i < conns; i++) total += cs[i].read, close(cs[i].fd);
  printf("{\"mode\":\"bulk\",\"connections\":%d,\"bytes\":%llu,\"echoed\":%llu,\"seconds\":%.3f,\"mbPerSec\":%.1f,"
         "\"errors\":%llu,\"cpuPercent\":%.1f}\n",
         conns, (unsigned long long)bytes * (unsigned long long)conns, (unsigned long long)total, elapsed,
         (double)total / elapsed / 1e6, (unsigned long long)errors, cpu);
  return errors ? 1 : 0;
}

/* ---- idle ---- */

static int run_idle(int conns, double seconds) {
  int *fds = malloc(sizeof(int) * (size_t)conns);
  for (int i = 0; i < conns; i++) fds[i] = connect_one();
  fprintf(stderr, "holding %d\n", conns);
  struct timespec hold = {.tv_sec = (time_t)seconds, .tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&hold, NULL);
  int64_t t0 = now_ns();
  int fd = connect_one();
  int64_t t1 = now_ns();
  uint8_t msg[64], back[64];
  memcpy(msg, g_pattern, sizeof msg);
  size_t got = 0;
  int ok = send(fd, msg, sizeof msg, MSG_NOSIGNAL) == (ssize_t)sizeof msg;
  int64_t limit = now_ns() + 10000000000LL;
  while (ok && got < sizeof back && now_ns() < limit) {
    ssize_t r = recv(fd, back + got, sizeof back - got, 0);
    if (r > 0) got += (size_t)r;
    else if (r == 0 || errno != EAGAIN) ok = 0;
    else usleep(100);
  }
  ok = ok && got == sizeof back && memcmp(msg, back, sizeof msg) == 0;
  int64_t t2 = now_ns();
  close(fd);
  int open = 0;
  for (int i = 0; i < conns; i++) {
    char b;
    ssize_t r = recv(fds[i], &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && errno == EAGAIN) open++;
    close(fds[i]);
  }
  printf("{\"mode\":\"idle\",\"connections\":%d,\"stillOpen\":%d,\"connectMs\":%.3f,\"echoMs\":%.3f,\"echoed\":%s}\n",
         conns, open, (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6, ok ? "true" : "false");
  return ok && open == conns ? 0 : 1;
}

/* ---- fan-out ---- */

struct fan_rx {
  int fd;
  uint8_t *buf;
  size_t got;
  uint64_t next; /* the sequence number expected next */
  uint64_t received, errors;
  int probed;
};

struct fan_head {
  uint32_t magic, seq;
  int64_t sent_ns;
};

static int run_fanout(int receivers, size_t size, double seconds, uint64_t window) {
  if (size < sizeof(struct fan_head)) size = sizeof(struct fan_head);
  size_t rx_cap = size * 256 > 65536 ? size * 256 : 65536; /* a receiver's read buffer: many messages a read */
  int ep = epoll_create1(0);
  struct fan_rx *rx = calloc((size_t)receivers, sizeof *rx);
  for (int i = 0; i < receivers; i++) {
    rx[i].fd = connect_one();
    rx[i].buf = malloc(rx_cap);
    watch(ep, rx[i].fd, EPOLLIN, &rx[i]);
  }
  int tx = connect_one();
  uint8_t *out = malloc(size);
  struct histogram *h = calloc(1, sizeof *h);
  struct epoll_event events[MAX_EVENTS];
  uint64_t sent = 0, delivered = 0, errors = 0, min_received = 0;
  int probed = 0, sending = 0, finished = 0;
  int64_t t0 = 0, cpu0 = 0, deadline = 0, next_probe = 0, drain_deadline = 0, last_progress = now_ns();
  size_t out_off = size; /* bytes of the current message already written */

  while (!finished) {
    int64_t now = now_ns();
    /* Probes until every receiver has joined the room, then the measured stream. */
    if (!sending && probed < receivers && now >= next_probe && out_off == size) {
      struct fan_head head = {FANOUT_MAGIC, PROBE_SEQ, now};
      memcpy(out, g_pattern, size);
      memcpy(out, &head, sizeof head);
      out_off = 0;
      next_probe = now + 20000000;
    }
    if (!sending && probed == receivers && out_off == size) {
      sending = 1;
      t0 = now;
      cpu0 = cpu_ns();
      deadline = now + (int64_t)(seconds * 1e9);
    }
    if (sending && out_off == size && now < deadline && sent - min_received < window) {
      struct fan_head head = {FANOUT_MAGIC, (uint32_t)sent, now};
      memcpy(out, g_pattern + sent % PATTERN_PERIOD, size);
      memcpy(out, &head, sizeof head);
      out_off = 0;
      sent++;
    }
    while (out_off < size) {
      ssize_t w = send(tx, out + out_off, size - out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w < 0) {
        if (errno != EAGAIN) die("send");
        break;
      }
      out_off += (size_t)w;
    }
    if (sending && now >= deadline && drain_deadline == 0) drain_deadline = now + 3000000000LL;
    if (drain_deadline && (min_received == sent || now >= drain_deadline)) break;
    if (now - last_progress > 10000000000LL) {
      fprintf(stderr, "loadgen: fanout: no progress for 10 s\n");
      errors++;
      break;
    }
    int wait_ms = (out_off < size || (sending && sent - min_received < window && now < deadline)) ? 0 : 5;
    int n = epoll_wait(ep, events, MAX_EVENTS, wait_ms);
    now = now_ns();
    for (int e = 0; e < n; e++) {
      struct fan_rx *r = events[e].data.ptr;
      /* One read per wake-up, as many messages as fit (level-triggered: what is left wakes us again). */
      ssize_t got = recv(r->fd, r->buf + r->got, rx_cap - r->got, 0);
      if (got == 0 || (got < 0 && errno != EAGAIN)) {
        fprintf(stderr, "loadgen: fanout: a receiver was closed by the server\n");
        errors++;
        finished = 1;
        break;
      }
      if (got < 0) continue;
      r->got += (size_t)got;
      size_t off = 0;
      for (; r->got - off >= size; off += size) {
        const uint8_t *msg = r->buf + off;
        last_progress = now;
        struct fan_head head;
        memcpy(&head, msg, sizeof head);
        if (head.magic != FANOUT_MAGIC) {
          r->errors++;
          continue;
        }
        if (head.seq == PROBE_SEQ) {
          if (!r->probed) r->probed = 1, probed++;
          continue;
        }
        if (head.seq != (uint32_t)r->next ||
            memcmp(msg + sizeof head, g_pattern + r->next % PATTERN_PERIOD + sizeof head, size - sizeof head) != 0)
          r->errors++;
        r->next++;
        r->received++;
        if (head.sent_ns < deadline || deadline == 0) {
          delivered++;
          record(h, now - head.sent_ns);
        }
      }
      memmove(r->buf, r->buf + off, r->got - off);
      r->got -= off;
    }
    uint64_t m = UINT64_MAX;
    for (int i = 0; i < receivers; i++)
      if (rx[i].received < m) m = rx[i].received;
    min_received = m;
  }
  double elapsed = (double)(deadline - t0) / 1e9, cpu = cpu_percent(cpu0, now_ns() - t0);
  int complete = 1;
  for (int i = 0; i < receivers; i++) {
    errors += rx[i].errors;
    if (rx[i].received != sent) complete = 0;
    close(rx[i].fd);
  }
  close(tx);
  printf("{\"mode\":\"fanout\",\"receivers\":%d,\"size\":%zu,\"window\":%llu,\"seconds\":%.3f,\"sent\":%llu,"
         "\"delivered\":%llu,\"deliveredPerSec\":%.0f,\"inOrderComplete\":%s,\"errors\":%llu,\"cpuPercent\":%.1f,",
         receivers, size, (unsigned long long)window, elapsed, (unsigned long long)sent,
         (unsigned long long)delivered, elapsed > 0 ? (double)delivered / elapsed : 0.0, complete ? "true" : "false",
         (unsigned long long)errors, cpu);
  print_latency(h);
  printf("}\n");
  return errors || !complete ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 4) usage();
  const char *mode = argv[1];
  g_host = argv[2];
  g_port = argv[3];
  int conns = -1;
  size_t size = 0;
  double seconds = -1;
  uint64_t bytes = 256ULL << 20, window = 64;
  for (int i = 4; i < argc; i++) {
    if (i + 1 >= argc) usage();
    const char *v = argv[++i];
    switch (argv[i - 1][1]) {
      case 'c': conns = atoi(v); break;
      case 's': size = (size_t)strtoull(v, NULL, 10); break;
      case 'd': seconds = atof(v); break;
      case 'b': bytes = strtoull(v, NULL, 10); break;
      case 'w': window = strtoull(v, NULL, 10); break;
      default: usage();
    }
  }
  signal(SIGPIPE, SIG_IGN);
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  for (size_t i = 0; i < sizeof g_pattern; i++) g_pattern[i] = (uint8_t)(i % PATTERN_PERIOD * 2654435761u >> 13);
  resolve();
  if (strcmp(mode, "pingpong") == 0)
    return run_pingpong(conns > 0 ? conns : 50, size ? size : 64, seconds > 0 ? seconds : 5);
  if (strcmp(mode, "bulk") == 0) return run_bulk(conns > 0 ? conns : 1, bytes, size ? size : 256 * 1024);
  if (strcmp(mode, "idle") == 0) return run_idle(conns > 0 ? conns : 2000, seconds >= 0 ? seconds : 1);
  if (strcmp(mode, "fanout") == 0)
    return run_fanout(conns > 0 ? conns : 100, size ? size : 64, seconds > 0 ? seconds : 5, window ? window : 64);
  usage();
  return 2;
}
