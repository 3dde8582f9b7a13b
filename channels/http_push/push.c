/* channels/http_push/push.c - the built-in `http-push` channel module:
 * delivers push notices to an in-app notification service over HTTP with
 * libcurl's multi interface.
 *
 * send() copies each message (its body filled into the campaign's
 * body_template, or the rendered notice JSON as is) into a job and queues
 * it; one module thread runs the curl_multi_poll loop: it starts a transfer
 * per free slot (one reused easy handle per slot, the body passed with
 * CURLOPT_POSTFIELDS, never copied by curl), reads completions, classifies
 * each answer and reports it. Every request carries Idempotency-Key: the
 * message id (batch mode: a key derived from the items' keys), and with
 * webhook_secret_env the Standard Webhooks signature headers.
 *
 * Back-pressure: a 429 or 503 pauses new requests of the whole channel until
 * the Retry-After time (at most max_pause) and halves the number of
 * transfers in flight, which then grows back by one per window of successes.
 * Messages handed over meanwhile wait in the queue, so the dispatcher's
 * concurrency limit stops it from handing over more.
 *
 * docs/push-channel.md describes settings, classification and figures.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "herald/str.h"
#include "push.h"

#define RESP_CAP_SINGLE (64u << 10)
#define RESP_CAP_BATCH (64u << 20)
#define RESP_KEEP 400 /* bytes of a response kept for the operator */
#define DEFAULT_PAUSE_MS 1000
#define LOUD_LOG_MAX 100

struct job {
    struct job *next;
    uint64_t handle;
    const char *key, *person;
    const char *body;
    size_t body_len;
    char data[];
};

struct push;

struct slot {
    struct push *p;
    CURL *easy;
    struct job *jobs; /* the request's jobs (one unless batch mode) */
    size_t njobs;
    struct hd_buf body; /* batch mode: the request body */
    struct hd_buf resp;
    size_t resp_cap;
    long retry_after; /* -1: none given */
    bool overflow;    /* the body was longer than resp_cap: the read stopped there */
    char errbuf[CURL_ERROR_SIZE];
    struct curl_slist hdr[PUSH_MAX_HEADERS + 8];
    char h_key[PUSH_KEY_MAX + 32], h_wid[PUSH_KEY_MAX + 32], h_wts[48], h_wsig[128];
};

struct push {
    struct hd_channel_out out; /* reports and logs, the credentials redacted */
    char name[40];
    struct push_conf pc;
    CURLM *multi;
    struct slot *slots;
    size_t nslots;
    size_t *free_slots; /* stack of free slot indexes (module thread) */
    size_t nfree;
    pthread_t thread;
    bool thread_started;
    char *static_hdrs[3];
    size_t nstatic_hdrs;

    pthread_mutex_t lock; /* guards the queue, outstanding and stop */
    pthread_cond_t idle;
    struct job *qhead, *qtail;
    size_t qlen;
    size_t outstanding; /* handed over by send(), not yet reported */
    bool stop;

    /* module thread only */
    int64_t pause_until_ms;
    size_t active;        /* slots with a transfer */
    unsigned long limit;  /* transfers in flight allowed now (<= nslots) */
    unsigned long credit; /* successes since the limit last grew */
    unsigned long loud_logged;
    struct hd_buf scratch; /* module thread: signature input etc. */

    /* dispatcher thread (send) only */
    struct hd_buf fill, item;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A service's reply kept for the operator: one printable line of at most
 * RESP_KEEP bytes, with every credential the module knows redacted before
 * it is cut (so no cut leaves a secret's beginning). */
static void response_text(const struct push *p, const char *text, size_t len, char *out,
                          size_t size)
{
    char wide[4 * RESP_KEEP];
    push_printable(text ? text : "", text ? len : 0, wide, sizeof wide);
    hd_secrets_redact(&p->pc.secrets, wide, sizeof wide);
    push_printable(wide, strlen(wide), out, size);
}

/* Marks n jobs reported; wakes flush() when nothing is left. */
static void settled(struct push *p, size_t n)
{
    pthread_mutex_lock(&p->lock);
    p->outstanding -= n;
    if (p->outstanding == 0)
        pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->lock);
}

/* ---- curl callbacks ------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    size_t n = size * nmemb, room = s->resp.len < s->resp_cap ? s->resp_cap - s->resp.len : 0;
    if (hd_buf_append(&s->resp, data, n < room ? n : room) != 0)
        return 0; /* out of memory: fail the transfer */
    if (n > room) {
        /* A bounded read: the status is known, the rest of an oversized
         * body is not worth reading (or waiting for); the answer is
         * classified by its status and what was read. */
        s->overflow = true;
        return 0;
    }
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        s->retry_after = -1; /* a new response (after a 100 Continue, say) */
    } else if (n > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
        char v[128];
        size_t l = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, data + 12, l);
        v[l] = '\0';
        s->retry_after = push_retry_after_parse(v, time(NULL));
    }
    return n;
}

