/* A preloadable shim: libidn2's idn2_to_ascii_8z refuses every domain that
 * contains $HERALD_TEST_IDN2_FAIL and converts the others as usual.
 * test_validate_hostile.sh plans with a valid internationalised address,
 * then runs with this shim, so rendering that address fails at run time:
 * the one way left to see a render failure once validation refuses
 * everything rendering would refuse. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int (*to_ascii_fn)(const char *, char **, int);

int idn2_to_ascii_8z(const char *input, char **output, int flags);

int idn2_to_ascii_8z(const char *input, char **output, int flags)
{
    const char *bad = getenv("HERALD_TEST_IDN2_FAIL");
    if (bad != NULL && *bad != '\0' && input != NULL && strstr(input, bad) != NULL) {
        *output = NULL;
        return -304; /* IDN2_DISALLOWED */
    }
    to_ascii_fn real = (to_ascii_fn)(size_t)dlsym(RTLD_NEXT, "idn2_to_ascii_8z");
    if (real == NULL)
        abort();
    return real(input, output, flags);
}
