/* privlink bench load generator and servers (loopback only; compiled by bench at run time).
 *
 *   loadgen sink PORT [HOST]               servers (HOST in 127.0.0.0/8, default 127.0.0.1):
 *                                          each connection is read to EOF, then the
 *                                          byte count is written back (8 bytes, big-endian)
 *   loadgen echo PORT [HOST]               epoll echo server (many connections)
 *   clients take DEST = PORT (127.0.0.1) or HOST:PORT with HOST in 127.0.0.0/8:
 *   loadgen bulk DEST BYTES                one stream of BYTES; prints "bytes confirmed seconds"
 *   loadgen connrate DEST CONC SECONDS MAX short connections: connect, 100 B each way, close;
 *                                          prints "completed errors seconds"
 *   loadgen pingpong DEST COUNT            64-byte round trips on one connection; prints
 *                                          "p50_ns p99_ns mean_ns"
 *   loadgen dns DEST NAME SECONDS WINDOW   UDP DNS queries (A, recursion desired) for NAME,
 *                                          WINDOW outstanding; prints "answered ok lost seconds"
 *                                          (ok: NOERROR with an answer record)
 *   loadgen proxy DEST PORT [splice]       the reference proxy: listens on 127.0.0.1:PORT and
 *                                          relays each connection to DEST (copy or splice)
 *   loadgen idle DEST N                    opens N connections, one 1-byte round trip each,
 *                                          prints "ready N", holds them until stdin closes
 *
 * Every client dials 127.0.0.0/8 only (checked). Every loop is bounded in count and time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Where clients connect: "PORT" (127.0.0.1) or "HOST:PORT" with HOST in 127.0.0.0/8. */
static struct sockaddr_in dest_addr = {0};

static void parse_dest(const char *spec) {
    char host[64] = "127.0.0.1";
    const char *colon = strrchr(spec, ':');
    int port;
    if (colon) {
        size_t n = (size_t)(colon - spec);
        if (n == 0 || n >= sizeof host) {
            fprintf(stderr, "bad destination %s\n", spec);
            exit(2);
        }
        memcpy(host, spec, n);
        host[n] = 0;
        port = atoi(colon + 1);
    } else {
        port = atoi(spec);
    }
    dest_addr = loopback(port);
    if (inet_pton(AF_INET, host, &dest_addr.sin_addr) != 1 ||
        (ntohl(dest_addr.sin_addr.s_addr) >> 24) != 127 || port <= 0 || port > 65535) {
        fprintf(stderr, "clients dial 127.0.0.0/8 only, not %s\n", spec);
        exit(2);
    }
}

static const char *listen_host = "127.0.0.1"; /* servers: any 127.0.0.0/8 address */