/* ---- set-up -------------------------------------------------------------------- */

static void slot_headers(struct push *p, struct slot *s)
{
    size_t n = 0;
    for (size_t i = 0; i < p->nstatic_hdrs; i++)
        s->hdr[n++].data = p->static_hdrs[i];
    for (size_t i = 0; i < p->pc.nheaders; i++)
        s->hdr[n++].data = p->pc.headers[i];
    s->hdr[n++].data = s->h_key;
    if (p->pc.webhook_key) {
        s->hdr[n++].data = s->h_wid;
        s->hdr[n++].data = s->h_wts;
        s->hdr[n++].data = s->h_wsig;
    }
    for (size_t i = 0; i < n; i++)
        s->hdr[i].next = i + 1 < n ? &s->hdr[i + 1] : NULL;
}

static int slot_init(struct push *p, struct slot *s, struct hd_err *err)
{
    const struct push_conf *pc = &p->pc;
    CURL *e = curl_easy_init();
    CURLcode rc = CURLE_OK;
    if (e == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "channel %s: curl_easy_init failed", p->name);
        return -1;
    }
    s->p = p;
    s->easy = e;
    s->retry_after = -1;
    s->resp_cap = pc->batch.max_items ? RESP_CAP_BATCH : RESP_CAP_SINGLE;
    slot_headers(p, s);
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (rc == CURLE_OK)                                                                        \
            rc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_URL, pc->batch.max_items && pc->batch.url ? pc->batch.url : pc->url);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_HTTPHEADER, &s->hdr[0]);
    SET(CURLOPT_USERAGENT, "herald-http-push/1");
    SET(CURLOPT_HTTP_VERSION,
        pc->http_version == 2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    if (pc->http_version == 2)
        SET(CURLOPT_PIPEWAIT, 1L);
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)pc->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, (long)pc->timeout_ms);
    SET(CURLOPT_SSL_VERIFYPEER, pc->verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, pc->verify ? 2L : 0L);
    if (pc->ca_file)
        SET(CURLOPT_CAINFO, pc->ca_file);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, s);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, s);
    SET(CURLOPT_PRIVATE, s);
    SET(CURLOPT_ERRORBUFFER, s->errbuf);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    SET(CURLOPT_POSTFIELDS, "");
    if (strcmp(pc->method, "POST") != 0)
        SET(CURLOPT_CUSTOMREQUEST, pc->method);
#undef SET
    if (rc != CURLE_OK) {
        hd_err_set(err, HD_EX_SOFTWARE, "channel %s: cannot set up libcurl: %s", p->name,
                   curl_easy_strerror(rc));
        return -1;
    }
    return 0;
}

/* ---- the module thread --------------------------------------------------------- */

