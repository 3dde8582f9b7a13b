/* channels/smtp/smtp.c - the built-in `smtp` channel module: sends each
 * email's prebuilt RFC 5322 bytes through an SMTP relay with libesmtp.
 *
 * send() copies the messages into a bounded queue and returns; a pool of
 * pool_size worker threads each takes up to messages_per_session queued
 * messages, sends them in one libesmtp session (smtp_session.c: one TCP
 * connection, EHLO, STARTTLS, AUTH, then MAIL/RCPT/DATA per message with
 * PIPELINING) and reports every message's outcome exactly once. An open
 * session whose messages are all sent waits up to idle_timeout for more
 * (smtp_take_more) instead of closing, so a rate-limited trickle does not
 * open a connection per hand-over. flush()
 * waits until every message handed to send() has been reported; close()
 * stops and joins the workers.
 *
 * Settings (docs/smtp-channel.md): relays, starttls, ca_file, verify,
 * auth_user_env, auth_password_env, pool_size, messages_per_session,
 * connect_timeout, greeting_timeout, command_timeout, data_timeout,
 * idle_timeout, helo,
 * mail_from, tcp_nodelay, dkim.
 */
#include <errno.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "herald/mime.h"
#include "herald/str.h"
#include "smtp_chan.h"
#include "smtp_dkim.h"
#include "smtp_session.h"

#define POOL_MAX 256u
#define PER_SESSION_MAX 100000u

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

/* ---- settings ------------------------------------------------------------ */

/* "30s", "500ms", "2m", "1h", or a bare number of seconds; 1 s to 1 h. */
static int parse_timeout(const struct hd_ynode *n, const char *key, long *ms, struct hd_err *err)
{
    const char *s = n->kind == HD_YSCALAR ? n->str : "";
    char *end;
    errno = 0;
    unsigned long v = *s >= '0' && *s <= '9' ? strtoul(s, &end, 10) : 0;
    long unit = 0;
    if (*s >= '0' && *s <= '9' && errno == 0) {
        if (strcmp(end, "ms") == 0)
            unit = 1;
        else if (strcmp(end, "s") == 0 || *end == '\0')
            unit = 1000;
        else if (strcmp(end, "m") == 0)
            unit = 60000;
        else if (strcmp(end, "h") == 0)
            unit = 3600000;
    }
    if (unit == 0 || v > 3600000ul || (long)v * unit < 1000 || (long)v * unit > 3600000) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"%s\" must be a duration from 1s to 1h (e.g. 30s, 2m, 1500ms), not "
                  "%s%s%s",
                  key, n->kind == HD_YSCALAR ? "\"" : "",
                  n->kind == HD_YSCALAR ? n->str : hd_ynode_kind_name(n),
                  n->kind == HD_YSCALAR ? "\"" : "");
        return -1;
    }
    *ms = (long)v * unit;
    return 0;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
}

static int parse_relay(const struct hd_ynode *n, struct smtp_relay *r, struct hd_err *err)
{
    const char *s = n->kind == HD_YSCALAR ? n->str : NULL;
    const char *colon = s ? strrchr(s, ':') : NULL;
    bool ok = colon && colon != s && colon[1] != '\0';
    for (const char *p = s; ok && p < colon; p++)
        ok = host_char(*p);
    unsigned long port = 0;
    for (const char *p = colon ? colon + 1 : ""; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9' && port <= 6553;
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (!ok || port == 0 || port > 65535) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "a relay must be \"host:port\" (a host name or IPv4 address, port 1-65535), not "
                  "%s%s%s",
                  s ? "\"" : "", s ? s : hd_ynode_kind_name(n), s ? "\"" : "");
        return -1;
    }
    r->hostport = xstrdup(s);
    r->host = xstrdup(s);
    r->host[colon - s] = '\0';
    return 0;
}

