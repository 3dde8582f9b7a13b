/* core/feedback/feedback.c - parsing returned mail (herald/feedback.h) with
 * GMime: DSNs, ARF complaint reports and auto-replies. */
#include "herald/feedback.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A report part's content is read up to this many bytes: a DSN's fields
 * are a few hundred bytes per recipient. */
#define PART_MAX (1u << 20)

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_start(void)
{
    g_mime_init();
}

void hd_fb_report_init(struct hd_fb_report *r)
{
    memset(r, 0, sizeof *r);
}

void hd_fb_report_finish(struct hd_fb_report *r)
{
    if (r == NULL)
        return;
    free(r->recipients);
    memset(r, 0, sizeof *r);
}

/* Copies value into dst (cap bytes): leading white space dropped, every run
 * of white space and control characters (a folded line's CRLF and indent
 * included) made one space, cut at a UTF-8 boundary to fit. */
static void put(char *dst, size_t cap, const char *value)
{
    size_t n = 0;
    bool space = true; /* drops leading white space */
    for (const char *p = value; p && *p && n + 1 < cap; p++) {
        bool ws = (unsigned char)*p <= 0x20 || *p == 0x7f;
        if (ws && space)
            continue;
        if (!ws && ((unsigned char)*p & 0xC0) == 0xC0) {
            /* a lead byte: copy its sequence only when all of it fits */
            size_t len = 1;
            while (((unsigned char)p[len] & 0xC0) == 0x80 && len < 4)
                len++;
            if (n + len >= cap)
                break;
            memcpy(dst + n, p, len);
            n += len;
            p += len - 1;
            space = false;
            continue;
        }
        dst[n++] = ws ? ' ' : *p;
        space = ws;
    }
    while (n > 0 && dst[n - 1] == ' ')
        n--;
    dst[n] = '\0';
}

/* "rfc822; anna@x" -> "anna@x", "smtp; 550 ..." -> "550 ...": the value
 * after its type. */
static const char *after_type(const char *v)
{
    const char *semi = v ? strchr(v, ';') : NULL;
    return semi ? semi + 1 : v;
}

/* "<id@host>" -> "id@host" */
static void put_msgid(char *dst, size_t cap, const char *v)
{
    put(dst, cap, v);
    size_t n = strlen(dst);
    if (n >= 2 && dst[0] == '<' && dst[n - 1] == '>') {
        memmove(dst, dst + 1, n - 2);
        dst[n - 2] = '\0';
    }
}

static const char *header(GMimeObject *o, const char *name)
{
    return g_mime_object_get_header(o, name);
}

/* The returned original's headers: references back to the delivery. */
static void take_original(struct hd_fb_report *r, GMimeObject *headers)
{
    const char *v;
    if ((v = header(headers, "Message-ID")) && !r->message_id[0])
        put_msgid(r->message_id, sizeof r->message_id, v);
    if ((v = header(headers, "X-Herald-Ref")) && !r->herald_ref[0])
        put(r->herald_ref, sizeof r->herald_ref, v);
    if ((v = header(headers, "Feedback-ID")) && !r->feedback_id[0])
        put(r->feedback_id, sizeof r->feedback_id, v);
}

/* Parses a block of header fields (no body) with GMime's header grammar;
 * NULL when it is not one. */
static GMimeMessage *fields_of(const char *p, size_t n)
{
    GMimeStream *s = g_mime_stream_mem_new();
    g_mime_stream_write(s, p, n);
    g_mime_stream_write_string(s, "\r\n\r\n");
    g_mime_stream_seek(s, 0, GMIME_STREAM_SEEK_SET);
    GMimeParser *parser = g_mime_parser_new_with_stream(s);
    GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
    g_object_unref(parser);
    g_object_unref(s);
    return m;
}

