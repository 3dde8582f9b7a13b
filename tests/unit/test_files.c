/* Unit tests for the file helpers (core/base/files.c): hd_mkdirs and
 * hd_key_file_read. (hd_sha256_file is in test_hash.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hd_test.h"
#include "herald/files.h"

#define WHAT "test key file"
#define KEY "0123456789abcdef-secret"
#define MAX 32

static mode_t mode_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode));
    return st.st_mode & 07777;
}

/* ---- hd_mkdirs ------------------------------------------------------------------------------ */

static void test_mkdirs_parents_and_modes(void **state)
{
    const char *dir = hd_test_tmpdir();
    char path[1024], p[1024];
    struct hd_err err = {0};
    mode_t old = umask(022);
    (void)state;
    snprintf(path, sizeof path, "%s/a/b/store", dir);
    assert_int_equal(hd_mkdirs(path, 0700, "state directory", &err), 0);
    assert_int_equal(err.code, 0);
    snprintf(p, sizeof p, "%s/a", dir);
    assert_int_equal(mode_of(p), 0755);
    snprintf(p, sizeof p, "%s/a/b", dir);
    assert_int_equal(mode_of(p), 0755);
    assert_int_equal(mode_of(path), 0700);
    /* existing: fine, and left as it is (its mode too) */
    assert_int_equal(hd_mkdirs(path, 0755, "state directory", &err), 0);
    assert_int_equal(mode_of(path), 0700);
    assert_int_equal(hd_mkdirs(dir, 0700, "state directory", &err), 0);
    assert_int_equal(hd_mkdirs("/", 0700, "state directory", &err), 0);
    assert_int_equal(err.code, 0);
    /* 0755 for the directory itself too (proof bundles) */
    snprintf(path, sizeof path, "%s/out/bundle", dir);
    assert_int_equal(hd_mkdirs(path, 0755, "output directory", &err), 0);
    assert_int_equal(mode_of(path), 0755);
    /* trailing and doubled slashes: the last component is still dir itself */
    snprintf(path, sizeof path, "%s/c//d/private//", dir);
    assert_int_equal(hd_mkdirs(path, 0700, "state directory", &err), 0);
    snprintf(p, sizeof p, "%s/c/d", dir);
    assert_int_equal(mode_of(p), 0755);
    snprintf(p, sizeof p, "%s/c/d/private", dir);
    assert_int_equal(mode_of(p), 0700);
    /* a relative path */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(hd_mkdirs("rel/x", 0700, "state directory", &err), 0);
    assert_int_equal(mode_of("rel"), 0755);
    assert_int_equal(mode_of("rel/x"), 0700);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(err.code, 0);
    umask(old);
    hd_test_rmtree(dir);
}

static void test_mkdirs_refuses(void **state)
{
    const char *dir = hd_test_tmpdir();
    char *file = hd_test_write(dir, "file", "x", 1);
    char path[1024], want[1200];
    char *longp = malloc(HD_MKDIRS_PATH_MAX + 2);
    struct hd_err err = {0};
    (void)state;
    assert_non_null(longp);
    /* too long: refused before anything is made */
    memset(longp, 'a', HD_MKDIRS_PATH_MAX + 1);
    longp[HD_MKDIRS_PATH_MAX + 1] = '\0';
    assert_int_equal(hd_mkdirs(longp, 0700, "state directory", &err), -1);
    assert_int_equal(err.code, HD_EX_USAGE);
    assert_string_equal(err.msg, "state directory path is too long (4096 bytes, at most 4095)");
    assert_int_equal(access(longp, F_OK), -1);
    /* empty */
    err = (struct hd_err){0};
    assert_int_equal(hd_mkdirs("", 0755, "output directory", &err), -1);
    assert_int_equal(err.code, HD_EX_USAGE);
    assert_string_equal(err.msg, "output directory path is empty");
    /* a file in the way of a parent: that parent is named */
    err = (struct hd_err){0};
    snprintf(path, sizeof path, "%s/sub/dir", file);
    assert_int_equal(hd_mkdirs(path, 0700, "state directory", &err), -1);
    assert_int_equal(err.code, HD_EX_CANTCREAT);
    snprintf(want, sizeof want, "cannot create directory \"%s/sub\": Not a directory", file);
    assert_string_equal(err.msg, want);
    free(longp);
    free(file);
    hd_test_rmtree(dir);
}

/* ---- hd_key_file_read ----------------------------------------------------------------------- */

