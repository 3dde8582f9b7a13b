#include "herald/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "herald/files.h"
#include "herald/hash.h"

const char *const hd_reason_names[HD_R_COUNT] = {
    "out_of_region", "minor", "already_objected", "no_channel", "duplicate_id", "invalid_row"};
const char *const hd_dstate_names[HD_DS_COUNT] = {"pending", "inflight", "sent",
                                                  "retry",   "failed",   "held"};
const char *const hd_chskip_names[3] = {"", "no_address", "unsupported_address"};

/* The map is address space, not disk: LMDB grows the file as pages are
 * used. 1 TiB covers billions of deliveries without a resize. */
#define STORE_MAP_SIZE ((size_t)1 << 40)

int hd_store_fail(struct hd_err *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        hd_err_set(err, HD_EX_IOERR, "state store is full during %s (LMDB map size reached)", what);
    else if (rc == ENOSPC)
        hd_err_set(err, HD_EX_IOERR,
                   "disk full during %s: free space and run again; the "
                   "store is intact",
                   what);
    else if (rc == EAGAIN || rc == MDB_READERS_FULL)
        hd_err_set(err, HD_EX_TEMPFAIL, "state store busy during %s: %s", what, mdb_strerror(rc));
    else
        hd_err_set(err, HD_EX_IOERR, "state store error during %s: %s", what, mdb_strerror(rc));
    return -1;
}

void hd_store_close(struct hd_store *s)
{
    if (s == NULL)
        return;
    if (s->env)
        mdb_env_close(s->env);
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s->dir);
    free(s);
}

/* Checks one of LMDB's files before LMDB opens it (see hd_store_open): not
 * a link, a regular file of ours with one name and mode 0600 or stricter.
 * An existing file is checked with fstatat, not opened: closing any fd of
 * lock.mdb would drop the fcntl lock an LMDB environment of this process
 * holds on it. A missing one is created here with O_CREAT | O_EXCL |
 * O_NOFOLLOW when the open may create (plan; lock.mdb for every open, as
 * LMDB creates it even for readers); a reader on a read-only file system
 * may find lock.mdb missing and not creatable, and LMDB then works without
 * it. Fills *st. */
static int check_store_file(const struct hd_store *s, const char *name, unsigned flags,
                            struct stat *st, struct hd_err *err)
{
    bool lock = strcmp(name, "lock.mdb") == 0;
    bool create = (flags & HD_STORE_CREATE) || lock;
    const char *what = "state store file";

    for (int tries = 0; tries < 2; tries++) {
        if (hd_private_file_check(s->dirfd, name, s->dir, 077, what, st, err) == 0)
            return 0;
        if (errno != ENOENT)
            return -1;
        if (!create) { /* nothing is created in a directory that is not a store */
            hd_err_set(err, HD_EX_NOINPUT,
                       "\"%s\" is not a herald state store (no %s): run `herald plan` first",
                       s->dir, name);
            return -1;
        }
        int fd = openat(s->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            int rc = fstat(fd, st);
            close(fd); /* a new file: no environment holds a lock on it yet */
            if (rc == 0)
                return 0;
            hd_err_set(err, HD_EX_IOERR, "cannot stat %s/%s: %s", s->dir, name, strerror(errno));
            return -1;
        }
        if (errno == EEXIST)
            continue; /* another process made it meanwhile: check that one */
        if (lock && (flags & HD_STORE_RDONLY) &&
            (errno == EROFS || errno == EACCES || errno == EPERM))
            return 0;
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s %s/%s: %s", what, s->dir, name,
                   strerror(errno));
        return -1;
    }
    return -1; /* err set by the second check */
}

