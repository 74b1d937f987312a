/*
 * A minimal edge-triggered epoll echo server: the practical limit the other servers are compared with.
 * One thread, non-blocking sockets, a 64 KiB buffer shared by all connections; data a peer cannot take
 * yet is kept per connection until EPOLLOUT (so a slow reader costs memory only while it is slow).
 *
 * With "splice", each connection echoes through a pipe of its own with splice(2) (socket to pipe, pipe to
 * socket), so the bytes are not copied through the server's memory: the peer suite's relay target, which shares
 * the load CPU with the generator and must cost less than the relay it is measured through.
 *
 * Build: cc -O2 -o epoll_echo epoll_echo.c      Usage: ./epoll_echo PORT [HOST] [splice]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define MAX_EVENTS 256

#define PIPE_CAP (1 << 20) /* splice mode: each connection's pipe, where the kernel allows it */

struct conn {
  int fd;
  char *pending; /* bytes read but not yet written back */
  size_t len, off;
  int pipe[2];   /* splice mode: read end, write end; -1 otherwise */
  size_t inpipe; /* splice mode: bytes in the pipe, not yet sent back */
  size_t cap;    /* splice mode: the pipe's size */
  int eof;       /* splice mode: the peer has finished sending */
};

static int g_splice;

static char buf[BUF_SIZE];

static void close_conn(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  if (c->pipe[0] >= 0) close(c->pipe[0]), close(c->pipe[1]);
  free(c->pending);
  free(c);
}

/* Writes what is pending; returns 0 when all was written, 1 when the socket is full, -1 on error. */
static int flush_pending(struct conn *c) {
  while (c->off < c->len) {
    ssize_t n = write(c->fd, c->pending + c->off, c->len - c->off);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 1 : -1;
    c->off += (size_t)n;
  }
  free(c->pending);
  c->pending = NULL;
  c->len = c->off = 0;
  return 0;
}

/* Echoes everything readable; returns -1 when the connection is finished. */
static int echo(int ep, struct conn *c) {
  if (c->pending) {
    int r = flush_pending(c);
    if (r != 0) return r < 0 ? -1 : 0; /* still blocked: do not read more (backpressure) */
  }
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n == 0) return -1;
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    ssize_t off = 0;
    while (off < n) {
      ssize_t w = write(c->fd, buf + off, (size_t)(n - off));
      if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        c->len = (size_t)(n - off);
        c->off = 0;
        c->pending = malloc(c->len);
        if (!c->pending) return -1;
        memcpy(c->pending, buf + off, c->len);
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
        return 0;
      }
      off += w;
    }
  }
}

/* Splice mode: moves what the pipe holds back to the peer and what the peer sent into the pipe, until neither
 * can go on (the socket has nothing more, or the peer takes nothing more: epoll says when either changes).
 * Returns -1 when the connection is finished. */
static int echo_spliced(struct conn *c) {
  for (;;) {
    int progress = 0;
    if (c->inpipe > 0) {
      ssize_t n = splice(c->pipe[0], NULL, c->fd, NULL, c->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) c->inpipe -= (size_t)n, progress = 1;
      else if (n < 0 && errno != EAGAIN) return -1;
    }
    if (!c->eof && c->inpipe < c->cap) {
      ssize_t n = splice(c->fd, NULL, c->pipe[1], NULL, c->cap - c->inpipe, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) c->inpipe += (size_t)n, progress = 1;
      else if (n == 0) c->eof = 1, progress = 1;
      else if (errno != EAGAIN) return -1;
    }
    if (c->eof && c->inpipe == 0) return -1;
    if (!progress) return 0;
  }
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 1234;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
  g_splice = argc > 3 && strcmp(argv[3], "splice") == 0;
  signal(SIGPIPE, SIG_IGN);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  inet_pton(AF_INET, host, &addr.sin_addr);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 4096) < 0) {
    perror("epoll_echo: cannot listen");
    return 1;
  }
  socklen_t alen = sizeof addr;
  getsockname(lfd, (struct sockaddr *)&addr, &alen);
  printf("listening on %s:%d\n", host, ntohs(addr.sin_port));
  fflush(stdout);

  int ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event events[MAX_EVENTS];
  for (;;) {
    int n = epoll_wait(ep, events, MAX_EVENTS, -1);
    for (int i = 0; i < n; i++) {
      struct conn *c = events[i].data.ptr;
      if (c == NULL) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct conn *nc = calloc(1, sizeof *nc);
          nc->fd = fd;
          nc->pipe[0] = nc->pipe[1] = -1;
          if (g_splice) {
            if (pipe2(nc->pipe, O_NONBLOCK) < 0) {
              close(fd);
              free(nc);
              continue;
            }
            int size = fcntl(nc->pipe[1], F_SETPIPE_SZ, PIPE_CAP);
            nc->cap = size > 0 ? (size_t)size : (size_t)fcntl(nc->pipe[1], F_GETPIPE_SZ);
          }
          /* Splice mode waits for both directions, edge-triggered: it stops only on EAGAIN from either side. */
          struct epoll_event ev = {.events = EPOLLIN | EPOLLET | (g_splice ? EPOLLOUT : 0), .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if ((g_splice ? echo_spliced(c) : echo(ep, c)) < 0) close_conn(ep, c);
    }
  }
}
