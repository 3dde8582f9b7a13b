/* Fuzz target: the campaign loader (hd_campaign_load, core/campaign/campaign.c over
 * core/campaign/yaml.c), on a campaign file next to a fixed locales directory (en,
 * de, fr, nl from locales/ai-training-notice, so the model campaign's
 * require_own_language [FR, BE] can pass).
 *
 * Input: the campaign file's bytes. Checks: those of fz_campaign_load
 * (outcome agrees with the diagnostics, a
 * loaded campaign's invariants, loading twice gives the same result). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"
#include "fz_campaign.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *tags[] = {"en", "de", "fr", "nl"};
static char *files[6];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_mkdir("locales");
    for (size_t i = 0; i < 4; i++) {
        char src[128], dst[64];
        snprintf(src, sizeof src, "locales/ai-training-notice/%s.yaml", tags[i]);
        snprintf(dst, sizeof dst, "locales/%s.yaml", tags[i]);
        fz_copy_source(src, dst);
        files[i + 1] = strdup(fz_path(dst));
    }
    files[0] = strdup(fz_path("campaign.yaml"));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_write("campaign.yaml", data, size);
    hd_campaign_free(fz_campaign_load(files[0], (const char *const *)files));
    return 0;
}
