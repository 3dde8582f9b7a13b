/* channels/smtp/smtp_chan.h - private to the smtp channel module: what its
 * parts share, so that none of them needs another's internals.
 *
 * smtp.c          the module's ops, settings table, worker threads
 * smtp_queue.c    the queue between send() and the workers' sessions
 * smtp_session.c  one libesmtp session: TLS checks, classification, reports
 *                 (smtp_session.h; only the workers in smtp.c run sessions)
 * smtp_net.c      the connect() interposer (TCP_NODELAY, connect timeout)
 * smtp_dkim.c     the dkim: settings; signs each message (smtp_dkim.h)
 * dkim.c          the DKIM signer (RFC 6376, RFC 8463) on OpenSSL, no Herald deps
 *
 * Who calls whom: smtp.c -> smtp_session.c -> smtp_queue.c, smtp_net.c,
 * smtp_dkim.c; smtp.c -> smtp_queue.c too. Nothing calls back into smtp.c.
 * docs/smtp-channel.md describes the module for operators.
 */
#ifndef HERALD_CHANNELS_SMTP_CHAN_H
#define HERALD_CHANNELS_SMTP_CHAN_H

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
    char *ca_file;    /* as written, or NULL */
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

/* ---- the queue (smtp_queue.c) ---- */

/* Moves up to max queued jobs into out, ch->lock held: a share of the
 * queue among those waiting for it (waiting of them besides this one), so
 * a burst goes out over several connections at once while a long queue
 * fills whole sessions. Wakes send() waiting for room. */
size_t smtp_take_jobs(struct smtp_chan *ch, struct smtp_job **out, size_t max, unsigned waiting);

/* For an open session: waits up to ch->idle_ms for queued work (open
 * sessions get it before a worker opens a new one) and moves up to max
 * jobs into out; 0 when none came (then the session QUITs) or the channel
 * is closing. Takes ch->lock. */
size_t smtp_take_more(struct smtp_chan *ch, struct smtp_job **out, size_t max);

/* n jobs were reported: outstanding -= n; flush() wakes at 0. */
void smtp_settled(struct smtp_chan *ch, size_t n);

/* Frees a job and its signed copy; NULL is a no-op. */
void smtp_job_free(struct smtp_job *j);

/* ---- the network (smtp_net.c) ---- */

/* Marks the calling thread as an SMTP worker: its TCP connections get
 * TCP_NODELAY (unless nodelay is false) and connect() gives up after
 * timeout_ms (0: never); blocks every signal in the thread. */
void smtp_net_thread_init(long connect_timeout_ms, bool nodelay);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t smtp_now_ms(void);

#endif
