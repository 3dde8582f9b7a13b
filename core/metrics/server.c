/* core/metrics/server.c - the metrics endpoint (herald/metrics.h), on
 * libmicrohttpd with its own polling thread. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/crypto.h>

#include "herald/metrics.h"

struct hd_metrics_server {
    struct MHD_Daemon *daemon;
    struct hd_metrics *metrics;
    char *token; /* NULL: no authentication (loopback only) */
    uint16_t port;
};

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *type,
                              const void *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"herald\"");
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Compares the bearer token in constant time (for the token's length). */
static bool authorized(const struct hd_metrics_server *s, struct MHD_Connection *c)
{
    if (s->token == NULL)
        return true;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    size_t n = strlen(s->token);
    if (h == NULL || strncmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    return strlen(h) == n && CRYPTO_memcmp(h, s->token, n) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **state)
{
    static const char text[] = "text/plain; charset=utf-8";
    struct hd_metrics_server *s = cls;
    (void)version;
    (void)upload_data;
    (void)state;
    if (*upload_size != 0) { /* a body is not for us: drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET only\n", 9);
    if (!authorized(s, c))
        return answer(c, MHD_HTTP_UNAUTHORIZED, text, "a bearer token is required\n", 27);
    if (strcmp(url, "/metrics") != 0)
        return answer(c, MHD_HTTP_NOT_FOUND, text, "not found: try /metrics\n", 24);
    struct hd_buf body = {0};
    enum MHD_Result ok;
    if (hd_metrics_render(s->metrics, &body) != 0)
        ok = answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, text, "out of memory\n", 14);
    else
        ok = answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                    body.data ? body.data : "", body.len);
    hd_buf_release(&body);
    return ok;
}

/* Parses "HOST:PORT" / "[V6]:PORT" into sa. */
static int parse_listen(const char *listen, struct sockaddr_storage *sa, bool *loopback,
                        struct hd_err *err)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (colon == NULL || hlen == 0 || hlen >= sizeof host || end == colon + 1 || *end || port < 0 ||
        port > 65535) {
        hd_err_set(err, HD_EX_USAGE, "metrics address \"%s\": write HOST:PORT, e.g. 127.0.0.1:9464",
                   listen);
        return -1;
    }
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    if (host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    memset(sa, 0, sizeof *sa);
    struct sockaddr_in *v4 = (struct sockaddr_in *)sa;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)sa;
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    } else {
        hd_err_set(err, HD_EX_USAGE,
                   "metrics address \"%s\": the host must be an IP address or localhost", listen);
        return -1;
    }
    return 0;
}

int hd_metrics_server_create(struct hd_metrics_server **out, struct hd_metrics *m,
                             const char *listen, const char *token, struct hd_err *err)
{
    struct sockaddr_storage sa;
    bool loopback = false;
    *out = NULL;
    if (parse_listen(listen, &sa, &loopback, err) != 0)
        return -1;
    if (!loopback && (token == NULL || *token == '\0')) {
        hd_err_set(err, HD_EX_CONFIG,
                   "metrics address \"%s\" is not a loopback address: set a bearer token "
                   "(HERALD_METRICS_TOKEN) so the figures are not open to the network",
                   listen);
        return -1;
    }
    struct hd_metrics_server *s = calloc(1, sizeof *s);
    if (s == NULL || (token && *token && (s->token = strdup(token)) == NULL)) {
        free(s);
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory for the metrics endpoint");
        return -1;
    }
    s->metrics = m;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
                         (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)16, MHD_OPTION_END);
    if (s->daemon == NULL) {
        int e = errno;
        hd_metrics_server_destroy(s);
        hd_err_set(err, HD_EX_UNAVAILABLE, "cannot serve metrics on %s: %s", listen,
                   e ? strerror(e) : "libmicrohttpd refused it");
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    *out = s;
    return 0;
}

void hd_metrics_server_destroy(struct hd_metrics_server *s)
{
    if (s == NULL)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    if (s->token) {
        OPENSSL_cleanse(s->token, strlen(s->token));
        free(s->token);
    }
    free(s);
}

uint16_t hd_metrics_server_port(const struct hd_metrics_server *s)
{
    return s->port;
}
