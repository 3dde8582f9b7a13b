/* herald/err.h - error values and exit codes shared by every module.
 *
 * Library code never prints and never exits: it fills a caller's struct hd_err
 * and returns -1 (or NULL). The command line turns err.code into the exit
 * status. An hd_err is left untouched on success.
 *
 * Diagnostics (struct hd_diags) collect many located messages in one run, so
 * `herald validate` can report every problem in a file at once.
 *
 * Thread-safety: none of these touch global state; an hd_err or hd_diags must
 * be used by one thread at a time.
 */
#ifndef HERALD_ERR_H
#define HERALD_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* Exit codes follow sysexits(3); docs/exit-codes.md is the user-facing list. */
enum hd_exit {
    HD_EX_OK = 0,
    HD_EX_FAIL = 1,         /* a negative answer, e.g. `herald link verify` on a bad link */
    HD_EX_USAGE = 64,       /* bad command line */
    HD_EX_DATAERR = 65,     /* bad campaign, locale or audience data */
    HD_EX_NOINPUT = 66,     /* an input file does not exist or cannot be read */
    HD_EX_UNAVAILABLE = 69, /* a service or module is unavailable */
    HD_EX_SOFTWARE = 70,    /* internal error: a bug */
    HD_EX_CANTCREAT = 73,   /* cannot create an output file */
    HD_EX_IOERR = 74,       /* I/O error, full disk, full state store */
    HD_EX_TEMPFAIL = 75,    /* try again later (e.g. state store locked) */
    HD_EX_CONFIG = 78,      /* configuration error: missing secret, bad environment */
};

#define HD_ERR_MSG_MAX 1024

struct hd_err {
    int code; /* an enum hd_exit value; 0 when no error was set */
    char msg[HD_ERR_MSG_MAX];
};

/* Every message set through these functions (hd_err_set, hd_err_at,
 * hd_err_prefix, hd_diags_add) is made safe to print on a terminal by
 * hd_err_escape once formatted, so user text (YAML values, CSV headers,
 * paths) can be passed as a plain "%s". */

/* Copies len bytes of s into out (cap bytes, always NUL-terminated when cap
 * > 0) with everything a terminal could act on written as text: C0 controls
 * (ESC, CR, LF, TAB...) and DEL as \x1b, bytes that are not UTF-8 as \xff,
 * C1 controls and the Unicode line separators and bidirectional controls as
 * \u0085, \u202e. A backslash is kept as it is, so escaping twice changes
 * nothing (and a "\x1b" in the output may have been typed as such). Cut at
 * a character boundary when out is too small. Returns the length written. */
size_t hd_err_escape(char *out, size_t cap, const char *s, size_t len);

/* Sets code and a formatted message ("problem first, subject quoted"). */
void hd_err_set(struct hd_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Same, prefixed "file:line:col: ". line/col are 1-based; 0 omits them. */
void hd_err_at(struct hd_err *err, int code, const char *file, unsigned long line,
               unsigned long col, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Prepends "context: " to an error already set. */
void hd_err_prefix(struct hd_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Longest excerpt of input text a message may quote, in input bytes. */
#define HD_ERR_EXCERPT_MAX 32

/* Writes into out (cap bytes, NUL-terminated) a short, terminal-safe excerpt
 * of input text s (len bytes) for an error message: at most max input bytes
 * (capped at HD_ERR_EXCERPT_MAX) followed by "..." when cut; printable ASCII
 * as is except '\\' and '"' (escaped), every other byte as \xHH. Messages
 * never quote input beyond this (issue 10, finding 8: an audience read from
 * /proc/self/environ put the link secret in an error). Returns out. */
const char *hd_err_excerpt(char *out, size_t cap, const void *s, size_t len, size_t max);

/* A growing list of located diagnostics. Owns its strings. */
struct hd_diags {
    char **items;
    size_t count, cap;
    int code; /* the worst (first set) exit code among the items, 0 if none */
};

void hd_diags_init(struct hd_diags *d);
void hd_diags_release(struct hd_diags *d);
/* Adds "file:line:col: message"; line/col of 0 are omitted. Never fails
 * silently: on allocation failure the message is dropped but code is kept. */
void hd_diags_add(struct hd_diags *d, int code, const char *file, unsigned long line,
                  unsigned long col, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
void hd_diags_vadd(struct hd_diags *d, int code, const char *file, unsigned long line,
                   unsigned long col, const char *fmt, va_list ap);

#endif
