/* Unit tests for returned mail (core/feedback): DSNs shaped as Postfix and
 * Exchange write them, ARF complaint reports with a redacted recipient,
 * auto-replies, messages that are not reports, bounded fields, and the
 * classification rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "herald/feedback.h"

/* Postfix's bounce, headers only returned (RET=HDRS), to a VERP address. */
static const char postfix_dsn[] =
    "Return-Path: <>\r\n"
    "Delivered-To: b-7q3x9k2m4n5p6r8s-k1@bounces.lumen.example\r\n"
    "From: MAILER-DAEMON@relay.lumen.example (Mail Delivery System)\r\n"
    "Subject: Undelivered Mail Returned to Sender\r\n"
    "To: b-7q3x9k2m4n5p6r8s-k1@bounces.lumen.example\r\n"
    "Auto-Submitted: auto-replied\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/report; report-type=delivery-status;\r\n"
    "\tboundary=\"8A1B2C3D.1750000000/relay.lumen.example\"\r\n"
    "\r\n"
    "This is a MIME-encapsulated message.\r\n"
    "\r\n"
    "--8A1B2C3D.1750000000/relay.lumen.example\r\n"
    "Content-Description: Notification\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
    "This is the mail system at host relay.lumen.example.\r\n"
    "\r\n"
    "I'm sorry to have to inform you that your message could not\r\n"
    "be delivered to one or more recipients.\r\n"
    "\r\n"
    "--8A1B2C3D.1750000000/relay.lumen.example\r\n"
    "Content-Description: Delivery report\r\n"
    "Content-Type: message/delivery-status\r\n"
    "\r\n"
    "Reporting-MTA: dns; relay.lumen.example\r\n"
    "X-Postfix-Queue-ID: 8A1B2C3D\r\n"
    "X-Postfix-Sender: rfc822; b-7q3x9k2m4n5p6r8s-k1@bounces.lumen.example\r\n"
    "Original-Envelope-Id: hd1.k1.Qm9iLWRlbGl2ZXJ5\r\n"
    "Arrival-Date: Sun, 15 Jun 2025 15:06:40 +0000 (UTC)\r\n"
    "\r\n"
    "Final-Recipient: rfc822; anna.schmidt@example.de\r\n"
    "Original-Recipient: rfc822;anna.schmidt@example.de\r\n"
    "Action: failed\r\n"
    "Status: 5.1.1\r\n"
    "Remote-MTA: dns; mx.example.de\r\n"
    "Diagnostic-Code: smtp; 550 5.1.1 <anna.schmidt@example.de>: Recipient address\r\n"
    "    rejected: User unknown in virtual mailbox table\r\n"
    "\r\n"
    "--8A1B2C3D.1750000000/relay.lumen.example\r\n"
    "Content-Description: Undelivered Message Headers\r\n"
    "Content-Type: text/rfc822-headers\r\n"
    "\r\n"
    "From: Lumen Privacy <privacy@lumen.example>\r\n"
    "To: Anna Schmidt <anna.schmidt@example.de>\r\n"
    "Subject: =?utf-8?q?Wie_Lumen_Ihre_Informationen_f=C3=BCr_KI_nutzt?=\r\n"
    "Message-ID: <dd7dcbad8486739980fa26f1920cfc8b@lumen.example>\r\n"
    "X-Herald-Ref: v1.k1.3Jq9vN0aQx2Wm8Pz4Lr7Ts\r\n"
    "Feedback-ID: ai-2025:first:DE-de:herald\r\n"
    "\r\n"
    "--8A1B2C3D.1750000000/relay.lumen.example--\r\n";

/* A complaint through a feedback loop: the recipient redacted (RFC 6590),
 * the original message returned whole. */
static const char arf[] =
    "From: <staff@fbl.mailbox.example>\n"
    "To: <fbl@lumen.example>\n"
    "Subject: FW: Wie Lumen Ihre Informationen nutzt\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"part1\"\n"
    "\n"
    "--part1\n"
    "Content-Type: text/plain\n"
    "\n"
    "This is an email abuse report.\n"
    "--part1\n"
    "Content-Type: message/feedback-report\n"
    "\n"
    "Feedback-Type: abuse\n"
    "User-Agent: SomeGenerator/1.0\n"
    "Version: 1\n"
    "Original-Rcpt-To: <redacted@example.com>\n"
    "Arrival-Date: Thu, 8 Mar 2025 14:00:00 EDT\n"
    "\n"
    "--part1\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: Lumen Privacy <privacy@lumen.example>\n"
    "To: xxxxxxxx@mailbox.example\n"
    "Message-ID: <0123456789abcdef0123456789abcdef@lumen.example>\n"
    "X-Herald-Ref: v1.k1.AAAAAAAAAAAAAAAAAAAAAA\n"
    "Subject: Wie Lumen Ihre Informationen nutzt\n"
    "\n"
    "Hallo\n"
    "--part1--\n";

