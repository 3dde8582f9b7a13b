/* channels/smtp/smtp_session.c - one libesmtp session: up to
 * messages_per_session messages over one connection, then one outcome per
 * message.
 *
 * libesmtp's model is synchronous: the messages are added to the session
 * first, then smtp_start_session() connects, greets, does STARTTLS and AUTH,
 * sends them (MAIL, then RCPT+DATA pipelined, then the body from our
 * callback) and QUITs. More are added while it runs, at the last message's
 * DATA reply (message_sent). Accepted messages are reported at that reply,
 * the others from their statuses after the session.
 *
 * Classification, per message, by the first stage that did not succeed:
 *   MAIL FROM reply, else RCPT TO reply, else the reply after the body.
 *   2xx accepted; 4xx transient (smtp.deferred); 5xx permanent
 *   (smtp.rejected); no reply at all (never sent, connection lost, relay
 *   stopped answering, TLS refused) transient: smtp.connection_failed,
 *   smtp.timeout or smtp.tls_failed. A 421 or a lost connection thus
 *   leaves every message not yet accepted transient, and each message is
 *   reported once.
 *
 * Failover: relays are tried in order (those that failed in the last
 * SMTP_RELAY_DOWN_MS go last) until one gets as far as answering a MAIL
 * FROM; a relay that fails before that point is marked down.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509v3.h>
/* libesmtp.h uses size_t without including <stddef.h>, and declares
 * smtp_starttls_set_ctx only after <openssl/ssl.h> and smtp_auth_set_context
 * only after <auth-client.h>. */
#include <auth-client.h>
#include <libesmtp.h>

#include "smtp_chan.h"
#include "smtp_dkim.h"
#include "smtp_session.h"

#define REPLY_MAX 512

struct sess;

/* What the event and monitor callbacks learn during one attempt. */
struct attempt {
    struct smtp_chan *ch;
    struct sess *sess; /* the session's jobs, to report and extend */
    struct smtp_relay *relay;
    bool connected;        /* a TCP connection was made */
    unsigned mail_replies; /* MAIL FROM replies seen: the relay took part */
    bool tls_failed;
    char tls_why[256];
    char last_reply[REPLY_MAX]; /* the last line the relay sent */
    int64_t last_activity_ms;
    bool in_auth;               /* between an AUTH command and its outcome */
    bool auth_ok;               /* the relay said 235 */
    char auth_reply[REPLY_MAX]; /* its last refusal of AUTH */
};

/* ---- libesmtp callbacks --------------------------------------------------- */

/* The message body, straight from the job's bytes (CRLF line ends already).
 * libesmtp free()s *ctx when it is done: a malloc'd read position. */
static const char *body_cb(void **ctx, int *len, void *arg)
{
    struct smtp_job *j = arg;
    size_t *pos = *ctx;
    if (pos == NULL) {
        if ((pos = malloc(sizeof *pos)) == NULL)
            return NULL;
        *pos = 0;
        *ctx = pos;
    }
    if (len == NULL) { /* rewind: a new transfer of this message starts */
        *pos = 0;
        j->body_done = false;
        return NULL;
    }
    size_t left = j->len - *pos;
    if (left > (size_t)INT_MAX / 2)
        left = (size_t)INT_MAX / 2;
    *len = (int)left;
    const char *p = (const char *)j->body + *pos;
    *pos += left;
    if (left == 0)
        j->body_done = true; /* libesmtp now writes the final dot */
    return left ? p : NULL;
}

/* Sees what libesmtp reads from the relay (outside DATA), to keep the last
 * reply line for error reports and to learn whether AUTH succeeded. Of what
 * libesmtp writes it looks only at the command verb, and keeps nothing: the
 * AUTH lines carry credentials. */