static void take_recipient(struct hd_fb_report *r, GMimeObject *f)
{
    const char *v = header(f, "Final-Recipient");
    if (v == NULL && header(f, "Action") == NULL)
        return; /* not a recipient's block */
    if (r->nrecipients >= HD_FB_MAX_RECIPIENTS)
        return;
    struct hd_fb_recipient *rc = &r->recipients[r->nrecipients++];
    memset(rc, 0, sizeof *rc);
    put(rc->final_recipient, sizeof rc->final_recipient, after_type(v));
    put(rc->original_recipient, sizeof rc->original_recipient,
        after_type(header(f, "Original-Recipient")));
    put(rc->action, sizeof rc->action, header(f, "Action"));
    for (char *a = rc->action; *a; a++)
        if (*a >= 'A' && *a <= 'Z')
            *a = (char)(*a - 'A' + 'a');
    put(rc->status, sizeof rc->status, header(f, "Status"));
    rc->status[strcspn(rc->status, " (")] = '\0'; /* "5.1.1 (comment)" */
    put(rc->diagnostic, sizeof rc->diagnostic, after_type(header(f, "Diagnostic-Code")));
    put(rc->remote_mta, sizeof rc->remote_mta, after_type(header(f, "Remote-MTA")));
}

/* A message/delivery-status body: the per-message block, then one block
 * per recipient, separated by empty lines. */
static void take_dsn_fields(struct hd_fb_report *r, const char *p, size_t n)
{
    size_t start = 0, block = 0;
    if (r->recipients == NULL &&
        (r->recipients = calloc(HD_FB_MAX_RECIPIENTS, sizeof *r->recipients)) == NULL)
        return;
    for (size_t i = 0; i <= n; i++) {
        bool eol = i == n || p[i] == '\n';
        if (!eol)
            continue;
        size_t line = start;
        size_t end = i > start && p[i - 1] == '\r' ? i - 1 : i;
        bool empty = end == line;
        if (empty || i == n) {
            size_t len = (empty ? line : end) - block;
            if (len > 0) {
                GMimeMessage *m = fields_of(p + block, len);
                if (m) {
                    GMimeObject *f = GMIME_OBJECT(m);
                    const char *v;
                    if ((v = header(f, "Reporting-MTA")) && !r->reporting_mta[0])
                        put(r->reporting_mta, sizeof r->reporting_mta, after_type(v));
                    if ((v = header(f, "Original-Envelope-Id")) && !r->envelope_id[0])
                        put(r->envelope_id, sizeof r->envelope_id, v);
                    take_recipient(r, f);
                    g_object_unref(m);
                }
            }
            block = i + 1;
        }
        start = i + 1;
    }
}

static void take_arf_fields(struct hd_fb_report *r, const char *p, size_t n)
{
    GMimeMessage *m = fields_of(p, n);
    if (m == NULL)
        return;
    GMimeObject *f = GMIME_OBJECT(m);
    put(r->feedback_type, sizeof r->feedback_type, header(f, "Feedback-Type"));
    put(r->user_agent, sizeof r->user_agent, header(f, "User-Agent"));
    put(r->original_rcpt_to, sizeof r->original_rcpt_to, header(f, "Original-Rcpt-To"));
    g_object_unref(m);
}

/* The decoded content of a leaf part, NULL-free up to PART_MAX bytes. */
static GByteArray *content_of(GMimePart *part, GMimeStream **keep)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (w == NULL)
        return NULL;
    GMimeStream *ms = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, ms);
    *keep = ms;
    GByteArray *b = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(ms));
    if (b && b->len > PART_MAX)
        g_byte_array_set_size(b, PART_MAX);
    return b;
}

