/* channels/file/file.c - the built-in `file` channel module: delivers to
 * local files, for dry runs, demos and tests.
 *
 * Email channels store each message as one file in a Maildir (settings:
 * maildir: DIR); push channels append one JSON line per message to an
 * outbox (settings: outbox: FILE). Relative paths resolve against the
 * campaign file's directory. Synchronous: send() reports every outcome
 * before it returns and flush() has nothing to wait for. A failed write is
 * a TRANSIENT outcome for that message; the batch goes on.
 *
 * Maildir delivery never overwrites: a message is written to
 * tmp/<unique>, optionally fsync'd, then hard-linked into
 * new/<time>.<key>_<attempt>.<host> (key: the message id before "@"); a
 * name already taken gets a _2, _3, ... suffix, so a re-send shows up as an
 * extra copy. The outbox is written with one write() per batch under an
 * exclusive flock(), so lines from several writers never interleave.
 *
 * Trust: the maildir and its tmp/, new/ and cur/ must belong to the user
 * and not be writable by group or others, and are used through their fds;
 * the outbox is opened with O_NOFOLLOW and must be a regular file of the
 * user that group and others cannot write. Either refusal is exit 78.
 *
 * Test aids: fail_every / permanent_every inject failures, delay_ms slows
 * every batch. docs/channel-modules.md describes the settings.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "herald/files.h"
#include "herald/str.h"
#include "builtin.h"

#define DELAY_MS_MAX 60000ul

struct file_chan {
    struct hd_channel_out out;
    enum hd_channel_type type;
    char *path; /* the maildir or the outbox, resolved */
    bool fsync;
    unsigned long delay_ms;
    struct hd_faults faults;
    /* email */
    char hostname[100];         /* safe for Maildir names: no / or : (truncated) */
    int dir_fd, tmp_fd, new_fd; /* the maildir and its tmp/ and new/, checked as ours */
    unsigned long long tmp_seq;
    /* push: what we know of the outbox, to number lines */
    int fd;
    off_t known_size;
    unsigned long long known_lines;
    bool ends_in_newline;
};

