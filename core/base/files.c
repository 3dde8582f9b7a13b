/* files.c - a directory with its parents, a secret key file, and every
 * input file opened and read (see herald/files.h). */
#include "herald/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
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
    int fd = hd_input_open(path, HD_IN_KEY, what, &st, err);

    if (fd < 0)
        goto fail;
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

/* ---- input files ---------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned long long limit;
} input_kinds[HD_IN_KIND_COUNT] = {
    [HD_IN_YAML] = {"campaign or locale file", 4ull << 20},
    [HD_IN_KEY] = {"key file", 64ull << 10},
    [HD_IN_OBJECTIONS] = {"objections file", 1ull << 30},
    [HD_IN_AUDIENCE] = {"audience file", UINT64_MAX},
    [HD_IN_BUNDLE] = {"proof bundle file", 64ull << 20},
    [HD_IN_RECORDS] = {"proof records file", UINT64_MAX},
    [HD_IN_SYSTEM] = {"system data file", 16ull << 20},
};

unsigned long long hd_input_limit(enum hd_input_kind kind)
{
    return kind < HD_IN_KIND_COUNT ? input_kinds[kind].limit : 0;
}

/* Kernel file systems whose files are not data at rest: sizes are 0 or
 * made up, reads may never end, contents may be secrets (statfs(2) magics;
 * literal values so no kernel header is needed). */
static const char *special_fs(unsigned long type)
{
    switch (type) {
    case 0x9fa0:
        return "procfs";
    case 0x62656572:
        return "sysfs";
    case 0x64626720:
        return "debugfs";
    case 0x74726163:
        return "tracefs";
    case 0x73636673:
        return "securityfs";
    case 0x27e0eb:
    case 0x63677270:
        return "cgroupfs";
    case 0x62656570:
        return "configfs";
    case 0xde5e81e4:
        return "efivarfs";
    case 0xcafe4a11:
        return "bpffs";
    case 0x6165676c:
        return "pstore";
    default:
        return NULL;
    }
}

static const char *file_type(mode_t m)
{
    return S_ISDIR(m)    ? "a directory"
           : S_ISFIFO(m) ? "a FIFO (named pipe)"
           : S_ISSOCK(m) ? "a socket"
           : S_ISCHR(m)  ? "a character device"
           : S_ISBLK(m)  ? "a block device"
                         : "not a regular file";
}

int hd_input_open(const char *path, enum hd_input_kind kind, const char *what, struct stat *st,
                  struct hd_err *err)
{
    struct stat sb;
    struct statfs fs;
    const char *special;
    int fd, flags;
    int code = kind == HD_IN_KEY ? HD_EX_CONFIG : HD_EX_NOINPUT;

    if (kind >= HD_IN_KIND_COUNT) {
        hd_err_set(err, HD_EX_SOFTWARE, "hd_input_open: bad kind");
        return -1;
    }
    if (what == NULL)
        what = input_kinds[kind].name;
    if (st == NULL)
        st = &sb;
    /* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
     * writer forever; it is cleared below for the regular file that is left. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        hd_err_set(err, code, "cannot open %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (fstat(fd, st) != 0) {
        hd_err_set(err, code, "cannot stat %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st->st_mode)) {
        hd_err_set(err, code,
                   "%s %s is %s, not a regular file: give the path of a regular file (a "
                   "symbolic link to one is fine)",
                   what, path, file_type(st->st_mode));
        goto fail;
    }
    if (fstatfs(fd, &fs) != 0) {
        hd_err_set(err, code, "cannot stat the file system of %s %s: %s", what, path,
                   strerror(errno));
        goto fail;
    }
    if ((special = special_fs((unsigned long)fs.f_type)) != NULL) {
        hd_err_set(err, code,
                   "%s %s is on %s, a kernel file system, not a data file: copy what it "
                   "should hold into a regular file and give that",
                   what, path, special);
        goto fail;
    }
    if ((unsigned long long)st->st_size > input_kinds[kind].limit) {
        hd_err_set(err, kind == HD_IN_KEY ? HD_EX_CONFIG : HD_EX_DATAERR,
                   "%s %s is too large (%lld bytes; at most %llu for a %s)", what, path,
                   (long long)st->st_size, input_kinds[kind].limit, input_kinds[kind].name);
        goto fail;
    }
    if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        hd_err_set(err, code, "cannot read %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

int hd_input_read(const char *path, enum hd_input_kind kind, const char *what, struct hd_buf *out,
                  struct hd_err *err)
{
    char buf[65536];
    unsigned long long limit = hd_input_limit(kind);
    int fd = hd_input_open(path, kind, what, NULL, err);

    hd_buf_reset(out);
    if (fd < 0)
        return -1;
    if (what == NULL)
        what = input_kinds[kind].name;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            hd_err_set(err, kind == HD_IN_KEY ? HD_EX_CONFIG : HD_EX_IOERR, "cannot read %s %s: %s",
                       what, path, strerror(errno));
            goto fail;
        }
        if (n == 0)
            break;
        /* The size was checked at open; a file that grows meanwhile is
         * stopped here, never read without end. */
        if (out->len + (size_t)n > limit) {
            hd_err_set(err, kind == HD_IN_KEY ? HD_EX_CONFIG : HD_EX_DATAERR,
                       "%s %s is too large (more than %llu bytes for a %s)", what, path, limit,
                       input_kinds[kind].name);
            goto fail;
        }
        if (hd_buf_append(out, buf, (size_t)n) != 0) {
            hd_err_set(err, HD_EX_SOFTWARE, "cannot read %s %s: out of memory", what, path);
            goto fail;
        }
    }
    close(fd);
    return 0;
