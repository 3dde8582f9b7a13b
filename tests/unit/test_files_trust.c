/* test_files_trust.c - hd_private_dir_open, hd_private_file_open and the
 * hd_out_* output helpers (herald/files.h): what a hostile file system can
 * plant is refused or replaced, never followed (issue 10, finding 3). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hd_test.h"
#include "herald/files.h"

static char *join(const char *dir, const char *name)
{
    char *p = malloc(strlen(dir) + strlen(name) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, name);
    return p;
}

static void assert_content(const char *path, const char *want)
{
    char buf[256] = "";
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static void test_private_dir(void **state)
{
    const char *dir = hd_test_tmpdir();
    struct hd_err err = {0};
    char *d = join(dir, "d"), *link = join(dir, "l");
    int fd;
    (void)state;

    assert_int_equal(mkdir(d, 0700), 0);
    fd = hd_private_dir_open(AT_FDCWD, d, NULL, "state directory", &err);
    assert_true(fd >= 0);
    /* a subdirectory planted as a link is refused, naming it */
    assert_int_equal(symlink(dir, link), 0);
    /* the path the user names may be a link to a directory of theirs */
    int lfd = hd_private_dir_open(AT_FDCWD, link, NULL, "x", &err);
    assert_true(lfd >= 0);
    close(lfd);
    assert_int_equal(symlinkat(dir, fd, "sub"), 0);
    assert_int_equal(hd_private_dir_open(fd, "sub", d, "maildir directory", &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_non_null(strstr(err.msg, "/d/sub"));
    close(fd);

    /* writable by group or others */
    assert_int_equal(chmod(d, 0770), 0);
    assert_int_equal(hd_private_dir_open(AT_FDCWD, d, NULL, "state directory", &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "chmod 700"));
    assert_int_equal(chmod(d, 0755), 0); /* readable is fine */
    fd = hd_private_dir_open(AT_FDCWD, d, NULL, "state directory", &err);
    assert_true(fd >= 0);
    close(fd);

    /* missing; a file */
    assert_int_equal(hd_private_dir_open(AT_FDCWD, "/nonexistent/x", NULL, "w", &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    free(hd_test_write(dir, "f", "x", 1));
    char *f = join(dir, "f");
    assert_int_equal(hd_private_dir_open(AT_FDCWD, f, NULL, "state directory", &err), -1);
    assert_int_equal(err.code, HD_EX_CANTCREAT);

    if (geteuid() == 0) { /* another owner: chown needs root */
        assert_int_equal(chown(d, 65534, (gid_t)-1), 0);
        assert_int_equal(hd_private_dir_open(AT_FDCWD, d, NULL, "state directory", &err), -1);
        assert_int_equal(err.code, HD_EX_CONFIG);
        assert_non_null(strstr(err.msg, "chown 0 "));
    }
    free(f);
    free(d);
    free(link);
    hd_test_rmtree(dir);
}

static void test_private_file(void **state)
{
    const char *dir = hd_test_tmpdir();
    struct hd_err err = {0};
    char *victim = hd_test_write(dir, "victim", "precious", 8);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY), fd;
    struct stat st;
    (void)state;

    assert_true(dfd >= 0);
    /* created with mode 0600 */
    fd = hd_private_file_open(dfd, "new", dir, O_RDWR | O_CREAT, 077, "state store file", &err);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);

    /* a link, dangling or not, is refused and its target untouched */
    assert_int_equal(symlinkat(victim, dfd, "link"), 0);
    assert_int_equal(hd_private_file_open(dfd, "link", dir, O_RDWR | O_CREAT, 077, "f", &err), -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_non_null(strstr(err.msg, "symbolic link"));
    assert_content(victim, "precious");
    assert_int_equal(symlinkat("/nonexistent-target", dfd, "dangling"), 0);
    assert_int_equal(hd_private_file_open(dfd, "dangling", dir, O_RDWR | O_CREAT, 077, "f", &err),
                     -1);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_int_equal(access("/nonexistent-target", F_OK), -1);

    /* a second name (hard link), a loose mode, a FIFO (without blocking) */
    assert_int_equal(linkat(dfd, "new", dfd, "new2", 0), 0);
    assert_int_equal(hd_private_file_open(dfd, "new", dir, O_RDWR, 077, "f", &err), -1);
    assert_non_null(strstr(err.msg, "hard links"));
    assert_int_equal(unlinkat(dfd, "new2", 0), 0);
    assert_int_equal(fchmodat(dfd, "new", 0640, 0), 0);
    assert_int_equal(hd_private_file_open(dfd, "new", dir, O_RDWR, 077, "f", &err), -1);
    assert_non_null(strstr(err.msg, "chmod 600"));
    fd = hd_private_file_open(dfd, "new", dir, O_RDWR, S_IWGRP | S_IWOTH, "f", &err);
    assert_true(fd >= 0); /* readable by group: allowed when only writing is forbidden */
    close(fd);
    assert_int_equal(mkfifoat(dfd, "fifo", 0600), 0);
    assert_int_equal(hd_private_file_open(dfd, "fifo", dir, O_RDONLY, 077, "f", &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));

    /* the same checks without opening: hd_private_file_check */
    assert_int_equal(hd_private_file_check(dfd, "new", dir, 077, "f", &st, &err), -1);
    assert_non_null(strstr(err.msg, "chmod 600")); /* still 0640 */
    assert_int_equal(fchmodat(dfd, "new", 0600, 0), 0);
    assert_int_equal(hd_private_file_check(dfd, "new", dir, 077, "f", &st, &err), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(hd_private_file_check(dfd, "link", dir, 077, "f", &st, &err), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(err.code, HD_EX_CONFIG);
    assert_int_equal(hd_private_file_check(dfd, "fifo", dir, 077, "f", &st, &err), -1);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_int_equal(hd_private_file_check(dfd, "none", dir, 077, "f", &st, &err), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(err.code, HD_EX_NOINPUT);

    /* missing without O_CREAT */
    assert_int_equal(hd_private_file_open(dfd, "none", dir, O_RDONLY, 077, "f", &err), -1);
    assert_int_equal(err.code, HD_EX_NOINPUT);
    assert_int_equal(errno, ENOENT);
    close(dfd);
    free(victim);
    hd_test_rmtree(dir);
}

static void test_out_write(void **state)
{
    const char *dir = hd_test_tmpdir();
    struct hd_err err = {0};
    char *victim = hd_test_write(dir, "victim", "precious", 8);
    char *out = join(dir, "out.json"), *sub = join(dir, "sub");
    struct stat st;
    (void)state;

    /* a link at the output's name is replaced, its target untouched */
    assert_int_equal(symlink(victim, out), 0);
    assert_int_equal(hd_out_write(out, "new", 3, 0640, true, &err), 0);
    assert_content(victim, "precious");
    assert_int_equal(lstat(out, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_content(out, "new");

    /* without replace an existing name (a link too) is kept: EEXIST */
    assert_int_equal(unlink(out), 0);
    assert_int_equal(symlink(victim, out), 0);
    assert_int_equal(hd_out_write(out, "x", 1, 0600, false, &err), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(err.code, HD_EX_CANTCREAT);
    assert_content(victim, "precious");
    assert_int_equal(unlink(out), 0);
    assert_int_equal(hd_out_write(out, "y", 1, 0600, false, &err), 0);
    assert_content(out, "y");

    /* nothing but the output is left in the directory */
    assert_int_equal(mkdir(sub, 0700), 0);
    char *in_sub = join(sub, "f");
    assert_int_equal(hd_out_write(in_sub, "z", 1, 0600, true, &err), 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s')\" = f", sub);
    assert_int_equal(system(cmd), 0);

    /* an unwritable place: no temporary file, CANTCREAT */
    assert_int_equal(hd_out_write("/nonexistent-dir/f", "z", 1, 0600, true, &err), -1);
    assert_int_equal(err.code, HD_EX_CANTCREAT);
    free(in_sub);
    free(sub);
    free(out);
    free(victim);
    hd_test_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_private_dir),
        cmocka_unit_test(test_private_file),
        cmocka_unit_test(test_out_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
