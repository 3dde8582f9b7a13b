#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cmd.h"
#include "herald/err.h"

static const char usage[] =
    "usage: herald validate CAMPAIGN.yaml\n"
    "Checks the campaign file, every locale file and each channel's settings (by\n"
    "its module, without connecting anywhere or reading secrets), and reports each\n"
    "problem as file:line:col: message. Exits 0 when valid, 65 on data errors.\n";

/* Proofs are on by default, so a first campaign meets the pseudonym key at
 * `herald plan`: say here how to make it (the key itself is not read). */
static void key_hint(const struct hd_campaign *c)
{
    const char *v = c->pseudonym_key_env ? getenv(c->pseudonym_key_env) : NULL;
    struct stat st;
    if (!c->proofs || (v && *v) || (c->pseudonym_key_file && stat(c->pseudonym_key_file, &st) == 0))
        return;
    fprintf(stderr,
            "herald: warning: campaign \"%s\" keeps proof records but has no pseudonym key "
            "yet, so plan and run will stop:",
            c->id);
    if (c->pseudonym_key_env)
        fprintf(stderr, " set %s,", c->pseudonym_key_env);
    if (c->pseudonym_key_file)
        fprintf(stderr,
                " or make the key file with\n  (umask 077; head -c 32 /dev/urandom | base64 > %s)\n"
                "and keep it safe: `herald proofs prove` needs it to find a person's records\n",
                c->pseudonym_key_file);
    else
        fprintf(stderr, " 16 to 256 bytes, e.g. head -c 32 /dev/urandom | base64\n");
}

int hd_cmd_validate(int argc, char **argv)
{
    const char *path = NULL;
    struct hd_campaign *c;
    int code;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK;
        }
        if (argv[i][0] == '-' || path)
            return hd_cli_fail(HD_EX_USAGE, "validate: unexpected argument \"%s\"\n%s", argv[i],
                               usage);
        path = argv[i];
    }
    if (path == NULL)
        return hd_cli_fail(HD_EX_USAGE, "validate: which campaign?\n%s", usage);
    c = hd_cli_validate_campaign(path, &code);
    if (c == NULL)
        return code;
    key_hint(c);
    printf("%s: campaign \"%s\" is valid: %zu channels, %zu waves, %zu locales\n", path, c->id,
           c->nchannels, c->nwaves, c->nlocales);
    hd_campaign_free(c);
    return HD_EX_OK;
}
