/* Fuzz target support: a private temporary directory per process, writing
 * an input to a file in it, and a check that fails the run.
 *
 * Targets keep files out of the source tree: fz_dir makes one directory
 * under $TMPDIR (or /tmp) on first use and removes it, with everything in
 * it, when the process exits. Not thread-safe (libFuzzer runs a target on
 * one thread). */
#ifndef HERALD_FUZZ_FZ_H
#define HERALD_FUZZ_FZ_H

#include <stddef.h>
#include <stdint.h>

/* The process's temporary directory (created on first call; aborts when it
 * cannot be). */
const char *fz_dir(void);

/* Writes n bytes to fz_dir()/name, replacing the file, and returns the
 * path in static storage (valid until the next fz_write or fz_path). */
const char *fz_write(const char *name, const void *data, size_t n);

/* fz_dir()/name in static storage (valid until the next call). */
const char *fz_path(const char *name);

/* Creates fz_dir()/name as a directory (no error when it exists). */
void fz_mkdir(const char *name);

/* Copies HERALD_SOURCE_DIR/src to fz_dir()/dst. */
void fz_copy_source(const char *src, const char *dst);

/* A property does not hold: prints what and where, then aborts, which
 * libFuzzer reports as a crash and saves the input as a reproducer. */
#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                                       \
    } while (0)

void fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));

#endif
