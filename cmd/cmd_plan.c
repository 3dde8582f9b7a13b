#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "herald/audience.h"
#include "herald/plan.h"
#include "herald/statedir.h"

static const char usage[] =
    "usage: herald plan CAMPAIGN.yaml [--state-dir DIR] [--replan] [--json]\n"
    "Streams the audience, decides each person's eligibility with a reason, and\n"
    "writes the plan into the state store (default <campaign folder>/herald-state/<id>).\n"
    "Re-running on the same inputs changes nothing; changed inputs are refused\n"
    "unless --replan (allowed only before any delivery was dispatched).\n"
    "  --json   print the summary as JSON (docs/plan-output.md)\n";

static void progress(void *ctx, uint64_t rows, uint64_t done, uint64_t total)
{
    static double last;
    bool tty = *(bool *)ctx;
    double pct = total ? 100.0 * (double)done / (double)total : 0;
    if (tty) {
        fprintf(stderr, "\rplan: %" PRIu64 " rows (%.0f%%)", rows, pct);
        return;
    }
    /* Plain log lines, not a carriage-return dance, when stderr is a file. */
    last += 1;
    if ((int)last % 10 == 0)
        fprintf(stderr, "plan: %" PRIu64 " rows (%.0f%%)\n", rows, pct);
}

static unsigned long long count_of(json_t *obj, const char *key)
{
    return (unsigned long long)json_integer_value(json_object_get(obj, key));
}

/* What the plan normalised in the input (issue 15): every kind with the
 * rows it changed, and the fields it changed them in. A plan made before
 * the counts existed has no "normalised": nothing is printed. */
static void print_normalised(json_t *report)
{
    json_t *kinds = json_object_get(report, "normalised");
    json_t *fields = json_object_get(report, "normalised_fields");
    const char *delim = json_string_value(json_object_get(report, "delimiter"));
    if (!json_is_object(kinds))
        return;
    printf("\nnormalised input (rows, by kind):\n");
    /* In the order of enum hd_norm (the store keeps keys sorted). */
    for (int n = 0; n < HD_N_COUNT; n++) {
        const char *kind = hd_norm_names[n];
        json_t *val = json_object_get(kinds, kind);
        char detail[256] = "";
        size_t i, len;
        json_t *f;
        json_array_foreach(fields, i, f)
        {
            const char *k = json_string_value(json_object_get(f, "kind"));
            const char *field = json_string_value(json_object_get(f, "field"));
            if (k == NULL || field == NULL || strcmp(k, kind) != 0)
                continue;
            len = strlen(detail);
            snprintf(detail + len, sizeof detail - len, "%s%s %llu", len ? ", " : "  (", field,
                     count_of(f, "count"));
        }
        if (detail[0] != '\0') {
            len = strlen(detail);
            snprintf(detail + len, sizeof detail - len, ")");
        }
        printf("  %-27s %llu%s\n", kind, (unsigned long long)json_integer_value(val), detail);
    }
    if (delim != NULL && delim[0] != '\0')
        printf("  CSV separator: %s\n", strcmp(delim, "\t") == 0 ? "tab" : delim);
}

