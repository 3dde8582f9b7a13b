/* core/feedback/rules.c - classifying a returned failure by rules of PCRE2
 * patterns (herald/feedback.h). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/feedback.h"
#include "herald/yaml.h"

const char *const hd_fb_scope_names[HD_FB_SCOPE_COUNT] = {"recipient", "message", "sender",
                                                          "transient", "unknown"};

/* Herald's own rules. Written for Herald from RFC 3463's status codes and
 * the replies large mailbox providers document; the first match wins, so
 * the sender-side classes come before the recipient ones they resemble. */
const char hd_fb_default_rules[] =
    "rules:\n"
    "  - label: sender_authentication\n"
    "    scope: sender\n"
    "    match:\n"
    "      - '^5\\d\\d 5\\.7\\.(2[5-9]|30)\\b'\n"
    "      - '(?i)\\b(dmarc|spf|dkim)\\b.{0,60}\\b(fail|failed|not pass|reject)'\n"
    "      - '(?i)not authenticated|authentication (is )?required'\n"
    "  - label: policy_block\n"
    "    scope: sender\n"
    "    match:\n"
    "      - '(?i)\\b(blocked|blacklisted|blocklisted|block ?list|spamhaus|poor reputation|"
    "bad reputation)\\b'\n"
    "      - '^[45]\\d\\d [45]\\.7\\.1\\b.{0,80}(?i)(policy|rejected due to|not allowed)'\n"
    "  - label: spam_content\n"
    "    scope: message\n"
    "    match:\n"
    "      - '(?i)\\b(spam|junk|unsolicited)\\b.{0,40}\\b(content|detected|rejected|message)'\n"
    "      - '(?i)content (rejected|not accepted)'\n"
    "  - label: mailbox_full\n"
    "    scope: transient\n"
    "    match:\n"
    "      - '^[45]\\d\\d [45]\\.2\\.2\\b'\n"
    "      - '(?i)(mailbox|inbox|quota) (is )?(full|exceeded)|over ?quota'\n"
    "  - label: inactive_mailbox\n"
    "    scope: recipient\n"
    "    match:\n"
    "      - '^5\\d\\d 5\\.2\\.1\\b'\n"
    "      - '(?i)(account|mailbox) (is |has been )?(disabled|inactive|suspended|deactivated)'\n"
    "  - label: bad_domain\n"
    "    scope: recipient\n"
    "    match:\n"
    "      - '^5\\d\\d 5\\.1\\.[28]\\b'\n"
    "      - '(?i)(host or domain name not found|domain (not found|does not exist)|"
    "no mx record)'\n"
    "  - label: invalid_recipient\n"
    "    scope: recipient\n"
    "    match:\n"
    "      - '^5\\d\\d 5\\.1\\.[0-6]\\b'\n"
    "      - '(?i)no such (user|mailbox|recipient)'\n"
    "      - '(?i)\\b(user|mailbox|recipient|address)\\b.{0,40}\\b(unknown|not found|does not "
    "exist|invalid|rejected|unavailable)'\n"
    "  - label: message_expired\n"
    "    scope: transient\n"
    "    match:\n"
    "      - '^[45]\\d\\d [45]\\.4\\.7\\b'\n"
    "      - '(?i)(message|delivery) (has )?(expired|timed out)'\n"
    "  - label: transient_failure\n"
    "    scope: transient\n"
    "    match:\n"
    "      - '^4\\d\\d '\n"
    "      - '^\\d\\d\\d 4\\.'\n";

struct rule {
    char *label;
    enum hd_fb_scope scope;
    pcre2_code **patterns;
    size_t npatterns;
};

struct hd_fb_rules {
    struct rule *rules;
    size_t nrules;
};

void hd_fb_rules_destroy(struct hd_fb_rules *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nrules; i++) {
        free(r->rules[i].label);
        for (size_t p = 0; p < r->rules[i].npatterns; p++)
            pcre2_code_free(r->rules[i].patterns[p]);
        free(r->rules[i].patterns);
    }
    free(r->rules);
    free(r);
}

static int bad(struct hd_err *err, const struct hd_ynode *n, const char *what)
{
    hd_err_set(err, HD_EX_DATAERR, "%s:%lu:%lu: %s", n->file, n->line, n->col, what);
    return -1;
}