/* Builds the request of slot s (its jobs taken) and starts it. */
static void slot_start(struct push *p, struct slot *s)
{
    const struct push_conf *pc = &p->pc;
    const char *body, *key;
    size_t body_len;
    char bkey[33];

    if (pc->batch.max_items) {
        const char *keys_small[64], **keys = keys_small;
        size_t i = 0;
        if (s->njobs > 64 && (keys = malloc(s->njobs * sizeof *keys)) == NULL)
            abort();
        hd_buf_reset(&s->body);
        if (hd_buf_puts(&s->body, "{\"") != 0 ||
            hd_buf_json(&s->body, pc->batch.items_field, strlen(pc->batch.items_field), 0) != 0 ||
            hd_buf_puts(&s->body, "\":[") != 0)
            abort();
        for (struct job *j = s->jobs; j; j = j->next, i++) {
            keys[i] = j->key;
            if ((i && hd_buf_putc(&s->body, ',') != 0) ||
                hd_buf_append(&s->body, j->body, j->body_len) != 0)
                abort();
        }
        if (hd_buf_puts(&s->body, "]}") != 0)
            abort();
        push_batch_key(keys, s->njobs, bkey);
        if (keys != keys_small)
            free(keys);
        body = s->body.data;
        body_len = s->body.len;
        key = bkey;
    } else {
        body = s->jobs->body;
        body_len = s->jobs->body_len;
        key = s->jobs->key;
    }
    snprintf(s->h_key, sizeof s->h_key, "Idempotency-Key: %s", key);
    if (pc->webhook_key) {
        char sig[100];
        long long ts = (long long)time(NULL);
        push_webhook_signature(pc->webhook_key, pc->webhook_key_len, key, ts, body, body_len, sig,
                               sizeof sig);
        snprintf(s->h_wid, sizeof s->h_wid, "webhook-id: %s", key);
        snprintf(s->h_wts, sizeof s->h_wts, "webhook-timestamp: %lld", ts);
        snprintf(s->h_wsig, sizeof s->h_wsig, "webhook-signature: %s", sig);
    }
    hd_buf_reset(&s->resp);
    s->retry_after = -1;
    s->overflow = false;
    s->errbuf[0] = '\0';
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    CURLMcode mc = curl_multi_add_handle(p->multi, s->easy);
    if (mc != CURLM_OK) {
        /* cannot happen with a valid handle; fail the jobs transiently */
        char reason[200];
        snprintf(reason, sizeof reason, "cannot start the request: %s", curl_multi_strerror(mc));
        size_t n = 0;
        for (struct job *j = s->jobs, *next; j; j = next, n++) {
            next = j->next;
            hd_channel_report(&p->out, &(struct hd_outcome){.handle = j->handle,
                                                            .kind = HD_OUTCOME_TRANSIENT,
                                                            .event = "push.failed",
                                                            .reason = reason});
            free(j);
        }
        s->jobs = NULL;
        s->njobs = 0;
        p->free_slots[p->nfree++] = (size_t)(s - p->slots);
        settled(p, n);
        return;
    }
    p->active++;
}

/* Starts transfers while the channel is not paused and has room. */
static size_t start_transfers(struct push *p)
{
    size_t per = p->pc.batch.max_items ? p->pc.batch.max_items : 1, started = 0;
    if (p->pause_until_ms && mono_ms() < p->pause_until_ms)
        return 0;
    p->pause_until_ms = 0;
    while (p->active < p->limit && p->nfree > 0) {
        struct slot *s;
        struct job *first, *last;
        size_t n = 0;
        pthread_mutex_lock(&p->lock);
        if (p->qhead == NULL) {
            pthread_mutex_unlock(&p->lock);
            break;
        }
        first = last = p->qhead;
        n = 1;
        while (n < per && last->next) {
            last = last->next;
            n++;
        }
        p->qhead = last->next;
        if (p->qhead == NULL)
            p->qtail = NULL;
        p->qlen -= n;
        pthread_mutex_unlock(&p->lock);
        last->next = NULL;
        s = &p->slots[p->free_slots[--p->nfree]];
        s->jobs = first;
        s->njobs = n;
        slot_start(p, s);
        started++;
    }
    return started;
}

