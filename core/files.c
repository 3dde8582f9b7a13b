/* files.c - a directory with its parents, a secret key file, a whole file
 * (see herald/files.h). */
#include "herald/files.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

int hd_mkdirs(const char *dir, mode_t mode, const char *what, struct hd_err *err)
{
    char path[HD_MKDIRS_PATH_MAX + 1];
    size_t n = strlen(dir), end = n;

    if (n == 0) {
        hd_err_set(err, HD_EX_USAGE, "%s path is empty", what);
        return -1;
    }
    if (n > HD_MKDIRS_PATH_MAX) {
        hd_err_set(err, HD_EX_USAGE, "%s path is too long (%zu bytes, at most %d)", what, n,
                   HD_MKDIRS_PATH_MAX);
        return -1;
    }
    memcpy(path, dir, n + 1);
    /* Trailing slashes belong to dir: "a/b/" must make b with mode, not 0755. */
    while (end > 1 && path[end - 1] == '/')
        end--;
    path[end] = '\0';
    for (size_t i = 1; i <= end; i++) {
        /* a component ends here; "//" ends none (and "/" needs no mkdir) */
        if ((path[i] != '/' && path[i] != '\0') || path[i - 1] == '/')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir(path, i == end ? mode : 0755) != 0 && errno != EEXIST) {
            hd_err_set(err, HD_EX_CANTCREAT, "cannot create directory \"%s\": %s", path,
                       strerror(errno));
            return -1;
        }
        path[i] = saved;
    }
    return 0;
}

long hd_key_file_read(const char *path, const char *what, unsigned char *buf, size_t max,
                      unsigned flags, struct hd_err *err)
{
    const size_t cap = max + 2; /* the key and a "\r\n" */
    struct stat st;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        hd_err_set(err, HD_EX_CONFIG, "cannot open %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        hd_err_set(err, HD_EX_CONFIG, "cannot stat %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        hd_err_set(err, HD_EX_CONFIG, "%s %s is not a regular file", what, path);
        goto fail;
    }
    if ((st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) != 0) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s %s is accessible by group or others (mode %04o); run: chmod 600 %s", what,
                   path, (unsigned)(st.st_mode & 07777), path);
        goto fail;
    }
    /* st_size catches a long file whose bytes past cap the bounded read
     * below would otherwise ignore silently. */
    if ((unsigned long long)st.st_size > cap)
        goto too_long;
    while (got < cap) {
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            hd_err_set(err, HD_EX_CONFIG, "cannot read %s %s: %s", what, path, strerror(errno));
            goto fail;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    fd = -1;
    if (got > 0 && buf[got - 1] == '\n') {
        got--;
        if (got > 0 && buf[got - 1] == '\r')
            got--;
    } else if ((flags & HD_KEY_FILE_LONE_CR) && got > 0 && buf[got - 1] == '\r') {
        got--;
    }
    if (got > max)
        goto too_long;
    if (got == 0) {
        hd_err_set(err, HD_EX_CONFIG, "%s %s is empty", what, path);
        goto fail;
    }
    return (long)got;
too_long:
    hd_err_set(err, HD_EX_CONFIG, "%s %s is longer than %zu bytes (plus a newline)", what, path,
               max);
fail:
    if (fd >= 0)
        close(fd);
    OPENSSL_cleanse(buf, cap);
    return -1;
}

int hd_file_read(const char *path, struct hd_buf *out, struct hd_err *err)
{
    FILE *f = fopen(path, "rb");
    char buf[65536];
    size_t n;
    hd_buf_reset(out);
    if (f == NULL) {
        hd_err_set(err, errno == ENOENT ? HD_EX_NOINPUT : HD_EX_IOERR, "%s: %s", path,
                   strerror(errno));
        return -1;
    }
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (hd_buf_append(out, buf, n) != 0) {
            fclose(f);
            hd_err_set(err, HD_EX_SOFTWARE, "%s: too large or out of memory", path);
            return -1;
        }
    }
    if (ferror(f)) {
        hd_err_set(err, HD_EX_IOERR, "%s: %s", path, strerror(errno));
        fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}
