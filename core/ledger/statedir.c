/* Where a campaign's state store lives: herald/statedir.h. */
#include "herald/statedir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "herald/buf.h"
#include "herald/files.h"

static int fit(struct hd_err *err, char *out, size_t cap, const char *fmt, const char *a,
               const char *b)
{
    int n = snprintf(out, cap, fmt, a, b);
    if (n < 0 || (size_t)n >= cap) {
        /* a path cut to the buffer's size would name another directory */
        hd_err_set(err, HD_EX_USAGE, "state directory path is too long (at most %zu bytes)",
                   cap - 1);
        return -1;
    }
    return 0;
}

int hd_state_dir_marker(const struct hd_campaign *c, char *out, size_t cap, struct hd_err *err)
{
    return fit(err, out, cap, "%s/herald-state/%s.location", c->dir, c->id);
}

/* The marker's recorded path: 1 = found (into out), 0 = no marker. */
static int marker_read(const struct hd_campaign *c, char *out, size_t cap, struct hd_err *err)
{
    char path[PATH_MAX];
    struct stat st;
    if (hd_state_dir_marker(c, path, sizeof path, err) != 0)
        return -1;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return 0;
    struct hd_buf b = HD_BUF_INIT;
    if (hd_file_read(path, &b, err) != 0) {
        hd_buf_release(&b);
        return -1;
    }
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.len--;
    int rc = 1;
    if (b.len == 0 || b.data[0] != '/' || b.len >= cap || memchr(b.data, '\0', b.len) ||
        memchr(b.data, '\n', b.len)) {
        hd_err_set(err, HD_EX_CONFIG,
                   "the state location marker %s does not hold an absolute path; it records "
                   "where `herald plan` made this campaign's store: restore it, or pass "
                   "--state-dir",
                   path);
        rc = -1;
    } else {
        memcpy(out, b.data, b.len);
        out[b.len] = '\0';
    }
    hd_buf_release(&b);
    return rc;
}

int hd_state_dir_resolve(const struct hd_campaign *c, char *out, size_t cap, struct hd_err *err)
{
    const char *env = getenv("HERALD_STATE_DIR");
    if (c->state_dir)
        return fit(err, out, cap, "%s%s", c->state_dir, "");
    if (env && *env)
        return fit(err, out, cap, "%s/%s", env, c->id);
    int m = marker_read(c, out, cap, err);
    if (m != 0)
        return m < 0 ? -1 : 0;
    return fit(err, out, cap, "%s/herald-state/%s", c->dir, c->id);
}

static bool has_store(const char *dir)
{
    char p[PATH_MAX];
    struct stat st;
    int n = snprintf(p, sizeof p, "%s/data.mdb", dir);
    return n > 0 && (size_t)n < sizeof p && stat(p, &st) == 0;
}

int hd_state_dir_guard(const struct hd_campaign *c, const char *dir, struct hd_err *err)
{
    char cand[5][PATH_MAX], marker[PATH_MAX];
    const char *why[5] = {"recorded in the location marker", "the campaign's default",
                          "the campaign's state.dir", "$HERALD_STATE_DIR",
                          "the old default, relative to the current directory"};
    bool have[5] = {false, false, false, false, false};
    const char *env = getenv("HERALD_STATE_DIR");

    if (has_store(dir))
        return 0;
    if (hd_state_dir_marker(c, marker, sizeof marker, err) != 0)
        return -1;
    int m = marker_read(c, cand[0], sizeof cand[0], err);
    if (m < 0)
        return -1;
    have[0] = m == 1;
    have[1] = fit(err, cand[1], PATH_MAX, "%s/herald-state/%s", c->dir, c->id) == 0;
    have[2] = c->state_dir && fit(err, cand[2], PATH_MAX, "%s%s", c->state_dir, "") == 0;
    have[3] = env && *env && fit(err, cand[3], PATH_MAX, "%s/%s", env, c->id) == 0;
    have[4] = fit(err, cand[4], PATH_MAX, "herald-state/%s%s", c->id, "") == 0;
    for (int i = 0; i < 5; i++) {
        if (!have[i] || !has_store(cand[i]))
            continue;
        hd_err_set(err, HD_EX_DATAERR,
                   "campaign \"%s\" already has a state store at %s (%s); a second plan "
                   "would send every notice again: use --state-dir %s (or move that store to "
                   "%s)",
                   c->id, cand[i], why[i], cand[i], dir);
        return -1;
    }
    if (have[0]) {
        hd_err_set(err, HD_EX_DATAERR,
                   "campaign \"%s\" was planned into %s (recorded in %s), which holds no store "
                   "any more; a new plan would send every notice again: restore that store, or "
                   "if no notice was ever sent from it, delete %s",
                   c->id, cand[0], marker, marker);
        return -1;
    }
    return 0;
}

/* True when abs (a resolved path) is where the campaign's state.dir setting
 * or $HERALD_STATE_DIR puts the store: every command finds it there without
 * the marker, as long as the same setting or environment is given. */
static bool derived_here(const struct hd_campaign *c, const char *abs)
{
    const char *env = getenv("HERALD_STATE_DIR");
    char path[PATH_MAX], real[PATH_MAX];
    struct hd_err ignored = {0, ""};
    if (c->state_dir == NULL && (env == NULL || *env == '\0'))
        return false;
    return hd_state_dir_resolve(c, path, sizeof path, &ignored) == 0 &&
           realpath(path, real) != NULL && strcmp(real, abs) == 0;
}

int hd_state_dir_record(const struct hd_campaign *c, const char *dir, struct hd_err *err)
{
    char marker[PATH_MAX], folder[PATH_MAX], abs[PATH_MAX], text[PATH_MAX + 1];
    struct stat st;
    if (hd_state_dir_marker(c, marker, sizeof marker, err) != 0 ||
        fit(err, folder, sizeof folder, "%s/%s", c->dir, "herald-state") != 0)
        return -1;
    if (lstat(marker, &st) == 0)
        return 0; /* the first store stays recorded: the guard judges the others */
    if (realpath(dir, abs) == NULL) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot resolve the state directory %s: %s", dir,
                   strerror(errno));
        return -1;
    }
    if (access(c->dir, W_OK) != 0 && derived_here(c, abs))
        return 0; /* a read-only campaign folder (a Kubernetes ConfigMap): the
                   * setting or $HERALD_STATE_DIR finds the store without a marker */
    if (hd_mkdirs(folder, 0700, "state location marker's directory", err) != 0)
        return -1;
    int n = snprintf(text, sizeof text, "%s\n", abs);
    if (hd_out_write(marker, text, (size_t)n, 0644, false, err) != 0) {
        if (errno == EEXIST)
            return 0; /* another plan recorded its store first */
        return -1;
    }
    return 0;
}
