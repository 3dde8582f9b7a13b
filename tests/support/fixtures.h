/* Test fixtures shared by the unit tests (issue 11, item 5): a scratch
 * folder per test group and a campaign loaded with its diagnostics shown.
 * Before this file four unit tests each carried a copy.
 *
 * For cmocka tests only: failures abort the test (assert) or the process. */
#ifndef HERALD_TEST_FIXTURES_H
#define HERALD_TEST_FIXTURES_H

#include <stddef.h>

struct hd_campaign;
struct hd_campaign_opts;

/* The scratch folder of the running group: made by hd_fx_setup, removed
 * with everything in it by hd_fx_teardown. */
extern char *hd_fx_dir;

/* cmocka group setup and teardown (cmocka_run_group_tests(tests,
 * hd_fx_setup, hd_fx_teardown)), or call them from the test's own. */
int hd_fx_setup(void **state);
int hd_fx_teardown(void **state);

/* hd_fx_dir/name in one of four rotating static buffers (so a call can
 * take two or three paths at once). */
const char *hd_fx_path(const char *name);

/* Writes data (len bytes, (size_t)-1 for strlen) to hd_fx_dir/name. */
void hd_fx_write(const char *name, const char *data, size_t len);

/* Loads the campaign at path (opts may be NULL); every diagnostic goes to
 * the test's output, so a failing fixture says why. NULL when it does not
 * load. */
struct hd_campaign *hd_fx_campaign_load(const char *path, const struct hd_campaign_opts *opts);

#endif
