/* herald: the command line. The table of subcommands and their help is in
 * help.c; each command lives in its own cmd_<name>.c. */
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

struct hd_campaign *hd_cli_load_campaign_to(const char *path,
                                            void (*print)(const char *line, bool loaded, void *ctx),
                                            void *ctx, int *code)
{
    struct hd_diags d;
    /* External modules are looked up where `herald run` would load them. */
    struct hd_campaign_opts opts = {hd_channel_known, getenv("HERALD_MODULES_DIR"),
                                    hd_channel_builtin_names};
    struct hd_campaign *c;
    hd_diags_init(&d);
    c = hd_campaign_load(path, &opts, &d);
    for (size_t i = 0; i < d.count; i++)
        print(d.items[i], c != NULL, ctx);
    *code = c ? 0 : (d.code ? d.code : HD_EX_DATAERR);
    hd_diags_release(&d);
    return c;
}

static void print_stderr(const char *line, bool loaded, void *ctx)
{
    (void)loaded;
    (void)ctx;
    fprintf(stderr, "%s\n", line);
}

struct hd_campaign *hd_cli_load_campaign(const char *path, int *code)
{
    return hd_cli_load_campaign_to(path, print_stderr, NULL, code);
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
    if (argc < 2) {
        hd_cli_help(stderr, NULL);
        return HD_EX_USAGE;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
        return hd_cli_help(stdout, NULL);
    if (strcmp(argv[1], "--version") == 0) {
        printf("herald %s\n", HERALD_VERSION);
        return HD_EX_OK;
    }
    return hd_cli_dispatch(argc - 1, argv + 1);
}