/* "id" of a JSON response (string or integer) into out, or "" . */
static void response_id(const char *resp, size_t len, const char *field, char *out, size_t size)
{
    json_t *root, *v;
    json_error_t jerr;
    out[0] = '\0';
    if (len == 0 || resp[0] != '{')
        return;
    char pat[80];
    snprintf(pat, sizeof pat, "\"%s\"", field);
    if (strstr(resp, pat) == NULL) /* resp is NUL-terminated (struct hd_buf) */
        return;
    root = json_loadb(resp, len, 0, &jerr);
    v = json_object_get(root, field);
    if (json_is_string(v))
        snprintf(out, size, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    json_decref(root);
}

static void note_backpressure(struct push *p, long status, long retry_after)
{
    int64_t now = mono_ms();
    int64_t ms = retry_after < 0 ? DEFAULT_PAUSE_MS : (int64_t)retry_after * 1000;
    bool was_paused = p->pause_until_ms > now;
    if (ms > (int64_t)p->pc.max_pause_ms)
        ms = (int64_t)p->pc.max_pause_ms;
    if (now + ms > p->pause_until_ms)
        p->pause_until_ms = now + ms;
    unsigned long before = p->limit;
    if (!was_paused) { /* once per pause: the other answers were already in flight */
        p->limit = p->limit > 1 ? p->limit / 2 : 1;
        p->credit = 0;
    }
    if (!was_paused && (ms > 0 || before != p->limit))
        hd_channel_log(
            &p->out, 1,
            "the service answered HTTP %ld%s: pausing new requests for %.1f s, then at most %lu "
            "in flight (was %lu)",
            status, retry_after >= 0 ? " with Retry-After" : " without Retry-After",
            (double)ms / 1000.0, p->limit, before);
}

static void note_success(struct push *p)
{
    if (p->limit >= p->nslots)
        return;
    if (++p->credit >= p->limit) {
        p->limit++;
        p->credit = 0;
    }
}

static void log_loud(struct push *p, const struct job *j, long status, const char *resp)
{
    if (p->loud_logged < LOUD_LOG_MAX)
        hd_channel_log(
            &p->out, 0,
            "HTTP %ld for idempotency key %s (person %s): the service already holds this key "
            "with a different body. The same key must always carry the same bytes: this is a "
            "bug in herald or in the service; not retried. Response: %s",
            status, j->key, j->person, resp[0] ? resp : "(empty)");
    else if (p->loud_logged == LOUD_LOG_MAX)
        hd_channel_log(&p->out, 0,
                       "more HTTP %ld answers (same key, different body) are not logged", status);
    p->loud_logged++;
}

/* Outcome of one job from a classified answer. */
static void report_class(struct push *p, const struct job *j, const struct push_class *cl,
                         long status, const char *provider_id, const char *resp_text,
                         long retry_after)
{
    char reason[64];
    snprintf(reason, sizeof reason, "HTTP %ld", status);
    if (cl->loud)
        log_loud(p, j, status, resp_text ? resp_text : "");
    hd_channel_report(
        &p->out, &(struct hd_outcome){
                     .handle = j->handle,
                     .kind = cl->kind,
                     .code = (int)status,
                     .event = cl->event,
                     .provider_id = provider_id && provider_id[0] ? provider_id : NULL,
                     .response = cl->keep_response && resp_text && resp_text[0] ? resp_text : NULL,
                     .reason = cl->kind == HD_OUTCOME_ACCEPTED ? NULL : reason,
                     .retry_after_s = cl->kind == HD_OUTCOME_TRANSIENT && retry_after > 0
                                          ? (unsigned)(retry_after > 86400 ? 86400 : retry_after)
                                          : 0});
}

static const char *json_text(json_t *v, char *buf, size_t size)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return NULL;
}