static int load_relays(struct smtp_chan *ch, const struct hd_ynode *n, struct hd_err *err)
{
    size_t count = n->kind == HD_YSEQ ? n->count : 1;
    if (n->kind == HD_YMAP || (n->kind == HD_YSEQ && n->count == 0)) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"relays\" must be a list of \"host:port\" (tried in order), e.g. "
                  "relays: [smtp1.example.com:587, smtp2.example.com:587]");
        return -1;
    }
    ch->relays = calloc(count, sizeof *ch->relays);
    if (ch->relays == NULL)
        abort();
    for (size_t i = 0; i < count; i++) {
        if (parse_relay(n->kind == HD_YSEQ ? n->items[i] : n, &ch->relays[i], err) != 0)
            return -1;
        ch->nrelays++;
    }
    return 0;
}

static int make_ssl_ctx(struct smtp_chan *ch, const char *ca_file, const struct hd_ynode *ca_node,
                        struct hd_err *err)
{
    ch->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (ch->ssl_ctx == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "cannot create a TLS context (OpenSSL)");
        return -1;
    }
    SSL_CTX_set_min_proto_version(ch->ssl_ctx, TLS1_2_VERSION);
    /* The handshake itself never fails on a certificate: libesmtp then asks
     * (events in smtp_session.c), and the answer depends on `verify`. */
    SSL_CTX_set_verify(ch->ssl_ctx, SSL_VERIFY_NONE, NULL);
    if (ca_file) {
        if (SSL_CTX_load_verify_locations(ch->ssl_ctx, ca_file, NULL) != 1) {
            unsigned long e = ERR_get_error();
            char why[256];
            ERR_error_string_n(e, why, sizeof why);
            ERR_clear_error();
            hd_err_at(err, HD_EX_CONFIG, ca_node->file, ca_node->line, ca_node->col,
                      "cannot load CA certificates from \"%s\": %s", ca_file,
                      e ? why : "no certificate found");
            return -1;
        }
    } else if (SSL_CTX_set_default_verify_paths(ch->ssl_ctx) != 1) {
        ERR_clear_error();
        hd_channel_log(&ch->out, 1, "cannot load the system's CA certificates");
    }
    return 0;
}

static int load_env(const struct hd_ynode *n, const char *key, char **out, struct hd_err *err)
{
    const char *var, *v;
    if (hd_settings_str(n, key, &var, err) != 0)
        return -1;
    v = getenv(var);
    if (v == NULL || v[0] == '\0') {
        hd_err_at(err, HD_EX_CONFIG, n->file, n->line, n->col,
                  "environment variable %s (setting \"%s\") is not set", var, key);
        return -1;
    }
    *out = xstrdup(v);
    return 0;
}

/* The password, and how AUTH PLAIN and LOGIN carry it (base64 of
 * "\0user\0password", of "user\0password" and of the password alone), so
 * a relay that echoes the exchange in a reply cannot get it into the
 * store, the proofs or the log. */
static int register_auth_secrets(struct smtp_chan *ch)
{
    size_t ul = strlen(ch->auth_user), pl = strlen(ch->auth_pass);
    unsigned char *plain = malloc(ul + pl + 2);
    int rc;
    if (plain == NULL)
        abort();
    plain[0] = '\0';
    memcpy(plain + 1, ch->auth_user, ul);
    plain[ul + 1] = '\0';
    memcpy(plain + ul + 2, ch->auth_pass, pl);
    rc = hd_secrets_add(&ch->secrets, ch->auth_pass, pl) != 0 ||
                 hd_secrets_add_b64(&ch->secrets, (const unsigned char *)ch->auth_pass, pl) != 0 ||
                 hd_secrets_add_b64(&ch->secrets, plain, ul + pl + 2) != 0 ||
                 hd_secrets_add_b64(&ch->secrets, plain + 1, ul + pl + 1) != 0
             ? -1
             : 0;
    OPENSSL_cleanse(plain, ul + pl + 2);
    free(plain);
    return rc;
}

static bool valid_helo(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!host_char(s[n]) && s[n] != '[' && s[n] != ']' && s[n] != ':')
            return false;
    return n > 0 && n <= 255;
}