int hd_store_open(struct hd_store **out, const char *dir, unsigned flags, struct hd_err *err)
{
    struct hd_store *s = calloc(1, sizeof *s);
    MDB_txn *txn = NULL;
    unsigned env_flags = MDB_NOTLS;
    unsigned db_flags = (flags & HD_STORE_CREATE) ? MDB_CREATE : 0;
    struct stat data_st, st;
    char env_path[64];
    const char *lmdb_dir = dir;
    size_t dirlen = strlen(dir);
    int rc;

    *out = NULL;
    if (s != NULL)
        s->dirfd = -1;
    if (s == NULL || (s->dir = strdup(dir)) == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        goto fail;
    }
    /* Before anything is created: a longer path cannot be opened whole. */
    if (dirlen == 0 || dirlen > HD_MKDIRS_PATH_MAX) {
        hd_err_set(err, (flags & HD_STORE_CREATE) ? HD_EX_CANTCREAT : HD_EX_NOINPUT,
                   "state directory path is %s (%zu bytes, at most %d)",
                   dirlen ? "too long" : "empty", dirlen, HD_MKDIRS_PATH_MAX);
        goto fail;
    }
    if (flags & HD_STORE_CREATE) {
        /* Parents get the usual mode; the store itself is private. */
        if (hd_mkdirs(dir, 0700, "state directory", err) != 0)
            goto fail;
    }
    /* The directory must be ours and closed to others: whoever can write it
     * can plant data.mdb or lock.mdb as links (LMDB follows them, writing
     * the store or its lock where the link points) or replace them. */
    if ((s->dirfd = hd_private_dir_open(AT_FDCWD, dir, NULL, "state directory", err)) < 0) {
        if (err->code == HD_EX_NOINPUT ||
            (!(flags & HD_STORE_CREATE) && err->code == HD_EX_CANTCREAT && errno == ENOTDIR))
            hd_err_set(err, HD_EX_NOINPUT, "no state store at \"%s\": run `herald plan` first",
                       dir);
        goto fail;
    }
    /* LMDB opens DIR/data.mdb and DIR/lock.mdb itself, with O_CREAT and
     * without O_NOFOLLOW. So both are checked (fstatat, no link followed) or
     * created (O_EXCL | O_NOFOLLOW) here first: a regular file of ours, one
     * name, mode 0600 or stricter. LMDB is handed the directory as
     * /proc/self/fd/N: its paths resolve through the directory we checked,
     * whatever is renamed above it meanwhile.
     * Race-free: the directory belongs to us and no one else may write it,
     * so between the check and LMDB's open only our own user (or root) can
     * change its entries; and data.mdb's device and inode are compared with
     * the file LMDB opened. */
    if (check_store_file(s, "data.mdb", flags, &data_st, err) != 0 ||
        check_store_file(s, "lock.mdb", flags, &st, err) != 0)
        goto fail;
    snprintf(env_path, sizeof env_path, "/proc/self/fd/%d", s->dirfd);
    if (access(env_path, X_OK) == 0)
        lmdb_dir = env_path;
    if (flags & HD_STORE_RDONLY)
        env_flags |= MDB_RDONLY;
    if (flags & HD_STORE_BULK)
        env_flags |= MDB_NOSYNC;
    if ((rc = mdb_env_create(&s->env)) != 0 || (rc = mdb_env_set_maxdbs(s->env, 16)) != 0 ||
        (rc = mdb_env_set_mapsize(s->env, STORE_MAP_SIZE)) != 0 ||
        (rc = mdb_env_set_maxreaders(s->env, 256)) != 0) {
        hd_store_fail(err, rc, "opening the state store");
        goto fail;
    }
    if ((rc = mdb_env_open(s->env, lmdb_dir, env_flags, 0600)) != 0) {
        if (rc == ENOENT && !(flags & HD_STORE_CREATE)) {
            /* a directory without data.mdb (read-only opens do not create it) */
            hd_err_set(err, HD_EX_NOINPUT, "no state store at \"%s\": run `herald plan` first",
                       dir);
        } else {
            hd_store_fail(err, rc, "opening the state store");
            hd_err_prefix(err, "%s", dir);
        }
        goto fail;
    }
    int data_fd = -1;
    if (mdb_env_get_fd(s->env, &data_fd) != 0 || fstat(data_fd, &st) != 0 ||
        st.st_dev != data_st.st_dev || st.st_ino != data_st.st_ino) {
        hd_err_set(err, HD_EX_CONFIG,
                   "%s/data.mdb was replaced while it was being opened: check who else "
                   "writes to %s",
                   dir, dir);
        goto fail;
    }
    if ((rc = mdb_txn_begin(s->env, NULL, (flags & HD_STORE_RDONLY) ? MDB_RDONLY : 0, &txn)) != 0) {
        hd_store_fail(err, rc, "opening the state store");
        goto fail;
    }
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {
        {"meta", &s->meta},       {"snapshot", &s->snapshot},     {"shards", &s->shards},
        {"persons", &s->persons}, {"deliveries", &s->deliveries}, {"exclusions", &s->exclusions},
        {"ids", &s->ids},         {"counters", &s->counters},     {"due", &s->due},
        {"audit", &s->audit},     {"proofs", &s->proofs}};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        /* proofs came later: a writer adds it to a store made before it */
        bool add = dbs[i].dbi == &s->proofs && !(flags & HD_STORE_RDONLY);
        unsigned f = db_flags | (add ? MDB_CREATE : 0);
        if ((rc = mdb_dbi_open(txn, dbs[i].name, f, dbs[i].dbi)) != 0) {
            if (rc == MDB_NOTFOUND)
                hd_err_set(err, HD_EX_NOINPUT,
                           "\"%s\" is not a herald state store (no %s "
                           "database): run `herald plan` first",
                           dir, dbs[i].name);
            else
                hd_store_fail(err, rc, "opening the state store");
            goto fail;
        }
    }
    if ((rc = mdb_txn_commit(txn)) != 0) {
        txn = NULL;
        hd_store_fail(err, rc, "opening the state store");
        goto fail;
    }
    *out = s;
    return 0;
