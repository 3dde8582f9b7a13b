/* core/report/report.c - the campaign report's writers (herald/report.h):
 * HTML with inline CSS and SVG, CSV, JSON. */
#include "herald/report.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- reading the model ---- */

static uint64_t num(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static uint64_t sum_values(const json_t *o)
{
    const char *k;
    json_t *v;
    uint64_t n = 0;
    json_object_foreach((json_t *)o, k, v) if (json_is_integer(v) && json_integer_value(v) > 0) n +=
        (uint64_t)json_integer_value(v);
    return n;
}

static int check_model(const json_t *m, struct hd_err *err)
{
    const char *what = NULL;
    if (!json_is_object(m))
        what = "the model is not a JSON object";
    else if (strcmp(str(m, "format"), HD_REPORT_FORMAT) != 0)
        what = "format is not \"" HD_REPORT_FORMAT "\"";
    else if (!json_is_string(json_object_get(json_object_get(m, "campaign"), "id")))
        what = "campaign.id is missing";
    else if (!json_is_array(json_object_get(m, "countries")))
        what = "countries is not a list";
    else if (!json_is_object(json_object_get(m, "totals")))
        what = "totals is not an object";
    else if (!json_is_array(json_object_get(m, "channels")))
        what = "channels is not a list";
    if (what == NULL)
        return 0;
    hd_err_set(err, HD_EX_DATAERR, "report model: %s (docs/report.md)", what);
    return -1;
}

/* ---- writing ---- */

struct out {
    struct hd_buf *b;
    int rc;
};

static void put(struct out *o, const char *s)
{
    o->rc |= hd_buf_puts(o->b, s);
}

__attribute__((format(printf, 2, 3))) static void putf(struct out *o, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof tmp)
        o->rc = -1;
    else
        put(o, tmp);
}

/* Text for HTML content and attribute values. */
static void esc(struct out *o, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            put(o, "&amp;");
            break;
        case '<':
            put(o, "&lt;");
            break;
        case '>':
            put(o, "&gt;");
            break;
        case '"':
            put(o, "&quot;");
            break;
        case '\'':
            put(o, "&#39;");
            break;
        default:
            o->rc |= hd_buf_putc(o->b, *s);
        }
    }
}

/* "2025-06-15 15:06 UTC", or "-" for none (ms <= 0). */
static void put_time_ms(struct out *o, int64_t ms)
{
    if (ms <= 0) {
        put(o, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[40];
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "%Y-%m-%d %H:%M UTC", &tm);
    put(o, s);
}

static void put_time(struct out *o, const json_t *v)
{
    put_time_ms(o, json_is_integer(v) ? (int64_t)json_integer_value(v) : 0);
}

/* 1234567 -> "1,234,567" */
static void put_count(struct out *o, uint64_t n)
{
    char digits[32], s[48];
    int len = snprintf(digits, sizeof digits, "%" PRIu64, n), j = 0;
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            s[j++] = ',';
        s[j++] = digits[i];
    }
    s[j] = '\0';
    put(o, s);
}

