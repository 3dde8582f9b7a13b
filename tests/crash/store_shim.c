/* store_shim.c - faults of the state store's data.mdb, preloaded into
 * `herald run` and `herald plan` by the crash tests: a power loss in the
 * spirit of SQLite's crash tests (src/test6.c) for
 * tests/e2e/test_crash_lost_writes.sh, and a full disk for
 * tests/e2e/test_crash_disk_full.sh where it cannot mount a small file
 * system.
 *
 * Every write to data.mdb that is not yet synced is recorded with the bytes
 * it overwrote. A sync (fsync or fdatasync of the file, or a write through a
 * descriptor opened with O_DSYNC/O_SYNC, which LMDB uses for its meta pages)
 * makes them durable and forgets them. At the chosen sync point the shim does
 * not sync: it puts back what the unsynced writes overwrote (and the file's
 * size at the last sync), keeps the part of them the chosen mode says reached
 * the disk, and kills the process with SIGKILL. The files then look as after
 * a power loss at that instant, and the next process reads them so.
 *
 * Environment:
 *   HERALD_CRASH_AT_SYNC=N    the power loss replaces the Nth sync (from 1)
 *   HERALD_CRASH_AFTER_MS=T   ... the first sync T ms or more after start-up
 *   SIGUSR1                   ... the first sync after the signal (the test
 *                             sends it when the work reaches a point), or
 *                             the 257th write after it when no sync came:
 *                             were commits not synced (MDB_NOSYNC), the
 *                             loss must still happen.
 *   HERALD_CRASH_KEEP         what of the unsynced writes reached the disk, in
 *                             512-byte sectors, in write order:
 *                             none (default), all (a plain kill), prefix (the
 *                             first K of them, K random: a file system that
 *                             keeps the order of writes), subset (each sector
 *                             with probability 1/2: one that does not)
 *   HERALD_CRASH_SEED=S       seeds prefix and subset (default 1)
 *   HERALD_CRASH_REPORT=FILE  a line appended per power loss, and per process
 *                             that ended without one (the syncs it made)
 *   HERALD_STORE_MAX_BYTES=N  a full disk: a write that would make data.mdb
 *                             longer than N bytes fails with ENOSPC, writing
 *                             nothing, and statvfs says the file system has
 *                             what is left to N free
 *
 * Only LMDB's write paths without MDB_WRITEMAP are modelled (pwrite, write,
 * writev; Herald never uses MDB_WRITEMAP). A writable shared mapping or a
 * truncation of data.mdb would escape the model, so either aborts the
 * process with a message instead of giving a wrong answer. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAXFD 65536
#define SECTOR 512

enum { UNTRACKED, DATA, DATA_DSYNC };

struct write_rec {
    off_t off;
    size_t len;
    unsigned char *post; /* the bytes written */
    unsigned char *pre;  /* the bytes they overwrote (within the file's size) */
    size_t pre_len;
};

static unsigned char fd_kind[MAXFD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct write_rec *pending;
static size_t npending, cap;
static off_t size_at_sync = -1; /* the file's size at the last sync; -1: nothing pending */
static dev_t file_dev;
static ino_t file_ino;
static bool have_file;
static unsigned long syncs;
static unsigned long at_sync;
static long long after_ms;
static struct timespec started;
static volatile sig_atomic_t armed;
static unsigned long writes_armed; /* writes since armed */
static unsigned long long rng;
static const char *keep_mode = "none";
static const char *report_path;
static bool crashed;
static long long max_bytes = -1;

static int (*real_open)(const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_statvfs)(const char *, struct statvfs *);
static off_t data_size = -1; /* data.mdb's size, as last seen */

static void die(const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "store_shim: %s\n", what);
    if (real_write && n > 0)
        real_write(2, msg, (size_t)n);
    abort();
}

static void *need(const char *name)
{
    void *f = dlsym(RTLD_NEXT, name);
    if (f == NULL)
        die("a libc function is missing");
    return f;
}