static void monitor_cb(const char *buf, int len, int writing, void *arg)
{
    struct attempt *a = arg;
    if (len <= 0)
        return;
    if (writing == SMTP_CB_WRITING) {
        if (len >= 5 && strncasecmp(buf, "AUTH ", 5) == 0)
            a->in_auth = true;
        else if (len >= 4 && (strncasecmp(buf, "MAIL", 4) == 0 || strncasecmp(buf, "QUIT", 4) == 0))
            a->in_auth = false;
        return;
    }
    if (writing != SMTP_CB_READING)
        return;
    a->last_activity_ms = smtp_now_ms();
    /* the last complete line of buf */
    int end = len;
    while (end > 0 && (buf[end - 1] == '\n' || buf[end - 1] == '\r'))
        end--;
    int start = end;
    while (start > 0 && buf[start - 1] != '\n')
        start--;
    int n = end - start;
    if (n <= 0)
        return;
    if (n >= REPLY_MAX)
        n = REPLY_MAX - 1;
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[start + i];
        a->last_reply[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    a->last_reply[n] = '\0';
    if (a->in_auth) {
        if (strncmp(a->last_reply, "235", 3) == 0) {
            a->auth_ok = true;
            a->in_auth = false;
        } else if (a->last_reply[0] == '4' || a->last_reply[0] == '5') {
            memcpy(a->auth_reply, a->last_reply, (size_t)n + 1);
        }
    }
}

static bool cert_names_host(SSL *ssl, const char *host)
{
    X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
    if (cert == NULL)
        return false;
    return X509_check_ip_asc(cert, host, 0) == 1 || X509_check_host(cert, host, 0, 0, NULL) == 1;
}

static void tls_refuse(struct attempt *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tls_refuse(struct attempt *a, const char *fmt, ...)
{
    va_list ap;
    a->tls_failed = true;
    va_start(ap, fmt);
    vsnprintf(a->tls_why, sizeof a->tls_why, fmt, ap);
    va_end(ap);
}

static void message_sent(struct attempt *a, smtp_message_t msg);

static void event_cb(smtp_session_t session, int event, void *arg, ...)
{
    struct attempt *a = arg;
    bool verify = a->ch->verify;
    va_list ap;
    (void)session;
    va_start(ap, arg);
    switch (event) {
    case SMTP_EV_CONNECT:
        a->connected = true;
        a->last_activity_ms = smtp_now_ms();
        break;
    case SMTP_EV_MAILSTATUS:
        a->mail_replies++;
        break;
    case SMTP_EV_MESSAGESENT:
        message_sent(a, va_arg(ap, smtp_message_t));
        break;
    case SMTP_EV_EXTNA_STARTTLS:
        tls_refuse(a, "the relay does not offer STARTTLS (starttls: required)");
        break;
    case SMTP_EV_INVALID_PEER_CERTIFICATE: {
        long result = va_arg(ap, long);
        int *ok = va_arg(ap, int *);
        *ok = !verify;
        if (verify)
            tls_refuse(a, "certificate refused: %s", X509_verify_cert_error_string(result));
        break;
    }
    case SMTP_EV_NO_PEER_CERTIFICATE: {
        int *ok = va_arg(ap, int *);
        *ok = !verify;
        if (verify)
            tls_refuse(a, "the relay presented no certificate");
        break;
    }
    case SMTP_EV_WRONG_PEER_CERTIFICATE: {
        /* libesmtp matches DNS names only; OpenSSL's checks also know IP
         * addresses and the finer wildcard rules. */
        int *ok = va_arg(ap, int *);
        const char *name = va_arg(ap, const char *);
        SSL *ssl = va_arg(ap, SSL *);
        *ok = !verify || cert_names_host(ssl, a->relay->host);
        if (!*ok)
            tls_refuse(a, "certificate is for \"%s\", not %s", name && name[0] ? name : "?",
                       a->relay->host);
        break;
    }
    case SMTP_EV_WEAK_CIPHER: {
        int bits = va_arg(ap, int);
        int *ok = va_arg(ap, int *);
        *ok = 0;
        tls_refuse(a, "weak cipher (%d bits)", bits);
        break;
    }
    case SMTP_EV_NO_CLIENT_CERTIFICATE: {
        int *ok = va_arg(ap, int *);
        *ok = 1; /* we present none; the relay may still accept us */
        break;
    }
    case SMTP_EV_UNUSABLE_CLIENT_CERTIFICATE:
        tls_refuse(a, "libesmtp found an unusable client certificate in its configuration "
                      "directory (~/.config/libesmtp)");
        break;
    case SMTP_EV_UNUSABLE_CA_LIST:
        tls_refuse(a, "unusable CA list");
        break;
    default:
        break;
    }
    va_end(ap);
}

/* ---- AUTH --------------------------------------------------------------------- */

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;

static void auth_init(void)
{
    auth_client_init();
}

static int auth_interact(auth_client_request_t request, char **result, int fields, void *arg)
{
    struct smtp_chan *ch = arg;
    for (int i = 0; i < fields; i++) {
        if (request[i].flags & AUTH_USER)
            result[i] = ch->auth_user;
        else if (request[i].flags & AUTH_PASS)
            result[i] = ch->auth_pass;
        else
            return 0;
    }
    return 1;
}

/* ---- outcomes ------------------------------------------------------------------ */

/* The reply text without its CR LF (libesmtp keeps them), continuation
 * lines joined with a space, control characters replaced; prefixed with the
 * enhanced status code when the relay gave one. */
static void reply_text(const smtp_status_t *st, char *out, size_t cap)
{
    size_t o = 0;
    if (st->enh_class > 0)
        o = (size_t)snprintf(out, cap, "%d.%d.%d ", st->enh_class, st->enh_subject, st->enh_detail);
    if (o >= cap)
        o = cap - 1;
    bool space = false;
    for (const char *p = st->text ? st->text : ""; *p && o + 1 < cap; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '\r' || c == '\n') {
            space = true;
            continue;
        }
        if (space && o > 0) {
            out[o++] = ' ';
            if (o + 1 >= cap)
                break;
        }
        space = false;
        out[o++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

static bool id_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-' || c == '@' || c == ':' ||
           c == '+' || c == '=' || c == '/';
}

/* The relay's queue id from an accepting reply, when it says one:
 * "... queued as 4Fx2kM0Bz9z1" (Postfix, and many services), "... id=1tXy-..."
 * (Exim), "<id> Message accepted for delivery" (Sendmail). */
static bool queue_id(const char *text, char *out, size_t cap)
{
    const char *p = NULL;
    for (const char *s = text; *s && p == NULL; s++) {
        if (strncasecmp(s, "queued as ", 10) == 0)
            p = s + 10;
        else if (strncasecmp(s, "id=", 3) == 0 && (s == text || s[-1] == ' '))
            p = s + 3;
    }
    if (p == NULL) {
        const char *sp = strchr(text, ' ');
        if (sp && strncasecmp(sp, " Message accepted", 17) == 0)
            p = text;
    }
    if (p == NULL)
        return false;
    if (*p == '<')
        p++;
    size_t n = 0;
    while (id_char(p[n]) && n + 1 < cap)
        n++;
    while (n > 0 && (p[n - 1] == '.' || p[n - 1] == ':'))
        n--;
    if (n == 0)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/* Why messages that got no reply at all failed, for the whole session. */
struct failure {
    const char *event;
    char reason[768];
};

static void session_failure(const struct smtp_chan *ch, const struct attempt *a, int lib_errno,
                            size_t tried, struct failure *f)
{
    char lib[160] = "";
    char prefix[64] = "";
    const char *last = a->last_reply[0] ? a->last_reply : NULL;
    if (lib_errno != 0 && smtp_strerror(lib_errno, lib, sizeof lib) == NULL)
        snprintf(lib, sizeof lib, "libesmtp error %d", lib_errno);
    if (tried > 1)
        snprintf(prefix, sizeof prefix, "all %zu relays failed; ", tried);
    long shortest = ch->greeting_ms;
    if (ch->command_ms < shortest)
        shortest = ch->command_ms;
    if (ch->data_ms < shortest)
        shortest = ch->data_ms;
    bool timed_out = a->connected && smtp_now_ms() - a->last_activity_ms >= shortest - 200;
    if (a->tls_failed) {
        f->event = "smtp.tls_failed";
        snprintf(f->reason, sizeof f->reason, "%s%.100s: STARTTLS: %.255s", prefix,
                 a->relay->hostport, a->tls_why);
    } else if (!a->connected) {
        f->event = "smtp.connection_failed";
        snprintf(f->reason, sizeof f->reason, "%scannot connect to %.100s: %.159s", prefix,
                 a->relay->hostport, lib[0] ? lib : "unknown error");
    } else if (timed_out) {
        f->event = "smtp.timeout";
        snprintf(f->reason, sizeof f->reason, "%s%.100s stopped answering (timeout)%s%.300s",
                 prefix, a->relay->hostport, last ? "; last reply: " : "", last ? last : "");
    } else {
        f->event = "smtp.connection_failed";
        snprintf(f->reason, sizeof f->reason,
                 "%s%.100s: the session ended before this message was accepted (%.159s)%s%.300s",
                 prefix, a->relay->hostport, lib[0] ? lib : "connection closed",
                 last ? "; last reply: " : "", last ? last : "");
    }
}

/* Reports job j's outcome (o.handle is set here) and settles it. */
static void job_done(struct smtp_chan *ch, const struct smtp_job *j, struct hd_outcome o)
{
    o.handle = j->handle;
    hd_channel_report(&ch->out, &o);
    smtp_settled(ch, 1);
}

static void classify(struct smtp_chan *ch, const struct smtp_job *j, smtp_message_t msg,
                     smtp_recipient_t rcpt, const struct attempt *a, const struct failure *f)
{
    const smtp_status_t *mail = smtp_reverse_path_status(msg);
    const smtp_status_t *to = smtp_recipient_status(rcpt);
    const smtp_status_t *data = smtp_message_transfer_status(msg);
    const smtp_status_t *st;
    const char *stage;
    char text[REPLY_MAX], id[128], reason[REPLY_MAX + 64];

    if (mail->code / 100 != 2)
        st = mail, stage = "MAIL FROM";
    else if (to->code / 100 != 2)
        st = to, stage = "RCPT TO";
    else
        st = data, stage = "DATA";
    int cls = st->code / 100;
    const char *relay = a->relay ? a->relay->hostport : "the relay";
    if (cls != 2 && ch->auth_user && !a->auth_ok && a->mail_replies > 0) {
        /* libesmtp goes on to MAIL FROM when every AUTH mechanism failed;
         * the relay's refusal then says nothing about the message. */
        snprintf(reason, sizeof reason, "%.100s: AUTH did not succeed (%.300s)", relay,
                 a->auth_reply[0] ? a->auth_reply : "the relay offered no usable mechanism");
        job_done(ch, j,
                 (struct hd_outcome){
                     .kind = HD_OUTCOME_TRANSIENT, .event = "smtp.auth_failed", .reason = reason});
        return;
    }
    if (cls != 2 && cls != 4 && cls != 5 && st == data && j->body_done) {
        /* The body and its final dot went out, the reply never came: the
         * relay may have queued it. Not a failure, and not silently sent
         * again: uncertain (the dispatcher flags it, re-sends it with the
         * same Message-ID or holds it). */
        snprintf(reason, sizeof reason,
                 "no reply after the whole message was sent: it may have been delivered (%.400s)",
                 f->reason);
        job_done(ch, j,
                 (struct hd_outcome){
                     .kind = HD_OUTCOME_UNCERTAIN, .event = "smtp.uncertain", .reason = reason});
        return;
    }
    if (cls != 2 && cls != 4 && cls != 5) {
        job_done(ch, j,
                 (struct hd_outcome){
                     .kind = HD_OUTCOME_TRANSIENT, .event = f->event, .reason = f->reason});
        return;
    }
    reply_text(st, text, sizeof text);
    if (cls == 2) {
        bool has_id = queue_id(st->text ? st->text : "", id, sizeof id);
        job_done(ch, j,
                 (struct hd_outcome){.kind = HD_OUTCOME_ACCEPTED,
                                     .code = st->code,
                                     .event = "smtp.accepted",
                                     .provider_id = has_id ? id : NULL,
                                     .response = text});
        return;
    }
    snprintf(reason, sizeof reason, "%s %s by %.100s", stage, cls == 5 ? "refused" : "deferred",
             relay);
    job_done(ch, j,
             (struct hd_outcome){.kind = cls == 5 ? HD_OUTCOME_PERMANENT : HD_OUTCOME_TRANSIENT,
                                 .code = st->code,
                                 .event = cls == 5 ? "smtp.rejected" : "smtp.deferred",
                                 .response = text,
                                 .reason = reason});
}

/* ---- the session ----------------------------------------------------------------- */

/* The jobs of one session, in the order libesmtp sends them. */
struct sess {
    struct smtp_chan *ch;
    smtp_session_t s;
    struct smtp_job **jobs; /* the worker's array, ch->per_session long */
    smtp_message_t *msgs;
    smtp_recipient_t *rcpts;
    bool *reported; /* outcome reported already (DKIM failure, accepted) */
    size_t n;       /* jobs in jobs[] */
    size_t last;    /* index of the last message added to the session, or n */
    size_t cursor;  /* where to look for the next message sent */
    bool broken;    /* out of memory in libesmtp: take no more */
};

/* Signs (DKIM) and adds jobs[i] to the libesmtp session; a job that cannot
 * be signed is reported at once. false on no memory. */
static bool add_job(struct sess *x, size_t i)
{
    struct smtp_chan *ch = x->ch;
    struct smtp_job *j = x->jobs[i];
    if (ch->dkim && j->signed_body == NULL) {
        const char *why = "unknown error";
        size_t len = 0;
        j->signed_body = dkim_sign(ch->dkim, j->body, j->len, &len, &why);
        if (j->signed_body == NULL) {
            /* never sent unsigned: a relay's DMARC policy could reject it */
            char reason[160];
            snprintf(reason, sizeof reason, "DKIM signing failed: %s", why);
            job_done(ch, j,
                     (struct hd_outcome){.kind = HD_OUTCOME_TRANSIENT,
                                         .event = "smtp.dkim_failed",
                                         .reason = reason});
            x->reported[i] = true;
            return true;
        }
        j->body = j->signed_body;
        j->len = len;
    }
    if ((x->msgs[i] = smtp_add_message(x->s)) == NULL ||
        !smtp_set_reverse_path(x->msgs[i], ch->mail_from) ||
        !smtp_set_messagecb(x->msgs[i], body_cb, j) ||
        (x->rcpts[i] = smtp_add_recipient(x->msgs[i], j->rcpt)) == NULL)
        return false;
    smtp_size_set_estimate(x->msgs[i], j->len);
    x->last = i;
    return true;
}

/* SMTP_EV_MESSAGESENT: a message's DATA was answered. An accepted one is
 * reported now (the dispatcher's concurrency frees up, so it can hand over
 * more). When it was the session's last message and was accepted, the
 * session takes more queued work, waiting up to idle_timeout for it:
 * libesmtp reads the next message from its list right after this event
 * (rsp_data2 calls next_message), so what is added here goes out on the
 * same connection. After a refusal libesmtp may already have decided to
 * QUIT (rsp_data picks the next message before this event), so nothing is
 * added then. */
static void message_sent(struct attempt *a, smtp_message_t msg)
{
    struct sess *x = a->sess;
    struct smtp_chan *ch = x->ch;
    size_t i = x->cursor;
    while (i < x->n && x->msgs[i] != msg)
        i++;
    if (i == x->n)
        return;
    x->cursor = i + 1;
    const smtp_status_t *data = smtp_message_transfer_status(msg);
    if (data->code / 100 != 2 || x->reported[i])
        return;
    classify(ch, x->jobs[i], msg, x->rcpts[i], a, NULL);
    x->reported[i] = true;
    if (i != x->last || x->broken || x->n >= ch->per_session)
        return;
    size_t got = smtp_take_more(ch, x->jobs + x->n, ch->per_session - x->n);
    for (size_t k = x->n; k < x->n + got; k++) {
        x->reported[k] = false;
        x->msgs[k] = NULL;
        x->rcpts[k] = NULL;
    }
    size_t from = x->n;
    x->n += got;
    for (size_t k = from; k < x->n; k++) {
        if (!add_job(x, k)) {
            /* out of memory: these are not in the session; retry later */
            x->broken = true;
            for (; k < x->n; k++)
                if (!x->reported[k]) {
                    job_done(ch, x->jobs[k],
                             (struct hd_outcome){.kind = HD_OUTCOME_TRANSIENT,
                                                 .event = "smtp.connection_failed",
                                                 .reason = "out of memory (libesmtp message)"});
                    x->reported[k] = true;
                }
            return;
        }
    }
}

static void fail_all(struct sess *x, const char *why)
{
    for (size_t i = 0; i < x->n; i++)
        if (!x->reported[i]) {
            job_done(x->ch, x->jobs[i],
                     (struct hd_outcome){.kind = HD_OUTCOME_TRANSIENT,
                                         .event = "smtp.connection_failed",
                                         .reason = why});
            x->reported[i] = true;
        }
}

size_t smtp_session_run(struct smtp_chan *ch, struct smtp_job **jobs, size_t n)
{
    auth_context_t auth = NULL;
    size_t *order = calloc(ch->nrelays, sizeof *order);
    struct sess x = {.ch = ch, .jobs = jobs, .n = n};
    size_t added = 0;
    struct attempt a;
    struct failure f = {"smtp.connection_failed", "no relay was tried"};
    int lib_errno = 0;
    size_t tried = 0;

    x.msgs = calloc(ch->per_session, sizeof *x.msgs);
    x.rcpts = calloc(ch->per_session, sizeof *x.rcpts);
    x.reported = calloc(ch->per_session, sizeof *x.reported);
    x.last = n;
    if (x.reported == NULL) {
        for (size_t i = 0; i < n; i++)
            job_done(ch, jobs[i],
                     (struct hd_outcome){.kind = HD_OUTCOME_TRANSIENT,
                                         .event = "smtp.connection_failed",
                                         .reason = "out of memory"});
        goto out;
    }
    if (x.msgs == NULL || x.rcpts == NULL || order == NULL ||
        (x.s = smtp_create_session()) == NULL) {
        fail_all(&x, "out of memory");
        goto out;
    }
    memset(&a, 0, sizeof a);
    a.ch = ch;
    a.sess = &x;
    smtp_session_t s = x.s;
    smtp_set_hostname(s, ch->helo);
    smtp_set_eventcb(s, event_cb, &a);
    smtp_set_monitorcb(s, monitor_cb, &a, 0);
    smtp_set_timeout(s, Timeout_GREETING | Timeout_OVERRIDE_RFC2822_MINIMUM, ch->greeting_ms);
    smtp_set_timeout(s, Timeout_ENVELOPE | Timeout_OVERRIDE_RFC2822_MINIMUM, ch->command_ms);
    smtp_set_timeout(s, Timeout_DATA | Timeout_OVERRIDE_RFC2822_MINIMUM, ch->command_ms);
    smtp_set_timeout(s, Timeout_TRANSFER | Timeout_OVERRIDE_RFC2822_MINIMUM, ch->data_ms);
    smtp_set_timeout(s, Timeout_DATA2 | Timeout_OVERRIDE_RFC2822_MINIMUM, ch->data_ms);
    if (ch->tls == SMTP_TLS_OFF) {
        smtp_starttls_enable(s, Starttls_DISABLED);
    } else {
        smtp_starttls_set_ctx(s, ch->ssl_ctx);
        smtp_starttls_enable(s,
                             ch->tls == SMTP_TLS_REQUIRED ? Starttls_REQUIRED : Starttls_ENABLED);
    }
    if (ch->auth_user) {
        pthread_once(&auth_once, auth_init);
        if ((auth = auth_create_context()) == NULL) {
            fail_all(&x, "out of memory (AUTH context)");
            goto out;
        }
        auth_set_mechanism_flags(auth, AUTH_PLUGIN_PLAIN, 0);
        auth_set_interact_cb(auth, auth_interact, ch);
        smtp_auth_set_context(s, auth);
    }
    for (size_t i = 0; i < n; i++) {
        if (!add_job(&x, i)) {
            fail_all(&x, "out of memory (libesmtp message)");
            goto out;
        }
        if (!x.reported[i])
            added++;
    }
    if (added == 0)
        goto out;

    /* Relays in order, those marked down last. */
    {
        size_t k = 0;
        int64_t now = smtp_now_ms();
        pthread_mutex_lock(&ch->lock);
        for (int pass = 0; pass < 2; pass++)
            for (size_t r = 0; r < ch->nrelays; r++)
                if ((ch->relays[r].down_until_ms > now) == (pass == 1))
                    order[k++] = r;
        pthread_mutex_unlock(&ch->lock);
    }
    for (size_t k = 0; k < ch->nrelays; k++) {
        struct smtp_relay *relay = &ch->relays[order[k]];
        memset(&a, 0, sizeof a);
        a.ch = ch;
        a.sess = &x;
        a.relay = relay;
        a.last_activity_ms = smtp_now_ms();
        x.cursor = 0;
        tried++;
        if (!smtp_set_server(s, relay->hostport)) {
            lib_errno = smtp_errno();
            continue;
        }
        /* smtp_errno() is per thread and never cleared: read it only to
         * explain messages that got no reply, i.e. after a failure. */
        (void)smtp_start_session(s);
        lib_errno = smtp_errno();
        if (a.mail_replies > 0)
            break; /* the relay took part: no failover for this session */
        session_failure(ch, &a, lib_errno, tried, &f);
        pthread_mutex_lock(&ch->lock);
        relay->down_until_ms = smtp_now_ms() + SMTP_RELAY_DOWN_MS;
        pthread_mutex_unlock(&ch->lock);
        if (k + 1 < ch->nrelays)
            hd_channel_log(&ch->out, 1, "%s; trying %s", f.reason,
                           ch->relays[order[k + 1]].hostport);
    }
    if (a.mail_replies > 0) {
        session_failure(ch, &a, lib_errno, 1, &f);
        pthread_mutex_lock(&ch->lock);
        a.relay->down_until_ms = 0;
        pthread_mutex_unlock(&ch->lock);
    } else {
        /* No relay took the session: say so in the run's log, at most
         * every 10 s per channel (each message's record has the reason). */
        bool say = false;
        unsigned long more = 0;
        int64_t now = smtp_now_ms();
        pthread_mutex_lock(&ch->lock);
        if (now - ch->last_warning_ms >= 10000) {
            say = true;
            more = ch->unlogged;
            ch->unlogged = 0;
            ch->last_warning_ms = now;
        } else {
            ch->unlogged++;
        }
        pthread_mutex_unlock(&ch->lock);
        if (say)
            hd_channel_log(&ch->out, 1, "%s; %zu messages to retry%s", f.reason, added,
                           more ? " (and more failed sessions since the last warning)" : "");
    }
    for (size_t i = 0; i < x.n; i++)
        if (!x.reported[i])
            classify(ch, jobs[i], x.msgs[i], x.rcpts[i], &a, &f);
out:
    if (x.s)
        smtp_destroy_session(x.s);
    if (auth)
        auth_destroy_context(auth);
    free(x.reported);
    free(order);
    free(x.rcpts);
    free(x.msgs);
    return x.n;
}