/* mkdir -p with mode for the missing parts; 0 when path is a directory. */
static int mkdir_p(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    struct stat st;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    if (stat(buf, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void sleep_ms(unsigned long ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- email: Maildir -------------------------------------------------------- */

/* A maildir and its tmp/, new/ and cur/ must be ours and closed to others
 * (hd_private_dir_open), and are used through their fds: a link planted as
 * tmp/ or new/ is refused, and renaming a directory above the maildir
 * afterwards changes nothing. */
static int open_maildir(struct file_chan *ch, const struct hd_ynode *where, struct hd_err *err)
{
    static const char *const subs[] = {"tmp", "new", "cur"};
    if (mkdir_p(ch->path, 0700) != 0) {
        hd_err_at(err, HD_EX_CANTCREAT, where->file, where->line, where->col,
                  "cannot create maildir \"%s\": %s", ch->path, strerror(errno));
        return -1;
    }
    if ((ch->dir_fd = hd_private_dir_open(AT_FDCWD, ch->path, NULL, "maildir", err)) < 0)
        goto located;
    for (size_t i = 0; i < 3; i++) {
        if (mkdirat(ch->dir_fd, subs[i], 0700) != 0 && errno != EEXIST) {
            hd_err_at(err, HD_EX_CANTCREAT, where->file, where->line, where->col,
                      "cannot create maildir \"%s\": %s/%s: %s", ch->path, ch->path, subs[i],
                      strerror(errno));
            return -1;
        }
        int fd = hd_private_dir_open(ch->dir_fd, subs[i], ch->path, "maildir directory", err);
        if (fd < 0)
            goto located;
        if (i == 0)
            ch->tmp_fd = fd;
        else if (i == 1)
            ch->new_fd = fd;
        else
            close(fd);
    }
    /* Maildir names must not contain '/' or ':'; escape them as the
     * Maildir convention does (\057, \072). */
    char raw[200] = "localhost";
    size_t o = 0;
    if (gethostname(raw, sizeof raw) != 0 || raw[0] == '\0')
        snprintf(raw, sizeof raw, "localhost");
    raw[sizeof raw - 1] = '\0';
    for (const char *p = raw; *p && o + 5 < sizeof ch->hostname; p++) {
        if (*p == '/' || *p == ':') {
            memcpy(ch->hostname + o, *p == '/' ? "\\057" : "\\072", 4);
            o += 4;
        } else {
            ch->hostname[o++] = *p;
        }
    }
    ch->hostname[o] = '\0';
    return 0;
located:
    hd_err_prefix(err, "%s:%lu:%lu", where->file, where->line, where->col);
    return -1;
}

/* The message id's part before "@", kept to [A-Za-z0-9_-]. */
static void message_key(const struct hd_message *m, char *out, size_t size)
{
    size_t o = 0;
    const char *p = m->message_id ? m->message_id : "";
    for (; *p && *p != '@' && o + 1 < size; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-';
        out[o++] = ok ? c : '-';
    }
    out[o] = '\0';
    if (o == 0)
        snprintf(out, size, "h%llx", (unsigned long long)m->handle);
}

static void email_one(struct file_chan *ch, const struct hd_message *m)
{
    char tmp[NAME_MAX + 1], name[NAME_MAX + 1], key[65], reason[PATH_MAX + 128];
    long long now = (long long)time(NULL);
    int fd, rc;

    snprintf(tmp, sizeof tmp, "%lld.P%ldQ%llu.%s", now, (long)getpid(), ++ch->tmp_seq,
             ch->hostname);
    fd = openat(ch->tmp_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(reason, sizeof reason, "cannot create %s/tmp/%s: %s", ch->path, tmp,
                 strerror(errno));
        hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                         .kind = HD_OUTCOME_TRANSIENT,
                                                         .event = "inbox.failed",
                                                         .reason = reason});
        return;
    }
    rc = write_all(fd, (const char *)m->body, m->body_len);
    if (rc == 0 && ch->fsync)
        rc = fsync(fd);
    if (rc != 0) {
        snprintf(reason, sizeof reason, "cannot write %s/tmp/%s: %s", ch->path, tmp,
                 strerror(errno));
        close(fd);
        unlinkat(ch->tmp_fd, tmp, 0);
        hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                         .kind = HD_OUTCOME_TRANSIENT,
                                                         .event = "inbox.failed",
                                                         .reason = reason});
        return;
    }
    if (close(fd) != 0) {
        snprintf(reason, sizeof reason, "cannot write %s/tmp/%s: %s", ch->path, tmp,
                 strerror(errno));
        unlinkat(ch->tmp_fd, tmp, 0);
        hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                         .kind = HD_OUTCOME_TRANSIENT,
                                                         .event = "inbox.failed",
                                                         .reason = reason});
        return;
    }

    /* Deliver without overwriting: linkat() fails on an existing name (a
     * link included, which it does not follow). */
    message_key(m, key, sizeof key);
    rc = -1;
    for (unsigned k = 1; k <= 1000; k++) {
        if (k == 1)
            snprintf(name, sizeof name, "%lld.%s_%u.%s", now, key, m->attempt, ch->hostname);
        else
            snprintf(name, sizeof name, "%lld.%s_%u_%u.%s", now, key, m->attempt, k, ch->hostname);
        rc = linkat(ch->tmp_fd, tmp, ch->new_fd, name, 0);
        if (rc == 0 || errno != EEXIST)
            break;
    }
    if (rc != 0) {
        snprintf(reason, sizeof reason, "cannot deliver to %s/new/%s: %s", ch->path, name,
                 strerror(errno));
        unlinkat(ch->tmp_fd, tmp, 0);
        hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                         .kind = HD_OUTCOME_TRANSIENT,
                                                         .event = "inbox.failed",
                                                         .reason = reason});
        return;
    }
    unlinkat(ch->tmp_fd, tmp, 0);
    if (ch->fsync && fsync(ch->new_fd) != 0) {
        /* the file is there but may not survive a power cut: let the
         * dispatcher retry (a re-send is a visible extra copy) */
        snprintf(reason, sizeof reason, "cannot sync %s/new: %s", ch->path, strerror(errno));
        hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                         .kind = HD_OUTCOME_TRANSIENT,
                                                         .event = "inbox.failed",
                                                         .reason = reason});
        return;
    }
    hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                     .kind = HD_OUTCOME_ACCEPTED,
                                                     .event = "inbox.stored",
                                                     .provider_id = name});
}

