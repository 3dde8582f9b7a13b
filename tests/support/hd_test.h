/* Test support: temporary directories and files for cmocka tests. */
#ifndef HERALD_TEST_SUPPORT_H
#define HERALD_TEST_SUPPORT_H

#include <stddef.h>

/* Creates a fresh temporary directory and returns its path (static storage,
 * valid until the next call). Aborts the test on failure. */
const char *hd_test_tmpdir(void);
/* Writes len bytes to dir/name (len (size_t)-1 means strlen) and returns the
 * full path in a malloc'd string the caller frees. */
char *hd_test_write(const char *dir, const char *name, const char *data, size_t len);
/* Removes a directory tree (best effort). */
void hd_test_rmtree(const char *dir);
/* Path of a file in the source tree (static storage, next call overwrites). */
const char *hd_test_source_path(const char *rel);

#endif
