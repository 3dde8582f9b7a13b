#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd.h"
#include "herald/channel_registry.h"
#include "herald/clock.h"
#include "herald/dispatch.h"

static const char usage[] =
    "usage: herald run CAMPAIGN.yaml [--state-dir DIR] [--inflight=resend|hold]\n"
    "                  [--modules-dir DIR] [--wait-paused] [--ignore-send-window]\n"
    "                  [--log-format text|json]\n"
    "Dispatches the plan wave by wave; starts or continues, safe to re-run at any\n"
    "time. SIGINT/SIGTERM stop it after the messages in flight settle.\n"
    "  --inflight=hold  park deliveries left in flight by a killed run for review\n"
    "                   instead of re-sending them (herald retry --held sends them)\n"
    "  --wait-paused    keep running while only paused work remains\n"
    "  --ignore-send-window  send at any hour (dry runs into the file module, demos)\n"
    "Exit: 0 everything planned is final, none failed; 2 failed deliveries; 3 only\n"
    "paused or held work left; 4 a canary halted a wave; 5 stopped by a signal\n"
    "(docs/exit-codes.md).\n";

/* Run outcomes as exit codes: small numbers, apart from the sysexits errors
 * (64-78) and from the shell's 126-165 (128+N: killed by signal N, so a
 * kill -9 stays distinguishable from a clean stop). docs/exit-codes.md. */
enum {
    RUN_EX_FAILURES = 2,
    RUN_EX_PAUSED = 3,
    RUN_EX_CANARY = 4,
    RUN_EX_STOPPED = 5,
};

static int outcome_code(enum hd_run_outcome o)
{
    switch (o) {
    case HD_RUN_COMPLETE:
        return HD_EX_OK;
    case HD_RUN_FAILURES:
        return RUN_EX_FAILURES;
    case HD_RUN_PAUSED:
        return RUN_EX_PAUSED;
    case HD_RUN_CANARY_HALT:
        return RUN_EX_CANARY;
    case HD_RUN_STOPPED:
        return RUN_EX_STOPPED;
    }
    return HD_EX_SOFTWARE;
}

/* A line of `run`'s own output under --log-format json, shaped like the
 * dispatcher's (herald/dispatch.h); extra fields, if any, are added to it. */
static void json_line(const char *level, const char *campaign, const char *message, json_t *extra)
{
    json_t *o = json_pack("{s:I, s:s, s:s?, s:s}", "time_ms", (json_int_t)hd_now_ms(), "level",
                          level, "campaign", campaign, "message", message);
    if (o && extra)
        json_object_update(o, extra);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s)
        fprintf(stderr, "%s\n", s);
    free(s);
    json_decref(o);
    json_decref(extra);
}

/* A campaign diagnostic as a JSON line: under --log-format json every line
 * `run` writes is JSON. */
static void print_json(const char *line, bool loaded, void *ctx)
{
    (void)ctx;
    json_line(loaded ? "warning" : "error", NULL, line, NULL);
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

int hd_cmd_run(int argc, char **argv)
{
    const char *path = NULL;
    struct hd_dispatch_opts opts;
    struct hd_dispatch_result res;
    struct hd_err err = {0};
    struct hd_campaign *c;
    int code;

    memset(&opts, 0, sizeof opts);
    opts.log_format = HD_LOG_TEXT;
    for (int i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK;
        } else if (hd_cli_opt(argc, argv, &i, "--state-dir", &v) && v) {
            opts.state_dir = v;
        } else if (hd_cli_opt(argc, argv, &i, "--modules-dir", &v) && v) {
            opts.modules_dir = v;
            /* Validation looks external modules up where the run loads them. */
            setenv("HERALD_MODULES_DIR", v, 1);
        } else if (hd_cli_opt(argc, argv, &i, "--inflight", &v) && v &&
                   (strcmp(v, "hold") == 0 || strcmp(v, "resend") == 0)) {
            opts.hold_inflight = strcmp(v, "hold") == 0;
        } else if (hd_cli_opt(argc, argv, &i, "--log-format", &v) && v &&
                   (strcmp(v, "json") == 0 || strcmp(v, "text") == 0)) {
            opts.log_format = strcmp(v, "json") == 0 ? HD_LOG_JSON : HD_LOG_TEXT;
        } else if (strcmp(argv[i], "--wait-paused") == 0) {
            opts.wait_paused = true;
        } else if (strcmp(argv[i], "--ignore-send-window") == 0) {
            opts.ignore_window = true;
        } else if (argv[i][0] == '-' || path) {
            return hd_cli_fail(HD_EX_USAGE, "run: bad argument \"%s\"\n%s", argv[i], usage);
        } else {
            path = argv[i];
        }
    }
    if (path == NULL)
        return hd_cli_fail(HD_EX_USAGE, "run: which campaign?\n%s", usage);
    bool json = opts.log_format == HD_LOG_JSON;
    if ((c = json ? hd_cli_load_campaign_to(path, print_json, NULL, &code)
                  : hd_cli_load_campaign(path, &code)) == NULL)
        return code;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A peer closing a socket must be an error return, not a dead process. */
    signal(SIGPIPE, SIG_IGN);
    opts.stop = &stop_requested;
    opts.live_progress = isatty(2) && opts.log_format == HD_LOG_TEXT;
    opts.find_module = hd_channel_find;
    if (hd_dispatch_run(c, &opts, &res, &err) != 0) {
        code = err.code ? err.code : HD_EX_SOFTWARE;
        if (json)
            json_line("error", c->id, err.msg, json_pack("{s:i}", "exit_code", code));
        else
            hd_cli_fail(code, "run: %s", err.msg);
    } else {
        char line[512], more[128] = "";
        code = outcome_code(res.outcome);
        /* The code speaks for the campaign: name what it counts beyond this run. */
        if (res.failed_total > res.failed)
            snprintf(more, sizeof more, "; the campaign has %llu failed deliveries",
                     (unsigned long long)res.failed_total);
        snprintf(line, sizeof line,
                 "run %s: %llu sent, %llu failed, %llu retries scheduled, %llu deferred by "
                 "send windows, %llu re-sent after a crash (uncertain), %llu held%s",
                 res.complete ? "complete" : "stopped", (unsigned long long)res.sent,
                 (unsigned long long)res.failed, (unsigned long long)res.retried,
                 (unsigned long long)res.deferred, (unsigned long long)res.resent_uncertain,
                 (unsigned long long)res.held, more);
        if (json)
            json_line(code == HD_EX_OK ? "info" : "warning", c->id, line,
                      json_pack("{s:s, s:i, s:I, s:I, s:I, s:I}", "outcome",
                                hd_run_outcome_name(res.outcome), "exit_code", code, "sent",
                                (json_int_t)res.sent, "failed", (json_int_t)res.failed,
                                "failed_total", (json_int_t)res.failed_total, "held_total",
                                (json_int_t)res.held_total));
        else
            fprintf(stderr, "herald: %s (exit %d: %s)\n", line, code,
                    hd_run_outcome_name(res.outcome));
    }
    hd_campaign_free(c);
    return code;
}