/* ---- the pool -------------------------------------------------------------- */

static void *worker(void *arg)
{
    struct smtp_chan *ch = arg;
    struct smtp_job **batch = calloc(ch->per_session, sizeof *batch);
    if (batch == NULL)
        abort();
    smtp_net_thread_init(ch->connect_ms, ch->tcp_nodelay);
    pthread_mutex_lock(&ch->lock);
    for (;;) {
        /* New work goes to the open sessions waiting for it first (a new
         * connection only when none is waiting), so a rate-limited trickle
         * does not open a connection per hand-over. */
        ch->idle++;
        while ((ch->head == NULL || ch->lingering > 0) && !ch->closing)
            pthread_cond_wait(&ch->work, &ch->lock);
        ch->idle--;
        if (ch->head == NULL)
            break; /* closing and nothing left */
        size_t n = smtp_take_jobs(ch, batch, ch->per_session, ch->idle);
        pthread_mutex_unlock(&ch->lock);

        /* the session may take more jobs into batch while it is open */
        n = smtp_session_run(ch, batch, n);
        for (size_t i = 0; i < n; i++) {
            smtp_job_free(batch[i]);
            batch[i] = NULL;
        }
        pthread_mutex_lock(&ch->lock);
    }
    pthread_mutex_unlock(&ch->lock);
    free(batch);
    return NULL;
}

static void smtp_close(void *instance)
{
    struct smtp_chan *ch = instance;
    if (ch == NULL)
        return;
    if (ch->threads) {
        struct smtp_job *left;
        pthread_mutex_lock(&ch->lock);
        /* close() comes after flush(), so the queue is normally empty; what
         * is still queued was never sent: report it for a later retry. */
        left = ch->head;
        ch->head = ch->tail = NULL;
        ch->queued = 0;
        ch->closing = true;
        pthread_cond_broadcast(&ch->work);
        pthread_cond_broadcast(&ch->room);
        pthread_mutex_unlock(&ch->lock);
        while (left) {
            struct smtp_job *next = left->next;
            hd_channel_report(
                &ch->out,
                &(struct hd_outcome){.handle = left->handle,
                                     .kind = HD_OUTCOME_TRANSIENT,
                                     .event = "smtp.not_sent",
                                     .reason = "the channel closed before this message was sent"});
            smtp_settled(ch, 1);
            smtp_job_free(left);
            left = next;
        }
        for (unsigned i = 0; i < ch->nthreads; i++)
            pthread_join(ch->threads[i], NULL);
        free(ch->threads);
        pthread_mutex_destroy(&ch->lock);
        pthread_cond_destroy(&ch->work);
        pthread_cond_destroy(&ch->room);
        pthread_cond_destroy(&ch->drained);
    }
    for (size_t i = 0; i < ch->nrelays; i++) {
        free(ch->relays[i].hostport);
        free(ch->relays[i].host);
    }
    free(ch->relays);
    if (ch->ssl_ctx)
        SSL_CTX_free(ch->ssl_ctx);
    if (ch->auth_user) {
        OPENSSL_cleanse(ch->auth_user, strlen(ch->auth_user));
        free(ch->auth_user);
    }
    if (ch->auth_pass) {
        OPENSSL_cleanse(ch->auth_pass, strlen(ch->auth_pass));
        free(ch->auth_pass);
    }
    hd_secrets_free(&ch->secrets);
    dkim_free(ch->dkim);
    free(ch->helo);
    free(ch->mail_from);
    free(ch->ca_file);
    free(ch->name);
    free(ch);
}