fail:
    close(fd);
    hd_buf_reset(out);
    return -1;
}

int hd_file_read(const char *path, struct hd_buf *out, struct hd_err *err)
{
    return hd_input_read(path, HD_IN_BUNDLE, "file", out, err);
}

/* ---- trusted directories and private files (issue 10, finding 3) ------------ */

/* "dir/name" for messages; name alone when shown is NULL. */
static void shown_path(char *out, size_t cap, const char *shown, const char *name)
{
    if (shown == NULL)
        snprintf(out, cap, "%s", name);
    else
        snprintf(out, cap, "%s/%s", shown, name);
}

int hd_private_dir_open(int at, const char *name, const char *shown, const char *what,
                        struct hd_err *err)
{
    char path[HD_MKDIRS_PATH_MAX + 300];
    struct stat st;
    /* Below a directory already checked, a link is never followed; the
     * path the user named may itself be a link to their directory. */
    int flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | (at == AT_FDCWD ? 0 : O_NOFOLLOW);
    int fd = openat(at, name, flags);

    shown_path(path, sizeof path, shown, name);
    if (fd < 0) {
        int e = errno;
        struct stat lst;
        /* O_DIRECTORY | O_NOFOLLOW on a link fails with ENOTDIR, not ELOOP */
        bool link = at != AT_FDCWD && (e == ELOOP || e == ENOTDIR) &&
                    fstatat(at, name, &lst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(lst.st_mode);
        if (e == ENOENT)
            hd_err_set(err, HD_EX_NOINPUT, "%s \"%s\" does not exist", what, path);
        else if (link)
            hd_err_set(err, HD_EX_CONFIG,
                       "%s \"%s\" is a symbolic link, which Herald does not follow here: "
                       "remove it (rm %s)",
                       what, path, path);
        else if (e == ENOTDIR)
            hd_err_set(err, HD_EX_CANTCREAT, "%s \"%s\" is not a directory", what, path);
        else
            hd_err_set(err, HD_EX_CANTCREAT, "cannot open %s \"%s\": %s", what, path, strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot stat %s \"%s\": %s", what, path, strerror(errno));
        close(fd);
        return -1;
    }
    if (st.st_uid != geteuid()) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s \"%s\" belongs to uid %lu, not to you (uid %lu): run: chown %lu %s, or "
                   "use a directory of your own",
                   what, path, (unsigned long)st.st_uid, (unsigned long)geteuid(),
                   (unsigned long)geteuid(), path);
        close(fd);
        return -1;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s \"%s\" is writable by group or others (mode %04o), so others could "
                   "plant files in it: run: chmod 700 %s",
                   what, path, (unsigned)(st.st_mode & 07777), path);
        close(fd);
        return -1;
    }
    return fd;
}

/* The checks of hd_private_file_open on st (of the file shown as path). */
static int check_private(const struct stat *st, const char *path, mode_t forbid, const char *what,
                         struct hd_err *err)
{
    if (!S_ISREG(st->st_mode)) {
        hd_err_set(err, HD_EX_CONFIG, "%s %s is not a regular file: remove it (rm %s)", what, path,
                   path);
        return -1;
    }
    if (st->st_uid != geteuid()) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s %s belongs to uid %lu, not to you (uid %lu): run: chown %lu %s, or "
                   "remove it",
                   what, path, (unsigned long)st->st_uid, (unsigned long)geteuid(),
                   (unsigned long)geteuid(), path);
        return -1;
    }
    if (st->st_nlink != 1) {
        /* another name of the same file, perhaps where others can read it */
        hd_err_set(err, HD_EX_CONFIG,
                   "%s %s has %lu hard links: give it a copy of its own (cp %s %s.new && mv "
                   "%s.new %s)",
                   what, path, (unsigned long)st->st_nlink, path, path, path, path);
        return -1;
    }
    if ((st->st_mode & forbid) != 0) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s %s is accessible by group or others (mode %04o): run: "
                   "chmod %s %s",
                   what, path, (unsigned)(st->st_mode & 07777),
                   (forbid & (S_IRGRP | S_IROTH)) ? "600" : "go-w", path);
        return -1;
    }
    return 0;
}