static void report(const char *line)
{
    if (report_path == NULL)
        return;
    int fd = real_open(report_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        real_write(fd, line, strlen(line));
        real_close(fd);
    }
}

static void on_usr1(int sig)
{
    (void)sig;
    armed = 1;
}

static unsigned long long next_rand(void)
{
    /* xorshift64*: reproducible from HERALD_CRASH_SEED */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

__attribute__((constructor)) static void init(void)
{
    real_open = (int (*)(const char *, int, ...))need("open");
    real_close = (int (*)(int))need("close");
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))need("pwrite");
    real_write = (ssize_t(*)(int, const void *, size_t))need("write");
    real_writev = (ssize_t(*)(int, const struct iovec *, int))need("writev");
    real_fsync = (int (*)(int))need("fsync");
    real_fdatasync = (int (*)(int))need("fdatasync");
    real_ftruncate = (int (*)(int, off_t))need("ftruncate");
    real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))need("mmap");
    real_statvfs = (int (*)(const char *, struct statvfs *))need("statvfs");
    const char *s;
    if ((s = getenv("HERALD_CRASH_AT_SYNC")) != NULL)
        at_sync = strtoul(s, NULL, 10);
    if ((s = getenv("HERALD_CRASH_AFTER_MS")) != NULL)
        after_ms = strtoll(s, NULL, 10);
    if ((s = getenv("HERALD_CRASH_KEEP")) != NULL) {
        if (strcmp(s, "none") && strcmp(s, "all") && strcmp(s, "prefix") && strcmp(s, "subset"))
            die("HERALD_CRASH_KEEP must be none, all, prefix or subset");
        keep_mode = s;
    }
    s = getenv("HERALD_CRASH_SEED");
    rng = 0x9E3779B97F4A7C15ULL ^ strtoull(s ? s : "1", NULL, 10);
    for (int i = 0; i < 4; i++)
        next_rand();
    report_path = getenv("HERALD_CRASH_REPORT");
    if ((s = getenv("HERALD_STORE_MAX_BYTES")) != NULL)
        max_bytes = strtoll(s, NULL, 10);
    clock_gettime(CLOCK_MONOTONIC, &started);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
}

__attribute__((destructor)) static void fini(void)
{
    char line[128];
    if (crashed)
        return;
    snprintf(line, sizeof line, "pid %d: no power loss, %lu syncs\n", (int)getpid(), syncs);
    report(line);
}

static bool is_store_file(const char *path)
{
    size_t n = path ? strlen(path) : 0;
    return n >= 8 && strcmp(path + n - 8, "data.mdb") == 0 && (n == 8 || path[n - 9] == '/');
}

static void track(int fd, int flags)
{
    struct stat st;
    if (fd < 0 || fd >= MAXFD || fstat(fd, &st) != 0)
        return;
    pthread_mutex_lock(&lock);
    if (have_file && (st.st_dev != file_dev || st.st_ino != file_ino))
        die("a second data.mdb in one process: not modelled");
    have_file = true;
    file_dev = st.st_dev;
    file_ino = st.st_ino;
    fd_kind[fd] = (flags & (O_DSYNC | O_SYNC)) ? DATA_DSYNC : DATA;
    pthread_mutex_unlock(&lock);
}

int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    /* Before the constructor (ASan's start-up opens files): the system
     * call itself, and nothing is tracked yet. */
    if (real_open == NULL)
        return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
    int fd = real_open(path, flags, mode);
    if (fd >= 0 && fd < MAXFD)
        fd_kind[fd] = UNTRACKED;
    if (fd >= 0 && is_store_file(path) && (flags & O_ACCMODE) != O_RDONLY)
        track(fd, flags);
    return fd;
}

int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int close(int fd)
{
    if (fd >= 0 && fd < MAXFD)
        fd_kind[fd] = UNTRACKED;
    return real_close ? real_close(fd) : (int)syscall(SYS_close, fd);
}

static int kind(int fd)
{
    return fd >= 0 && fd < MAXFD ? fd_kind[fd] : UNTRACKED;
}