/* ---- push: JSON Lines outbox ---------------------------------------------- */

static int open_outbox(struct file_chan *ch, const struct hd_ynode *where, struct hd_err *err)
{
    char *slash = strrchr(ch->path, '/');
    if (slash && slash != ch->path) {
        *slash = '\0';
        int rc = mkdir_p(ch->path, 0700);
        int e = errno;
        *slash = '/';
        if (rc != 0) {
            hd_err_at(err, HD_EX_CANTCREAT, where->file, where->line, where->col,
                      "cannot create the directory of outbox \"%s\": %s", ch->path, strerror(e));
            return -1;
        }
    }
    /* Never through a link, and only a regular file of ours that others
     * cannot write: a file planted in a shared directory would receive
     * every push token and message. */
    ch->fd = hd_private_file_open(AT_FDCWD, ch->path, NULL, O_RDWR | O_APPEND | O_CREAT,
                                  S_IWGRP | S_IWOTH, "outbox", err);
    if (ch->fd < 0) {
        hd_err_prefix(err, "%s:%lu:%lu", where->file, where->line, where->col);
        return -1;
    }
    ch->ends_in_newline = true;
    return 0;
}

/* Brings known_lines up to the outbox's current size (others may append). */
static int sync_lines(struct file_chan *ch, off_t size)
{
    char buf[65536];
    if (size < ch->known_size) { /* truncated behind our back: count again */
        ch->known_size = 0;
        ch->known_lines = 0;
        ch->ends_in_newline = true;
    }
    while (ch->known_size < size) {
        size_t want = (size_t)(size - ch->known_size) < sizeof buf ? (size_t)(size - ch->known_size)
                                                                   : sizeof buf;
        ssize_t r = pread(ch->fd, buf, want, ch->known_size);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        for (ssize_t i = 0; i < r; i++)
            ch->known_lines += buf[i] == '\n';
        ch->ends_in_newline = buf[r - 1] == '\n';
        ch->known_size += r;
    }
    return 0;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* The outbox line for m (no newline), or NULL with *why set. */
static char *push_line(const struct hd_message *m, const char **why)
{
    json_t *obj = json_object(), *payload, *v;
    char *line = NULL;
    json_error_t jerr;
    static const char *const names[] = {"idempotency_key", "token", "person_id", "language"};
    const char *values[] = {m->message_id, m->recipient, m->person_id, m->language};

    *why = "cannot build the outbox line (out of memory)";
    if (obj == NULL)
        return NULL;
    for (size_t i = 0; i < 4; i++) {
        if ((v = str_or_null(values[i])) == NULL) {
            *why = "a message field is not valid UTF-8";
            goto out;
        }
        if (json_object_set_new(obj, names[i], v) != 0)
            goto out;
    }
    payload = json_loadb((const char *)m->body, m->body_len, 0, &jerr);
    if (payload == NULL)
        payload = json_stringn((const char *)m->body, m->body_len);
    if (payload == NULL) {
        *why = "the push body is neither JSON nor UTF-8 text";
        goto out;
    }
    if (json_object_set_new(obj, "payload", payload) != 0)
        goto out;
    line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
    json_decref(obj);
    return line;
}

struct pending {
    const struct hd_message *m;
    size_t line; /* 0-based among this batch's lines */
};

static void push_batch(struct file_chan *ch, const struct hd_message *msgs, size_t n)
{
    struct pending *pend = calloc(n ? n : 1, sizeof *pend);
    size_t npend = 0, len = 1, cap = 4096;
    char *buf = malloc(cap), reason[PATH_MAX + 128], id[32];
    const char *why;
    enum hd_outcome_kind kind;
    struct stat st;
    bool locked = false, prepend;
    unsigned long long first;
    int rc;

    if (pend == NULL || buf == NULL) { /* herald/str.h: an outcome, never abort() */
        free(pend);
        free(buf);
        for (size_t i = 0; i < n; i++)
            hd_channel_report(&ch->out, &(struct hd_outcome){.handle = msgs[i].handle,
                                                              .kind = HD_OUTCOME_TRANSIENT,
                                                              .event = "outbox.failed",
                                                              .reason = "out of memory"});
        return;
    }
    buf[0] = '\n'; /* used only when the outbox ends in a partial line */
    for (size_t i = 0; i < n; i++) {
        const struct hd_message *m = &msgs[i];
        if (m->type != HD_CHANNEL_PUSH) {
            hd_channel_report(&ch->out, &(struct hd_outcome){
                                            .handle = m->handle,
                                            .kind = HD_OUTCOME_PERMANENT,
                                            .event = "outbox.failed",
                                            .reason = "an email message handed to a push channel"});
            continue;
        }
        if (hd_faults_next(&ch->faults, &kind, &why)) {
            hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                             .kind = kind,
                                                             .event = "injected_failure",
                                                             .reason = why});
            continue;
        }
        char *line = push_line(m, &why);
        if (line == NULL) {
            hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                             .kind = HD_OUTCOME_PERMANENT,
                                                             .event = "outbox.failed",
                                                             .reason = why});
            continue;
        }
        size_t ll = strlen(line);
        while (len + ll + 1 > cap) {
            char *more = realloc(buf, cap * 2);
            if (more == NULL)
                break;
            buf = more;
            cap *= 2;
        }
        if (len + ll + 1 > cap) {
            free(line);
            hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                              .kind = HD_OUTCOME_TRANSIENT,
                                                              .event = "outbox.failed",
                                                              .reason = "out of memory"});
            continue;
        }
        memcpy(buf + len, line, ll);
        buf[len + ll] = '\n';
        len += ll + 1;
        free(line);
        pend[npend].m = m;
        pend[npend].line = npend;
        npend++;
    }
    if (npend == 0)
        goto out;

    while ((rc = flock(ch->fd, LOCK_EX)) != 0 && errno == EINTR)
        ;
    if (rc != 0)
        goto fail;
    locked = true;
    if (fstat(ch->fd, &st) != 0 || sync_lines(ch, st.st_size) != 0)
        goto fail;
    prepend = !ch->ends_in_newline;
    if (write_all(ch->fd, prepend ? buf : buf + 1, prepend ? len : len - 1) != 0 ||
        (ch->fsync && fdatasync(ch->fd) != 0)) {
        int e = errno;
        /* take back a partial batch so the outbox stays whole lines */
        if (ftruncate(ch->fd, st.st_size) != 0) {
            /* nothing more to do: the next batch counts lines afresh */
        }
        errno = e;
        goto fail;
    }
    first = ch->known_lines + (prepend ? 1 : 0) + 1;
    ch->known_lines = first - 1 + npend;
    ch->known_size = st.st_size + (off_t)(prepend ? len : len - 1);
    ch->ends_in_newline = true;
    flock(ch->fd, LOCK_UN);
    for (size_t i = 0; i < npend; i++) {
        snprintf(id, sizeof id, "%llu", first + pend[i].line);
        hd_channel_report(&ch->out, &(struct hd_outcome){.handle = pend[i].m->handle,
                                                         .kind = HD_OUTCOME_ACCEPTED,
                                                         .event = "outbox.appended",
                                                         .provider_id = id});
    }
    goto out;