static int start_pool(struct smtp_chan *ch, struct hd_err *err)
{
    pthread_mutex_init(&ch->lock, NULL);
    pthread_condattr_t mono;
    pthread_condattr_init(&mono);
    pthread_condattr_setclock(&mono, CLOCK_MONOTONIC); /* smtp_take_more's idle deadline */
    pthread_cond_init(&ch->work, &mono);
    pthread_condattr_destroy(&mono);
    pthread_cond_init(&ch->room, NULL);
    pthread_cond_init(&ch->drained, NULL);
    ch->threads = calloc(ch->pool_size, sizeof *ch->threads);
    if (ch->threads == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < ch->pool_size; i++) {
        int rc = pthread_create(&ch->threads[i], NULL, worker, ch);
        if (rc != 0) {
            hd_err_set(err, HD_EX_SOFTWARE, "channel \"%s\": cannot start SMTP thread %u: %s",
                       ch->name, i + 1, strerror(rc));
            return -1;
        }
        ch->nthreads++;
    }
    return 0;
}

/* ---- the settings table ------------------------------------------------------ */

/* starttls: required (the default), opportunistic or off. */
static int set_starttls(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                        const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct smtp_chan *ch = ctx->conf;
    const char *v;
    (void)s;
    ch->tls = SMTP_TLS_REQUIRED;
    if (n == NULL)
        return 0;
    if (hd_settings_str(n, label, &v, err) != 0)
        return -1;
    if (strcmp(v, "required") == 0)
        ch->tls = SMTP_TLS_REQUIRED;
    else if (strcmp(v, "opportunistic") == 0)
        ch->tls = SMTP_TLS_OPPORTUNISTIC;
    else if (strcmp(v, "off") == 0)
        ch->tls = SMTP_TLS_OFF;
    else {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"starttls\" must be required, opportunistic or off, not \"%s\"", v);
        return -1;
    }
    return 0;
}

static int set_relays(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                      const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    (void)s;
    (void)label;
    return load_relays(ctx->conf, n, err);
}

/* A timeout (long milliseconds at the entry's offset); the default when absent. */
static int set_timeout(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                       const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    long *ms = (long *)(void *)((char *)ctx->conf + s->offset);
    if (n == NULL) {
        *ms = (long)s->dflt;
        return 0;
    }
    return parse_timeout(n, label, ms, err);
}

/* helo: checked; absent, this host's name (or localhost). */
static int set_helo(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                    const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct smtp_chan *ch = ctx->conf;
    (void)s;
    (void)label;
    if (n == NULL) {
        char name[256] = "";
        if (gethostname(name, sizeof name) != 0 || !valid_helo(name))
            snprintf(name, sizeof name, "localhost");
        name[sizeof name - 1] = '\0';
        ch->helo = xstrdup(name);
        return 0;
    }
    if (!valid_helo(ch->helo)) {
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "setting \"helo\" must be this host's domain name, not \"%s\"", ch->helo);
        return -1;
    }
    return 0;
}

/* mail_from: the envelope sender; absent, the channel's from: address. */
static int set_mail_from(const struct hd_settings_ctx *ctx, const struct hd_setting *s,
                         const struct hd_ynode *n, const char *label, struct hd_err *err)
{
    struct smtp_chan *ch = ctx->conf;
    const struct hd_channel_view *view = ctx->view;
    char addr[330];
    const char *v = view->from_addr;
    (void)s;
    if (n && hd_settings_str(n, label, &v, err) != 0)
        return -1;
    if (v == NULL) {
        hd_err_at(err, HD_EX_DATAERR, view->campaign_file, view->line, view->col,
                  "channel \"%s\" needs a from: address or a mail_from setting for the "
                  "SMTP envelope",
                  view->name);
        return -1;
    }
    if (hd_mime_ascii_address(v, addr, sizeof addr, err) != 0) {
        if (n)
            hd_err_prefix(err, "%s:%lu:%lu: setting \"mail_from\"", n->file, n->line, n->col);
        return -1;
    }
    ch->mail_from = xstrdup(addr);
    return 0;
}

#define CHAN(field) HD_SETTING_FIELD(struct smtp_chan, field)
#define TIMEOUT(name, field, ms)                                                                   \
    {                                                                                              \
        .key = name, .type = HD_SETTING_NODE, CHAN(field), .dflt = ms, .check = set_timeout,       \
        .flags = HD_SETTING_ABSENT                                                                 \
    }

