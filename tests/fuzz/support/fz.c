/* Fuzz target support (see fz.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "fz.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[4096];
static char path[4096 + 256];
static pid_t owner;

static int remove_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

/* Only the process that made the directory removes it (libFuzzer may fork
 * workers with -jobs). */
static void cleanup(void)
{
    if (dir[0] != '\0' && getpid() == owner)
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

const char *fz_dir(void)
{
    if (dir[0] == '\0') {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/herald-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (mkdtemp(dir) == NULL) {
            fprintf(stderr, "fz: cannot create %s: %s\n", dir, strerror(errno));
            abort();
        }
        owner = getpid();
        atexit(cleanup);
    }
    return dir;
}

const char *fz_path(const char *name)
{
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    return path;
}

const char *fz_write(const char *name, const void *data, size_t n)
{
    const char *p = fz_path(name);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const char *s = data;
    if (fd < 0) {
        fprintf(stderr, "fz: cannot create %s: %s\n", p, strerror(errno));
        abort();
    }
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "fz: cannot write %s: %s\n", p, strerror(errno));
            abort();
        }
        s += w;
        n -= (size_t)w;
    }
    close(fd);
    return p;
}

void fz_mkdir(const char *name)
{
    const char *p = fz_path(name);
    if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "fz: cannot create %s: %s\n", p, strerror(errno));
        abort();
    }
}

void fz_copy_source(const char *src, const char *dst)
{
    char from[4096];
    const char *root = getenv("HERALD_SOURCE_DIR");
    FILE *f;
    char *buf;
    long n;
#ifdef HERALD_SOURCE_DIR
    if (root == NULL || *root == '\0')
        root = HERALD_SOURCE_DIR;
#endif
    if (root == NULL) {
        fprintf(stderr, "fz: set HERALD_SOURCE_DIR\n");
        abort();
    }
    snprintf(from, sizeof from, "%s/%s", root, src);
    f = fopen(from, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (buf = malloc((size_t)n + 1)) == NULL ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "fz: cannot read %s\n", from);
        abort();
    }
    fclose(f);
    fz_write(dst, buf, (size_t)n);
    free(buf);
}

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "\n%s:%d: property failed: %s\n  ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}