fail:
    snprintf(reason, sizeof reason, "cannot append to %s: %s", ch->path, strerror(errno));
    ch->known_size = 0; /* count again next time */
    ch->known_lines = 0;
    ch->ends_in_newline = true;
    if (locked)
        flock(ch->fd, LOCK_UN);
    for (size_t i = 0; i < npend; i++)
        hd_channel_report(&ch->out, &(struct hd_outcome){.handle = pend[i].m->handle,
                                                         .kind = HD_OUTCOME_TRANSIENT,
                                                         .event = "outbox.failed",
                                                         .reason = reason});
out:
    free(buf);
    free(pend);
}

/* ---- the module ------------------------------------------------------------ */

static void file_close(void *instance)
{
    struct file_chan *ch = instance;
    if (ch == NULL)
        return;
    if (ch->type == HD_CHANNEL_PUSH && ch->fd >= 0)
        close(ch->fd);
    if (ch->dir_fd >= 0)
        close(ch->dir_fd);
    if (ch->tmp_fd >= 0)
        close(ch->tmp_fd);
    if (ch->new_fd >= 0)
        close(ch->new_fd);
    free(ch->path);
    free(ch);
}

/* The settings, for create() and check(): everything but the path is
 * stored in ch; the path (as written) and its node in *path, *where. */
