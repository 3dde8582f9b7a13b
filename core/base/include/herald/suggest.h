/* herald/suggest.h - "did you mean" suggestions for misspelt names.
 * Pure functions, thread-safe, no allocation. */
#ifndef HERALD_SUGGEST_H
#define HERALD_SUGGEST_H

#include <stddef.h>

/* Optimal-string-alignment distance (edits incl. adjacent swaps) between a
 * and b, capped: returns cap + 1 as soon as it must exceed cap. Strings
 * longer than 63 bytes compare as far apart. */
unsigned hd_edit_distance(const char *a, const char *b, unsigned cap);

/* The candidate closest to word within a distance of 2 (or a third of the
 * word's length, if larger) and closer than the word is long, NULL when
 * none is that close. candidates is
 * NULL-terminated. */
const char *hd_suggest(const char *word, const char *const *candidates);

#endif