fail:
    if (txn)
        mdb_txn_abort(txn);
    hd_store_close(s);
    return -1;
}

/* LMDB does not expose where it mapped the file (MDB_envinfo.me_mapaddr is
 * only set with MDB_FIXEDMAP), so find the mapping of our data.mdb in
 * /proc/self/maps by its device and inode. Best effort: NULL if not found. */
static void *find_map(const struct hd_store *s, size_t *len)
{
    char line[4600];
    struct stat st;
    FILE *f;
    void *addr = NULL;
    int fd = -1;
    if (mdb_env_get_fd(s->env, &fd) != 0 || fstat(fd, &st) != 0 ||
        (f = fopen("/proc/self/maps", "r")) == NULL)
        return NULL;
    while (addr == NULL && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, ino, dmaj, dmin;
        if (sscanf(line, "%lx-%lx %*s %*s %lx:%lx %lu", &lo, &hi, &dmaj, &dmin, &ino) == 5 &&
            ino == (unsigned long)st.st_ino &&
            makedev((unsigned)dmaj, (unsigned)dmin) == st.st_dev) {
            addr = (void *)lo;
            *len = hi - lo;
        }
    }
    fclose(f);
    return addr;
}

void hd_store_drop_mapped(struct hd_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    size_t maplen = 0;
    if (s->map == NULL)
        s->map = find_map(s, &maplen);
    if (s->map == NULL || mdb_env_info(s->env, &info) != 0 || mdb_env_stat(s->env, &st) != 0)
        return;
    size_t used = ((size_t)info.me_last_pgno + 1) * st.ms_psize;
    /* Without MDB_WRITEMAP LMDB maps the file read-only and writes with
     * pwrite, so dropping our page-table entries loses nothing: the pages
     * stay in the page cache and the next access faults them back in. */
    madvise(s->map, used, MADV_DONTNEED);
}

/* LMDB reports a write the file system cut short as EIO ("short write,
 * filesystem full?" in mdb_page_flush), and that is how a full disk shows on
 * ext4: a commit's pages are written in runs of up to 64, and the run that
 * no longer fits is written in part. An EIO with (almost) no space left on
 * the store's file system is a full disk, and said so: the operator is to
 * free space, not to look for a broken disk. */
static int full_disk_as_enospc(MDB_env *env, int rc)
{
    const char *path;
    struct statvfs sv;
    if (rc != EIO || mdb_env_get_path(env, &path) != 0 || statvfs(path, &sv) != 0)
        return rc;
    /* f_bavail, even for root: ext4 keeps blocks back (for delayed
     * allocation) that root cannot write into either. */
    return (unsigned long long)sv.f_bavail * sv.f_frsize < (1u << 20) ? ENOSPC : rc;
}

int hd_store_sync(struct hd_store *s, struct hd_err *err)
{
    int rc = full_disk_as_enospc(s->env, mdb_env_sync(s->env, 1));
    return rc ? hd_store_fail(err, rc, "syncing the state store") : 0;
}

int hd_store_begin(struct hd_store *s, bool write, MDB_txn **txn, struct hd_err *err)
{
    int rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, txn);
    return rc ? hd_store_fail(err, rc, "starting a transaction") : 0;
}

int hd_store_commit(MDB_txn *txn, struct hd_err *err)
{
    MDB_env *env = mdb_txn_env(txn); /* the commit frees txn */
    int rc = full_disk_as_enospc(env, mdb_txn_commit(txn));
    return rc ? hd_store_fail(err, rc, "committing") : 0;
}