int hd_private_file_open(int at, const char *name, const char *shown, int flags, mode_t forbid,
                         const char *what, struct hd_err *err)
{
    char path[HD_MKDIRS_PATH_MAX + 300];
    struct stat st;
    /* O_NONBLOCK: a FIFO planted under the name must not block the open;
     * it is refused below and the flag is cleared for a regular file. */
    int fd = openat(at, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);

    shown_path(path, sizeof path, shown, name);
    if (fd < 0) {
        int e = errno;
        if (e == ELOOP)
            hd_err_set(err, HD_EX_CONFIG,
                       "%s %s is a symbolic link, which Herald does not follow: remove it "
                       "(rm %s)",
                       what, path, path);
        else if (e == ENOENT && !(flags & O_CREAT))
            hd_err_set(err, HD_EX_NOINPUT, "%s %s does not exist", what, path);
        else
            hd_err_set(err, (flags & O_CREAT) ? HD_EX_CANTCREAT : HD_EX_IOERR,
                       "cannot %s %s %s: %s", (flags & O_CREAT) ? "create" : "open", what, path,
                       strerror(e));
        errno = e;
        return -1;
    }
    if (fstat(fd, &st) != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot stat %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    if (check_private(&st, path, forbid, what, err) != 0)
        goto fail;
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot use %s %s: %s", what, path, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* ---- outputs in a place the user chose --------------------------------------- */

int hd_out_tmp_open(const char *path, mode_t mode, char *tmp, size_t tmp_cap, struct hd_err *err)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    int dirlen = slash ? (int)(slash - path) : 0;
    int n = snprintf(tmp, tmp_cap, "%.*s%s.%s.XXXXXX", dirlen, path, slash ? "/" : "", base);
    int fd;

    if (*base == '\0' || n < 0 || (size_t)n >= tmp_cap) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", path,
                   *base == '\0' ? "no file name" : strerror(ENAMETOOLONG));
        tmp[0] = '\0';
        return -1;
    }
    /* mkstemp creates with O_CREAT | O_EXCL, which never follows a link. */
    if ((fd = mkstemp(tmp)) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", path, strerror(errno));
        tmp[0] = '\0';
        return -1;
    }
    if (fchmod(fd, mode) != 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        tmp[0] = '\0';
        return -1;
    }
    return fd;
}

int hd_out_commit(const char *tmp, const char *path, bool replace, struct hd_err *err)
{
    /* rename() replaces a link at path, and link() fails on one: neither
     * writes through it. */
    int rc = replace ? rename(tmp, path) : link(tmp, path);
    int e = errno;
    if (rc != 0 && !replace && (e == EPERM || e == EOPNOTSUPP || e == ENOSYS)) {
        /* a file system without hard links (vfat): claim the name with
         * O_EXCL (never through a link), then rename over the claim */
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        e = errno;
        if (fd >= 0) {
            close(fd);
            rc = rename(tmp, path);
            e = errno;
            if (rc != 0)
                unlink(path);
        }
    }
    if (rc != 0 || !replace)
        unlink(tmp);
    if (rc != 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    return 0;
}

int hd_out_write(const char *path, const void *data, size_t len, mode_t mode, bool replace,
                 struct hd_err *err)
{
    char tmp[HD_MKDIRS_PATH_MAX + 300];
    const char *p = data;
    size_t left = len;
    int fd = hd_out_tmp_open(path, mode, tmp, sizeof tmp, err);

    if (fd < 0)
        return -1;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    return hd_out_commit(tmp, path, replace, err);
fail:
    hd_err_set(err, HD_EX_IOERR, "cannot write %s: %s", path,
               errno ? strerror(errno) : "short write");
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    return -1;
}

int hd_private_file_check(int at, const char *name, const char *shown, mode_t forbid,
                          const char *what, struct stat *st, struct hd_err *err)
{
    char path[HD_MKDIRS_PATH_MAX + 300];
    shown_path(path, sizeof path, shown, name);
    if (fstatat(at, name, st, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        if (e == ENOENT)
            hd_err_set(err, HD_EX_NOINPUT, "%s %s does not exist", what, path);
        else
            hd_err_set(err, HD_EX_IOERR, "cannot stat %s %s: %s", what, path, strerror(e));
        errno = e;
        return -1;
    }
    if (S_ISLNK(st->st_mode)) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s %s is a symbolic link, which Herald does not follow: remove it "
                   "(rm %s)",
                   what, path, path);
        errno = ELOOP;
        return -1;
    }
    errno = 0;
    return check_private(st, path, forbid, what, err);
}
