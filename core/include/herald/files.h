/* herald/files.h - file-system helpers shared by the modules: a directory
 * made with its parents, a secret key read from a file.
 *
 * Errors as everywhere (herald/err.h): -1 with err set, err untouched on
 * success. Messages name the path and say what to do; none ever contains a
 * key's bytes.
 *
 * Ownership: nothing here allocates or keeps a pointer to its arguments.
 * Thread-safety: no global state (errno aside); safe from any thread.
 */
#ifndef HERALD_FILES_H
#define HERALD_FILES_H

#include <stddef.h>
#include <sys/types.h>

#include "herald/buf.h"
#include "herald/err.h"

/* Longest path hd_mkdirs takes, in bytes without the NUL. */
#define HD_MKDIRS_PATH_MAX 4095

/* Makes the directory dir and any missing parents, as `mkdir -p` does:
 * parents get mode 0755 and dir itself gets mode (both less the umask, as
 * mkdir(2) does; the state store passes 0700, proof bundles 0755). Trailing
 * slashes are part of dir itself ("a/b/" makes b with mode). What exists
 * already is fine and left as it is: its mode is not changed, and a
 * non-directory in the way is not detected here (the caller's next use of
 * the path fails). what names dir in messages ("state directory").
 * Returns 0, or -1 with err set:
 *   HD_EX_USAGE     "WHAT path is empty", or "WHAT path is too long (N
 *                   bytes, at most 4095)";
 *   HD_EX_CANTCREAT "cannot create directory "P": REASON", P the directory
 *                   that could not be made (dir or one of its parents). */
int hd_mkdirs(const char *dir, mode_t mode, const char *what, struct hd_err *err);

/* Flag for hd_key_file_read: also drop a final "\r" that no "\n" follows.
 * The pseudonym key file has always been read so; the flag keeps the key
 * (and so every pseudonym made with it) the same bytes as before. */
#define HD_KEY_FILE_LONE_CR 1u

/* Reads a secret key from the file at path into buf, which has room for
 * max + 2 bytes. The key is the file's bytes, any bytes (NUL included), less
 * one final "\n" or "\r\n" (editors and `echo` add one; see
 * HD_KEY_FILE_LONE_CR for a lone "\r").
 *
 * The file must be a regular file that neither group nor others can read or
 * write (mode 0600 or stricter): whoever reads the key can use it, whoever
 * writes it can replace it. what names the file in messages ("objection link
 * key file"). Reads restart after EINTR.
 *
 * Returns the key's length, 1 to max, or -1 with err set, always to
 * HD_EX_CONFIG:
 *   "cannot open WHAT PATH: REASON", "cannot stat ...", "cannot read ...";
 *   "WHAT PATH is not a regular file";
 *   "WHAT PATH is accessible by group or others (mode 0644); run: chmod 600
 *   PATH";
 *   "WHAT PATH is longer than MAX bytes (plus a newline)";
 *   "WHAT PATH is empty".
 * A shortest length is the caller's to check (with its own message).
 *
 * buf is the caller's: on success it holds the key (wipe it with
 * OPENSSL_cleanse when done); on failure it is wiped here. */
long hd_key_file_read(const char *path, const char *what, unsigned char *buf, size_t max,
                      unsigned flags, struct hd_err *err);

/* Reads a whole (small) file into out (reset first). Errors name the file:
 * HD_EX_NOINPUT when it does not exist, HD_EX_IOERR for other open and read
 * failures, HD_EX_SOFTWARE when out cannot grow. */
int hd_file_read(const char *path, struct hd_buf *out, struct hd_err *err);

#endif