static const char style[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:72em;padding:0 1em;"
    "color:#1b1b1b}"
    "h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}"
    ".cards{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ccc;border-radius:6px;"
    "padding:.6em 1em;min-width:9em}.card b{display:block;font-size:1.5em}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #ddd;padding:.25em .5em;"
    "text-align:right}th:first-child,td:first-child,td.l,th.l{text-align:left}"
    "thead th{background:#f3f3f3}pre{white-space:pre-wrap;background:#f7f7f7;padding:.6em}"
    ".bad{color:#a40000}svg text{font:12px sans-serif}";

static void summary(struct out *o, const json_t *m)
{
    const json_t *t = json_object_get(m, "totals");
    uint64_t excluded = sum_values(json_object_get(t, "excluded"));
    static const char *const names[][2] = {{"in_scope", "People in scope"},
                                           {"reached", "Reached"},
                                           {"not_reached", "Not reached"},
                                           {"objected", "Had objected before"}};
    put(o, "<section id=\"summary\"><h2>Summary</h2><div class=\"cards\">");
    for (size_t i = 0; i < 4; i++) {
        putf(o, "<div class=\"card\"><b data-figure=\"total.%s\">", names[i][0]);
        put_count(o, num(t, names[i][0]));
        putf(o, "</b>%s</div>", names[i][1]);
    }
    put(o, "<div class=\"card\"><b data-figure=\"total.excluded\">");
    put_count(o, excluded);
    put(o, "</b>Excluded</div></div></section>\n");
}

/* Horizontal bars: audience rows, in scope, reached, then each exclusion
 * reason, scaled to the largest. */
static void funnel(struct out *o, const json_t *m)
{
    const json_t *t = json_object_get(m, "totals"), *ex = json_object_get(t, "excluded");
    struct bar {
        const char *label;
        uint64_t n;
        const char *colour;
    } bars[16];
    size_t nb = 0;
    bars[nb++] = (struct bar){"audience rows", num(t, "rows"), "#6b7a8f"};
    bars[nb++] = (struct bar){"in scope", num(t, "in_scope"), "#2f6db3"};
    bars[nb++] = (struct bar){"reached", num(t, "reached"), "#2e8540"};
    bars[nb++] = (struct bar){"not reached", num(t, "not_reached"), "#a40000"};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ex, k, v)
    {
        if (nb < sizeof bars / sizeof bars[0])
            bars[nb++] = (struct bar){k, num(ex, k), "#999999"};
    }
    uint64_t max = 1;
    for (size_t i = 0; i < nb; i++)
        max = bars[i].n > max ? bars[i].n : max;
    putf(o,
         "<section id=\"funnel\"><h2>From audience to people reached</h2>"
         "<svg role=\"img\" aria-label=\"people by stage\" width=\"720\" height=\"%zu\" "
         "xmlns=\"http://www.w3.org/2000/svg\">",
         nb * 24 + 8);
    for (size_t i = 0; i < nb; i++) {
        unsigned w = (unsigned)(bars[i].n * 440 / max);
        putf(o, "<text x=\"0\" y=\"%zu\">", i * 24 + 20);
        esc(o, bars[i].label);
        putf(o, "</text><rect x=\"170\" y=\"%zu\" width=\"%u\" height=\"18\" fill=\"%s\"/>",
             i * 24 + 6, w ? w : 1, bars[i].colour);
        putf(o, "<text x=\"%u\" y=\"%zu\">", 176 + w, i * 24 + 20);
        put_count(o, bars[i].n);
        put(o, "</text>");
    }
    put(o, "</svg></section>\n");
}

static void countries(struct out *o, const json_t *m)
{
    const json_t *chans = json_object_get(m, "channels"), *list = json_object_get(m, "countries");
    size_t i, c;
    json_t *row, *ch;
    put(o, "<section id=\"countries\"><h2>By country and language</h2><table><thead><tr>"
           "<th class=\"l\">Country</th><th class=\"l\">Language</th><th>In scope</th>"
           "<th>Excluded</th><th>Had objected</th><th>Reached</th><th>Not reached</th>");
    json_array_foreach(chans, c, ch)
    {
        put(o, "<th>");
        esc(o, json_string_value(ch) ? json_string_value(ch) : "");
        put(o, ": sent / failed / pending</th><th>first / last sent</th>");
    }
    put(o, "</tr></thead><tbody>\n");
    json_array_foreach(list, i, row)
    {
        char key[64];
        snprintf(key, sizeof key, "%s-%s", str(row, "country"), str(row, "language"));
        put(o, "<tr><td>");
        esc(o, str(row, "country"));
        if (*str(row, "name")) {
            put(o, " ");
            esc(o, str(row, "name"));
        }
        put(o, "</td><td class=\"l\">");
        esc(o, str(row, "language"));
        put(o, "</td>");
        static const char *const cols[] = {"in_scope", "excluded", "objected", "reached",
                                           "not_reached"};
        for (size_t k = 0; k < 5; k++) {
            uint64_t n = k == 1 ? sum_values(json_object_get(row, "excluded")) : num(row, cols[k]);
            put(o, k == 4 && n ? "<td class=\"bad\" data-figure=\"" : "<td data-figure=\"");
            esc(o, key);
            putf(o, ".%s\">", cols[k]);
            put_count(o, n);
            put(o, "</td>");
        }
        json_array_foreach(chans, c, ch)
        {
            const char *name = json_string_value(ch) ? json_string_value(ch) : "";
            const json_t *cc = json_object_get(json_object_get(row, "channels"), name);
            put(o, "<td data-figure=\"");
            esc(o, key);
            put(o, ".");
            esc(o, name);
            put(o, ".sent\">");
            put_count(o, num(cc, "sent"));
            put(o, " / ");
            put_count(o, num(cc, "failed"));
            put(o, " / ");
            put_count(o, num(cc, "pending") + num(cc, "retry") + num(cc, "held"));
            put(o, "</td><td>");
            put_time(o, json_object_get(cc, "first_sent_ms"));
            put(o, " / ");
            put_time(o, json_object_get(cc, "last_sent_ms"));
            put(o, "</td>");
        }
        put(o, "</tr>\n");
    }
    put(o, "</tbody></table></section>\n");
}