/* Batch mode, 2xx: per-item results mapped back to the jobs. */
static void batch_results(struct push *p, struct slot *s, long status)
{
    const struct push_batch_conf *b = &p->pc.batch;
    json_error_t jerr;
    json_t *root = NULL, *arr = NULL;
    size_t i = 0;
    char respbuf[RESP_KEEP + 8];

    if (b->results_field == NULL) { /* all or nothing: the 2xx accepts every item */
        struct push_class cl;
        push_classify(&p->pc, status, NULL, 0, &cl);
        for (struct job *j = s->jobs; j; j = j->next)
            report_class(p, j, &cl, status, NULL, NULL, -1);
        return;
    }
    root = json_loadb(s->resp.data ? s->resp.data : "", s->resp.len, 0, &jerr);
    arr = json_is_array(root) ? root : json_object_get(root, b->results_field);
    if (!json_is_array(arr)) {
        char reason[200];
        response_text(p, s->resp.data, s->resp.len, respbuf, sizeof respbuf);
        snprintf(reason, sizeof reason,
                 "HTTP %ld, but the batch response has no \"%s\" list to map the items to", status,
                 b->results_field);
        for (struct job *j = s->jobs; j; j = j->next)
            hd_channel_report(&p->out, &(struct hd_outcome){.handle = j->handle,
                                                            .kind = HD_OUTCOME_TRANSIENT,
                                                            .code = (int)status,
                                                            .event = "push.batch_unmapped",
                                                            .response = respbuf[0] ? respbuf : NULL,
                                                            .reason = reason});
        json_decref(root);
        return;
    }
    size_t n = json_array_size(arr);
    for (struct job *j = s->jobs; j; j = j->next, i++) {
        json_t *it = NULL, *v;
        char ibuf[32], idbuf[128];
        /* by key when the results carry one, else by position */
        json_t *at = i < n ? json_array_get(arr, i) : NULL;
        const char *k = json_text(json_object_get(at, b->key_field), ibuf, sizeof ibuf);
        if (at && (k == NULL || strcmp(k, j->key) == 0)) {
            it = at;
        } else {
            for (size_t x = 0; x < n && it == NULL; x++) {
                json_t *cand = json_array_get(arr, x);
                k = json_text(json_object_get(cand, b->key_field), ibuf, sizeof ibuf);
                if (k && strcmp(k, j->key) == 0)
                    it = cand;
            }
        }
        if (!json_is_object(it)) {
            hd_channel_report(
                &p->out,
                &(struct hd_outcome){.handle = j->handle,
                                     .kind = HD_OUTCOME_TRANSIENT,
                                     .code = (int)status,
                                     .event = "push.batch_no_result",
                                     .reason = "the batch response has no result for this item"});
            continue;
        }
        long item_status = status;
        v = json_object_get(it, b->status_field);
        if (json_is_integer(v))
            item_status = (long)json_integer_value(v);
        else if (json_is_string(v) && strspn(json_string_value(v), "0123456789") == 3 &&
                 strlen(json_string_value(v)) == 3)
            item_status = strtol(json_string_value(v), NULL, 10);
        const char *id = json_text(json_object_get(it, b->id_field), idbuf, sizeof idbuf);
        v = json_object_get(it, b->error_field);
        const char *etext = NULL;
        char *dumped = NULL;
        if (json_is_string(v))
            etext = json_string_value(v);
        else if (v && !json_is_null(v))
            etext = dumped = json_dumps(v, JSON_COMPACT);
        if (etext == NULL && (item_status < 200 || item_status > 299))
            etext = dumped = json_dumps(it, JSON_COMPACT);
        respbuf[0] = '\0';
        if (etext)
            response_text(p, etext, strlen(etext), respbuf, sizeof respbuf);
        struct push_class cl;
        push_classify(&p->pc, item_status, respbuf, strlen(respbuf), &cl);
        if (cl.kind == HD_OUTCOME_ACCEPTED && etext &&
            push_says_token_unknown(&p->pc, respbuf, strlen(respbuf))) {
            cl.kind = HD_OUTCOME_PERMANENT;
            cl.event = "token_invalid";
            cl.keep_response = true;
        }
        report_class(p, j, &cl, item_status, id, respbuf, -1);
        free(dumped);
    }
    json_decref(root);
}

static void transfer_done(struct push *p, struct slot *s, CURLcode result)
{
    long status = 0;
    size_t n = s->njobs;
    char respbuf[RESP_KEEP + 8];

    curl_multi_remove_handle(p->multi, s->easy);
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    p->active--;
    if (result == CURLE_WRITE_ERROR && s->overflow && status > 0)
        result = CURLE_OK; /* on_body stopped an oversized body: the answer stands */
    if (result != CURLE_OK) {
        char reason[CURL_ERROR_SIZE + 128];
        const char *event = "push.connection_failed";
        if (result == CURLE_OPERATION_TIMEDOUT)
            event = "push.timeout";
        else if (result == CURLE_SSL_CONNECT_ERROR || result == CURLE_PEER_FAILED_VERIFICATION ||
                 result == CURLE_SSL_CERTPROBLEM || result == CURLE_SSL_CACERT_BADFILE)
            event = "push.tls_failed";
        snprintf(reason, sizeof reason, "%s%s%s", curl_easy_strerror(result),
                 s->errbuf[0] ? ": " : "", s->errbuf);
        for (struct job *j = s->jobs; j; j = j->next)
            hd_channel_report(&p->out, &(struct hd_outcome){.handle = j->handle,
                                                            .kind = HD_OUTCOME_TRANSIENT,
                                                            .code = (int)status,
                                                            .event = event,
                                                            .reason = reason});
    } else {
        struct push_class cl;
        push_classify(&p->pc, status, s->resp.data, s->resp.len, &cl);
        if (cl.backpressure)
            note_backpressure(p, status, s->retry_after);
        else if (cl.kind == HD_OUTCOME_ACCEPTED)
            note_success(p);
        if (p->pc.batch.max_items && cl.kind == HD_OUTCOME_ACCEPTED) {
            batch_results(p, s, status);
        } else {
            char id[128] = "";
            respbuf[0] = '\0';
            if (cl.kind == HD_OUTCOME_ACCEPTED)
                response_id(s->resp.data, s->resp.len, "id", id, sizeof id);
            else
                response_text(p, s->resp.data, s->resp.len, respbuf, sizeof respbuf);
            for (struct job *j = s->jobs; j; j = j->next)
                report_class(p, j, &cl, status, id, respbuf, s->retry_after);
        }
    }
    for (struct job *j = s->jobs, *next; j; j = next) {
        next = j->next;
        free(j);
    }
    s->jobs = NULL;
    s->njobs = 0;
    p->free_slots[p->nfree++] = (size_t)(s - p->slots);
    settled(p, n);
}