static void print_table(const struct hd_campaign *c, json_t *sum)
{
    json_t *shards = json_object_get(sum, "shards"), *sh;
    json_t *excl = json_object_get(sum, "exclusions"), *report = json_object_get(sum, "report");
    size_t i;
    unsigned long long eligible = 0, excluded = 0, rows = count_of(report, "rows");

    printf("%-5s %-7s %-8s %-12s %9s", "shard", "country", "language", "wave", "eligible");
    for (size_t ch = 0; ch < c->nchannels; ch++)
        printf(" %12s", c->channels[ch].name);
    printf("  %s\n", "unreachable on a channel");
    json_array_foreach(shards, i, sh)
    {
        json_t *chans = json_object_get(sh, "channels");
        json_t *wave = json_object_get(sh, "wave");
        unsigned long long n = count_of(sh, "eligible") + count_of(sh, "variant");
        eligible += n;
        printf("%5lld %-7s %-8s %-12s %9llu",
               (long long)json_integer_value(json_object_get(sh, "shard")),
               json_string_value(json_object_get(sh, "country")),
               json_string_value(json_object_get(sh, "language")),
               json_is_string(wave) ? json_string_value(wave) : "(none)", n);
        char skips[256] = "";
        for (size_t ch = 0; ch < c->nchannels; ch++) {
            json_t *st = json_object_get(chans, c->channels[ch].name);
            printf(" %12llu", count_of(st, "pending") + count_of(st, "sent") +
                                  count_of(st, "inflight") + count_of(st, "retry") +
                                  count_of(st, "failed") + count_of(st, "held"));
            unsigned long long na = count_of(st, "no_address"),
                               un = count_of(st, "unsupported_address");
            size_t len = strlen(skips);
            if (na)
                snprintf(skips + len, sizeof skips - len, " %s:no_address=%llu",
                         c->channels[ch].name, na);
            len = strlen(skips);
            if (un)
                snprintf(skips + len, sizeof skips - len, " %s:unsupported_address=%llu",
                         c->channels[ch].name, un);
        }
        printf(" %s\n", skips);
    }
    printf("\nexclusions by reason:\n");
    const char *key;
    json_t *val;
    json_object_foreach(excl, key, val)
    {
        excluded += (unsigned long long)json_integer_value(val);
        printf("  %-17s %llu\n", key, (unsigned long long)json_integer_value(val));
    }
    json_t *causes = json_object_get(report, "invalid_rows"), *cause;
    if (json_array_size(causes)) {
        printf("\ninvalid rows by cause:\n");
        json_array_foreach(causes, i, cause)
            printf("  %-12s %-40s %llu\n", json_string_value(json_object_get(cause, "field")),
                   json_string_value(json_object_get(cause, "reason")), count_of(cause, "count"));
    }
    print_normalised(report);
    printf("\nrows %llu = eligible %llu + excluded %llu\n", rows, eligible, excluded);
}

int hd_cmd_plan(int argc, char **argv)
{
    const char *path = NULL, *state_dir = NULL;
    bool replan = false, json = false, tty = isatty(2);
    struct hd_plan_opts opts;
    struct hd_plan_result res;
    struct hd_err err = {0};
    struct hd_campaign *c = NULL;
    struct hd_store *store = NULL;
    json_t *sum = NULL;
    char dir[4096];
    int code;

    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK;
        } else if (strcmp(argv[i], "--replan") == 0) {
            replan = true;
        } else if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (hd_cli_opt(argc, argv, &i, "--state-dir", &v)) {
            if (v == NULL)
                return hd_cli_fail(HD_EX_USAGE, "plan: --state-dir needs a directory");
            state_dir = v;
        } else if (argv[i][0] == '-' || path) {
            return hd_cli_fail(HD_EX_USAGE, "plan: unexpected argument \"%s\"\n%s", argv[i], usage);
        } else {
            path = argv[i];
        }
    }
    if (path == NULL)
        return hd_cli_fail(HD_EX_USAGE, "plan: which campaign?\n%s", usage);
    if ((c = hd_cli_validate_campaign(path, &code)) == NULL)
        return code;
    if (state_dir == NULL) {
        if (hd_state_dir_resolve(c, dir, sizeof dir, &err) != 0) {
            code = hd_cli_fail(err.code, "plan: %s", err.msg);
            hd_campaign_free(c);
            return code;
        }
        state_dir = dir;
    }
    memset(&opts, 0, sizeof opts);
    opts.state_dir = state_dir;
    opts.replan = replan;
    opts.progress = progress;
    opts.progress_ctx = &tty;
    code = HD_EX_OK;
    if (hd_plan_run(c, &opts, &res, &err) != 0) {
        if (tty)
            fputc('\n', stderr);
        code = hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "plan: %s", err.msg);
        goto out;
    }
    if (tty)
        fputs("\r\033[K", stderr);
    if (res.unchanged)
        fprintf(stderr, "plan: %s is up to date with these inputs; nothing changed\n", state_dir);
    else
        fprintf(stderr, "plan: %llu rows in %.1f s (%.0f rows/s) into %s\n",
                (unsigned long long)res.rows, res.seconds,
                res.seconds > 0 ? (double)res.rows / res.seconds : 0.0, state_dir);
    if (hd_store_open(&store, state_dir, HD_STORE_RDONLY, &err) != 0 ||
        (sum = hd_plan_summary(store, c, &err)) == NULL) {
        code = hd_cli_fail(err.code, "plan: %s", err.msg);
        goto out;
    }
    if (json) {
        json_object_set_new(sum, "campaign", json_string(c->id));
        json_object_set_new(sum, "state_dir", json_string(state_dir));
        json_object_set_new(sum, "unchanged", json_boolean(res.unchanged));
        json_dumpf(sum, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
    } else {
        print_table(c, sum);
    }
out:
    json_decref(sum);
    hd_store_close(store);
    hd_campaign_free(c);
    return code;
}