/* Restores the file as at the last sync, then lets what the mode keeps of
 * the unsynced writes through, and dies. Called with the lock held. */
static void power_loss(int fd, const char *why)
{
    size_t sectors = 0, kept = 0, limit = 0;
    char line[256];
    crashed = true;
    for (size_t i = 0; i < npending; i++)
        sectors += (pending[i].len + SECTOR - 1) / SECTOR;
    for (size_t i = npending; i-- > 0;)
        if (pending[i].pre_len && real_pwrite(fd, pending[i].pre, pending[i].pre_len,
                                              pending[i].off) != (ssize_t)pending[i].pre_len)
            die("cannot restore data.mdb");
    if (size_at_sync >= 0 && real_ftruncate(fd, size_at_sync) != 0)
        die("cannot restore the size of data.mdb");
    if (strcmp(keep_mode, "all") == 0)
        limit = sectors;
    else if (strcmp(keep_mode, "prefix") == 0)
        limit = sectors ? (size_t)(next_rand() % (sectors + 1)) : 0;
    for (size_t i = 0; i < npending; i++) {
        for (size_t at = 0; at < pending[i].len; at += SECTOR) {
            size_t n = pending[i].len - at < SECTOR ? pending[i].len - at : SECTOR;
            bool keep = strcmp(keep_mode, "subset") == 0 ? (next_rand() >> 32) & 1 : kept < limit;
            if (!keep)
                continue;
            if (real_pwrite(fd, pending[i].post + at, n, pending[i].off + (off_t)at) != (ssize_t)n)
                die("cannot write the kept sectors");
            kept++;
        }
    }
    snprintf(line, sizeof line,
             "pid %d: power loss at sync %lu (%s): %zu unsynced writes, %zu sectors, kept %zu "
             "(%s)\n",
             (int)getpid(), syncs, why, npending, sectors, kept, keep_mode);
    report(line);
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

static void forget_pending(void)
{
    for (size_t i = 0; i < npending; i++) {
        free(pending[i].post);
        free(pending[i].pre);
    }
    npending = 0;
    size_at_sync = -1;
}

/* A sync point (lock held): the power loss happens here instead, or the
 * caller syncs. */
static void sync_point(int fd)
{
    struct timespec now;
    const char *why = NULL;
    syncs++;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long ms =
        (now.tv_sec - started.tv_sec) * 1000LL + (now.tv_nsec - started.tv_nsec) / 1000000;
    if (at_sync && syncs == at_sync)
        why = "HERALD_CRASH_AT_SYNC";
    else if (after_ms > 0 && ms >= after_ms)
        why = "HERALD_CRASH_AFTER_MS";
    else if (armed)
        why = "SIGUSR1";
    if (why)
        power_loss(fd, why);
}

/* Before a write (lock held): a power loss armed by SIGUSR1 that no sync
 * came to take happens here. */
static void write_point(int fd)
{
    if (armed && ++writes_armed > 256)
        power_loss(fd, "SIGUSR1, 256 writes and no sync");
}

/* Records a write of len bytes at off before it is made (lock held). */
static void record(int fd, const void *buf, size_t len, off_t off)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat data.mdb");
    if (size_at_sync < 0)
        size_at_sync = st.st_size;
    if (npending == cap) {
        cap = cap ? cap * 2 : 256;
        pending = realloc(pending, cap * sizeof *pending);
        if (pending == NULL)
            die("out of memory");
    }
    struct write_rec *w = &pending[npending++];
    w->off = off;
    w->len = len;
    w->post = malloc(len ? len : 1);
    w->pre_len = off < st.st_size
                     ? (size_t)(st.st_size - off < (off_t)len ? st.st_size - off : (off_t)len)
                     : 0;
    w->pre = malloc(w->pre_len ? w->pre_len : 1);
    if (w->post == NULL || w->pre == NULL)
        die("out of memory");
    memcpy(w->post, buf, len);
    if (w->pre_len && pread(fd, w->pre, w->pre_len, off) != (ssize_t)w->pre_len)
        die("cannot read what a write overwrites");
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    int k = kind(fd);
    if (k == UNTRACKED)
        return real_pwrite ? real_pwrite(fd, buf, len, off)
                           : (ssize_t)syscall(SYS_pwrite64, fd, buf, len, off);
    pthread_mutex_lock(&lock);
    ssize_t rc;
    if (max_bytes >= 0) {
        struct stat st;
        if (fstat(fd, &st) == 0)
            data_size = st.st_size;
    }
    if (max_bytes >= 0 && off + (off_t)len > max_bytes) {
        struct stat st;
        if (fstat(fd, &st) == 0 && off + (off_t)len > st.st_size) {
            pthread_mutex_unlock(&lock);
            errno = ENOSPC;
            return -1;
        }
    }
    if (k == DATA_DSYNC) {
        /* durable when it returns: a sync point, and nothing to remember */
        sync_point(fd);
        rc = real_pwrite(fd, buf, len, off);
    } else {
        write_point(fd);
        record(fd, buf, len, off);
        rc = real_pwrite(fd, buf, len, off);
        if (rc != (ssize_t)len) /* a short or failed write: keep the model simple */
            pending[npending - 1].len = rc > 0 ? (size_t)rc : 0;
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));

