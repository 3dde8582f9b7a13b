/* Fuzz target: returned mail (core/feedback/feedback.c), which anyone can
 * send to a bounce address.
 * Properties: hd_fb_parse never fails on bytes GMime reads as a message
 * and never reads or writes out of bounds (the sanitizers watch); every
 * field it fills is NUL-terminated within its bounds, holds no control
 * character, and never ends inside a UTF-8 sequence; at most
 * HD_FB_MAX_RECIPIENTS recipients; parsing the same bytes twice gives the
 * same report; and classifying what it found never fails. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fz.h"
#include "herald/feedback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct hd_fb_rules *rules;

static void check_field(const char *f, size_t cap)
{
    size_t n = strnlen(f, cap);
    FZ_CHECK(n < cap, "field not terminated within %zu bytes", cap);
    for (size_t i = 0; i < n; i++)
        FZ_CHECK((unsigned char)f[i] >= 0x20 && f[i] != 0x7f, "control character in a field");
    /* the last character is whole: count the continuation bytes before the end */
    size_t cont = 0;
    while (cont < n && ((unsigned char)f[n - 1 - cont] & 0xC0) == 0x80)
        cont++;
    if (cont < n && cont > 0) {
        unsigned char lead = (unsigned char)f[n - 1 - cont];
        size_t want = lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : lead >= 0xC0 ? 1 : 0;
        FZ_CHECK(want == 0 || cont >= want, "field ends inside a UTF-8 sequence");
    }
}

#define CHECK(f) check_field((f), sizeof(f))

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hd_fb_report a, b;
    struct hd_err err = {0};
    if (rules == NULL)
        FZ_CHECK(hd_fb_rules_create(&rules, NULL, NULL, &err) == 0, "%s", err.msg);
    hd_fb_report_init(&a);
    hd_fb_report_init(&b);
    int rc = hd_fb_parse(data, size, &a, &err);
    if (rc == 0) {
        CHECK(a.to);
        CHECK(a.reporting_mta);
        CHECK(a.envelope_id);
        CHECK(a.feedback_type);
        CHECK(a.original_rcpt_to);
        CHECK(a.user_agent);
        CHECK(a.message_id);
        CHECK(a.herald_ref);
        CHECK(a.feedback_id);
        FZ_CHECK(a.nrecipients <= HD_FB_MAX_RECIPIENTS, "%zu recipients", a.nrecipients);
        for (size_t i = 0; i < a.nrecipients; i++) {
            const struct hd_fb_recipient *r = &a.recipients[i];
            CHECK(r->final_recipient);
            CHECK(r->original_recipient);
            CHECK(r->action);
            CHECK(r->status);
            CHECK(r->diagnostic);
            CHECK(r->remote_mta);
            const char *label;
            enum hd_fb_scope scope;
            hd_fb_classify(rules, 0, r->status, r->diagnostic, &label, &scope);
            FZ_CHECK(label != NULL && scope < HD_FB_SCOPE_COUNT, "classification");
        }
        FZ_CHECK(hd_fb_parse(data, size, &b, &err) == 0, "second parse failed");
        FZ_CHECK(a.kind == b.kind && a.nrecipients == b.nrecipients &&
                     strcmp(a.message_id, b.message_id) == 0 &&
                     strcmp(a.envelope_id, b.envelope_id) == 0,
                 "parsing the same bytes twice differs");
    } else {
        FZ_CHECK(err.code == HD_EX_DATAERR, "error code %d", err.code);
    }
    hd_fb_report_finish(&a);
    hd_fb_report_finish(&b);
    return 0;
}