/* Sends over time (cumulative, per bucket) and the events, on one time axis. */
static void timeline(struct out *o, const json_t *m)
{
    const json_t *events = json_object_get(m, "events");
    const json_t *points = json_object_get(json_object_get(m, "rate"), "points");
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    uint64_t total = 0;
    size_t i;
    json_t *v;
    json_array_foreach(points, i, v)
    {
        int64_t t = json_integer_value(json_array_get(v, 0));
        t0 = t < t0 ? t : t0;
        t1 = t > t1 ? t : t1;
        total += (uint64_t)json_integer_value(json_array_get(v, 1));
    }
    json_array_foreach(events, i, v)
    {
        int64_t t = json_integer_value(json_object_get(v, "time_ms"));
        t0 = t < t0 ? t : t0;
        t1 = t > t1 ? t : t1;
    }
    put(o, "<section id=\"timeline\"><h2>Timeline</h2>");
    if (t0 <= t1) {
        double span = t1 > t0 ? (double)(t1 - t0) : 1.0;
        put(o, "<svg role=\"img\" aria-label=\"sends over time and events\" width=\"720\" "
               "height=\"220\" xmlns=\"http://www.w3.org/2000/svg\">"
               "<rect x=\"40\" y=\"10\" width=\"660\" height=\"170\" fill=\"none\" "
               "stroke=\"#ccc\"/>");
        json_array_foreach(events, i, v)
        {
            double x =
                40 + 660 * (double)(json_integer_value(json_object_get(v, "time_ms")) - t0) / span;
            putf(o,
                 "<line x1=\"%.1f\" y1=\"10\" x2=\"%.1f\" y2=\"180\" stroke=\"#d08c00\"/>"
                 "<text x=\"%.1f\" y=\"196\">%zu</text>",
                 x, x, x - 3, i + 1);
        }
        if (total > 0) {
            uint64_t cum = 0;
            put(o, "<polyline fill=\"none\" stroke=\"#2e8540\" stroke-width=\"2\" points=\"");
            json_array_foreach(points, i, v)
            {
                cum += (uint64_t)json_integer_value(json_array_get(v, 1));
                double x =
                    40 + 660 * (double)(json_integer_value(json_array_get(v, 0)) - t0) / span;
                double y = 180 - 170 * (double)cum / (double)total;
                putf(o, "%s%.1f,%.1f", i ? " " : "", x, y);
            }
            put(o, "\"/><text x=\"44\" y=\"24\">");
            put_count(o, total);
            put(o, " sent</text>");
        }
        put(o, "<text x=\"40\" y=\"214\">");
        put_time_ms(o, t0);
        put(o, "</text><text x=\"560\" y=\"214\">");
        put_time_ms(o, t1);
        put(o, "</text></svg>");
    }
    put(o, "<ol id=\"events\">");
    json_array_foreach(events, i, v)
    {
        put(o, "<li>");
        put_time(o, json_object_get(v, "time_ms"));
        put(o, ": <b>");
        esc(o, str(v, "kind"));
        put(o, "</b>");
        if (*str(v, "scope")) {
            put(o, " ");
            esc(o, str(v, "scope"));
        }
        if (*str(v, "by")) {
            put(o, ", by ");
            esc(o, str(v, "by"));
        }
        if (*str(v, "reason")) {
            put(o, ": ");
            esc(o, str(v, "reason"));
        }
        put(o, "</li>");
    }
    put(o, "</ol></section>\n");
}

static void texts(struct out *o, const json_t *m)
{
    size_t i;
    json_t *v;
    put(o, "<section id=\"texts\"><h2>The notices as sent</h2>");
    json_array_foreach(json_object_get(m, "texts"), i, v)
    {
        put(o, "<details><summary>");
        esc(o, str(v, "language"));
        if (*str(v, "subject")) {
            put(o, ": ");
            esc(o, str(v, "subject"));
        }
        put(o, "</summary>");
        if (*str(v, "text")) {
            put(o, "<h3>Email</h3><pre>");
            esc(o, str(v, "text"));
            put(o, "</pre>");
        }
        if (*str(v, "push_title") || *str(v, "push_body")) {
            put(o, "<h3>In-app notice</h3><p><b>");
            esc(o, str(v, "push_title"));
            put(o, "</b></p><pre>");
            esc(o, str(v, "push_body"));
            put(o, "</pre>");
        }
        put(o, "</details>");
    }
    put(o, "</section>\n");
}

