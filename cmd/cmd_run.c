#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "herald/channel.h"
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
    "  --ignore-send-window  send at any hour (dry runs into the file module, demos)\n";

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
    if ((c = hd_cli_load_campaign(path, &code)) == NULL)
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
        code = hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "run: %s", err.msg);
    } else {
        fprintf(stderr,
                "herald: run %s: %llu sent, %llu failed, %llu retries scheduled, %llu deferred by "
                "send windows, %llu re-sent after a crash (uncertain), %llu held\n",
                res.complete ? "complete" : "stopped", (unsigned long long)res.sent,
                (unsigned long long)res.failed, (unsigned long long)res.retried,
                (unsigned long long)res.deferred, (unsigned long long)res.resent_uncertain,
                (unsigned long long)res.held);
        code = HD_EX_OK;
    }
    hd_campaign_free(c);
    return code;
}