static int listen_on(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(port);
    if (inet_pton(AF_INET, listen_host, &a.sin_addr) != 1 || (ntohl(a.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "servers listen on 127.0.0.0/8 only, not %s\n", listen_host);
        exit(2);
    }
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
    if (listen(s, 4096) < 0) die("listen");
    return s;
}

static int dial(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = dest_addr;
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    return s;
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* A PROXY v2 header at the start of a connection is skipped (auto-detected). Returns how
 * many bytes of buf[0..n) belong to the header (assumes it arrives in the first read). */
static const char PP2SIG[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
static ssize_t pp2_skip(const char *buf, ssize_t n) {
    if (n < 16 || memcmp(buf, PP2SIG, 12) != 0) return 0;
    ssize_t len = 16 + (((unsigned char)buf[14] << 8) | (unsigned char)buf[15]);
    return len <= n ? len : n;
}

/* ------------------------------------------------------------------ sink */
static void *sink_conn(void *arg) {
    int c = (int)(intptr_t)arg;
    static __thread char buf[1 << 20];
    uint64_t total = 0;
    int first = 1;
    for (;;) {
        ssize_t n = read(c, buf, sizeof buf);
        if (n <= 0) break;
        if (first) n -= pp2_skip(buf, n);
        first = 0;
        total += n;
    }
    uint64_t be = __builtin_bswap64(total);
    ssize_t w = write(c, &be, 8);
    (void)w;
    close(c);
    return NULL;
}

static int run_sink(int port) {
    int s = listen_on(port);
    printf("listening %d\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) continue;
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_create(&t, &at, sink_conn, (void *)(intptr_t)c);
    }
    return 0;
}

/* ------------------------------------------------------------------ echo */
static int run_echo(int port) {
    int s = listen_on(port);
    set_nonblock(s);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s};
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    printf("listening %d\n", port);
    fflush(stdout);
    static char buf[65536];
    static unsigned char fresh[1 << 20]; /* per fd: no byte read yet */
    struct epoll_event evs[256];
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == s) {
                for (;;) {
                    int c = accept4(s, NULL, NULL, SOCK_NONBLOCK);
                    if (c < 0) break;
                    int one = 1;
                    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    if (c < (int)sizeof fresh) fresh[c] = 1;
                    struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof buf);
            ssize_t off = 0;
            if (r > 0 && fd < (int)sizeof fresh && fresh[fd]) {
                fresh[fd] = 0;
                off = pp2_skip(buf, r);
            }
            if (r > 0) {
                while (off < r) {  /* small messages: a short blocking spin is fine */
                    ssize_t w = write(fd, buf + off, r - off);
                    if (w < 0) {
                        if (errno == EAGAIN) continue;
                        break;
                    }
                    off += w;
                }
            } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
                close(fd);
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ bulk */
static int run_bulk(uint64_t bytes) {
    static char buf[1 << 18];
    memset(buf, 'x', sizeof buf);
    double t0 = now();
    int s = dial();
    uint64_t sent = 0;
    while (sent < bytes) {
        size_t want = bytes - sent < sizeof buf ? bytes - sent : sizeof buf;
        ssize_t w = write(s, buf, want);
        if (w <= 0) die("write");
        sent += w;
    }
    shutdown(s, SHUT_WR);
    uint64_t be = 0;
    size_t got = 0;
    while (got < 8) {
        ssize_t r = read(s, (char *)&be + got, 8 - got);
        if (r <= 0) break;
        got += r;
    }
    double t1 = now();
    close(s);
    printf("%llu %llu %.6f\n", (unsigned long long)sent,
           got == 8 ? (unsigned long long)__builtin_bswap64(be) : 0ull, t1 - t0);
    return 0;
}

/* ------------------------------------------------------------------ connrate */
struct conn {
    int fd;
    int state; /* 0 connecting, 1 reading */
    int got;
};

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

/* Short connections leave TIME_WAIT entries keyed by (source, destination); from a single
 * source address a few seconds at this rate fill the ephemeral port range and every
 * connect() then searches it. Spreading the sources over 127.0.0.2-127.0.0.65 (port chosen
 * at connect time) keeps the generator from measuring that search instead of the path. */
static unsigned src_rr = 0;

static int start_conn(int ep, struct conn *c) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    c->state = 0;
    c->got = 0;
    int one = 1;
    setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    struct sockaddr_in src = loopback(0);
    src.sin_addr.s_addr = htonl(0x7f000000u | (2 + (src_rr++ % 64)));
    if (bind(c->fd, (struct sockaddr *)&src, sizeof src) < 0) {
        close(c->fd);
        return -1;
    }
    struct sockaddr_in a = dest_addr;
    int r = connect(c->fd, (struct sockaddr *)&a, sizeof a);
    if (r < 0 && errno != EINPROGRESS) {
        close(c->fd);
        return -1;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    return 0;
}

static int run_connrate(int conc, double seconds, long max) {
    int ep = epoll_create1(0);
    struct conn *cs = calloc(conc, sizeof *cs);
    char msg[100];
    memset(msg, 'q', sizeof msg);
    char buf[4096];
    long started = 0, done = 0, errors = 0;
    double t0 = now(), deadline = t0 + seconds;
    for (int i = 0; i < conc && started < max; i++) {
        if (start_conn(ep, &cs[i]) == 0) started++;
        else errors++;
    }
    struct epoll_event evs[256];
    while (done + errors < started) {
        int n = epoll_wait(ep, evs, 256, 1000);
        if (now() > deadline + 10) break; /* hard stop */
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            int finished = 0, failed = 0;
            if (c->state == 0) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err || (evs[i].events & (EPOLLERR | EPOLLHUP)) ||
                    write(c->fd, msg, sizeof msg) != sizeof msg) {
                    failed = 1;
                } else {
                    c->state = 1;
                    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            } else {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r > 0) {
                    c->got += r;
                    if (c->got >= 100) finished = 1;
                } else if (r == 0 || errno != EAGAIN) {
                    failed = 1;
                }
            }
            if (finished || failed) {
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                close(c->fd);
                if (finished) done++;
                else errors++;
                if (now() < deadline && started < max) {
                    if (start_conn(ep, c) == 0) started++;
                    else errors++;
                }
            }
        }
    }
    double t1 = now();
    printf("%ld %ld %.6f\n", done, errors, t1 - t0);
    return 0;
}