static void walk(struct hd_fb_report *r, GMimeObject *o, int depth)
{
    if (o == NULL || depth > 8)
        return;
    GMimeContentType *ct = g_mime_object_get_content_type(o);
    if (GMIME_IS_MULTIPART(o)) {
        if (ct && g_mime_content_type_is_type(ct, "multipart", "report")) {
            const char *type = g_mime_content_type_get_parameter(ct, "report-type");
            if (type && g_ascii_strcasecmp(type, "delivery-status") == 0)
                r->kind = HD_FB_DSN;
            else if (type && g_ascii_strcasecmp(type, "feedback-report") == 0)
                r->kind = HD_FB_ARF;
        }
        GMimeMultipart *mp = GMIME_MULTIPART(o);
        int n = g_mime_multipart_get_count(mp);
        for (int i = 0; i < n && i < 16; i++)
            walk(r, g_mime_multipart_get_part(mp, i), depth + 1);
        return;
    }
    if (GMIME_IS_MESSAGE_PART(o)) { /* message/rfc822: the original, returned */
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
        if (inner)
            take_original(r, GMIME_OBJECT(inner));
        return;
    }
    if (!GMIME_IS_PART(o) || ct == NULL)
        return;
    bool dsn = g_mime_content_type_is_type(ct, "message", "delivery-status") ||
               g_mime_content_type_is_type(ct, "message", "global-delivery-status");
    bool arf = g_mime_content_type_is_type(ct, "message", "feedback-report");
    bool headers = g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
                   g_mime_content_type_is_type(ct, "message", "global-headers");
    if (!dsn && !arf && !headers)
        return;
    GMimeStream *keep = NULL;
    GByteArray *b = content_of(GMIME_PART(o), &keep);
    if (b != NULL) {
        if (dsn)
            take_dsn_fields(r, (const char *)b->data, b->len);
        else if (arf)
            take_arf_fields(r, (const char *)b->data, b->len);
        else {
            GMimeMessage *m = fields_of((const char *)b->data, b->len);
            if (m) {
                take_original(r, GMIME_OBJECT(m));
                g_object_unref(m);
            }
        }
    }
    if (keep)
        g_object_unref(keep);
}

/* The envelope recipient, where the delivering agent recorded it (a VERP
 * return path shows there), else the first To address. */
static void take_to(struct hd_fb_report *r, GMimeMessage *m)
{
    const char *v = header(GMIME_OBJECT(m), "Delivered-To");
    if (v == NULL)
        v = header(GMIME_OBJECT(m), "X-Original-To");
    if (v != NULL) {
        put_msgid(r->to, sizeof r->to, v);
        return;
    }
    InternetAddressList *to = g_mime_message_get_to(m);
    InternetAddress *a = to && internet_address_list_length(to) > 0
                             ? internet_address_list_get_address(to, 0)
                             : NULL;
    if (a && INTERNET_ADDRESS_IS_MAILBOX(a))
        put(r->to, sizeof r->to, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a)));
}

int hd_fb_parse(const void *data, size_t len, struct hd_fb_report *r, struct hd_err *err)
{
    pthread_once(&gmime_once, gmime_start);
    hd_fb_report_finish(r);
    GMimeStream *s = g_mime_stream_mem_new_with_buffer(data, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(s);
    GMimeMessage *m = g_mime_parser_construct_message(parser, NULL);
    int rc = 0;
    if (m == NULL) {
        hd_err_set(err, HD_EX_DATAERR, "not a mail message (no header block)");
        rc = -1;
        goto done;
    }
    take_to(r, m);
    walk(r, g_mime_message_get_mime_part(m), 0);
    if (r->kind == HD_FB_OTHER) {
        const char *auto_sub = header(GMIME_OBJECT(m), "Auto-Submitted");
        if (auto_sub && g_ascii_strncasecmp(auto_sub, "auto-replied", 12) == 0) {
            r->kind = HD_FB_AUTOREPLY;
            put_msgid(r->message_id, sizeof r->message_id, header(GMIME_OBJECT(m), "In-Reply-To"));
        }
    }
    g_object_unref(m);
done:
    g_object_unref(parser);
    g_object_unref(s);
    return rc;
}
