#include "herald/suggest.h"

#include <string.h>

#define SUGGEST_MAX_LEN 63

unsigned hd_edit_distance(const char *a, const char *b, unsigned cap)
{
    size_t la = strlen(a), lb = strlen(b);
    /* Three rows suffice for the optimal-string-alignment recurrence. */
    unsigned rows[3][SUGGEST_MAX_LEN + 1];
    unsigned *prev2 = rows[0], *prev = rows[1], *cur = rows[2];

    if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
        return cap + 1;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned best = cur[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned cost = a[i - 1] == b[j - 1] ? 0 : 1;
            unsigned d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (prev[j - 1] + cost < d)
                d = prev[j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
            if (d < best)
                best = d;
        }
        if (best > cap)
            return cap + 1;
        unsigned *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb] > cap ? cap + 1 : prev[lb];
}

const char *hd_suggest(const char *word, const char *const *candidates)
{
    unsigned limit = (unsigned)(strlen(word) / 3);
    const char *best = NULL;
    unsigned best_d;

    if (limit < 2)
        limit = 2;
    best_d = limit + 1;
    for (size_t i = 0; candidates != NULL && candidates[i] != NULL; i++) {
        unsigned d = hd_edit_distance(word, candidates[i], limit);
        /* A suggestion must be closer than the word is long: "x" is not a
         * misspelling of "id". */
        if (d < best_d && d < strlen(word)) {
            best_d = d;
            best = candidates[i];
        }
    }
    return best;
}