int hd_store_meta_get(MDB_txn *txn, const struct hd_store *s, const char *key, struct hd_buf *out,
                      bool *found, struct hd_err *err)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, s->meta, &k, &v);
    *found = false;
    if (rc == MDB_NOTFOUND)
        return 0;
    if (rc != 0)
        return hd_store_fail(err, rc, "reading meta");
    hd_buf_reset(out);
    if (hd_buf_append(out, v.mv_data, v.mv_size) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    *found = true;
    return 0;
}

int hd_store_meta_put(MDB_txn *txn, const struct hd_store *s, const char *key, const void *val,
                      size_t len, struct hd_err *err)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
    int rc = mdb_put(txn, s->meta, &k, &v, 0);
    return rc ? hd_store_fail(err, rc, "writing meta") : 0;
}

static int counter_add(MDB_txn *txn, const struct hd_store *s, struct hd_counter_key key,
                       int64_t delta, bool floor, struct hd_err *err)
{
    MDB_val k = {sizeof key.b, key.b}, v;
    uint64_t n = 0;
    int rc = mdb_get(txn, s->counters, &k, &v);
    if (rc == 0 && v.mv_size == sizeof n)
        memcpy(&n, v.mv_data, sizeof n);
    else if (rc != 0 && rc != MDB_NOTFOUND)
        return hd_store_fail(err, rc, "reading a counter");
    if (floor && delta < 0 && n < (uint64_t)0 - (uint64_t)delta)
        n = 0;
    else
        n += (uint64_t)delta;
    v.mv_size = sizeof n;
    v.mv_data = &n;
    rc = mdb_put(txn, s->counters, &k, &v, 0);
    return rc ? hd_store_fail(err, rc, "writing a counter") : 0;
}

int hd_store_counter_add(MDB_txn *txn, const struct hd_store *s, struct hd_counter_key key,
                         int64_t delta, struct hd_err *err)
{
    return counter_add(txn, s, key, delta, false, err);
}

int hd_store_counter_add_floor(MDB_txn *txn, const struct hd_store *s, struct hd_counter_key key,
                               int64_t delta, struct hd_err *err)
{
    return counter_add(txn, s, key, delta, true, err);
}

uint64_t hd_store_counter_get(MDB_txn *txn, const struct hd_store *s, struct hd_counter_key key)
{
    MDB_val k = {sizeof key.b, key.b}, v;
    uint64_t n = 0;
    if (mdb_get(txn, s->counters, &k, &v) == 0 && v.mv_size == sizeof n)
        memcpy(&n, v.mv_data, sizeof n);
    return n;
}