/* ------------------------------------------------------------------ pingpong */
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int run_pingpong(long count) {
    int s = dial();
    int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char msg[64], buf[64];
    memset(msg, 'p', sizeof msg);
    uint64_t *lat = calloc(count, sizeof *lat);
    long warm = count / 10 + 10;
    double deadline = now() + 60;
    long k = 0;
    for (long i = 0; i < count + warm && now() < deadline; i++) {
        uint64_t t0 = now_ns();
        if (write(s, msg, 64) != 64) die("write");
        int got = 0;
        while (got < 64) {
            ssize_t r = read(s, buf + got, 64 - got);
            if (r <= 0) die("read");
            got += r;
        }
        uint64_t t1 = now_ns();
        if (i >= warm) lat[k++] = t1 - t0;
    }
    close(s);
    if (k == 0) return 1;
    qsort(lat, k, sizeof *lat, cmp_u64);
    double sum = 0;
    for (long i = 0; i < k; i++) sum += lat[i];
    printf("%llu %llu %.0f\n", (unsigned long long)lat[k / 2],
           (unsigned long long)lat[(k * 99) / 100], sum / k);
    return 0;
}

/* ------------------------------------------------------------------ dns */
static int dns_query(unsigned char *q, unsigned id, const char *name) {
    int n = 0;
    q[n++] = id >> 8;
    q[n++] = id & 0xff;
    q[n++] = 0x01; /* RD */
    q[n++] = 0x00;
    q[n++] = 0; q[n++] = 1; /* QDCOUNT */
    q[n++] = 0; q[n++] = 0;
    q[n++] = 0; q[n++] = 0;
    q[n++] = 0; q[n++] = 0;
    const char *p = name;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        if (len == 0 || len > 63 || n + len + 6 > 300) {
            fprintf(stderr, "bad name %s\n", name);
            exit(2);
        }
        q[n++] = (unsigned char)len;
        memcpy(q + n, p, len);
        n += len;
        p += len;
        if (*p == '.') p++;
    }
    q[n++] = 0;
    q[n++] = 0; q[n++] = 1; /* A */
    q[n++] = 0; q[n++] = 1; /* IN */
    return n;
}

static int run_dns(const char *name, double seconds, int window) {
    if (window < 1) window = 1;
    if (window > 1024) window = 1024;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = dest_addr;
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
    set_nonblock(s);
    static unsigned char outstanding[65536]; /* ids in flight */
    unsigned char q[320], r[4096];
    unsigned next_id = 1;
    long answered = 0, ok = 0, lost = 0, inflight = 0;
    double t0 = now(), deadline = t0 + seconds;
    while (now() < deadline) {
        while (inflight < window) {
            unsigned id = next_id++ & 0xffff;
            if (outstanding[id]) { /* a lost query still holds this id: count it */
                outstanding[id] = 0;
                lost++;
                inflight--;
            }
            int n = dns_query(q, id, name);
            if (send(s, q, n, 0) != n) break;
            outstanding[id] = 1;
            inflight++;
        }
        struct pollfd pf = {.fd = s, .events = POLLIN};
        int pr = poll(&pf, 1, 200);
        if (pr == 0) { /* nothing for 200 ms: the window is lost */
            memset(outstanding, 0, sizeof outstanding);
            lost += inflight;
            inflight = 0;
            continue;
        }
        for (;;) {
            ssize_t m = recv(s, r, sizeof r, 0);
            if (m < 12) break;
            unsigned id = (r[0] << 8) | r[1];
            if (!outstanding[id]) continue;
            outstanding[id] = 0;
            inflight--;
            answered++;
            int rcode = r[3] & 0x0f, ancount = (r[6] << 8) | r[7];
            if ((r[2] & 0x80) && rcode == 0 && ancount > 0) ok++;
        }
    }
    double t1 = now();
    printf("%ld %ld %ld %.6f\n", answered, ok, lost, t1 - t0);
    return 0;
}

