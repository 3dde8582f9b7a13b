/* fixtures.c - the shared unit-test fixtures of fixtures.h. */
#include "fixtures.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hd_test.h"
#include "herald/campaign.h"

char *hd_fx_dir;

int hd_fx_setup(void **state)
{
    (void)state;
    hd_fx_dir = strdup(hd_test_tmpdir());
    return hd_fx_dir == NULL ? -1 : 0;
}

int hd_fx_teardown(void **state)
{
    (void)state;
    if (hd_fx_dir != NULL)
        hd_test_rmtree(hd_fx_dir);
    free(hd_fx_dir);
    hd_fx_dir = NULL;
    return 0;
}

const char *hd_fx_path(const char *name)
{
    static char paths[4][1024];
    static unsigned next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", hd_fx_dir, name);
    return p;
}

void hd_fx_write(const char *name, const char *data, size_t len)
{
    free(hd_test_write(hd_fx_dir, name, data, len));
}

struct hd_campaign *hd_fx_campaign_load(const char *path, const struct hd_campaign_opts *opts)
{
    struct hd_diags d;
    struct hd_campaign *c;
    hd_diags_init(&d);
    c = hd_campaign_load(path, opts, &d);
    for (size_t i = 0; i < d.count; i++)
        print_message("%s\n", d.items[i]);
    hd_diags_release(&d);
    return c;
}