static int load_rule(struct rule *rule, const struct hd_ynode *n, struct hd_err *err)
{
    const struct hd_ynode *label = NULL, *scope = NULL, *match = NULL;
    if (n->kind != HD_YMAP)
        return bad(err, n, "a rule is a mapping with label, scope and match");
    for (size_t i = 0; i < n->count; i++) {
        const char *k = n->keys[i]->str;
        if (strcmp(k, "label") == 0)
            label = n->items[i];
        else if (strcmp(k, "scope") == 0)
            scope = n->items[i];
        else if (strcmp(k, "match") == 0)
            match = n->items[i];
        else
            return bad(err, n->keys[i], "unknown key in a rule (label, scope, match)");
    }
    if (label == NULL || scope == NULL || match == NULL)
        return bad(err, n, "a rule needs label, scope and match");
    if (label->kind != HD_YSCALAR || label->len == 0 ||
        strspn(label->str, "abcdefghijklmnopqrstuvwxyz0123456789_") != label->len)
        return bad(err, label, "label: a name of a-z, 0-9 and _");
    int s = -1;
    for (int i = 0; scope->kind == HD_YSCALAR && i < HD_FB_SCOPE_COUNT; i++)
        if (strcmp(scope->str, hd_fb_scope_names[i]) == 0)
            s = i;
    if (s < 0)
        return bad(err, scope, "scope: one of recipient, message, sender, transient, unknown");
    if (match->kind != HD_YSEQ || match->count == 0)
        return bad(err, match, "match: a list of patterns");
    rule->scope = (enum hd_fb_scope)s;
    if ((rule->label = strdup(label->str)) == NULL ||
        (rule->patterns = calloc(match->count, sizeof *rule->patterns)) == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory for the feedback rules");
        return -1;
    }
    for (size_t i = 0; i < match->count; i++) {
        const struct hd_ynode *p = match->items[i];
        int code;
        PCRE2_SIZE at;
        if (p->kind != HD_YSCALAR)
            return bad(err, p, "a pattern is a string");
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)p->str, p->len, PCRE2_UTF, &code, &at, NULL);
        if (re == NULL) {
            PCRE2_UCHAR why[160];
            char msg[256];
            pcre2_get_error_message(code, why, sizeof why);
            snprintf(msg, sizeof msg, "pattern: %s, at offset %zu", (const char *)why, (size_t)at);
            return bad(err, p, msg);
        }
        rule->patterns[rule->npatterns++] = re;
    }
    return 0;
}

int hd_fb_rules_create(struct hd_fb_rules **out, const char *name, const char *text,
                       struct hd_err *err)
{
    struct hd_fb_rules *r = calloc(1, sizeof *r);
    struct hd_ydoc *doc = NULL;
    const struct hd_ynode *list = NULL;
    int rc = -1;
    *out = NULL;
    if (text == NULL) {
        text = hd_fb_default_rules;
        name = "herald's feedback rules";
    }
    if (r == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory for the feedback rules");
        goto done;
    }
    if ((doc = hd_yaml_parse(name, text, strlen(text), err)) == NULL)
        goto done;
    if (doc->root && doc->root->kind == HD_YMAP && doc->root->count == 1 &&
        strcmp(doc->root->keys[0]->str, "rules") == 0)
        list = doc->root->items[0];
    if (list == NULL || list->kind != HD_YSEQ) {
        hd_err_set(err, HD_EX_DATAERR, "%s: expected \"rules:\" with a list of rules", name);
        goto done;
    }
    if ((r->rules = calloc(list->count + 1, sizeof *r->rules)) == NULL) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory for the feedback rules");
        goto done;
    }
    for (size_t i = 0; i < list->count; i++) {
        r->nrules++;
        if (load_rule(&r->rules[i], list->items[i], err) != 0)
            goto done;
    }
    *out = r;
    r = NULL;
    rc = 0;
done:
    hd_yaml_free(doc);
    hd_fb_rules_destroy(r);
    return rc;
}

void hd_fb_classify(const struct hd_fb_rules *r, int code, const char *status, const char *text,
                    const char **label, enum hd_fb_scope *scope)
{
    char subject[HD_FB_TEXT_MAX + 32];
    status = status ? status : "";
    /* without a reply code, the status class stands for one */
    if (code <= 0 && (status[0] == '4' || status[0] == '5'))
        code = status[0] == '5' ? 550 : 450;
    snprintf(subject, sizeof subject, "%03d %s%s%s", code > 0 ? code : 0, status,
             status[0] ? " " : "", text ? text : "");
    *label = "unclassified";
    *scope = code >= 500   ? HD_FB_SCOPE_RECIPIENT
             : code >= 400 ? HD_FB_SCOPE_TRANSIENT
                           : HD_FB_SCOPE_UNKNOWN;
    for (size_t i = 0; r && i < r->nrules; i++) {
        for (size_t p = 0; p < r->rules[i].npatterns; p++) {
            pcre2_match_data *md =
                pcre2_match_data_create_from_pattern(r->rules[i].patterns[p], NULL);
            int m = md ? pcre2_match(r->rules[i].patterns[p], (PCRE2_SPTR)subject, strlen(subject),
                                     0, 0, md, NULL)
                       : -1;
            pcre2_match_data_free(md);
            if (m >= 0) {
                *label = r->rules[i].label;
                *scope = r->rules[i].scope;
                return;
            }
        }
    }
}
