/*
 * A minimal edge-triggered epoll echo server: the practical limit the other servers are compared with.
 * One thread, non-blocking sockets, a 64 KiB buffer shared by all connections; data a peer cannot take
 * yet is kept per connection until EPOLLOUT (so a slow reader costs memory only while it is slow).
 *
 * Build: cc -O2 -o epoll_echo epoll_echo.c      Usage: ./epoll_echo PORT [HOST]
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

struct conn {
  int fd;
  char *pending; /* bytes read but not yet written back */
  size_t len, off;
};

static char buf[BUF_SIZE];

static void close_conn(int ep, struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
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

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 1234;
  const char *host = argc > 2 ? argv[2] : "127.0.0.1";
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
          struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if (echo(ep, c) < 0) close_conn(ep, c);
    }
  }
}
