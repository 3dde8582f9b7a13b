/* herald/files.h - file-system helpers shared by the modules: a directory
 * made with its parents, a secret key read from a file, and THE way every
 * input file is opened (hd_input_open) or read whole (hd_input_read).
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

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
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
 * The file is opened with hd_input_open (HD_IN_KEY: never blocks, a regular
 * file, not on procfs and the like) and must be one that neither group nor
 * others can read or write (mode 0600 or stricter): whoever reads the key
 * can use it, whoever writes it can replace it. what names the file in
 * messages ("objection link key file"). Reads restart after EINTR.
 *
 * Returns the key's length, 1 to max, or -1 with err set, always to
 * HD_EX_CONFIG:
 *   "cannot open WHAT PATH: REASON", "cannot stat ...", "cannot read ...";
 *   "WHAT PATH is a FIFO, not a regular file: ..." and the other
 *   hd_input_open messages;
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

/* Reads a whole (small) file into out (reset first): hd_input_read with
 * kind HD_IN_BUNDLE (64 MiB) and errors as it gives them. New code names
 * its kind with hd_input_read instead. */
int hd_file_read(const char *path, struct hd_buf *out, struct hd_err *err);

/* ---- trusted directories and private files ----------------------------------
 * What Herald keeps (the state store, the file module's Maildir and outbox)
 * must not be readable or replaceable by others, and a link planted where
 * Herald writes must never be followed (issue 10, finding 3). */

/* Opens the directory name (relative to the directory fd at, or AT_FDCWD)
 * and checks that it belongs to the effective user and that neither group
 * nor others can write it; returns its fd (O_CLOEXEC) or -1 with err set.
 * Below a directory fd (at != AT_FDCWD) a symbolic link is not followed; a
 * path from the user (AT_FDCWD) may be a link to a directory of theirs.
 * shown is the directory name is in (for messages; NULL: name alone), what
 * names it ("state directory"). errno is kept for the open's failure.
 *   HD_EX_NOINPUT   it does not exist;
 *   HD_EX_CANTCREAT it is not a directory, or cannot be opened;
 *   HD_EX_CONFIG    "belongs to uid N, not to you (uid M): run: chown M P",
 *                   "is writable by group or others (mode 0777) ...: run:
 *                   chmod 700 P", "is a symbolic link ... (rm P)";
 *   HD_EX_IOERR     fstat failed. */
int hd_private_dir_open(int at, const char *name, const char *shown, const char *what,
                        struct hd_err *err);

/* Opens the file name in the directory fd at with flags (O_RDONLY, O_RDWR,
 * O_CREAT (mode 0600), O_APPEND...) plus O_NOFOLLOW and O_CLOEXEC, and
 * checks with fstat that it is a regular file of the effective user with
 * one link and none of the mode bits forbid (e.g. 077, or S_IWGRP|S_IWOTH).
 * A FIFO or device does not block the open. Returns the fd or -1 with err
 * set (errno kept for the open's failure):
 *   HD_EX_CONFIG    a symbolic link, not a regular file, another owner,
 *                   hard links, a forbidden mode (each says what to run);
 *   HD_EX_NOINPUT   it does not exist (without O_CREAT);
 *   HD_EX_CANTCREAT it cannot be created (with O_CREAT), HD_EX_IOERR it
 *                   cannot be opened (without). */
int hd_private_file_open(int at, const char *name, const char *shown, int flags, mode_t forbid,
                         const char *what, struct hd_err *err);

/* The checks of hd_private_file_open on the file name in the directory fd
 * at, by fstatat(AT_SYMLINK_NOFOLLOW) without opening it (LMDB: closing any
 * fd of its lock file would drop the process's locks on it). Fills *st.
 * Returns 0, or -1 with err set as hd_private_file_open does; errno ENOENT
 * when it does not exist (HD_EX_NOINPUT), ELOOP for a link. */
int hd_private_file_check(int at, const char *name, const char *shown, mode_t forbid,
                          const char *what, struct stat *st, struct hd_err *err);

/* ---- outputs in a place the user chose ----------------------------------------
 * Written to a new temporary file next to the output (O_EXCL, mode set with
 * fchmod), then renamed into place: a link planted at the output's name is
 * replaced, never written through, and a reader never sees half a file. */

/* Creates the temporary file "DIR/.NAME.XXXXXX" for path in tmp (tmp_cap
 * bytes) with mode; returns its fd, or -1 with err set (HD_EX_CANTCREAT)
 * and tmp empty. */
