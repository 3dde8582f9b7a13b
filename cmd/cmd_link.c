#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "herald/link.h"

#include <openssl/crypto.h>

static const char usage[] =
    "usage: herald link verify URL [--campaign CAMPAIGN.yaml]\n"
    "       herald link make --person ID [--campaign CAMPAIGN.yaml]\n"
    "verify answers \"valid <person>\" (exit 0) or \"invalid\" (exit 1) for a personal\n"
    "objection link; make prints a person's link. The campaign defaults to\n"
    "$HERALD_CAMPAIGN; the secret comes from the variable or key file that the\n"
    "campaign's objection_link section names. Scheme: docs/objection-link.md\n";

int hd_cmd_link(int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : NULL, *campaign = getenv("HERALD_CAMPAIGN");
    const char *url = NULL, *person = NULL;
    struct hd_campaign *c = NULL;
    struct hd_link_secret secret;
    struct hd_err err = {0};
    int code;

    if (action == NULL || strcmp(action, "--help") == 0) {
        fputs(usage, action ? stdout : stderr);
        return action ? HD_EX_OK : HD_EX_USAGE;
    }
    if (strcmp(action, "verify") != 0 && strcmp(action, "make") != 0)
        return hd_cli_fail(HD_EX_USAGE, "link: unknown action \"%s\"\n%s", action, usage);
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK;
        } else if (hd_cli_opt(argc, argv, &i, "--campaign", &v)) {
            campaign = v;
        } else if (hd_cli_opt(argc, argv, &i, "--person", &v)) {
            person = v;
        } else if (url == NULL && strcmp(action, "verify") == 0 && argv[i][0] != '-') {
            url = argv[i];
        } else {
            return hd_cli_fail(HD_EX_USAGE, "link: unexpected argument \"%s\"\n%s", argv[i], usage);
        }
    }
    if (campaign == NULL)
        return hd_cli_fail(HD_EX_USAGE, "link: which campaign? pass --campaign or set "
                                        "HERALD_CAMPAIGN");
    if (strcmp(action, "verify") == 0 && url == NULL)
        return hd_cli_fail(HD_EX_USAGE, "link verify: which URL?");
    if (strcmp(action, "make") == 0 && (person == NULL || *person == '\0'))
        return hd_cli_fail(HD_EX_USAGE, "link make: --person ID is required");
    if ((c = hd_cli_load_campaign(campaign, &code)) == NULL)
        return code;
    if (hd_link_secret_load(&secret, c->link_secret_env, c->link_secret_file, &err) != 0) {
        code = hd_cli_fail(err.code, "link: %s", err.msg);
        goto out;
    }
    if (strcmp(action, "make") == 0) {
        struct hd_buf b = HD_BUF_INIT;
        if (hd_link_build(&secret, c->link_url, c->id, person, &b) != 0) {
            code = hd_cli_fail(HD_EX_SOFTWARE, "link: cannot build the link");
        } else {
            printf("%s\n", b.data);
            code = HD_EX_OK;
        }
        hd_buf_release(&b);
    } else {
        char who[1024];
        if (hd_link_verify(&secret, c->link_url, c->id, url, who, sizeof who)) {
            printf("valid %s\n", who);
            code = HD_EX_OK;
        } else {
            printf("invalid\n");
            code = HD_EX_FAIL;
        }
    }
    OPENSSL_cleanse(&secret, sizeof secret);
out:
    hd_campaign_free(c);
    return code;
}