static const char autoreply[] = "From: Anna <anna@example.de>\r\n"
                                "To: privacy@lumen.example\r\n"
                                "Subject: Abwesenheitsnotiz\r\n"
                                "Auto-Submitted: auto-replied\r\n"
                                "In-Reply-To: <dd7dcbad8486739980fa26f1920cfc8b@lumen.example>\r\n"
                                "\r\n"
                                "Ich bin bis Montag nicht im Buero.\r\n";

static void test_feedback_postfix_dsn(void **state)
{
    struct hd_fb_report r;
    struct hd_err err = {0};
    (void)state;
    hd_fb_report_init(&r);
    assert_int_equal(hd_fb_parse(postfix_dsn, sizeof postfix_dsn - 1, &r, &err), 0);
    assert_int_equal(r.kind, HD_FB_DSN);
    assert_string_equal(r.to, "b-7q3x9k2m4n5p6r8s-k1@bounces.lumen.example");
    assert_string_equal(r.reporting_mta, "relay.lumen.example");
    assert_string_equal(r.envelope_id, "hd1.k1.Qm9iLWRlbGl2ZXJ5");
    assert_int_equal(r.nrecipients, 1);
    assert_string_equal(r.recipients[0].final_recipient, "anna.schmidt@example.de");
    assert_string_equal(r.recipients[0].original_recipient, "anna.schmidt@example.de");
    assert_string_equal(r.recipients[0].action, "failed");
    assert_string_equal(r.recipients[0].status, "5.1.1");
    assert_string_equal(r.recipients[0].remote_mta, "mx.example.de");
    /* the folded Diagnostic-Code, unfolded */
    assert_string_equal(r.recipients[0].diagnostic,
                        "550 5.1.1 <anna.schmidt@example.de>: Recipient address rejected: User "
                        "unknown in virtual mailbox table");
    assert_string_equal(r.message_id, "dd7dcbad8486739980fa26f1920cfc8b@lumen.example");
    assert_string_equal(r.herald_ref, "v1.k1.3Jq9vN0aQx2Wm8Pz4Lr7Ts");
    assert_string_equal(r.feedback_id, "ai-2025:first:DE-de:herald");
    hd_fb_report_finish(&r);
    hd_fb_report_finish(&r); /* finishing twice is fine */
}

/* Exchange-style: two recipients, one delayed, LF line ends, an Action in
 * capitals, a Status with a comment. */
static void test_feedback_two_recipients(void **state)
{
    static const char dsn[] =
        "To: bounces@lumen.example\n"
        "Content-Type: multipart/report; report-type=Delivery-Status; boundary=b\n"
        "\n"
        "--b\n"
        "Content-Type: message/delivery-status\n"
        "\n"
        "Reporting-MTA: dns;EX01.mail.example\n"
        "\n"
        "Final-Recipient: rfc822;jan@example.nl\n"
        "Action: Failed\n"
        "Status: 5.2.2 (mailbox full)\n"
        "Diagnostic-Code: smtp;552 5.2.2 Mailbox full\n"
        "\n"
        "Final-Recipient: rfc822;piet@example.nl\n"
        "Action: delayed\n"
        "Status: 4.4.1\n"
        "Will-Retry-Until: Mon, 16 Jun 2025 15:00:00 +0000\n"
        "\n"
        "--b--\n";
    struct hd_fb_report r;
    struct hd_err err = {0};
    (void)state;
    hd_fb_report_init(&r);
    assert_int_equal(hd_fb_parse(dsn, sizeof dsn - 1, &r, &err), 0);
    assert_int_equal(r.kind, HD_FB_DSN);
    assert_int_equal(r.nrecipients, 2);
    assert_string_equal(r.recipients[0].action, "failed");
    assert_string_equal(r.recipients[0].status, "5.2.2");
    assert_string_equal(r.recipients[0].diagnostic, "552 5.2.2 Mailbox full");
    assert_string_equal(r.recipients[1].final_recipient, "piet@example.nl");
    assert_string_equal(r.recipients[1].action, "delayed");
    assert_string_equal(r.recipients[1].diagnostic, "");
    assert_string_equal(r.message_id, "");
    hd_fb_report_finish(&r);
}