int hd_out_tmp_open(const char *path, mode_t mode, char *tmp, size_t tmp_cap, struct hd_err *err);

/* Moves tmp to path (replace: over whatever is there, a link included;
 * otherwise fails with EEXIST if path exists). tmp is gone afterwards,
 * whatever the outcome. Returns 0 or -1 with err set (HD_EX_CANTCREAT) and
 * errno kept. */
int hd_out_commit(const char *tmp, const char *path, bool replace, struct hd_err *err);

/* Writes len bytes to path through a temporary file (fsync'd), as above.
 * Returns 0 or -1 with err set (HD_EX_CANTCREAT, HD_EX_IOERR); errno is
 * EEXIST when !replace and path exists. */
int hd_out_write(const char *path, const void *data, size_t len, mode_t mode, bool replace,
                 struct hd_err *err);

/* ---- input files ----------------------------------------------------------
 *
 * Every file Herald reads as input is opened by hd_input_open, so every
 * input gets the same checks (issue 10, finding 9):
 *  - it is opened without blocking: a FIFO with no writer cannot hang Herald;
 *  - it must be a regular file once symbolic links are followed (links to
 *    regular files are fine: Kubernetes mounts ConfigMaps and Secrets as
 *    links), so a FIFO, socket, device (/dev/zero) or directory is refused;
 *  - a file on a kernel file system whose sizes mean nothing (procfs, sysfs,
 *    debugfs, tracefs, securityfs, cgroupfs, configfs, efivarfs, bpffs,
 *    pstore) is refused: /proc/self/environ holds the process's secrets and
 *    claims to be 0 bytes long;
 *  - its size is within its kind's limit (below), checked before reading
 *    and again while reading (a file that grows meanwhile is caught).
 * There is no stdin input: "-" is a file named "-".
 *
 * Limits (bytes), by kind:
 *   HD_IN_YAML        4 MiB  campaign and locale files (= HD_YAML_MAX_BYTES)
 *   HD_IN_KEY        64 KiB  key files: link secret, pseudonym key, proof
 *                            signing and public keys, DKIM keys
 *   HD_IN_OBJECTIONS  1 GiB  the objections file (held in memory as a set)
 *   HD_IN_AUDIENCE    none   the audience (streamed in constant memory)
 *   HD_IN_BUNDLE     64 MiB  proof bundle members read whole (checkpoint,
 *                            manifest.json, summary.json, signer.vkey) and
 *                            proof files given to verify-inclusion
 *   HD_IN_RECORDS     none   records.jsonl / records.csv (streamed)
 *   HD_IN_SYSTEM     16 MiB  system data files (zoneinfo)
 *
 * Errors (err set, -1 returned): HD_EX_CONFIG for every HD_IN_KEY failure
 * (docs/exit-codes.md: key files are configuration); otherwise
 * HD_EX_NOINPUT when the file is missing, unreadable, not a regular file or
 * on a special file system, HD_EX_DATAERR when it is over its limit,
 * HD_EX_IOERR for a read error. Messages name the path, say what is wrong
 * and what to do, and never quote the file's contents. */
enum hd_input_kind {
    HD_IN_YAML,
    HD_IN_KEY,
    HD_IN_OBJECTIONS,
    HD_IN_AUDIENCE,
    HD_IN_BUNDLE,
    HD_IN_RECORDS,
    HD_IN_SYSTEM,
    HD_IN_KIND_COUNT
};

/* The kind's size limit in bytes; UINT64_MAX for none. */
unsigned long long hd_input_limit(enum hd_input_kind kind);

/* Opens path for reading as an input of the given kind. what names it in
 * messages ("audience file"); NULL uses the kind's own name. Returns a
 * blocking, close-on-exec descriptor the caller closes, or -1 with err set.
 * st, when not NULL, receives the file's fstat. */
int hd_input_open(const char *path, enum hd_input_kind kind, const char *what, struct stat *st,
                  struct hd_err *err);

/* Reads the whole input path (opened with hd_input_open) into out, reset
 * first; the size limit holds for the bytes actually read too. Errors as
 * hd_input_open, and HD_EX_SOFTWARE when out cannot grow. */
int hd_input_read(const char *path, enum hd_input_kind kind, const char *what, struct hd_buf *out,
                  struct hd_err *err);

#endif
