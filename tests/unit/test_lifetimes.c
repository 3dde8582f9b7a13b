/* Every public destroy, free, close, release and finish accepts NULL
 * (issue 11, item 5: one vocabulary; PREAMBLE's lifetime rule), so error
 * paths can clean up whatever they reached without a check at each call.
 * Each call below crashed, or would crash, on a function that forgot it.
 *
 * hd_merkle_hasher_free/finish and the proofs' private hdp_* are checked by
 * tests/unit/test_merkle.c and the proofs' own tests (helper "proofs"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../../channels/http_push/push.h"     /* push_conf_free, push_tmpl_free */
#include "../../channels/builtin.h"            /* hd_secrets_free */
#include "../../channels/smtp/smtp_dkim.h"     /* dkim_free */
#include "herald/audience.h"
#include "herald/buf.h"
#include "herald/campaign.h"
#include "herald/channel.h"
#include "herald/channel_registry.h"
#include "herald/err.h"
#include "herald/hash.h"
#include "herald/link.h"
#include "herald/proof.h"
#include "herald/render.h"
#include "herald/store.h"
#include "herald/tmpl.h"
#include "herald/tz.h"
#include "herald/yaml.h"

static void test_lifetimes_core_accepts_null(void **state)
{
    (void)state;
    hd_buf_release(NULL);
    hd_diags_release(NULL);
    hd_hmac_wipe(NULL);
    hd_audience_free(NULL);
    hd_campaign_free(NULL);
    hd_linker_free(NULL);
    hd_tmpl_free(NULL);
    hd_yaml_free(NULL);
    hd_store_close(NULL);
    hd_renderer_free(NULL);
    hd_proofs_close(NULL);
    hd_tzset_free(NULL);
}

static void test_lifetimes_channels_accept_null(void **state)
{
    (void)state;
    hd_secrets_free(NULL);
    dkim_free(NULL);
    push_conf_free(NULL);
    push_tmpl_free(NULL);
    /* every built-in module's close, as the dispatcher may call it after a
     * failed create */
    for (size_t i = 0; hd_channel_builtin_names[i]; i++) {
        struct hd_err err = {0};
        const struct hd_channel_ops *ops = hd_channel_find(hd_channel_builtin_names[i], NULL, &err);
        assert_non_null(ops);
        ops->close(NULL);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifetimes_core_accepts_null),
        cmocka_unit_test(test_lifetimes_channels_accept_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