static int file_settings(const struct hd_channel_view *view, struct file_chan *ch,
                         const char **path, const struct hd_ynode **where, struct hd_err *err)
{
    static const char *const email_keys[] = {"maildir",    "fsync",           "delay_ms",
                                             "fail_every", "permanent_every", NULL};
    static const char *const push_keys[] = {"outbox",     "fsync",           "delay_ms",
                                            "fail_every", "permanent_every", NULL};
    bool email = view->type == HD_CHANNEL_EMAIL;
    const char *key = email ? "maildir" : "outbox";
    const struct hd_ynode *n;

    if (hd_settings_check_keys(view, email ? email_keys : push_keys, err) != 0)
        return -1;
    *where = hd_settings_get(view, key, true,
                             email ? "maildir: out/maildir" : "outbox: out/outbox.jsonl", err);
    if (*where == NULL || hd_settings_str(*where, key, path, err) != 0)
        return -1;
    if ((n = hd_settings_get(view, "fsync", false, NULL, err)) &&
        hd_settings_bool(n, "fsync", &ch->fsync, err) != 0)
        return -1;
    if ((n = hd_settings_get(view, "delay_ms", false, NULL, err)) &&
        hd_settings_uint(n, "delay_ms", DELAY_MS_MAX, &ch->delay_ms, err) != 0)
        return -1;
    return hd_faults_load(&ch->faults, view, err);
}

/* Checks the settings; the maildir or outbox is neither created nor opened. */
static int file_check(const struct hd_channel_view *view, struct hd_err *err)
{
    struct file_chan ch = {0};
    const struct hd_ynode *where;
    const char *path;
    return file_settings(view, &ch, &path, &where, err);
}

static int file_create(const struct hd_channel_host *host, const struct hd_channel_view *view,
                       void **instance, struct hd_err *err)
{
    bool email = view->type == HD_CHANNEL_EMAIL;
    const struct hd_ynode *where;
    const char *path;
    struct file_chan *ch;

    *instance = NULL;
    ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_channel_out_init(&ch->out, host, view->name);
    ch->type = view->type;
    ch->fd = ch->dir_fd = ch->tmp_fd = ch->new_fd = -1;
    if (file_settings(view, ch, &path, &where, err) != 0)
        goto fail;
    ch->path = hd_settings_path(view, path);
    if ((email ? open_maildir(ch, where, err) : open_outbox(ch, where, err)) != 0)
        goto fail;
    hd_channel_log(&ch->out, 2, "%s %s",
                   email ? "storing messages in maildir" : "appending messages to outbox",
                   ch->path);
    *instance = ch;
    return 0;
fail:
    file_close(ch);
    return -1;
}

static int file_send(void *instance, const struct hd_message *messages, size_t n,
                     struct hd_err *err)
{
    struct file_chan *ch = instance;
    enum hd_outcome_kind kind;
    const char *why;
    (void)err;
    if (ch->delay_ms)
        sleep_ms(ch->delay_ms);
    if (ch->type == HD_CHANNEL_PUSH) {
        push_batch(ch, messages, n);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const struct hd_message *m = &messages[i];
        if (m->type != HD_CHANNEL_EMAIL)
            hd_channel_report(&ch->out, &(struct hd_outcome){
                                            .handle = m->handle,
                                            .kind = HD_OUTCOME_PERMANENT,
                                            .event = "inbox.failed",
                                            .reason = "a push message handed to an email channel"});
        else if (hd_faults_next(&ch->faults, &kind, &why))
            hd_channel_report(&ch->out, &(struct hd_outcome){.handle = m->handle,
                                                             .kind = kind,
                                                             .event = "injected_failure",
                                                             .reason = why});
        else
            email_one(ch, m);
    }
    return 0;
}

static int file_flush(void *instance, struct hd_err *err)
{
    (void)instance;
    (void)err;
    return 0; /* synchronous: everything is reported inside send() */
}

const struct hd_channel_ops hd_channel_file_ops = {
    .abi = HD_CHANNEL_ABI,
    .size = sizeof(struct hd_channel_ops),
    .name = "file",
    .create = file_create,
    .send = file_send,
    .flush = file_flush,
    .close = file_close,
    .check = file_check,
};