/* ------------------------------------------------------------------ idle */
static int run_idle(int n) {
    int *fds = calloc(n, sizeof *fds);
    int ok = 0;
    for (int i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = dest_addr;
        if (connect(s, (struct sockaddr *)&a, sizeof a) < 0) {
            close(s);
            continue;
        }
        char c = 'i';
        struct timeval tv = {.tv_sec = 5};
        setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        if (write(s, &c, 1) == 1 && read(s, &c, 1) == 1) fds[ok++] = s;
        else close(s);
    }
    printf("ready %d\n", ok);
    fflush(stdout);
    char buf[16];
    while (read(0, buf, sizeof buf) > 0) {
    }
    for (int i = 0; i < ok; i++) close(fds[i]);
    return 0;
}

/* ------------------------------------------------------------------ proxy */
/* The machine's ceiling for a one-thread TCP proxy, as a reference row: epoll, level
 * triggered, one shared read buffer (copy) or a pipe per direction (splice), no per-flow
 * bookkeeping. Half-close passed through; an error on either side closes both. */
struct pconn {
    int fd[2];        /* 0 client, 1 target */
    int connecting;   /* target connect() in progress */
    int mask[2];      /* current epoll mask per fd */
    char *pend[2];    /* copy: unsent bytes of direction d (read from fd[d]) */
    size_t plen[2], poff[2];
    int pipe[2][2];   /* splice: pipe per direction, -1 when not made yet */
    size_t inpipe[2];
    int eof[2];       /* fd[d] reached EOF */
    int shut[2];      /* fd[1-d] got shutdown(SHUT_WR) for direction d */
    int dead;         /* closed; freed once the current batch of events is handled */
    struct pconn *next_dead;
};
struct pend_ref { struct pconn *c; int side; };
static int proxy_ep, proxy_splice;
static char proxy_buf[1 << 20];

static struct pconn *proxy_dead; /* closed in this batch: later events may still name them */

static void pc_close(struct pconn *c) {
    for (int i = 0; i < 2; i++) {
        close(c->fd[i]);
        free(c->pend[i]);
        if (c->pipe[i][0] >= 0) { close(c->pipe[i][0]); close(c->pipe[i][1]); }
    }
    c->dead = 1;
    c->next_dead = proxy_dead;
    proxy_dead = c;
}

static void pc_masks(struct pconn *c, struct pend_ref *refs) {
    for (int i = 0; i < 2; i++) {
        int want = 0;
        if (!c->connecting && !c->eof[i] && !c->pend[i] && !c->inpipe[i]) want |= EPOLLIN;
        if ((c->connecting && i == 1) || c->pend[1 - i] || c->inpipe[1 - i]) want |= EPOLLOUT;
        if (want == c->mask[i]) continue;
        struct epoll_event ev = {.events = want, .data.ptr = &refs[i]};
        epoll_ctl(proxy_ep, c->mask[i] ? (want ? EPOLL_CTL_MOD : EPOLL_CTL_DEL) : EPOLL_CTL_ADD,
                  c->fd[i], &ev);
        c->mask[i] = want;
    }
}