static size_t read_completions(struct push *p)
{
    CURLMsg *msg;
    int left;
    size_t n = 0;
    while ((msg = curl_multi_info_read(p->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        char *priv = NULL;
        CURLcode result = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        struct slot *s = (struct slot *)(void *)priv;
        if (s) {
            transfer_done(p, s, result);
            n++;
        }
    }
    return n;
}

/* close() while messages are still held: report them (transient). */
static void cancel_all(struct push *p)
{
    size_t n = 0;
    struct job *q;
    for (size_t i = 0; i < p->nslots; i++) {
        struct slot *s = &p->slots[i];
        if (s->jobs == NULL)
            continue;
        curl_multi_remove_handle(p->multi, s->easy);
        for (struct job *j = s->jobs, *next; j; j = next, n++) {
            next = j->next;
            hd_channel_report(
                &p->out,
                &(struct hd_outcome){.handle = j->handle,
                                     .kind = HD_OUTCOME_TRANSIENT,
                                     .event = "push.cancelled",
                                     .reason = "the channel closed before the service answered"});
            free(j);
        }
        s->jobs = NULL;
    }
    pthread_mutex_lock(&p->lock);
    q = p->qhead;
    p->qhead = p->qtail = NULL;
    p->qlen = 0;
    pthread_mutex_unlock(&p->lock);
    for (struct job *next; q; q = next, n++) {
        next = q->next;
        hd_channel_report(&p->out, &(struct hd_outcome){
                                       .handle = q->handle,
                                       .kind = HD_OUTCOME_TRANSIENT,
                                       .event = "push.cancelled",
                                       .reason = "the channel closed before the message was sent"});
        free(q);
    }
    settled(p, n);
}

static void *loop(void *arg)
{
    struct push *p = arg;
    for (;;) {
        int running = 0, timeout = 1000;
        bool stop;
        pthread_mutex_lock(&p->lock);
        stop = p->stop;
        pthread_mutex_unlock(&p->lock);
        if (stop)
            break;
        start_transfers(p);
        CURLMcode mc = curl_multi_perform(p->multi, &running);
        if (read_completions(p) > 0)
            continue; /* slots came free: start more before waiting */
        if (p->pause_until_ms) {
            int64_t left = p->pause_until_ms - mono_ms();
            timeout = left <= 0 ? 0 : left < timeout ? (int)left : timeout;
        }
        if (mc == CURLM_OK)
            mc = curl_multi_poll(p->multi, NULL, 0, timeout, NULL);
        if (mc != CURLM_OK) {
            hd_channel_log(&p->out, 0, "libcurl: %s", curl_multi_strerror(mc));
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    cancel_all(p);
    return NULL;
}

/* ---- the module ---------------------------------------------------------------- */

static void push_close(void *instance)
{
    struct push *p = instance;
    if (p == NULL)
        return;
    if (p->thread_started) {
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_mutex_unlock(&p->lock);
        curl_multi_wakeup(p->multi);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; p->slots && i < p->nslots; i++) {
        if (p->slots[i].easy)
            curl_easy_cleanup(p->slots[i].easy);
        hd_buf_release(&p->slots[i].body);
        hd_buf_release(&p->slots[i].resp);
    }
    if (p->multi)
        curl_multi_cleanup(p->multi);
    free(p->slots);
    free(p->free_slots);
    for (size_t i = 0; i < p->nstatic_hdrs; i++)
        free(p->static_hdrs[i]);
    push_conf_free(&p->pc);
    hd_buf_release(&p->scratch);
    hd_buf_release(&p->fill);
    hd_buf_release(&p->item);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->idle);
    free(p);
}

/* The url without its query (which may hold a key) for the log. */
static void url_for_log(const char *url, char *out, size_t size)
{
    size_t n = strcspn(url, "?#");
    snprintf(out, size, "%.*s%s", (int)n, url, url[n] ? "?..." : "");
}

/* Checks the settings: no libcurl, thread or connection, no secret read. */
static int push_check(const struct hd_channel_view *view, struct hd_err *err)
{
    struct hd_err warning = {0};
    struct push_conf pc;
    int rc = push_conf_load(&pc, view, &warning, err);
    if (rc == 0)
        push_conf_free(&pc);
    return hd_settings_checked(rc, &warning, err);
}

static int push_create(const struct hd_channel_host *host, const struct hd_channel_view *view,
                       void **instance, struct hd_err *err)
{
    struct push *p;
    CURLMcode mc = CURLM_OK;
    char shown[512];

    *instance = NULL;
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot initialise libcurl: %s",
                   curl_easy_strerror(curl_init_rc));
        return -1;
    }
    p = calloc(1, sizeof *p);
    if (p == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->idle, NULL);
    hd_channel_out_init(&p->out, host, view->name);
    snprintf(p->name, sizeof p->name, "%s", view->name);
    if (push_conf_load(&p->pc, view, NULL, err) != 0) {
        push_close(p);
        return -1;
    }
    hd_secrets_guard(&p->out, &p->pc.secrets); /* an echoed credential never leaves */
    if (!p->pc.has_content_type)
        p->static_hdrs[p->nstatic_hdrs++] = strdup("Content-Type: application/json");
    p->static_hdrs[p->nstatic_hdrs++] = strdup("Expect:"); /* no 100-continue round trip */
    for (size_t i = 0; i < p->nstatic_hdrs; i++)
        if (p->static_hdrs[i] == NULL) {
            hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
            push_close(p);
            return -1;
        }

    p->nslots = p->pc.max_in_flight;
    p->limit = (unsigned long)p->nslots;
    p->slots = calloc(p->nslots, sizeof *p->slots);
    p->free_slots = calloc(p->nslots, sizeof *p->free_slots);
    p->multi = curl_multi_init();
    if (p->slots == NULL || p->free_slots == NULL || p->multi == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "channel %s: out of memory", p->name);
        push_close(p);
        return -1;
    }
    long conns = (long)p->pc.connections;
    mc = curl_multi_setopt(p->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    if (mc == CURLM_OK)
        mc = curl_multi_setopt(p->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
    if (mc == CURLM_OK)
        mc = curl_multi_setopt(p->multi, CURLMOPT_MAXCONNECTS, conns);
    if (mc == CURLM_OK)
        mc = curl_multi_setopt(p->multi, CURLMOPT_PIPELINING,
                               p->pc.http_version == 2 ? CURLPIPE_MULTIPLEX : CURLPIPE_NOTHING);
    if (mc == CURLM_OK && p->pc.http_version == 2)
        mc =
            curl_multi_setopt(p->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)p->pc.max_in_flight);
    if (mc != CURLM_OK) {
        hd_err_set(err, HD_EX_SOFTWARE, "channel %s: cannot set up libcurl: %s", p->name,
                   curl_multi_strerror(mc));
        push_close(p);
        return -1;
    }
    for (size_t i = 0; i < p->nslots; i++) {
        if (slot_init(p, &p->slots[i], err) != 0) {
            push_close(p);
            return -1;
        }
        p->free_slots[p->nfree++] = p->nslots - 1 - i;
    }
    if (pthread_create(&p->thread, NULL, loop, p) != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "channel %s: cannot start the module thread: %s", p->name,
                   strerror(errno));
        push_close(p);
        return -1;
    }
    p->thread_started = true;
    url_for_log(p->pc.batch.max_items && p->pc.batch.url ? p->pc.batch.url : p->pc.url, shown,
                sizeof shown);
    hd_channel_log(&p->out, 2,
                   "http-push %s %s over HTTP/%s, up to %lu in flight on %lu connection%s%s",
                   p->pc.method, shown, p->pc.http_version == 2 ? "2" : "1.1", p->pc.max_in_flight,
                   p->pc.connections, p->pc.connections == 1 ? "" : "s",
                   p->pc.batch.max_items ? ", batches" : "");
    if (p->pc.batch.max_items)
        hd_channel_log(&p->out, 2, "batch mode: up to %lu notices per request, results %s",
                       p->pc.batch.max_items,
                       p->pc.batch.results_field ? "per item" : "all or nothing");
    if (!p->pc.verify)
        hd_channel_log(&p->out, 1, "TLS certificate verification is OFF (verify: false)");
    *instance = p;
    return 0;
}

