/* herald keys: the Ed25519 key pair that signs proof bundles. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "herald/proof.h"

static const char usage[] =
    "usage: herald keys generate --out PREFIX [--name NAME] [--force]\n"
    "Makes an Ed25519 key pair for signing proof bundles (herald proofs export --key):\n"
    "  PREFIX.key   the private key (PKCS#8 PEM, mode 0600): keep it secret\n"
    "  PREFIX.pub   the public key (PEM): what compliance hands out\n"
    "  PREFIX.vkey  the same public key as a C2SP verifier key line\n"
    "               (NAME+keyhash+base64), for transparency-log tooling\n"
    "  --name NAME  the key name in signatures (default " HD_PROOF_KEY_NAME_DEFAULT ")\n"
    "  --force      replace existing files\n";

int hd_cmd_keys(int argc, char **argv)
{
    const char *action = argc > 1 ? argv[1] : NULL, *prefix = NULL;
    const char *name = HD_PROOF_KEY_NAME_DEFAULT;
    bool force = false;
    struct hd_err err = {0};

    if (action == NULL || strcmp(action, "--help") == 0) {
        fputs(usage, action ? stdout : stderr);
        return action ? HD_EX_OK : HD_EX_USAGE;
    }
    if (strcmp(action, "generate") != 0)
        return hd_cli_fail(HD_EX_USAGE, "keys: unknown action \"%s\"\n%s", action, usage);
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return HD_EX_OK;
        } else if (hd_cli_opt(argc, argv, &i, "--out", &v) && v) {
            prefix = v;
        } else if (hd_cli_opt(argc, argv, &i, "--name", &v) && v) {
            name = v;
        } else if (strcmp(argv[i], "--force") == 0) {
            force = true;
        } else {
            return hd_cli_fail(HD_EX_USAGE, "keys: unexpected argument \"%s\"\n%s", argv[i], usage);
        }
    }
    if (prefix == NULL || *prefix == '\0')
        return hd_cli_fail(HD_EX_USAGE, "keys generate: --out PREFIX is required\n%s", usage);
    if (hd_proof_keygen(prefix, name, force, &err) != 0)
        return hd_cli_fail(err.code, "keys generate: %s", err.msg);
    printf("%s.key  private key (keep it secret; mode 0600)\n", prefix);
    printf("%s.pub  public key (hand it out)\n", prefix);
    printf("%s.vkey C2SP verifier key\n", prefix);
    return HD_EX_OK;
}
