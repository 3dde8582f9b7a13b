/* channels/smtp/smtp_net.c - the connect() interposer of the smtp module.
 *
 * libesmtp 1.1.0 opens its own sockets and offers no hook to reach them, and
 * it never sets TCP_NODELAY. With PIPELINING, the last short segment of a
 * message then waits for the peer's delayed ACK (Nagle): about 40 ms per
 * message, which capped a measured 16-session pool at 0.07 of smtp-source's
 * rate. It has no connect timeout either: a relay that drops SYNs holds a
 * session for the kernel's ~2 minutes of SYN retries.
 *
 * The fix: this file defines connect(). herald is linked with libesmtp.so,
 * so the linker exports this definition from the executable and the
 * dynamic linker binds libesmtp's connect() calls to it (the executable
 * comes first in symbol lookup). For threads marked with
 * smtp_net_thread_init() (the SMTP module's workers) it sets TCP_NODELAY on
 * AF_INET/AF_INET6 stream sockets and bounds the connect time; every other
 * caller gets the real connect() untouched. The real one is found with
 * dlsym(RTLD_NEXT, "connect").
 *
 * docs/smtp-channel.md explains the choice (and the alternative: patching
 * and vendoring libesmtp).
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "smtp_chan.h"

/* glibc defines RTLD_NEXT only under _GNU_SOURCE, which would also change
 * connect()'s prototype (a transparent union); its value is fixed ABI. */
#ifndef RTLD_NEXT
#define RTLD_NEXT ((void *)-1L)
#endif

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static connect_fn real_connect;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

/* Per thread: 0 = not an SMTP worker; otherwise the connect timeout in ms
 * (-1: no timeout), and whether to set TCP_NODELAY. */
static _Thread_local long worker_timeout_ms;
static _Thread_local bool worker_nodelay;

static void find_real_connect(void)
{
    void *sym = dlsym(RTLD_NEXT, "connect");
    memcpy(&real_connect, &sym, sizeof real_connect);
}

void smtp_net_thread_init(long connect_timeout_ms, bool nodelay)
{
    sigset_t all;
    /* Workers take no signals: the dispatcher's thread handles SIGINT and
     * SIGTERM, and a write to a socket the relay closed must fail with
     * EPIPE instead of killing the process (libesmtp does not ignore
     * SIGPIPE; a blocked SIGPIPE stays pending on this thread, harmlessly). */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    worker_timeout_ms = connect_timeout_ms > 0 ? connect_timeout_ms : -1;
    worker_nodelay = nodelay;
    pthread_once(&real_once, find_real_connect);
}

int64_t smtp_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* connect() with a deadline on a blocking socket: non-blocking connect,
 * poll, then the socket's flags as they were. */
static int connect_with_timeout(connect_fn fn, int fd, const struct sockaddr *sa, socklen_t len,
                                long timeout_ms)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || (flags & O_NONBLOCK))
        return fn(fd, sa, len);
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return fn(fd, sa, len);
    int rc = fn(fd, sa, len), saved = errno;
    if (rc != 0 && saved == EINPROGRESS) {
        int64_t deadline = smtp_now_ms() + timeout_ms;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        for (;;) {
            int64_t left = deadline - smtp_now_ms();
            if (left <= 0) {
                rc = -1;
                saved = ETIMEDOUT;
                break;
            }
            int n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                rc = -1;
                saved = errno;
                break;
            }
            if (n == 0)
                continue;
            int soerr = 0;
            socklen_t sl = sizeof soerr;
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
                soerr = errno;
            rc = soerr ? -1 : 0;
            saved = soerr;
            break;
        }
    }
    fcntl(fd, F_SETFL, flags);
    errno = saved;
    return rc;
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    pthread_once(&real_once, find_real_connect);
    if (real_connect == NULL) {
        errno = ENOSYS;
        return -1;
    }
    if (worker_timeout_ms == 0 || sa == NULL ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return real_connect(fd, sa, len);
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM)
        return real_connect(fd, sa, len);
    int one = 1;
    /* Best effort: a socket that refuses is still usable, only slower. */
    if (worker_nodelay)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (worker_timeout_ms < 0)
        return real_connect(fd, sa, len);
    return connect_with_timeout(real_connect, fd, sa, len, worker_timeout_ms);
}