/* Writes data (len bytes) to dir/name with mode and returns the path. */
static char *key_file(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
    char *path = hd_test_write(dir, name, data, len);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_key_file_reads(void **state)
{
    static const struct {
        const char *data;
        unsigned flags;
        const char *key; /* what is read */
    } cases[] = {
        {KEY, 0, KEY},
        {KEY "\n", 0, KEY},
        {KEY "\r\n", 0, KEY},
        {KEY "\n\n", 0, KEY "\n"}, /* only one newline */
        {KEY "\r\r\n", 0, KEY "\r"},
        {KEY "\r", 0, KEY "\r"},              /* a lone "\r" is part of the key... */
        {KEY "\r", HD_KEY_FILE_LONE_CR, KEY}, /* ...unless asked */
        {KEY "\r\n", HD_KEY_FILE_LONE_CR, KEY},
        {KEY "\r\r\n", HD_KEY_FILE_LONE_CR, KEY "\r"},
        {KEY "\n\r", HD_KEY_FILE_LONE_CR, KEY "\n"},
    };
    const char *dir = hd_test_tmpdir();
    unsigned char buf[MAX + 2];
    struct hd_err err = {0};
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *path = key_file(dir, "k", cases[i].data, (size_t)-1, 0600);
        long n = hd_key_file_read(path, WHAT, buf, MAX, cases[i].flags, &err);
        assert_int_equal(n, (long)strlen(cases[i].key));
        assert_memory_equal(buf, cases[i].key, (size_t)n);
        free(path);
    }
    /* raw bytes, NUL included; 0400 and 0700 are as strict as 0600 */
    char *path = key_file(dir, "raw", "ab\0\xff", 4, 0400);
    assert_int_equal(hd_key_file_read(path, WHAT, buf, MAX, 0, &err), 4);
    assert_memory_equal(buf, "ab\0\xff", 4);
    free(path);
    path = key_file(dir, "x", KEY, (size_t)-1, 0700);
    assert_int_equal(hd_key_file_read(path, WHAT, buf, MAX, 0, &err), (long)strlen(KEY));
    free(path);
    assert_int_equal(err.code, 0);
    hd_test_rmtree(dir);
}