/* Every setting of the module, in the order docs/smtp-channel.md lists
 * them; auth_*_env and dkim are read together after the table
 * (smtp_auth, smtp_dkim_setting): they depend on each other and on
 * starttls. */
static const struct hd_setting smtp_table[] = {
    {.key = "relays",
     .type = HD_SETTING_NODE,
     .check = set_relays,
     .required = "relays: [smtp.example.com:587]"},
    {.key = "starttls", .type = HD_SETTING_NODE, .check = set_starttls, .flags = HD_SETTING_ABSENT},
    {.key = "ca_file", .type = HD_SETTING_STR, CHAN(ca_file)},
    {.key = "verify", .type = HD_SETTING_BOOL, CHAN(verify), .dflt = true},
    {.key = "auth_user_env", .type = HD_SETTING_NODE},
    {.key = "auth_password_env", .type = HD_SETTING_NODE},
    {.key = "pool_size",
     .type = HD_SETTING_UINT,
     CHAN(pool_size),
     .max = POOL_MAX,
     .dflt = 8,
     .check = hd_setting_from_1},
    {.key = "messages_per_session",
     .type = HD_SETTING_UINT,
     CHAN(per_session),
     .max = PER_SESSION_MAX,
     .dflt = 1000,
     .check = hd_setting_from_1},
    TIMEOUT("connect_timeout", connect_ms, 30000),
    TIMEOUT("greeting_timeout", greeting_ms, 60000),
    TIMEOUT("command_timeout", command_ms, 60000),
    TIMEOUT("data_timeout", data_ms, 120000),
    TIMEOUT("idle_timeout", idle_ms, 5000),
    {.key = "helo",
     .type = HD_SETTING_STR,
     CHAN(helo),
     .check = set_helo,
     .flags = HD_SETTING_ABSENT},
    {.key = "mail_from",
     .type = HD_SETTING_NODE,
     .check = set_mail_from,
     .flags = HD_SETTING_ABSENT},
    {.key = "tcp_nodelay", .type = HD_SETTING_BOOL, CHAN(tcp_nodelay), .dflt = true},
    {.key = "dkim", .type = HD_SETTING_NODE},
    {0},
};

/* SMTP AUTH: both variables or neither, only with starttls: required. */
static int smtp_auth(struct smtp_chan *ch, const struct hd_channel_view *view,
                     struct hd_err *warning, struct hd_err *err)
{
    const struct hd_ynode *user_node = hd_channel_setting(view, "auth_user_env");
    const struct hd_ynode *pass_node = hd_channel_setting(view, "auth_password_env");
    if ((user_node == NULL) != (pass_node == NULL)) {
        const struct hd_ynode *n = user_node ? user_node : pass_node;
        hd_err_at(err, HD_EX_DATAERR, n->file, n->line, n->col,
                  "SMTP AUTH needs both auth_user_env and auth_password_env");
        return -1;
    }
    if (user_node == NULL)
        return 0;
    if (ch->tls != SMTP_TLS_REQUIRED) {
        hd_err_at(err, HD_EX_DATAERR, user_node->file, user_node->line, user_node->col,
                  "SMTP AUTH needs starttls: required, or the password could cross the "
                  "network in clear");
        return -1;
    }
    if (warning ? hd_settings_env_check(user_node, "auth_user_env", warning, err) != 0 ||
                      hd_settings_env_check(pass_node, "auth_password_env", warning, err) != 0
                : load_env(user_node, "auth_user_env", &ch->auth_user, err) != 0 ||
                      load_env(pass_node, "auth_password_env", &ch->auth_pass, err) != 0)
        return -1;
    if (!warning && register_auth_secrets(ch) != 0) {
        hd_err_at(err, HD_EX_SOFTWARE, pass_node->file, pass_node->line, pass_node->col,
                  "too many secrets to redact");
        return -1;
    }
    hd_secrets_guard(&ch->out, &ch->secrets); /* a relay's echo of AUTH never leaves */
    return 0;
}

