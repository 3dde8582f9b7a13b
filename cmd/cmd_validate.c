#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "herald/err.h"

static const char usage[] =
    "usage: herald validate CAMPAIGN.yaml\n"
    "Checks the campaign file, every locale file and each channel's settings (by\n"
    "its module, without connecting anywhere or reading secrets), and reports each\n"
    "problem as file:line:col: message. Exits 0 when valid, 65 on data errors.\n";

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
    printf("%s: campaign \"%s\" is valid: %zu channels, %zu waves, %zu locales\n", path, c->id,
           c->nchannels, c->nwaves, c->nlocales);
    hd_campaign_free(c);
    return HD_EX_OK;
}
