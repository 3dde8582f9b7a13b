/* proof_pipeline.c - reading record lines, for export (from the state
 * store) and verify (from records.jsonl). Reading runs as two threads: a
 * producer reads the lines from a source into batches and hashes every
 * line (the leaf hashes: half the work), the caller's thread consumes the
 * batches in order (parsing, checking, counting, writing). Three batches
 * of about 4 MiB circulate, so memory stays constant whatever the number
 * of records. The file source is here; the store's is in proof_export.c,
 * whose producer also writes records.jsonl.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "herald/files.h"
#include "proof_internal.h"

#define LINE_MAX_BYTES (16u << 20) /* the longest records.jsonl line read */

int hdp_batch_reserve(struct hdp_batch *b, size_t bytes, size_t lines)
{
    if (bytes > b->cap) {
        size_t cap = b->cap ? b->cap : HDP_BATCH_BYTES + 65536;
        while (cap < bytes)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    if (lines + 1 > b->cap_lines) {
        size_t cap = b->cap_lines ? b->cap_lines * 2 : 8192;
        while (cap < lines + 1)
            cap *= 2;
        size_t *off = realloc(b->off, cap * sizeof *off);
        if (off)
            b->off = off;
        uint8_t(*leaf)[32] = realloc(b->leaf, cap * sizeof *leaf);
        if (leaf)
            b->leaf = leaf;
        if (off == NULL || leaf == NULL)
            return -1;
        b->cap_lines = cap;
    }
    return 0;
}

/* Leaf hashes of lines from .. to-1; the tree when tree_too. */
static void hash_lines(struct hdp_pipeline *p, struct hd_merkle_hasher *h, struct hdp_batch *b,
                       size_t from, size_t to, bool tree_too)
{
    for (size_t k = from; k < to; k++)
        hd_merkle_leaf_hash(h, b->buf + b->off[k], b->off[k + 1] - b->off[k] - 1, b->leaf[k]);
    for (size_t k = 0; tree_too && p->tree && k < b->n; k++)
        hd_merkle_stream_add(&p->ms, b->leaf[k]);
}

static void *producer(void *arg)
{
    struct hdp_pipeline *p = arg;
    for (size_t i = 0;; i = (i + 1) % HDP_NBATCH) {
        pthread_mutex_lock(&p->mu);
        while (p->full[i] && !p->stop)
            pthread_cond_wait(&p->cv, &p->mu);
        bool stop = p->stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            break;
        struct hdp_batch *b = &p->b[i];
        b->len = b->n = 0;
        b->last = false;
        b->first = p->next;
        int rc = p->fill(p, b);
        b->hashed = rc == 0 ? b->n * p->early_pct / 100 : 0;
        if (rc == 0)
            hash_lines(p, &p->h, b, 0, b->hashed, p->early_pct == 100);
        if (rc == 0 && p->after)
            rc = p->after(p, b);
        p->next += b->n;
        pthread_mutex_lock(&p->mu);
        if (rc != 0) {
            p->failed = true;
            b->n = 0;
            b->last = true;
        }
        p->full[i] = true;
        bool last = b->last;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (last)
            break;
    }
    return NULL;
}

int hdp_pipeline_run(struct hdp_pipeline *p, hdp_line_fn fn, void *ctx, struct hd_err *err)
{
    pthread_t t;
    int rc = 0;
    if (hd_merkle_hasher_init(&p->h) != 0 || hd_merkle_hasher_init(&p->ch) != 0) {
        hd_merkle_hasher_free(&p->h);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_merkle_stream_init(&p->ms, p->early_pct == 100 ? &p->h : &p->ch);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (pthread_create(&t, NULL, producer, p) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot start a thread");
        rc = -1;
        goto out;
    }
    for (size_t i = 0;; i = (i + 1) % HDP_NBATCH) {
        pthread_mutex_lock(&p->mu);
        while (!p->full[i])
            pthread_cond_wait(&p->cv, &p->mu);
        bool failed = p->failed;
        pthread_mutex_unlock(&p->mu);
        struct hdp_batch *b = &p->b[i];
        bool last = b->last;
        if (b->n && p->early_pct < 100)
            hash_lines(p, &p->ch, b, b->hashed, b->n, true);
        for (size_t k = 0; k < b->n && rc == 0; k++)
            rc = fn(ctx, b->first + k, b->buf + b->off[k], b->off[k + 1] - b->off[k] - 1,
                    b->leaf[k]);
        pthread_mutex_lock(&p->mu);
        p->full[i] = false;
        if (rc != 0)
            p->stop = true;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        if (rc == 0 && last && failed) {
            *err = p->err;
            rc = -1;
        }
        if (rc != 0 || last)
            break;
    }
    pthread_join(t, NULL);
    if (rc == 0 && p->tree)
        hd_merkle_stream_root(&p->ms, p->root);
out:
    for (int i = 0; i < HDP_NBATCH; i++) {
        free(p->b[i].buf);
        free(p->b[i].off);
        free(p->b[i].leaf);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    hd_merkle_hasher_free(&p->h);
    hd_merkle_hasher_free(&p->ch);
    return rc;
}

/* -- the file source: records.jsonl -- */

struct file_src {
    int fd;
    const char *path;
    char *carry; /* the start of a line the last batch could not end */
    size_t carry_len, carry_cap;
    bool eof;
};

static int file_fill(struct hdp_pipeline *p, struct hdp_batch *b)
{
    struct file_src *f = p->src;
    size_t start = 0;
    if (hdp_batch_reserve(b, HDP_BATCH_BYTES + f->carry_len, 0) != 0)
        goto oom;
    if (f->carry_len)
        memcpy(b->buf, f->carry, f->carry_len);
    b->len = f->carry_len;
    f->carry_len = 0;
    for (size_t target = HDP_BATCH_BYTES;; target = b->cap) {
        while (!f->eof && b->len < target) {
            ssize_t n = read(f->fd, b->buf + b->len, b->cap - b->len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                hd_err_set(&p->err, HD_EX_IOERR, "%s: %s", f->path, strerror(errno));
                return -1;
            }
            f->eof = n == 0;
            b->len += (size_t)n;
        }
        if (f->eof || memchr(b->buf, '\n', b->len))
            break;
        /* one line longer than a batch: grow, within reason */
        if (b->len >= LINE_MAX_BYTES) {
            hd_err_set(&p->err, HD_EX_FAIL,
                       "records.jsonl line %" PRIu64 " is longer than %u bytes", p->next + 1,
                       LINE_MAX_BYTES);
            return -1;
        }
        if (hdp_batch_reserve(b, b->cap * 2, 0) != 0)
            goto oom;
    }
    for (;;) {
        char *nl = memchr(b->buf + start, '\n', b->len - start);
        if (nl == NULL)
            break;
        if (hdp_batch_reserve(b, 0, b->n + 1) != 0)
            goto oom;
        b->off[b->n++] = start;
        start = (size_t)(nl - b->buf) + 1;
    }
    b->off[b->n] = start;
    size_t tail = b->len - start;
    if (tail && f->eof) {
        hd_err_set(&p->err, HD_EX_FAIL, "records.jsonl line %" PRIu64 " has no newline at its end",
                   p->next + b->n + 1);
        return -1;
    }
    if (tail > f->carry_cap) {
        char *c = realloc(f->carry, tail);
        if (c == NULL)
            goto oom;
        f->carry = c;
        f->carry_cap = tail;
    }
    if (tail)
        memcpy(f->carry, b->buf + start, tail);
    f->carry_len = tail;
    b->len = start;
    b->last = f->eof && tail == 0;
    return 0;
oom:
    hd_err_set(&p->err, HD_EX_SOFTWARE, "out of memory");
    return -1;
}

int hdp_each_record(const char *path, hdp_line_fn fn, void *ctx, uint8_t *root, struct hd_err *err)
{
    /* Streamed: no size limit, but never a FIFO, device or procfs file. */
    struct file_src f = {
        hd_input_open(path, HD_IN_RECORDS, "records file", NULL, err), path, NULL, 0, 0, false};
    struct hdp_pipeline p;
    int rc;
    if (f.fd < 0) {
        if (err->code == HD_EX_NOINPUT)
            err->code = HD_EX_FAIL; /* a bundle without its records is a changed one */
        return -1;
    }
    memset(&p, 0, sizeof p);
    p.fill = file_fill;
    p.src = &f;
    p.tree = root != NULL;
    p.early_pct = 100;
    rc = hdp_pipeline_run(&p, fn, ctx, err);
    if (rc == 0 && root)
        memcpy(root, p.root, 32);
    close(f.fd);
    free(f.carry);
    return rc;
}

int hd_proofs_each_record(const char *path,
                          int (*fn)(void *ctx, uint64_t index, const char *line, size_t len,
                                    const uint8_t leaf[32]),
                          void *ctx, struct hd_err *err)
{
    return hdp_each_record(path, fn, ctx, NULL, err);
}