/* dkim: checked (check()) or loaded with its keys (create()); a signing
 * domain DMARC will not count is a warning. */
static int smtp_dkim_setting(struct smtp_chan *ch, const struct hd_channel_view *view,
                             struct hd_err *warning, struct hd_err *err)
{
    const struct hd_ynode *n = hd_channel_setting(view, "dkim");
    char checked[254];
    const char *d;
    if (n == NULL)
        return 0;
    if (warning) {
        if (dkim_check(n, checked, sizeof checked, err) != 0)
            return -1;
        d = checked;
    } else {
        if ((ch->dkim = dkim_load(view, n, err)) == NULL)
            return -1;
        d = dkim_domain(ch->dkim);
    }
    /* DMARC passes on DKIM only when d= is the From domain or a parent */
    const char *at = view->from_addr ? strrchr(view->from_addr, '@') : NULL;
    size_t fl = at ? strlen(at + 1) : 0, dl = strlen(d);
    if (at && !(strcasecmp(at + 1, d) == 0 ||
                (fl > dl && at[fl - dl] == '.' && strcasecmp(at + 1 + fl - dl, d) == 0))) {
        if (warning)
            hd_settings_warn(warning, n,
                             "DKIM domain %s is not the From domain %s (nor a parent): "
                             "DMARC will not count this signature",
                             d, at + 1);
        else
            hd_channel_log(&ch->out, 1,
                           "DKIM domain %s is not the From domain %s (nor a parent): "
                           "DMARC will not count this signature",
                           d, at + 1);
    }
    return 0;
}

/* ---- the module ------------------------------------------------------------ */

/* Reads the settings into ch (calloc'd, out and nothing else set), for
 * create() and check(). warning NULL (create): the AUTH secrets are read
 * from the environment and the DKIM keys loaded. Otherwise (check): neither
 * is read; an unset AUTH variable and a DKIM domain DMARC will not count are
 * warnings. */
static int smtp_settings(struct smtp_chan *ch, const struct hd_channel_view *view,
                         struct hd_err *warning, struct hd_err *err)
{
    struct hd_settings_ctx ctx = {.view = view, .conf = ch, .warning = warning};
    ch->name = xstrdup(view->name);
    if (view->type != HD_CHANNEL_EMAIL) {
        hd_err_at(err, HD_EX_DATAERR, view->campaign_file, view->line, view->col,
                  "channel \"%s\": module smtp sends email; this channel is not of type email",
                  view->name);
        return -1;
    }
    if (hd_settings_load(smtp_table, view->settings, &ctx, err) != 0 ||
        smtp_auth(ch, view, warning, err) != 0 || smtp_dkim_setting(ch, view, warning, err) != 0)
        return -1;
    return 0;
}

/* Checks the settings: no TLS context, thread, socket, secret or key. */
static int smtp_check(const struct hd_channel_view *view, struct hd_err *err)
{
    struct hd_err warning = {0};
    struct smtp_chan *ch = calloc(1, sizeof *ch);
    int rc;
    if (ch == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    rc = smtp_settings(ch, view, &warning, err);
    smtp_close(ch);
    return hd_settings_checked(rc, &warning, err);
}

static int smtp_create(const struct hd_channel_host *host, const struct hd_channel_view *view,
                       void **instance, struct hd_err *err)
{
    char *ca_file = NULL;
    struct smtp_chan *ch;

    *instance = NULL;
    ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory");
        return -1;
    }
    hd_channel_out_init(&ch->out, host, view->name);
    if (smtp_settings(ch, view, NULL, err) != 0)
        goto fail;
    if (ch->tls != SMTP_TLS_OFF) {
        if (ch->ca_file)
            ca_file = hd_settings_path(view, ch->ca_file);
        int rc = make_ssl_ctx(ch, ca_file, hd_channel_setting(view, "ca_file"), err);
        free(ca_file);
        if (rc != 0)
            goto fail;
    }
    ch->queue_max = (size_t)ch->pool_size * ch->per_session;
    if (ch->queue_max < 1024)
        ch->queue_max = 1024;
    if (start_pool(ch, err) != 0)
        goto fail;
    {
        char list[512] = "";
        for (size_t i = 0; i < ch->nrelays; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                     ch->relays[i].hostport);
        hd_channel_log(&ch->out, 2,
                       "SMTP via %s (STARTTLS %s%s%s), %u sessions of up to %u messages%s", list,
                       ch->tls == SMTP_TLS_REQUIRED        ? "required"
                       : ch->tls == SMTP_TLS_OPPORTUNISTIC ? "opportunistic"
                                                           : "off",
                       ch->tls != SMTP_TLS_OFF && !ch->verify ? ", certificates NOT verified" : "",
                       ch->auth_user ? ", AUTH" : "", ch->pool_size, ch->per_session,
                       ch->dkim ? ", DKIM signed" : "");
    }
    *instance = ch;
    return 0;
fail:
    smtp_close(ch);
    return -1;
}