static bool key_ok(const char *k)
{
    size_t n = 0;
    if (k == NULL)
        return false;
    for (; k[n]; n++)
        if (n == PUSH_KEY_MAX || !(((unsigned char)k[n] >= 0x21 && (unsigned char)k[n] <= 0x7E)))
            return false;
    return n > 0;
}

static int push_send(void *instance, const struct hd_message *messages, size_t n,
                     struct hd_err *err)
{
    struct push *p = instance;
    struct job *first = NULL, *last = NULL;
    size_t queued = 0;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        const struct hd_message *m = &messages[i];
        const char *why = NULL, *body = (const char *)m->body;
        size_t len = m->body_len;
        if (m->type != HD_CHANNEL_PUSH) {
            hd_channel_report(&p->out, &(struct hd_outcome){
                                           .handle = m->handle,
                                           .kind = HD_OUTCOME_PERMANENT,
                                           .event = "push.bad_message",
                                           .reason = "an email message handed to a push channel"});
            continue;
        }
        if (!key_ok(m->message_id)) {
            hd_channel_report(
                &p->out,
                &(struct hd_outcome){
                    .handle = m->handle,
                    .kind = HD_OUTCOME_PERMANENT,
                    .event = "push.bad_message",
                    .reason =
                        "the message id cannot be an Idempotency-Key header (empty, too long or "
                        "not printable ASCII)"});
            continue;
        }
        if (p->pc.has_tmpl) {
            if (push_tmpl_apply(&p->pc.tmpl, body, len, m->message_id, &p->fill, &why) != 0) {
                hd_channel_report(&p->out, &(struct hd_outcome){.handle = m->handle,
                                                                .kind = HD_OUTCOME_PERMANENT,
                                                                .event = "push.bad_message",
                                                                .reason = why});
                continue;
            }
            body = p->fill.data;
            len = p->fill.len;
        }
        if (p->pc.batch.max_items) {
            if (push_batch_item(body, len, p->pc.batch.key_field, m->message_id, &p->item, &why) !=
                0) {
                hd_channel_report(&p->out, &(struct hd_outcome){.handle = m->handle,
                                                                .kind = HD_OUTCOME_PERMANENT,
                                                                .event = "push.bad_message",
                                                                .reason = why});
                continue;
            }
            body = p->item.data;
            len = p->item.len;
        }
        size_t kl = strlen(m->message_id) + 1;
        size_t pl = (m->person_id ? strlen(m->person_id) : 0) + 1;
        struct job *j = malloc(sizeof *j + kl + pl + len + 1);
        if (j == NULL)
            abort();
        j->next = NULL;
        j->handle = m->handle;
        memcpy(j->data, m->message_id, kl);
        memcpy(j->data + kl, m->person_id ? m->person_id : "", pl);
        memcpy(j->data + kl + pl, body, len);
        j->data[kl + pl + len] = '\0';
        j->key = j->data;
        j->person = j->data + kl;
        j->body = j->data + kl + pl;
        j->body_len = len;
        if (last)
            last->next = j;
        else
            first = j;
        last = j;
        queued++;
    }
    if (queued == 0)
        return 0;
    pthread_mutex_lock(&p->lock);
    if (p->qtail)
        p->qtail->next = first;
    else
        p->qhead = first;
    p->qtail = last;
    p->qlen += queued;
    p->outstanding += queued;
    pthread_mutex_unlock(&p->lock);
    curl_multi_wakeup(p->multi);
    return 0;
}

static int push_flush(void *instance, struct hd_err *err)
{
    struct push *p = instance;
    (void)err;
    pthread_mutex_lock(&p->lock);
    while (p->outstanding > 0)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

const struct hd_channel_ops hd_channel_http_push_ops = {
    .abi = HD_CHANNEL_ABI,
    .size = sizeof(struct hd_channel_ops),
    .name = "http-push",
    .create = push_create,
    .send = push_send,
    .flush = push_flush,
    .close = push_close,
    .check = push_check,
};