static void test_key_file_longest(void **state)
{
    const char *dir = hd_test_tmpdir();
    char data[MAX + 3], want[512];
    unsigned char buf[MAX + 2];
    struct hd_err err = {0};
    char *path;
    (void)state;
    memset(data, 'k', sizeof data);
    /* MAX bytes and "\r\n": the longest file */
    data[MAX] = '\r';
    data[MAX + 1] = '\n';
    path = key_file(dir, "ok", data, MAX + 2, 0600);
    assert_int_equal(hd_key_file_read(path, WHAT, buf, MAX, 0, &err), MAX);
    free(path);
    /* MAX + 1 bytes and "\n": read whole, too long once the newline is off */
    data[MAX] = 'k';
    data[MAX + 1] = '\n';
    path = key_file(dir, "long", data, MAX + 2, 0600);
    memset(buf, 0x5a, sizeof buf);
    assert_int_equal(hd_key_file_read(path, WHAT, buf, MAX, 0, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    snprintf(want, sizeof want, WHAT " %s is longer than %d bytes (plus a newline)", path, MAX);
    assert_string_equal(err.msg, want);
    /* what was read is wiped */
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0);
    free(path);
    /* one byte more than the buffer: not cut silently (st_size) */
    data[MAX + 2] = '\n';
    path = key_file(dir, "longer", data, MAX + 3, 0600);
    err = (struct hd_err){0};
    assert_int_equal(hd_key_file_read(path, WHAT, buf, MAX, 0, &err), -1);
    snprintf(want, sizeof want, WHAT " %s is longer than %d bytes (plus a newline)", path, MAX);
    assert_string_equal(err.msg, want);
    free(path);
    hd_test_rmtree(dir);
}

static void test_key_file_refuses(void **state)
{
    const char *dir = hd_test_tmpdir();
    unsigned char buf[MAX + 2];
    char want[1024];
    struct hd_err err = {0};
    char *path;
    (void)state;
    /* group or others may read or write it: refused, with the fix */
    static const mode_t modes[] = {0644, 0640, 0620, 0604, 0602, 0660};
    path = key_file(dir, "open", KEY "\n", (size_t)-1, 0644);
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        err = (struct hd_err){0};
        assert_int_equal(hd_key_file_read(path, WHAT, buf, MAX, 0, &err), -1);
        assert_int_equal(err.code, HD_EX_CONFIG);
        snprintf(want, sizeof want,
                 WHAT " %s is accessible by group or others (mode %04o); run: chmod 600 %s", path,
                 (unsigned)modes[i], path);
        assert_string_equal(err.msg, want);
        assert_null(strstr(err.msg, KEY));
    }
    free(path);
    /* empty, or only a newline */
    static const char *const empties[] = {"", "\n", "\r\n"};
    for (size_t i = 0; i < 3; i++) {
        path = key_file(dir, "empty", empties[i], (size_t)-1, 0600);
        err = (struct hd_err){0};
        assert_int_equal(hd_key_file_read(path, WHAT, buf, MAX, 0, &err), -1);
        assert_int_equal(err.code, HD_EX_CONFIG);
        snprintf(want, sizeof want, WHAT " %s is empty", path);
        assert_string_equal(err.msg, want);
        free(path);
    }
    /* missing: named, with the reason */
    snprintf(want, sizeof want, "%s/missing", dir);
    err = (struct hd_err){0};
    assert_int_equal(hd_key_file_read(want, WHAT, buf, MAX, 0, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "cannot open " WHAT " "));
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, "No such file or directory"));
    /* not a regular file */
    err = (struct hd_err){0};
    assert_int_equal(hd_key_file_read(dir, WHAT, buf, MAX, 0, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    snprintf(want, sizeof want, WHAT " %s is a directory, not a regular file", dir);
    assert_non_null(strstr(err.msg, want));
    hd_test_rmtree(dir);
}

/* ---- input files (issue 10, findings 8, 9, 12) ---------------------------- */

/* Opening must fail with code, and the message must contain want. */
static void input_refused(const char *path, enum hd_input_kind kind, int code, const char *want)
{
    struct hd_err err = {0};
    struct hd_buf b = HD_BUF_INIT;
    assert_int_equal(hd_input_open(path, kind, "test input", NULL, &err), -1);
    if (strstr(err.msg, want) == NULL)
        print_message("message: %s\n", err.msg);
    assert_int_equal(err.code, code);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, path));
    err = (struct hd_err){0};
    assert_int_equal(hd_input_read(path, kind, "test input", &b, &err), -1);
    assert_int_equal(err.code, code);
    assert_int_equal(b.len, 0);
    hd_buf_release(&b);
}

/* A FIFO with no writer, a device, a directory, procfs: refused at once,
 * never read (a FIFO used to block forever, /dev/zero to read forever). */
static void test_input_refuses_special_files(void **state)
{
    char *dir = strdup(hd_test_tmpdir()), fifo[512];
    (void)state;
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    input_refused(fifo, HD_IN_YAML, HD_EX_NOINPUT, "is a FIFO (named pipe), not a regular file");
    input_refused(fifo, HD_IN_AUDIENCE, HD_EX_NOINPUT, "FIFO");
    input_refused(fifo, HD_IN_KEY, HD_EX_CONFIG, "FIFO"); /* key files: 78 */
    input_refused("/dev/zero", HD_IN_OBJECTIONS, HD_EX_NOINPUT, "is a character device");
    input_refused("/dev/zero", HD_IN_BUNDLE, HD_EX_NOINPUT, "character device");
    input_refused(dir, HD_IN_AUDIENCE, HD_EX_NOINPUT, "is a directory");
    input_refused("/proc/self/environ", HD_IN_AUDIENCE, HD_EX_NOINPUT,
                  "is on procfs, a kernel file system");
    input_refused("/proc/self/environ", HD_IN_KEY, HD_EX_CONFIG, "procfs");
    input_refused("/sys/kernel/mm/transparent_hugepage/enabled", HD_IN_YAML, HD_EX_NOINPUT,
                  "sysfs");
    input_refused("/nonexistent/herald/x", HD_IN_YAML, HD_EX_NOINPUT, "No such file");
    hd_test_rmtree(dir);
    free(dir);
}

/* Regular files, through symbolic links too (ConfigMaps are links), within
 * each kind's limit; over it they are refused before reading. */