static void test_feedback_arf_redacted(void **state)
{
    struct hd_fb_report r;
    struct hd_err err = {0};
    (void)state;
    hd_fb_report_init(&r);
    assert_int_equal(hd_fb_parse(arf, sizeof arf - 1, &r, &err), 0);
    assert_int_equal(r.kind, HD_FB_ARF);
    assert_string_equal(r.feedback_type, "abuse");
    assert_string_equal(r.user_agent, "SomeGenerator/1.0");
    assert_string_equal(r.original_rcpt_to, "<redacted@example.com>");
    /* the recipient is redacted; the references in the original are not */
    assert_string_equal(r.message_id, "0123456789abcdef0123456789abcdef@lumen.example");
    assert_string_equal(r.herald_ref, "v1.k1.AAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(r.nrecipients, 0);
    hd_fb_report_finish(&r);
}

static void test_feedback_autoreply_and_other(void **state)
{
    struct hd_fb_report r;
    struct hd_err err = {0};
    (void)state;
    hd_fb_report_init(&r);
    assert_int_equal(hd_fb_parse(autoreply, sizeof autoreply - 1, &r, &err), 0);
    assert_int_equal(r.kind, HD_FB_AUTOREPLY);
    assert_string_equal(r.message_id, "dd7dcbad8486739980fa26f1920cfc8b@lumen.example");

    static const char plain[] = "From: someone@example.org\nTo: bounces@lumen.example\n"
                                "Subject: hello\n\nnot a report\n";
    assert_int_equal(hd_fb_parse(plain, sizeof plain - 1, &r, &err), 0);
    assert_int_equal(r.kind, HD_FB_OTHER);
    assert_string_equal(r.to, "bounces@lumen.example");
    hd_fb_report_finish(&r);
}

/* Untrusted input stays bounded: a huge diagnostic is cut at a UTF-8
 * boundary, at most HD_FB_MAX_RECIPIENTS recipients are kept, control
 * characters become spaces. */
static void test_feedback_bounded(void **state)
{
    struct hd_fb_report r;
    struct hd_err err = {0};
    (void)state;
    size_t cap = 1 << 20, n = 0;
    char *m = malloc(cap);
    assert_non_null(m);
    n += (size_t)snprintf(m + n, cap - n,
                          "To: x@y\nContent-Type: multipart/report; report-type=delivery-status; "
                          "boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n"
                          "Reporting-MTA: dns; a\x01"
                          "b\n\n");
    for (int i = 0; i < 100; i++) {
        n += (size_t)snprintf(m + n, cap - n,
                              "Final-Recipient: rfc822; p%d@x\nAction: failed\nStatus: 5.1.1\n"
                              "Diagnostic-Code: smtp; 550 ",
                              i);
        for (int k = 0; k < (i == 0 ? 400 : 1); k++)
            n += (size_t)snprintf(m + n, cap - n, "\xc3\xa9"); /* é: 2 bytes each */
        n += (size_t)snprintf(m + n, cap - n, "\n\n");
    }
    n += (size_t)snprintf(m + n, cap - n, "--b--\n");
    hd_fb_report_init(&r);
    assert_int_equal(hd_fb_parse(m, n, &r, &err), 0);
    assert_int_equal(r.nrecipients, HD_FB_MAX_RECIPIENTS);
    assert_string_equal(r.reporting_mta, "a b");
    size_t len = strlen(r.recipients[0].diagnostic);
    assert_true(len < HD_FB_TEXT_MAX && len > HD_FB_TEXT_MAX - 4);
    /* ends on a whole character */
    assert_int_equal((len - 4) % 2, 0);
    assert_string_equal(r.recipients[63].final_recipient, "p63@x");
    hd_fb_report_finish(&r);
    free(m);
}

/* ---- classification ---- */

struct case_ {
    int code;
    const char *status, *text, *label;
    enum hd_fb_scope scope;
};

static void test_feedback_classify_defaults(void **state)
{
    static const struct case_ cases[] = {
        {550, "5.1.1", "<a@x>: Recipient address rejected: User unknown", "invalid_recipient",
         HD_FB_SCOPE_RECIPIENT},
        {550, "", "Requested action not taken: mailbox unavailable", "invalid_recipient",
         HD_FB_SCOPE_RECIPIENT},
        {0, "5.1.2", "Host or domain name not found", "bad_domain", HD_FB_SCOPE_RECIPIENT},
        {552, "5.2.2", "Mailbox full", "mailbox_full", HD_FB_SCOPE_TRANSIENT},
        {550, "5.2.1", "The email account that you tried to reach is disabled", "inactive_mailbox",
         HD_FB_SCOPE_RECIPIENT},
        {550, "5.7.26",
         "Unauthenticated email from lumen.example is not accepted due to "
         "domain's DMARC policy",
         "sender_authentication", HD_FB_SCOPE_SENDER},
        {554, "5.7.1", "Service unavailable; Client host [192.0.2.1] blocked using Spamhaus",
         "policy_block", HD_FB_SCOPE_SENDER},
        {554, "5.7.1", "Message rejected as spam by Content Filtering", "spam_content",
         HD_FB_SCOPE_MESSAGE},
        {421, "4.7.0", "Try again later, closing connection", "transient_failure",
         HD_FB_SCOPE_TRANSIENT},
        {0, "4.4.7", "Delivery time expired", "message_expired", HD_FB_SCOPE_TRANSIENT},
        {554, "5.0.0", "something nobody wrote a rule for", "unclassified", HD_FB_SCOPE_RECIPIENT},
        {0, "", "", "unclassified", HD_FB_SCOPE_UNKNOWN},
    };
    struct hd_fb_rules *rules = NULL;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(hd_fb_rules_create(&rules, NULL, NULL, &err), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *label;
        enum hd_fb_scope scope;
        hd_fb_classify(rules, cases[i].code, cases[i].status, cases[i].text, &label, &scope);
        if (strcmp(label, cases[i].label) != 0 || scope != cases[i].scope)
            fail_msg("%d %s %s: %s/%s, expected %s/%s", cases[i].code, cases[i].status,
                     cases[i].text, label, hd_fb_scope_names[scope], cases[i].label,
                     hd_fb_scope_names[cases[i].scope]);
    }
    hd_fb_rules_destroy(rules);
    hd_fb_rules_destroy(NULL);
}

static void test_feedback_rules_errors(void **state)
{
    struct hd_fb_rules *rules = NULL;
    struct hd_err err = {0};
    (void)state;
    assert_int_equal(hd_fb_rules_create(&rules, "r.yaml",
                                        "rules:\n  - label: x\n    scope: recipient\n"
                                        "    match: ['(unclosed']\n",
                                        &err),
                     -1);
    assert_int_equal(err.code, HD_EX_DATAERR);
    assert_string_equal(err.msg, "r.yaml:4:13: pattern: missing closing parenthesis, at offset 9");
    assert_null(rules);
    assert_int_equal(hd_fb_rules_create(&rules, "r.yaml",
                                        "rules:\n  - label: x\n    scope: everyone\n"
                                        "    match: ['a']\n",
                                        &err),
                     -1);
    assert_string_equal(
        err.msg, "r.yaml:3:12: scope: one of recipient, message, sender, transient, unknown");
    assert_int_equal(hd_fb_rules_create(&rules, "r.yaml", "labels: {}\n", &err), -1);
    assert_string_equal(err.msg, "r.yaml: expected \"rules:\" with a list of rules");
    /* a custom rule set: its own label wins */
    assert_int_equal(hd_fb_rules_create(&rules, "r.yaml",
                                        "rules:\n  - label: gone\n    scope: recipient\n"
                                        "    match: ['(?i)gone away']\n",
                                        &err),
                     0);
    const char *label;
    enum hd_fb_scope scope;
    hd_fb_classify(rules, 550, "5.0.0", "This user has Gone Away", &label, &scope);
    assert_string_equal(label, "gone");
    hd_fb_rules_destroy(rules);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feedback_postfix_dsn),
        cmocka_unit_test(test_feedback_two_recipients),
        cmocka_unit_test(test_feedback_arf_redacted),
        cmocka_unit_test(test_feedback_autoreply_and_other),
        cmocka_unit_test(test_feedback_bounded),
        cmocka_unit_test(test_feedback_classify_defaults),
        cmocka_unit_test(test_feedback_rules_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
