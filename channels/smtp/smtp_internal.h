/* channels/smtp/smtp_internal.h - private to the smtp channel module.
 *
 * smtp.c          settings, the module's ops, the queue and the thread pool
 * smtp_session.c  one libesmtp session: TLS checks, classification, reports
 * smtp_net.c      the connect() interposer (TCP_NODELAY, connect timeout)
 * smtp_dkim.c     the dkim: settings; signs each message before it is sent
 * dkim.c          the DKIM signer (RFC 6376, RFC 8463) on OpenSSL, no Herald deps
 *
 * docs/smtp-channel.md describes the module for operators.
 */
#ifndef HERALD_CHANNELS_SMTP_INTERNAL_H
#define HERALD_CHANNELS_SMTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "builtin.h"

enum smtp_tls_mode { SMTP_TLS_OFF, SMTP_TLS_OPPORTUNISTIC, SMTP_TLS_REQUIRED };

/* How long a relay that could not be reached is skipped by new sessions. */
#define SMTP_RELAY_DOWN_MS 30000

struct smtp_relay {
    char *hostport;        /* "host:port", as libesmtp takes it */
    char *host;            /* for certificate name checks */
    int64_t down_until_ms; /* guarded by the channel's lock */
};

/* One queued message: a copy of what send() was given. */
struct smtp_job {
    struct smtp_job *next;
    uint64_t handle;
    const char *rcpt;    /* into data */
    const uint8_t *body; /* into data, or the signed copy */
    size_t len;
    uint8_t *signed_body; /* malloc'd by DKIM signing, or NULL */
    bool body_done;       /* libesmtp read the whole body: the final dot went out */
    char data[];
};

struct dkim_signer;

struct smtp_chan {
    struct hd_channel_out out; /* reports and logs, the AUTH secrets redacted */
    char *name;                /* the campaign channel's name, for logs */

    /* settings */
    struct smtp_relay *relays;
    size_t nrelays;
    enum smtp_tls_mode tls;
    bool verify;
    SSL_CTX *ssl_ctx; /* NULL when tls is off */
    char *helo;
    char *mail_from;
    char *auth_user, *auth_pass; /* from the environment; wiped at close */
    struct hd_secrets secrets;   /* the password and its AUTH encodings: redacted */
    unsigned pool_size;
    unsigned per_session;
    long connect_ms, greeting_ms, command_ms, data_ms;
    long idle_ms; /* an open session waits this long for more work before QUIT */
    bool tcp_nodelay;
    struct dkim_signer *dkim;

    /* the pool */
    pthread_mutex_t lock;
    pthread_cond_t work;    /* a job was queued, or closing */
    pthread_cond_t room;    /* the queue has room */
    pthread_cond_t drained; /* outstanding reached 0 */
    struct smtp_job *head, *tail;
    size_t queued, queue_max;
    unsigned idle;           /* workers waiting for work to open a session */
    unsigned lingering;      /* open sessions waiting for work (smtp_take_more) */
    int64_t last_warning_ms; /* of the last session failure logged */
    unsigned long unlogged;  /* session failures since then */
    uint64_t outstanding;    /* handed to send(), not yet reported */
    bool closing;
    pthread_t *threads;
    unsigned nthreads;
};

/* Sends jobs[0..n) in one libesmtp session (with failover across relays)
 * and reports every job's outcome exactly once, each accepted one as soon
 * as the relay accepts it. While the session is open and jobs has room
 * (ch->per_session), it takes more queued jobs into jobs[] with
 * smtp_take_more, so the connection stays open across the dispatcher's
 * hand-overs. Returns the number of jobs in jobs[] at the end (all
 * reported; the caller frees them). Runs on a worker thread. */
size_t smtp_session_run(struct smtp_chan *ch, struct smtp_job **jobs, size_t n);

/* For an open session: waits up to ch->idle_ms for queued work (open
 * sessions get it before a worker opens a new one) and moves up to max
 * jobs into out; 0 when none came (then the session QUITs) or the channel
 * is closing. Takes ch->lock. */
size_t smtp_take_more(struct smtp_chan *ch, struct smtp_job **out, size_t max);

/* n jobs were reported: outstanding -= n; flush() wakes at 0. */
void smtp_settled(struct smtp_chan *ch, size_t n);

/* Marks the calling thread as an SMTP worker: its TCP connections get
 * TCP_NODELAY (unless nodelay is false) and connect() gives up after
 * timeout_ms (0: never); blocks every signal in the thread. */
void smtp_net_thread_init(long connect_timeout_ms, bool nodelay);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t smtp_now_ms(void);

/* ---- DKIM (smtp_dkim.c; the signer itself is dkim.c) ---- */

/* Loads the dkim: settings mapping (domain, selector, rsa_selector,
 * ed25519_selector, rsa_key_file, ed25519_key_file; at least one key).
 * Returns NULL with err set (located at the offending node). */
struct dkim_signer *dkim_load(const struct hd_channel_view *view, const struct hd_ynode *map,
                              struct hd_err *err);
void dkim_free(struct dkim_signer *d);
/* Checks the same mapping without reading the key files (for check());
 * copies the signing domain into domain. 0, or -1 with err set. */
int dkim_check(const struct hd_ynode *map, char *domain, size_t size, struct hd_err *err);
const char *dkim_domain(const struct dkim_signer *d);

/* Signs msg (CRLF line ends): returns a malloc'd copy with the
 * DKIM-Signature header(s) in front and its length in *out_len, or NULL
 * with *why set (static text). Thread-safe. */
uint8_t *dkim_sign(const struct dkim_signer *d, const uint8_t *msg, size_t len, size_t *out_len,
                   const char **why);

#endif