static void test_input_regular_files_and_limits(void **state)
{
    char *dir = strdup(hd_test_tmpdir()), link[512], big[512];
    char *path = hd_test_write(dir, "small.txt", "hello\n", (size_t)-1);
    struct hd_buf b = HD_BUF_INIT;
    struct hd_err err = {0};
    struct stat st;
    int fd;
    (void)state;
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(hd_input_read(link, HD_IN_YAML, NULL, &b, &err), 0);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "hello\n", 6);
    fd = hd_input_open(link, HD_IN_AUDIENCE, NULL, &st, &err);
    assert_true(fd >= 0);
    assert_int_equal(st.st_size, 6);
    assert_true(S_ISREG(st.st_mode));
    close(fd);
    /* the documented limits */
    assert_int_equal(hd_input_limit(HD_IN_YAML), 4ull << 20);
    assert_int_equal(hd_input_limit(HD_IN_KEY), 64ull << 10);
    assert_int_equal(hd_input_limit(HD_IN_OBJECTIONS), 1ull << 30);
    assert_int_equal(hd_input_limit(HD_IN_BUNDLE), 64ull << 20);
    assert_int_equal(hd_input_limit(HD_IN_SYSTEM), 16ull << 20);
    assert_true(hd_input_limit(HD_IN_AUDIENCE) == UINT64_MAX);
    assert_true(hd_input_limit(HD_IN_RECORDS) == UINT64_MAX);
    /* one byte over a limit: refused by size (a sparse file: nothing read) */
    snprintf(big, sizeof big, "%s/big", dir);
    fd = open(big, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)(hd_input_limit(HD_IN_KEY) + 1)), 0);
    close(fd);
    input_refused(big, HD_IN_KEY, HD_EX_CONFIG, "is too large");
    assert_int_equal(truncate(big, (off_t)(hd_input_limit(HD_IN_BUNDLE) + 1)), 0);
    input_refused(big, HD_IN_BUNDLE, HD_EX_DATAERR, "is too large");
    assert_int_equal(truncate(big, (off_t)(hd_input_limit(HD_IN_YAML) + 1)), 0);
    input_refused(big, HD_IN_YAML, HD_EX_DATAERR, "is too large");
    /* at the limit: read */
    assert_int_equal(truncate(big, (off_t)hd_input_limit(HD_IN_KEY)), 0);
    assert_int_equal(hd_input_read(big, HD_IN_KEY, NULL, &b, &err), 0);
    assert_int_equal(b.len, hd_input_limit(HD_IN_KEY));
    hd_buf_release(&b);
    free(path);
    hd_test_rmtree(dir);
    free(dir);
}

/* A key file that is a FIFO: refused at once (it used to block forever). */
static void test_key_file_fifo_does_not_block(void **state)
{
    char *dir = strdup(hd_test_tmpdir()), fifo[512];
    unsigned char buf[MAX + 2];
    struct hd_err err = {0};
    (void)state;
    snprintf(fifo, sizeof fifo, "%s/key", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(hd_key_file_read(fifo, WHAT, buf, MAX, 0, &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "FIFO"));
    hd_test_rmtree(dir);
    free(dir);
}

/* Excerpts of input in messages: short, escaped, terminal-safe. */
static void test_err_excerpt(void **state)
{
    char out[256];
    (void)state;
    assert_string_equal(hd_err_excerpt(out, sizeof out, "plain", 5, 32), "plain");
    assert_string_equal(hd_err_excerpt(out, sizeof out, "a\x1b[2Jb\"\\\n\xff", 10, 32),
                        "a\\x1b[2Jb\\\"\\\\\\x0a\\xff");
    assert_string_equal(hd_err_excerpt(out, sizeof out, "0123456789", 10, 4), "0123...");
    /* never more than HD_ERR_EXCERPT_MAX input bytes, whatever max says */
    const char *secret = "SECRET-0123456789abcdefghijklmnopqrstuvwxyz-END";
    hd_err_excerpt(out, sizeof out, secret, strlen(secret), 1000);
    assert_null(strstr(out, "END"));
    assert_int_equal(strlen(out), HD_ERR_EXCERPT_MAX + 3);
    /* a small buffer: cut, still terminated */
    assert_string_equal(hd_err_excerpt(out, 8, "0123456789", 10, 32), "0123...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mkdirs_parents_and_modes),
        cmocka_unit_test(test_mkdirs_refuses),
        cmocka_unit_test(test_key_file_reads),
        cmocka_unit_test(test_key_file_longest),
        cmocka_unit_test(test_key_file_refuses),
        cmocka_unit_test(test_input_refuses_special_files),
        cmocka_unit_test(test_input_regular_files_and_limits),
        cmocka_unit_test(test_key_file_fifo_does_not_block),
        cmocka_unit_test(test_err_excerpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