static void proofs(struct out *o, const json_t *m)
{
    const json_t *p = json_object_get(m, "proofs");
    put(o, "<section id=\"proofs\"><h2>Proof</h2>");
    if (!json_is_object(p)) {
        put(o, "<p class=\"bad\">This campaign keeps no proof records.</p></section>\n");
        return;
    }
    put(o, "<p>Every final delivery state and every exclusion is a signed, pseudonymous proof "
           "record. The records form a Merkle tree (RFC 9162) of ");
    put_count(o, num(p, "tree_size"));
    put(o, " records whose root is</p><pre data-figure=\"proofs.root\">");
    esc(o, str(p, "root"));
    put(o, "</pre>");
    if (*str(p, "checkpoint")) {
        put(o, "<p>The signed checkpoint:</p><pre>");
        esc(o, str(p, "checkpoint"));
        put(o, "</pre>");
    }
    put(o, "<p>To check the bundle and one person's records:</p><pre>herald proofs verify BUNDLE "
           "--pubkey SIGNER.pub\nherald proofs prove BUNDLE --person ID "
           "--pseudonym-key-file pseudonym.key --out proof.json\nherald proofs verify-inclusion "
           "proof.json --checkpoint BUNDLE/checkpoint --pubkey SIGNER.pub</pre></section>\n");
}

int hd_report_html(const json_t *model, struct hd_buf *out, struct hd_err *err)
{
    struct out o = {out, 0};
    const json_t *c;
    if (check_model(model, err) != 0)
        return -1;
    c = json_object_get(model, "campaign");
    put(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "style-src 'unsafe-inline'\"><meta name=\"viewport\" "
            "content=\"width=device-width\"><title>Notice campaign ");
    esc(&o, str(c, "id"));
    put(&o, "</title><style>");
    put(&o, style);
    put(&o, "</style></head><body><header><h1>Notice campaign ");
    esc(&o, str(c, "id"));
    put(&o, "</h1>");
    if (*str(c, "description")) {
        put(&o, "<p>");
        esc(&o, str(c, "description"));
        put(&o, "</p>");
    }
    put(&o, "<p>Figures as of ");
    put_time(&o, json_object_get(model, "as_of_ms"));
    put(&o, ", from the campaign's state store. People are counted once, whatever their "
            "channels; reached means at least one channel accepted the notice.</p></header>\n");
    summary(&o, model);
    funnel(&o, model);
    countries(&o, model);
    timeline(&o, model);
    texts(&o, model);
    proofs(&o, model);
    put(&o, "</body></html>\n");
    if (o.rc != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory writing the report");
        return -1;
    }
    return 0;
}

static void csv_cell(struct out *o, const char *s)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    if (quote)
        put(o, "\"");
    for (; *s; s++)
        o->rc |= *s == '"' ? hd_buf_puts(o->b, "\"\"") : hd_buf_putc(o->b, *s);
    if (quote)
        put(o, "\"");
}

int hd_report_csv(const json_t *model, struct hd_buf *out, struct hd_err *err)
{
    struct out o = {out, 0};
    size_t i, c;
    json_t *row, *ch;
    if (check_model(model, err) != 0)
        return -1;
    put(&o, "country,language,channel,in_scope,excluded,objected,reached,not_reached,planned,"
            "sent,failed,pending,retry,held,first_sent_ms,last_sent_ms\r\n");
    json_array_foreach(json_object_get(model, "countries"), i, row)
    {
        json_array_foreach(json_object_get(model, "channels"), c, ch)
        {
            const char *name = json_string_value(ch) ? json_string_value(ch) : "";
            const json_t *cc = json_object_get(json_object_get(row, "channels"), name);
            csv_cell(&o, str(row, "country"));
            put(&o, ",");
            csv_cell(&o, str(row, "language"));
            put(&o, ",");
            csv_cell(&o, name);
            putf(&o,
                 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
                 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n",
                 num(row, "in_scope"), sum_values(json_object_get(row, "excluded")),
                 num(row, "objected"), num(row, "reached"), num(row, "not_reached"),
                 num(cc, "planned"), num(cc, "sent"), num(cc, "failed"), num(cc, "pending"),
                 num(cc, "retry"), num(cc, "held"), num(cc, "first_sent_ms"),
                 num(cc, "last_sent_ms"));
        }
    }
    if (o.rc != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory writing the report");
        return -1;
    }
    return 0;
}

int hd_report_json(const json_t *model, struct hd_buf *out, struct hd_err *err)
{
    if (check_model(model, err) != 0)
        return -1;
    char *s = json_dumps(model, JSON_SORT_KEYS | JSON_INDENT(2));
    int rc = s ? hd_buf_puts(out, s) | hd_buf_putc(out, '\n') : -1;
    free(s);
    if (rc != 0) {
        hd_err_set(err, HD_EX_SOFTWARE, "out of memory writing the report");
        return -1;
    }
    return 0;
}
