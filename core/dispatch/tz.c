#include "herald/tz.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct transition {
    time_t at;  /* from this instant on ... */
    int offset; /* ... the zone is this many seconds ahead of UTC */
};

struct zone {
    char *name;
    struct transition *tr; /* sorted by at; tr[0].at is the range start */
    size_t ntr;
};

struct hd_tzset {
    struct zone *zones;
    size_t nzones;
};

static int offset_now(time_t t)
{
    struct tm tm;
    if (localtime_r(&t, &tm) == NULL)
        return 0;
    return (int)tm.tm_gmtoff;
}

/* Samples the current TZ every 6 hours (DST rules never change twice that
 * fast) and bisects each change down to the second. */
static int build_zone(struct zone *z, time_t from, time_t to)
{
    size_t cap = 8;
    time_t step = 6 * 3600, t = from;
    int off = offset_now(from);
    z->tr = malloc(cap * sizeof *z->tr);
    if (z->tr == NULL)
        return -1;
    z->tr[0].at = from;
    z->tr[0].offset = off;
    z->ntr = 1;
    while (t < to) {
        time_t next = t + step;
        int noff = offset_now(next);
        if (noff != off) {
            time_t lo = t, hi = next; /* offset(lo) == off, offset(hi) == noff */
            while (hi - lo > 1) {
                time_t mid = lo + (hi - lo) / 2;
                if (offset_now(mid) == off)
                    lo = mid;
                else
                    hi = mid;
            }
            if (z->ntr == cap) {
                struct transition *tr = realloc(z->tr, 2 * cap * sizeof *tr);
                if (tr == NULL)
                    return -1;
                z->tr = tr;
                cap *= 2;
            }
            z->tr[z->ntr].at = hi;
            z->tr[z->ntr].offset = noff;
            z->ntr++;
            off = noff;
        }
        t = next;
    }
    return 0;
}

static int cmp_zone(const void *a, const void *b)
{
    return strcmp(((const struct zone *)a)->name, ((const struct zone *)b)->name);
}

struct hd_tzset *hd_tzset_build(const char *const *names, size_t n, time_t from, time_t to)
{
    struct hd_tzset *s = calloc(1, sizeof *s);
    char *saved = getenv("TZ") ? strdup(getenv("TZ")) : NULL;
    bool ok = s != NULL;

    if (ok && n > 0) {
        s->zones = calloc(n, sizeof *s->zones);
        ok = s->zones != NULL;
    }
    for (size_t i = 0; ok && i < n; i++) {
        struct zone *z = &s->zones[s->nzones];
        /* ":" makes glibc read the named file and never parse the name as
         * a POSIX TZ rule string. */
        char spec[256];
        snprintf(spec, sizeof spec, ":%s", names[i]);
        setenv("TZ", spec, 1);
        tzset();
        z->name = strdup(names[i]);
        ok = z->name != NULL && build_zone(z, from, to) == 0;
        s->nzones++;
    }
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
    if (!ok) {
        hd_tzset_free(s);
        return NULL;
    }
    qsort(s->zones, s->nzones, sizeof *s->zones, cmp_zone);
    return s;
}

void hd_tzset_free(struct hd_tzset *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nzones; i++) {
        free(s->zones[i].name);
        free(s->zones[i].tr);
    }
    free(s->zones);
    free(s);
}

static const struct zone *find_zone(const struct hd_tzset *s, const char *name, size_t len)
{
    size_t lo = 0, hi = s ? s->nzones : 0;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strncmp(name, s->zones[mid].name, len);
        if (r == 0 && s->zones[mid].name[len] != '\0')
            r = -1;
        if (r == 0)
            return &s->zones[mid];
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static int zone_offset(const struct zone *z, time_t t)
{
    size_t lo = 0, hi = z->ntr;
    /* The last transition at or before t. */
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (z->tr[mid].at <= t)
            lo = mid;
        else
            hi = mid;
    }
    return z->tr[lo].offset;
}

int hd_tzset_offset(const struct hd_tzset *s, const char *name, size_t len, time_t t)
{
    const struct zone *z = find_zone(s, name, len);
    return z ? zone_offset(z, t) : 0;
}

static bool in_window(int minute, int start, int end)
{
    if (start == end)
        return true;
    if (start < end)
        return minute >= start && minute < end;
    return minute >= start || minute < end;
}

time_t hd_window_next_open(const struct hd_tzset *s, const char *name, size_t len, time_t t,
                           int start_min, int end_min)
{
    const struct zone *z = find_zone(s, name, len);
    int off = z ? zone_offset(z, t) : 0;
    time_t local = t + off;
    long sec_of_day = (long)(((local % 86400) + 86400) % 86400);
    int minute = (int)(sec_of_day / 60);
    time_t day_start, cand_local, utc;

    if (in_window(minute, start_min, end_min))
        return t;
    day_start = local - sec_of_day;
    cand_local = day_start + (time_t)start_min * 60;
    if (cand_local <= local)
        cand_local += 86400;
    /* Local -> UTC with the offset in force then (DST may change between
     * now and the window's opening). */
    utc = cand_local - off;
    if (z) {
        int off2 = zone_offset(z, utc);
        utc = cand_local - off2;
        if (zone_offset(z, utc) != off2) /* the start falls in a DST gap */
            utc = cand_local - zone_offset(z, utc);
    }
    return utc > t ? utc : t + 60;
}
