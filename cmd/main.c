/* herald: the command line. One table of subcommands; each lives in its own
 * cmd_<name>.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "herald/err.h"
#include "herald/channel_registry.h"

#ifndef HERALD_VERSION
#define HERALD_VERSION "0.0.0"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"validate", hd_cmd_validate, "check a campaign, its locale files and its channels' settings"},
    {"plan", hd_cmd_plan, "decide every person's eligibility and write the plan"},
    {"run", hd_cmd_run, "dispatch the plan: start or continue, safe to re-run"},
    {"status", hd_cmd_status, "progress per wave, shard and channel; pauses; uncertain deliveries"},
    {"pause", hd_cmd_pause, "stop sending to a country, a wave or everything (persists)"},
    {"unpause", hd_cmd_unpause, "resume a paused country or wave, or lift a canary halt"},
    {"retry", hd_cmd_retry, "requeue failed or held deliveries, recording who and why"},
    {"link", hd_cmd_link, "make or verify a personal objection link"},
    {"generate", hd_cmd_generate, "write a synthetic audience for demos and benchmarks"},
    {"proofs", hd_cmd_proofs, "export, verify and query signed delivery proofs"},
    {"keys", hd_cmd_keys, "make the key pair that signs proof bundles"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: herald COMMAND [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`herald COMMAND --help` describes a command. Exit codes: docs/exit-codes.md\n");
}

int hd_cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    fputs("herald: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

bool hd_cli_opt(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return false;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0')
        return false;
    if (*i + 1 >= argc) {
        *value = NULL;
        return true;
    }
    *value = argv[++*i];
    return true;
}

struct hd_campaign *hd_cli_load_campaign(const char *path, int *code)
{
    struct hd_diags d;
    /* External modules are looked up where `herald run` would load them. */
    struct hd_campaign_opts opts = {hd_channel_known, getenv("HERALD_MODULES_DIR"),
                                    hd_channel_builtin_names};
    struct hd_campaign *c;
    hd_diags_init(&d);
    c = hd_campaign_load(path, &opts, &d);
    for (size_t i = 0; i < d.count; i++)
        fprintf(stderr, "%s\n", d.items[i]);
    *code = c ? 0 : (d.code ? d.code : HD_EX_DATAERR);
    hd_diags_release(&d);
    return c;
}

struct hd_campaign *hd_cli_validate_campaign(const char *path, int *code)
{
    struct hd_diags d;
    struct hd_campaign *c = hd_cli_load_campaign(path, code);
    if (c == NULL)
        return NULL;
    hd_diags_init(&d);
    /* modules from $HERALD_MODULES_DIR, as the loader looked them up */
    hd_channel_check_campaign(c, NULL, &d);
    for (size_t i = 0; i < d.count; i++)
        fprintf(stderr, "%s\n", d.items[i]);
    *code = d.code;
    hd_diags_release(&d);
    if (*code != 0) {
        hd_campaign_free(c);
        return NULL;
    }
    return c;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? HD_EX_USAGE : HD_EX_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("herald %s\n", HERALD_VERSION);
        return HD_EX_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    hd_cli_fail(HD_EX_USAGE, "unknown command \"%s\"", argv[1]);
    usage(stderr);
    return HD_EX_USAGE;
}