ssize_t write(int fd, const void *buf, size_t len)
{
    if (kind(fd) == UNTRACKED)
        return real_write ? real_write(fd, buf, len) : (ssize_t)syscall(SYS_write, fd, buf, len);
    off_t off = lseek(fd, 0, SEEK_CUR);
    ssize_t rc = pwrite(fd, buf, len, off);
    if (rc > 0)
        lseek(fd, off + rc, SEEK_SET);
    return rc;
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    if (kind(fd) == UNTRACKED)
        return real_writev ? real_writev(fd, iov, n) : (ssize_t)syscall(SYS_writev, fd, iov, n);
    ssize_t total = 0;
    for (int i = 0; i < n; i++) {
        ssize_t rc = write(fd, iov[i].iov_base, iov[i].iov_len);
        if (rc < 0)
            return total ? total : rc;
        total += rc;
        if ((size_t)rc < iov[i].iov_len)
            break;
    }
    return total;
}

static int do_sync(int fd, int (*real)(int))
{
    if (kind(fd) == UNTRACKED)
        return real ? real(fd) : (int)syscall(SYS_fsync, fd);
    pthread_mutex_lock(&lock);
    sync_point(fd);
    int rc = real(fd);
    if (rc == 0)
        forget_pending();
    pthread_mutex_unlock(&lock);
    return rc;
}

int fsync(int fd)
{
    return do_sync(fd, real_fsync);
}

int fdatasync(int fd)
{
    return do_sync(fd, real_fdatasync);
}

int ftruncate(int fd, off_t len)
{
    if (kind(fd) != UNTRACKED)
        die("ftruncate of data.mdb (MDB_WRITEMAP?): not modelled");
    return real_ftruncate ? real_ftruncate(fd, len) : (int)syscall(SYS_ftruncate, fd, len);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (kind(fd) != UNTRACKED && (prot & PROT_WRITE) && (flags & MAP_SHARED))
        die("a writable shared map of data.mdb (MDB_WRITEMAP?): not modelled");
    /* ASan's start-up maps memory before the constructor has run */
    return real_mmap ? real_mmap(addr, len, prot, flags, fd, off)
                     : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

/* With HERALD_STORE_MAX_BYTES, the file system has what data.mdb may still
 * grow by free (as far as the shim has seen the file). */
int statvfs(const char *path, struct statvfs *sv)
{
    if (real_statvfs == NULL)
        real_statvfs = (int (*)(const char *, struct statvfs *))need("statvfs");
    int rc = real_statvfs(path, sv);
    if (rc == 0 && max_bytes >= 0 && data_size >= 0 && sv->f_frsize > 0) {
        long long left = max_bytes > data_size ? max_bytes - data_size : 0;
        sv->f_bavail = sv->f_bfree = (fsblkcnt_t)left / sv->f_frsize;
    }
    return rc;
}
