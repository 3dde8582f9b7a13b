/* herald/tmpl.h - the notice template language.
 *
 * Syntax: literal text with `{{ name }}` placeholders (spaces inside the
 * braces optional). Names are [a-z0-9_]+. `{{{{` is a literal "{{". Nothing
 * else: no logic, no loops, so a comms team cannot write a template that
 * fails at send time. In HD_TMPL_HTML mode every substituted value is
 * HTML-escaped (& < > " '); literal text is copied as written.
 *
 * A template is compiled once per locale and rendered per person.
 * Ownership: hd_tmpl_compile returns a template the caller frees with
 * hd_tmpl_free (NULL is a no-op). A compiled template is immutable, so
 * rendering from several threads at once is safe.
 */
#ifndef HERALD_TMPL_H
#define HERALD_TMPL_H

#include <stdbool.h>
#include <stddef.h>

#include "herald/buf.h"
#include "herald/err.h"

enum hd_tmpl_mode { HD_TMPL_TEXT, HD_TMPL_HTML };

struct hd_tmpl;

/* Variable values for one render, looked up by index: names[i] -> values[i].
 * The set of names is fixed per campaign (see hd_tmpl_compile's known list). */
struct hd_tmpl_vars {
    const char *const *names;  /* NULL-terminated list, same order as at compile */
    const char *const *values; /* values[i] for names[i]; NULL renders as "" */
};

/* Compiles src (UTF-8, len bytes). known is the NULL-terminated list of
 * variable names the template may use; an unknown name is an error.
 * On error returns NULL and fills err with "line:col: message" relative to
 * src's first byte at line base_line, column base_col (so callers can point
 * into the YAML file that holds the text), with err->code HD_EX_DATAERR,
 * prefixed by file when file is not NULL. */
struct hd_tmpl *hd_tmpl_compile(const char *src, size_t len, enum hd_tmpl_mode mode,
                                const char *const *known, const char *file, unsigned long base_line,
                                unsigned long base_col, struct hd_err *err);

/* Maps byte offset `at` of a template's source to the file position it is
 * written at (e.g. through hd_ynode_locate for a YAML scalar). */
typedef void (*hd_tmpl_locate_fn)(const void *ctx, size_t at, unsigned long *line,
                                  unsigned long *col);

/* Same as hd_tmpl_compile, with error positions from locate(locate_ctx,
 * offset): exact inside quoted, folded and multi-line scalars, where one
 * base position cannot be. file prefixes the message when not NULL. */
struct hd_tmpl *hd_tmpl_compile_located(const char *src, size_t len, enum hd_tmpl_mode mode,
                                        const char *const *known, const char *file,
                                        hd_tmpl_locate_fn locate, const void *locate_ctx,
                                        struct hd_err *err);
void hd_tmpl_free(struct hd_tmpl *t);

/* True when the template references the variable. */
bool hd_tmpl_uses(const struct hd_tmpl *t, const char *name);

/* Appends the rendering to out. Returns 0, or -1 when out cannot grow. */
int hd_tmpl_render(const struct hd_tmpl *t, const struct hd_tmpl_vars *vars, struct hd_buf *out);

/* Appends s HTML-escaped (& < > " ') to out. Returns 0 or -1. */
int hd_html_escape(struct hd_buf *out, const char *s, size_t len);

#endif