static int smtp_send(void *instance, const struct hd_message *messages, size_t n,
                     struct hd_err *err)
{
    struct smtp_chan *ch = instance;
    struct smtp_job *first = NULL, *last = NULL;
    (void)err;
    /* Copy the batch (the pointers die when send() returns), then queue it
     * under one lock, so idle workers share it instead of racing for it
     * one message at a time. */
    for (size_t i = 0; i < n; i++) {
        const struct hd_message *m = &messages[i];
        if (m->type != HD_CHANNEL_EMAIL || m->recipient == NULL || m->body == NULL) {
            hd_channel_report(
                &ch->out,
                &(struct hd_outcome){
                    .handle = m->handle,
                    .kind = HD_OUTCOME_PERMANENT,
                    .event = "smtp.refused",
                    .reason = "not an email message (a push message handed to an smtp channel)"});
            continue;
        }
        size_t rl = strlen(m->recipient) + 1;
        struct smtp_job *j = malloc(sizeof *j + rl + m->body_len);
        if (j == NULL)
            abort();
        j->next = NULL;
        j->handle = m->handle;
        j->signed_body = NULL;
        j->body_done = false;
        memcpy(j->data, m->recipient, rl);
        memcpy(j->data + rl, m->body, m->body_len);
        j->rcpt = j->data;
        j->body = (const uint8_t *)j->data + rl;
        j->len = m->body_len;
        if (last)
            last->next = j;
        else
            first = j;
        last = j;
    }
    pthread_mutex_lock(&ch->lock);
    while (first) {
        /* Backpressure: the dispatcher's concurrency normally keeps the
         * queue below queue_max; if not, wait for the workers. */
        while (ch->queued >= ch->queue_max && !ch->closing)
            pthread_cond_wait(&ch->room, &ch->lock);
        while (first && (ch->queued < ch->queue_max || ch->closing)) {
            struct smtp_job *j = first;
            first = j->next;
            j->next = NULL;
            if (ch->tail)
                ch->tail->next = j;
            else
                ch->head = j;
            ch->tail = j;
            ch->queued++;
            ch->outstanding++;
        }
        pthread_cond_broadcast(&ch->work);
    }
    pthread_mutex_unlock(&ch->lock);
    return 0;
}

static int smtp_flush(void *instance, struct hd_err *err)
{
    struct smtp_chan *ch = instance;
    (void)err;
    pthread_mutex_lock(&ch->lock);
    while (ch->outstanding > 0)
        pthread_cond_wait(&ch->drained, &ch->lock);
    pthread_mutex_unlock(&ch->lock);
    return 0;
}

const struct hd_channel_ops hd_channel_smtp_ops = {
    .abi = HD_CHANNEL_ABI,
    .size = sizeof(struct hd_channel_ops),
    .name = "smtp",
    .create = smtp_create,
    .send = smtp_send,
    .flush = smtp_flush,
    .close = smtp_close,
    .check = smtp_check,
};