/* direction d: fd[d] -> fd[1-d]. Returns -1 when the flow must end. */
static int pc_flush(struct pconn *c, int d) {
    int dst = c->fd[1 - d];
    if (c->pend[d]) {
        ssize_t w = write(dst, c->pend[d] + c->poff[d], c->plen[d] - c->poff[d]);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        c->poff[d] += w;
        if (c->poff[d] < c->plen[d]) return 0;
        free(c->pend[d]);
        c->pend[d] = 0;
    }
    if (c->inpipe[d]) {
        ssize_t w = splice(c->pipe[d][0], 0, dst, 0, c->inpipe[d], SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (w < 0) return errno == EAGAIN ? 0 : -1;
        c->inpipe[d] -= w;
        if (c->inpipe[d]) return 0;
    }
    if (c->eof[d] && !c->shut[d]) { shutdown(dst, SHUT_WR); c->shut[d] = 1; }
    return 0;
}

static int pc_read(struct pconn *c, int d) {
    ssize_t n;
    if (proxy_splice) {
        if (c->pipe[d][0] < 0) {
            if (pipe2(c->pipe[d], O_NONBLOCK) < 0) return -1;
            fcntl(c->pipe[d][1], F_SETPIPE_SZ, 1 << 20);
        }
        n = splice(c->fd[d], 0, c->pipe[d][1], 0, 1 << 20, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n > 0) c->inpipe[d] = n;
    } else {
        n = read(c->fd[d], proxy_buf, sizeof proxy_buf);
        if (n > 0) {
            ssize_t w = write(c->fd[1 - d], proxy_buf, n);
            if (w < 0 && errno != EAGAIN) return -1;
            if (w < 0) w = 0;
            if (w < n) {
                c->pend[d] = malloc(n - w);
                memcpy(c->pend[d], proxy_buf + w, n - w);
                c->plen[d] = n - w;
                c->poff[d] = 0;
            }
            return 0;
        }
    }
    if (n == 0) c->eof[d] = 1;
    else if (n < 0) return errno == EAGAIN ? 0 : -1;
    return pc_flush(c, d);
}

static int run_proxy(int port, int use_splice) {
    proxy_splice = use_splice;
    int ls = listen_on(port);
    set_nonblock(ls);
    proxy_ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = 0};
    epoll_ctl(proxy_ep, EPOLL_CTL_ADD, ls, &ev);
    struct epoll_event evs[256];
    for (;;) {
        int k = epoll_wait(proxy_ep, evs, 256, -1);
        for (int e = 0; e < k; e++) {
            struct pend_ref *r = evs[e].data.ptr;
            if (!r) {
                for (int a = 0; a < 64; a++) {
                    int fd = accept4(ls, 0, 0, SOCK_NONBLOCK);
                    if (fd < 0) break;
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                    setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    struct sockaddr_in t = dest_addr;
                    if (connect(up, (struct sockaddr *)&t, sizeof t) < 0 && errno != EINPROGRESS) {
                        close(fd); close(up); continue;
                    }
                    /* the two refs live right after the struct */
                    struct pconn *c = calloc(1, sizeof *c + 2 * sizeof(struct pend_ref));
                    struct pend_ref *refs = (struct pend_ref *)(c + 1);
                    refs[0] = (struct pend_ref){c, 0};
                    refs[1] = (struct pend_ref){c, 1};
                    c->fd[0] = fd; c->fd[1] = up; c->connecting = 1;
                    c->pipe[0][0] = c->pipe[1][0] = -1;
                    pc_masks(c, refs);
                }
                continue;
            }
            struct pconn *c = r->c;
            if (c->dead) continue;
            struct pend_ref *refs = (struct pend_ref *)(c + 1);
            int s = r->side, bad = 0, evm = evs[e].events;
            if (c->connecting) {
                int err = 0; socklen_t len = sizeof err;
                getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { pc_close(c); continue; }
                c->connecting = 0;
            } else {
                if ((evm & EPOLLOUT) && pc_flush(c, 1 - s) < 0) bad = 1;
                if (!bad && (evm & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !c->eof[s] && !c->pend[s] &&
                    !c->inpipe[s] && pc_read(c, s) < 0) bad = 1;
            }
            if (bad || (c->shut[0] && c->shut[1])) { pc_close(c); continue; }
            pc_masks(c, refs);
        }
        while (proxy_dead) {
            struct pconn *d = proxy_dead;
            proxy_dead = d->next_dead;
            free(d);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 3) {
        fprintf(stderr, "usage: loadgen MODE PORT ...\n");
        return 2;
    }
    const char *mode = argv[1];
    int port = atoi(argv[2]);
    if ((!strcmp(mode, "sink") || !strcmp(mode, "echo")) && argc > 3) listen_host = argv[3];
    if (!strcmp(mode, "sink")) return run_sink(port);
    if (!strcmp(mode, "echo")) return run_echo(port);
    parse_dest(argv[2]);
    if (!strcmp(mode, "bulk") && argc > 3) return run_bulk(strtoull(argv[3], 0, 10));
    if (!strcmp(mode, "connrate") && argc > 5)
        return run_connrate(atoi(argv[3]), atof(argv[4]), atol(argv[5]));
    if (!strcmp(mode, "pingpong") && argc > 3) return run_pingpong(atol(argv[3]));
    if (!strcmp(mode, "idle") && argc > 3) return run_idle(atoi(argv[3]));
    if (!strcmp(mode, "proxy") && argc > 3)
        return run_proxy(atoi(argv[3]), argc > 4 && !strcmp(argv[4], "splice"));
    if (!strcmp(mode, "dns") && argc > 5) return run_dns(argv[3], atof(argv[4]), atoi(argv[5]));
    fprintf(stderr, "bad arguments\n");
    return 2;
}
