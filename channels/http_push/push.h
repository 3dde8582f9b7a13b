/* channels/http_push/push.h - private to the http-push channel module.
 *
 * push_conf.c reads the settings into struct push_conf (every problem with
 * the node's file:line:col); push_body.c holds the pure parts: the body
 * template, batch bodies, the webhook signature, Retry-After, and the
 * classification of an HTTP answer into an outcome; push.c is the module:
 * the queue, the libcurl multi loop on the module's own thread, reporting.
 * docs/push-channel.md describes the settings and the behaviour.
 */
#ifndef HERALD_CHANNELS_HTTP_PUSH_H
#define HERALD_CHANNELS_HTTP_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "herald/buf.h"
#include "builtin.h"

#define PUSH_MAX_HEADERS 32
#define PUSH_MAX_PATTERNS 32
#define PUSH_KEY_MAX 128 /* longest idempotency key accepted from the dispatcher */

/* The variables a body template may use, in this order (index = var id). */
enum push_var {
    PV_TITLE,
    PV_BODY,
    PV_OBJECTION_URL,
    PV_LANGUAGE,
    PV_CAMPAIGN_ID,
    PV_PERSON_ID,
    PV_TOKEN,
    PV_MESSAGE_ID, /* the idempotency key (also "idempotency_key") */
    PV_COUNT
};

/* A compiled body template: literal pieces and variables, alternating. */
struct push_tmpl_part {
    const char *lit; /* into the template's text */
    size_t lit_len;
    int var; /* enum push_var, or -1 for "no variable after this literal" */
};

struct push_tmpl {
    char *text; /* owned copy */
    struct push_tmpl_part *parts;
    size_t nparts;
    bool object; /* renders to a JSON object (checked with sample values) */
};

struct push_batch_conf {
    unsigned long max_items; /* 0: batch mode off */
    char *url;               /* NULL: the channel's url */
    char *items_field;       /* request: {"<items_field>": [item, ...]} */
    char *key_field;         /* each item's idempotency key field */
    char *results_field;     /* response: per-item results; NULL: all or nothing */
    char *status_field, *id_field, *error_field;
};

struct push_conf {
    char *url;
    char *method;                    /* POST, PUT or PATCH */
    char *headers[PUSH_MAX_HEADERS]; /* "Name: value", user headers and auth */
    size_t nheaders;
    bool has_content_type;
    struct push_tmpl tmpl; /* tmpl.text NULL: send the rendered JSON as is */
    bool has_tmpl;
    unsigned char *webhook_key; /* NULL: no signing */
    size_t webhook_key_len;
    int http_version; /* 11 or 2 */
    unsigned long max_in_flight, connections;
    unsigned long connect_timeout_ms, timeout_ms, max_pause_ms;
    char *ca_file; /* resolved, or NULL */
    bool verify;
    char *patterns[PUSH_MAX_PATTERNS]; /* lower case: a response saying the token is unknown */
    size_t npatterns;
    struct push_batch_conf batch;
    /* create() only: every credential read (bearer token, auth header
     * value, its token after a scheme, the webhook secret), redacted from
     * every text the module reports or logs */
    struct hd_secrets secrets;
    const struct hd_ynode *auth_node; /* the auth: mapping, or NULL */
    bool allow_insecure;              /* auth.allow_insecure: credentials over http:// */
};

/* Reads view->settings; 0, or -1 with err set (located at the node).
 * warning NULL: for create(), secrets are read from the environment.
 * Otherwise for check(): no secret is read (its header gets an empty
 * placeholder, no webhook key), an unset variable is a warning there. */
int push_conf_load(struct push_conf *pc, const struct hd_channel_view *view, struct hd_err *warning,
                   struct hd_err *err);
void push_conf_free(struct push_conf *pc);

/* ---- push_body.c ---------------------------------------------------------------- */

/* Compiles a template (node for error locations). 0, or -1 with err set. */
int push_tmpl_compile(struct push_tmpl *t, const struct hd_ynode *node, struct hd_err *err);
void push_tmpl_free(struct push_tmpl *t);

/* Fills the template from the rendered notice JSON (body, len) and the
 * idempotency key. Returns 0, or -1 with *why (static text). */
int push_tmpl_apply(const struct push_tmpl *t, const char *body, size_t len, const char *key,
                    struct hd_buf *out, const char **why);

/* Item text for batch mode: obj (a JSON object's text) with
 * "<key_field>":"<key>" inserted first. -1 with *why when obj is no object. */
int push_batch_item(const char *obj, size_t len, const char *key_field, const char *key,
                    struct hd_buf *out, const char **why);

/* The deterministic key of a batch: hex(SHA-256("herald-batch-v1" 0 k1 0 k2 ...))[:32]. */
void push_batch_key(const char *const *keys, size_t n, char out[33]);

/* Standard Webhooks: "v1,<base64 HMAC-SHA256(key, id "." ts "." body)>". out >= 64. */
void push_webhook_signature(const unsigned char *key, size_t key_len, const char *id, long long ts,
                            const char *body, size_t body_len, char *out, size_t out_size);

/* Base64 decoding (standard alphabet, padding optional). NULL on bad input;
 * *len set. The caller frees. */
unsigned char *push_base64_decode(const char *s, size_t *len);

/* Parses a Retry-After value: delta-seconds or an HTTP date. -1 when
 * unparsable; 0 for a date in the past. */
long push_retry_after_parse(const char *value, time_t now);

/* True when text (len bytes) contains one of the patterns (lower case),
 * ignoring case. */
bool push_says_token_unknown(const struct push_conf *pc, const char *text, size_t len);

/* The classification of one answer. */
struct push_class {
    enum hd_outcome_kind kind;
    const char *event;
    bool backpressure; /* 429/503: slow the whole channel */
    bool loud;         /* 422: log it as an error */
    bool keep_response;
};

/* Classifies an HTTP status and the response text (for token patterns). */
void push_classify(const struct push_conf *pc, long status, const char *resp, size_t resp_len,
                   struct push_class *out);

/* Copies text into out (size >= 1) as one line of printable text: control
 * characters become spaces, invalid UTF-8 is replaced by '?', truncated with
 * "..." when longer. */
void push_printable(const char *text, size_t len, char *out, size_t size);

#endif
