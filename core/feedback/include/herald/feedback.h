/* herald/feedback.h - mail that comes back: delivery status notifications
 * (RFC 3464, RFC 6533), complaint reports (ARF, RFC 5965) and auto-replies,
 * parsed into what Herald needs to tie each back to a delivery and decide
 * what it means; and the rules that classify a failure (docs/feedback.md).
 *
 * Parsing uses GMime for the MIME structure and header grammar (folding,
 * encoded words, transfer encodings). What comes back is untrusted: every
 * field is bounded (longer values are cut at a UTF-8 boundary), at most
 * HD_FB_MAX_RECIPIENTS recipients are kept, and a message that is not a
 * report still parses (kind HD_FB_OTHER). tests/fuzz/fuzz_feedback.c
 * fuzzes it.
 *
 * Matching references, in the order Herald tries them (docs/feedback.md):
 * the address the report was sent to (a VERP return path), the DSN's
 * Original-Envelope-Id, X-Herald-Ref in the returned headers, then the
 * returned Message-ID (or an auto-reply's In-Reply-To).
 *
 * Lifetimes: struct hd_fb_report is caller storage (hd_fb_report_init /
 * hd_fb_report_finish); struct hd_fb_rules is a heap object
 * (hd_fb_rules_create / hd_fb_rules_destroy). Thread-safety: parsing is
 * thread-safe; a rule set may be shared by threads once made.
 * Errors: 0 or -1 with err set (HD_EX_DATAERR for bytes that are not a
 * mail message and for a bad rule, naming file:line:col; HD_EX_SOFTWARE for
 * memory). Nothing prints or exits.
 */
#ifndef HERALD_FEEDBACK_H
#define HERALD_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>

#include "herald/err.h"

#define HD_FB_ADDR_MAX 320
#define HD_FB_TEXT_MAX 512
#define HD_FB_MAX_RECIPIENTS 64

enum hd_fb_kind {
    HD_FB_OTHER,     /* not a report Herald understands (counted, never guessed at) */
    HD_FB_DSN,       /* multipart/report; report-type=delivery-status */
    HD_FB_ARF,       /* multipart/report; report-type=feedback-report */
    HD_FB_AUTOREPLY, /* Auto-Submitted: auto-replied (an out-of-office) */
};

/* One recipient of a DSN (its per-recipient fields). */
struct hd_fb_recipient {
    char final_recipient[HD_FB_ADDR_MAX];    /* the address, without "rfc822;" */
    char original_recipient[HD_FB_ADDR_MAX]; /* "" when absent */
    char action[16];                         /* failed, delayed, delivered, relayed, expanded */
    char status[16];                         /* RFC 3463 "5.1.1" */
    char diagnostic[HD_FB_TEXT_MAX];         /* Diagnostic-Code without its type: "550 5.1.1 ..." */
    char remote_mta[256];                    /* without "dns;" */
};

struct hd_fb_report {
    enum hd_fb_kind kind;
    char to[HD_FB_ADDR_MAX]; /* the address it was sent to (the first To), for VERP */
    /* DSN per-message fields */
    char reporting_mta[256];
    char envelope_id[256]; /* Original-Envelope-Id: Herald's ENVID */
    struct hd_fb_recipient *recipients;
    size_t nrecipients;
    /* ARF */
    char feedback_type[32]; /* abuse, fraud, other, virus, not-spam */
    char original_rcpt_to[HD_FB_ADDR_MAX];
    char user_agent[128];
    /* the original message, from the returned headers or message */
    char message_id[HD_FB_ADDR_MAX]; /* without <> */
    char herald_ref[128];            /* X-Herald-Ref */
    char feedback_id[256];           /* Feedback-ID */
};

void hd_fb_report_init(struct hd_fb_report *r);
/* Frees what r holds and zeroes it; a zeroed or finished r is fine. */
void hd_fb_report_finish(struct hd_fb_report *r);

/* Parses one returned message (len bytes) into r (finished first). */
int hd_fb_parse(const void *data, size_t len, struct hd_fb_report *r, struct hd_err *err);

/* ---- classification ---- */

/* What a failure's class acts on (docs/feedback.md):
 *   recipient  this person on this channel: final; try another channel;
 *   message    the notice's content: hold the shard and alert;
 *   sender     the sending domain or IP: pause the destination or the
 *              channel and alert, never fail people one by one;
 *   transient  try again later. */
enum hd_fb_scope {
    HD_FB_SCOPE_RECIPIENT,
    HD_FB_SCOPE_MESSAGE,
    HD_FB_SCOPE_SENDER,
    HD_FB_SCOPE_TRANSIENT,
    HD_FB_SCOPE_UNKNOWN,
    HD_FB_SCOPE_COUNT
};
extern const char *const hd_fb_scope_names[HD_FB_SCOPE_COUNT];

struct hd_fb_rules;

/* The rules in YAML text (name is used in messages):
 *   rules:
 *     - label: invalid_recipient
 *       scope: recipient
 *       match: ['^5\d\d 5\.1\.[0-6]\b', '(?i)no such (user|mailbox)']
 * Patterns are PCRE2, tried in order against "CODE STATUS TEXT"; the first
 * rule with a matching pattern decides. A bad pattern is an error at its
 * file:line:col with PCRE2's reason. text NULL: Herald's own rules
 * (hd_fb_default_rules). */
int hd_fb_rules_create(struct hd_fb_rules **out, const char *name, const char *text,
                       struct hd_err *err);
/* NULL is a no-op. */
void hd_fb_rules_destroy(struct hd_fb_rules *r);
/* Herald's own rules, as YAML text (docs/feedback.md lists them). */
extern const char hd_fb_default_rules[];

/* Classifies a failure: code (an SMTP reply code, 0 when unknown), status
 * (RFC 3463, "" when unknown) and text. Sets *label (a static string of the
 * rule set, "unclassified" when no rule matches) and *scope (for
 * "unclassified": transient for a 4xx code or 4.x.x status, recipient for a
 * 5xx/5.x.x one, unknown otherwise). */
void hd_fb_classify(const struct hd_fb_rules *r, int code, const char *status, const char *text,
                    const char **label, enum hd_fb_scope *scope);

#endif