int hd_store_clear_plan(MDB_txn *txn, const struct hd_store *s, struct hd_err *err)
{
    const MDB_dbi dbs[] = {s->shards,   s->persons,  s->deliveries, s->exclusions, s->ids,
                           s->counters, s->snapshot, s->due,        s->proofs};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        int rc = mdb_drop(txn, dbs[i], 0);
        if (rc != 0)
            return hd_store_fail(err, rc, "clearing the plan");
    }
    return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static void put_be(uint8_t *p, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void hd_key_u64(uint8_t out[8], uint64_t v)
{
    put_be(out, v, 8);
}

void hd_key_person(uint8_t out[10], uint16_t shard, uint64_t row)
{
    put_be(out, shard, 2);
    put_be(out + 2, row, 8);
}

void hd_key_delivery(uint8_t out[11], uint16_t shard, uint64_t row, uint8_t channel)
{
    hd_key_person(out, shard, row);
    out[10] = channel;
}

uint64_t hd_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

uint16_t hd_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

uint64_t hd_person_hash(const char *id, size_t len)
{
    uint64_t h = hd_fnv1a64(id, len);
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

/* ---- records ------------------------------------------------------------- */
/* Records are: a version byte, fixed fields in little-endian order, then
 * strings as u16 length + bytes. Decoders check every length against the
 * record size, so a damaged record is refused, never over-read. */

#define PERSON_REC_V1 1
#define EXCLUSION_REC_V1 1
#define DELIVERY_REC_V1 1
/* A delivery nobody has touched yet is two bytes: [2][state]. The planner
 * writes millions of them, and every byte saved is a byte less to write. */
#define DELIVERY_REC_FRESH 2

struct reader {
    const uint8_t *p, *end;
    bool bad;
};

static uint64_t rd_uint(struct reader *r, int n)
{
    uint64_t v = 0;
    if (r->end - r->p < n) {
        r->bad = true;
        return 0;
    }
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

static const char *rd_str(struct reader *r, uint16_t *len)
{
    const char *s;
    *len = (uint16_t)rd_uint(r, 2);
    if (r->bad || r->end - r->p < *len) {
        r->bad = true;
        *len = 0;
        return NULL;
    }
    s = (const char *)r->p;
    r->p += *len;
    return *len ? s : NULL;
}

static int wr_uint(struct hd_buf *b, uint64_t v, int n)
{
    uint8_t tmp[8];
    for (int i = 0; i < n; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    return hd_buf_append(b, tmp, (size_t)n);
}

static int wr_str(struct hd_buf *b, const char *s, size_t len)
{
    if (len > 0xFFFF)
        len = 0xFFFF; /* inputs are bounded far below this at plan time */
    return wr_uint(b, len, 2) || hd_buf_append(b, s, len);
}

int hd_person_rec_encode(const struct hd_person_rec *p, struct hd_buf *out)
{
    size_t lang_len = strnlen(p->language, sizeof p->language);
    int rc = wr_uint(out, PERSON_REC_V1, 1) || wr_uint(out, p->row, 8) ||
             wr_uint(out, p->line, 8) || hd_buf_append(out, p->country, 2) ||
             wr_uint(out, p->lang_source, 1) || wr_uint(out, p->variant, 1) ||
             wr_uint(out, (uint16_t)p->age, 2) || wr_uint(out, p->nchannels, 1) ||
             hd_buf_append(out, p->chskip, p->nchannels) || wr_str(out, p->language, lang_len) ||
             wr_str(out, p->id, p->id_len) || wr_str(out, p->email, p->email_len) ||
             wr_str(out, p->push_token, p->push_token_len) ||
             wr_str(out, p->language_asked, p->language_asked_len) ||
             wr_str(out, p->time_zone, p->time_zone_len) || wr_str(out, p->name, p->name_len);
    return rc ? -1 : 0;
}

int hd_person_rec_decode(const void *data, size_t len, struct hd_person_rec *p)
{
    struct reader r = {data, (const uint8_t *)data + len, false};
    const char *lang;
    uint16_t lang_len;
    memset(p, 0, sizeof *p);
    if (rd_uint(&r, 1) != PERSON_REC_V1)
        return -1;
    p->row = rd_uint(&r, 8);
    p->line = rd_uint(&r, 8);
    if (r.end - r.p < 2)
        return -1;
    memcpy(p->country, r.p, 2);
    r.p += 2;
    p->lang_source = (uint8_t)rd_uint(&r, 1);
    p->variant = (uint8_t)rd_uint(&r, 1);
    p->age = (int16_t)(uint16_t)rd_uint(&r, 2);
    p->nchannels = (uint8_t)rd_uint(&r, 1);
    if (r.bad || p->nchannels > sizeof p->chskip || r.end - r.p < p->nchannels)
        return -1;
    memcpy(p->chskip, r.p, p->nchannels);
    r.p += p->nchannels;
    lang = rd_str(&r, &lang_len);
    if (lang_len >= sizeof p->language)
        return -1;
    if (lang)
        memcpy(p->language, lang, lang_len);
    p->id = rd_str(&r, &p->id_len);
    p->email = rd_str(&r, &p->email_len);
    p->push_token = rd_str(&r, &p->push_token_len);
    p->language_asked = rd_str(&r, &p->language_asked_len);
    p->time_zone = rd_str(&r, &p->time_zone_len);
    p->name = rd_str(&r, &p->name_len);
    return r.bad ? -1 : 0;
}

int hd_exclusion_rec_encode(const struct hd_exclusion_rec *x, struct hd_buf *out)
{
    int rc = wr_uint(out, EXCLUSION_REC_V1, 1) || wr_uint(out, x->row, 8) ||
             wr_uint(out, x->line, 8) || wr_uint(out, x->reason, 1) || wr_uint(out, x->field, 1) ||
             hd_buf_append(out, x->country[0] ? x->country : "\0\0", 2) ||
             wr_str(out, x->id, x->id_len) || wr_str(out, x->why, x->why_len);
    return rc ? -1 : 0;
}

int hd_exclusion_rec_decode(const void *data, size_t len, struct hd_exclusion_rec *x)
{
    struct reader r = {data, (const uint8_t *)data + len, false};
    memset(x, 0, sizeof *x);
    if (rd_uint(&r, 1) != EXCLUSION_REC_V1)
        return -1;
    x->row = rd_uint(&r, 8);
    x->line = rd_uint(&r, 8);
    x->reason = (uint8_t)rd_uint(&r, 1);
    x->field = (uint8_t)rd_uint(&r, 1);
    if (r.bad || r.end - r.p < 2 || x->reason >= HD_R_COUNT)
        return -1;
    memcpy(x->country, r.p, 2);
    r.p += 2;
    x->id = rd_str(&r, &x->id_len);
    x->why = rd_str(&r, &x->why_len);
    return r.bad ? -1 : 0;
}

static bool delivery_untouched(const struct hd_delivery_rec *d)
{
    static const uint8_t zero[32];
    return d->attempts == 0 && d->flags == 0 && d->code == 0 && d->next_attempt_ms == 0 &&
           d->first_attempt_ms == 0 && d->last_change_ms == 0 && memcmp(d->sha256, zero, 32) == 0 &&
           d->event_len == 0 && d->provider_id_len == 0 && d->response_len == 0;
}

int hd_delivery_rec_encode(const struct hd_delivery_rec *d, struct hd_buf *out)
{
    if (delivery_untouched(d)) {
        uint8_t fresh[2] = {DELIVERY_REC_FRESH, d->state};
        return hd_buf_append(out, fresh, 2);
    }
    size_t resp = d->response_len > HD_RESPONSE_MAX ? HD_RESPONSE_MAX : d->response_len;
    int rc = wr_uint(out, DELIVERY_REC_V1, 1) || wr_uint(out, d->state, 1) ||
             wr_uint(out, d->attempts, 1) || wr_uint(out, d->flags, 2) ||
             wr_uint(out, d->code, 2) || wr_uint(out, 0, 1) ||
             wr_uint(out, (uint64_t)d->next_attempt_ms, 8) ||
             wr_uint(out, (uint64_t)d->first_attempt_ms, 8) ||
             wr_uint(out, (uint64_t)d->last_change_ms, 8) || hd_buf_append(out, d->sha256, 32) ||
             wr_str(out, d->event, d->event_len) ||
             wr_str(out, d->provider_id, d->provider_id_len) || wr_str(out, d->response, resp);
    return rc ? -1 : 0;
}

int hd_delivery_rec_decode(const void *data, size_t len, struct hd_delivery_rec *d)
{
    struct reader r = {data, (const uint8_t *)data + len, false};
    memset(d, 0, sizeof *d);
    if (len == 2 && ((const uint8_t *)data)[0] == DELIVERY_REC_FRESH) {
        d->state = ((const uint8_t *)data)[1];
        return d->state >= HD_DS_COUNT ? -1 : 0;
    }
    if (rd_uint(&r, 1) != DELIVERY_REC_V1)
        return -1;
    d->state = (uint8_t)rd_uint(&r, 1);
    d->attempts = (uint8_t)rd_uint(&r, 1);
    d->flags = (uint16_t)rd_uint(&r, 2);
    d->code = (uint16_t)rd_uint(&r, 2);
    rd_uint(&r, 1);
    d->next_attempt_ms = (int64_t)rd_uint(&r, 8);
    d->first_attempt_ms = (int64_t)rd_uint(&r, 8);
    d->last_change_ms = (int64_t)rd_uint(&r, 8);
    if (r.bad || r.end - r.p < 32)
        return -1;
    memcpy(d->sha256, r.p, 32);
    r.p += 32;
    d->event = rd_str(&r, &d->event_len);
    d->provider_id = rd_str(&r, &d->provider_id_len);
    d->response = rd_str(&r, &d->response_len);
    return r.bad || d->state >= HD_DS_COUNT ? -1 : 0;
}

void hd_key_due(uint8_t out[19], int64_t due_ms, const uint8_t delivery_key[11])
{
    put_be(out, (uint64_t)due_ms, 8);
    memcpy(out + 8, delivery_key, 11);
}

int hd_store_audit(MDB_txn *txn, const struct hd_store *s, const char *json, struct hd_err *err)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t seq = 1;
    uint8_t key[8];
    int rc = mdb_cursor_open(txn, s->audit, &cur);
    if (rc != 0)
        return hd_store_fail(err, rc, "opening the audit log");
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
        seq = hd_get_u64(k.mv_data) + 1;
    mdb_cursor_close(cur);
    put_be(key, seq, 8);
    k.mv_size = 8;
    k.mv_data = key;
    v.mv_size = strlen(json);
    v.mv_data = (void *)json;
    rc = mdb_put(txn, s->audit, &k, &v, MDB_APPEND);
    return rc ? hd_store_fail(err, rc, "writing the audit log") : 0;
}
