/* cmd/cmd_generate.c - `herald generate`: a synthetic audience for demos and
 * benchmarks. The generator lives in core/audience/synth.c; this file parses the
 * command line, opens the files and reports. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "herald/err.h"
#include "herald/synth.h"

static const char synopsis[] =
    "usage: herald generate --rows N [--seed S] [--format csv|jsonl] [--out FILE|-]\n"
    "                       [--objections FILE] [--ref-date YYYY-MM-DD] [--help]\n";

static const char description[] =
    "\n"
    "Writes a synthetic audience for demos and benchmarks: people of the EU, EEA\n"
    "and UK weighted by population, with their languages and time zones, plus\n"
    "about 6% minors, 1% who already objected, 2% outside the region, 0.5%\n"
    "malformed rows and 0.1% duplicate ids (docs/synthetic-audience.md).\n"
    "\n"
    "  --rows N             number of data rows (required)\n"
    "  --seed S             PRNG seed, decimal or 0x-hex (default 1); the same\n"
    "                       seed and options give byte-identical output\n"
    "  --format csv|jsonl   output format (default csv)\n"
    "  --out FILE|-         audience file (default -, standard output)\n"
    "  --objections FILE    also write the ids of people who already objected,\n"
    "                       one per line\n"
    "  --ref-date DATE      reference date for ages (default 2025-06-26)\n"
    "  --help               show this help\n"
    "\n"
    "A summary of what was generated goes to standard error.\n";

/* Unsigned decimal, or hexadecimal after "0x"; the whole string, no sign,
 * no overflow (strtoull would accept " -1" and wrap it). */
static bool parse_u64(const char *s, bool allow_hex, uint64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;
    if (allow_hex && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
    }
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned digit;
        if (*s >= '0' && *s <= '9')
            digit = (unsigned)(*s - '0');
        else if (base == 16 && *s >= 'a' && *s <= 'f')
            digit = (unsigned)(*s - 'a' + 10);
        else if (base == 16 && *s >= 'A' && *s <= 'F')
            digit = (unsigned)(*s - 'A' + 10);
        else
            return false;
        if (v > (UINT64_MAX - digit) / base)
            return false;
        v = v * base + digit;
    }
    *out = v;
    return true;
}

static bool is_stdout(const char *path)
{
    return path == NULL || strcmp(path, "-") == 0;
}

/* Opens an output file, never through a link at path. *created tells whether this run made it: only
 * then may a failed run remove it again. An existing path (a file the user wants overwritten, a
 * FIFO, a device such as /dev/null) is opened as it is, is emptied only by truncate_output once
 * every file has opened, and is never removed. */
static FILE *open_output(const char *path, bool *created, struct hd_err *err)
{
    int fd;
    FILE *f;
    *created = false;
    if (is_stdout(path))
        return stdout;
    /* O_NOFOLLOW: a link planted at path is refused, never written through
     * (a FIFO or device named directly still works). */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd >= 0)
        *created = true;
    else if (errno == EEXIST)
        fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ELOOP) {
        hd_err_set(err, HD_EX_CANTCREAT,
                   "'%s' is a symbolic link, which Herald does not write through: name its "
                   "target, or remove it",
                   path);
        return NULL;
    }
    if (fd < 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create '%s': %s", path, strerror(errno));
        return NULL;
    }
    f = fdopen(fd, "wb");
    if (f == NULL) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot create '%s': %s", path, strerror(errno));
        close(fd);
        if (*created)
            unlink(path);
        *created = false;
    }
    return f;
}

/* Empties an existing regular file (devices and FIFOs have nothing to cut). */
static int truncate_output(FILE *f, const char *path, struct hd_err *err)
{
    struct stat st;
    if (f == NULL || f == stdout)
        return 0;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        ftruncate(fileno(f), 0) != 0) {
        hd_err_set(err, HD_EX_CANTCREAT, "cannot truncate '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Closes a file opened by open_output; returns 0 or -1 with err set. */
static int close_output(FILE *f, const char *path, struct hd_err *err)
{
    if (f == NULL || f == stdout)
        return 0;
    if (fclose(f) != 0) {
        hd_err_set(err, HD_EX_IOERR, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int hd_cmd_generate(int argc, char **argv)
{
    struct hd_synth_opts opts;
    struct hd_synth_stats stats;
    struct hd_err err = {0, ""};
    const char *out_path = NULL, *obj_path = NULL;
    bool have_rows = false, out_created = false, obj_created = false;
    FILE *out = NULL, *obj = NULL;
    int rc;

    hd_synth_opts_init(&opts);
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(synopsis, stdout);
            fputs(description, stdout);
            return fflush(stdout) == 0 ? HD_EX_OK : HD_EX_IOERR;
        }
        if (hd_cli_opt(argc, argv, &i, "--rows", &v)) {
            if (v == NULL || !parse_u64(v, false, &opts.rows))
                return hd_cli_fail(HD_EX_USAGE, "generate: --rows needs a whole number\n%s",
                                   synopsis);
            have_rows = true;
        } else if (hd_cli_opt(argc, argv, &i, "--seed", &v)) {
            if (v == NULL || !parse_u64(v, true, &opts.seed))
                return hd_cli_fail(
                    HD_EX_USAGE, "generate: --seed needs a decimal or 0x-hex number\n%s", synopsis);
        } else if (hd_cli_opt(argc, argv, &i, "--format", &v)) {
            if (v != NULL && strcmp(v, "csv") == 0)
                opts.format = HD_AUDIENCE_CSV;
            else if (v != NULL && strcmp(v, "jsonl") == 0)
                opts.format = HD_AUDIENCE_JSONL;
            else
                return hd_cli_fail(HD_EX_USAGE, "generate: --format must be csv or jsonl\n%s",
                                   synopsis);
        } else if (hd_cli_opt(argc, argv, &i, "--out", &v)) {
            if (v == NULL || *v == '\0')
                return hd_cli_fail(HD_EX_USAGE, "generate: --out needs a file name or -\n%s",
                                   synopsis);
            out_path = v;
        } else if (hd_cli_opt(argc, argv, &i, "--objections", &v)) {
            if (v == NULL || *v == '\0')
                return hd_cli_fail(HD_EX_USAGE, "generate: --objections needs a file name\n%s",
                                   synopsis);
            obj_path = v;
        } else if (hd_cli_opt(argc, argv, &i, "--ref-date", &v)) {
            if (v == NULL ||
                !hd_synth_parse_date(v, &opts.ref_year, &opts.ref_month, &opts.ref_day))
                return hd_cli_fail(HD_EX_USAGE,
                                   "generate: --ref-date needs a real date as YYYY-MM-DD\n%s",
                                   synopsis);
        } else {
            return hd_cli_fail(HD_EX_USAGE, "generate: unexpected argument \"%s\"\n%s", argv[i],
                               synopsis);
        }
    }
    if (!have_rows)
        return hd_cli_fail(HD_EX_USAGE, "generate: --rows is required\n%s", synopsis);
    /* Two streams into one file would interleave into garbage. */
    if (obj_path != NULL && is_stdout(obj_path) && is_stdout(out_path))
        return hd_cli_fail(HD_EX_USAGE,
                           "generate: --out and --objections cannot both be standard output");
    if (obj_path != NULL && !is_stdout(out_path) && strcmp(obj_path, out_path) == 0)
        return hd_cli_fail(HD_EX_USAGE, "generate: --out and --objections name the same file");

    opts.out_name = is_stdout(out_path) ? "standard output" : out_path;
    opts.objections_name = is_stdout(obj_path) ? "standard output" : obj_path;
    out = open_output(out_path, &out_created, &err);
    if (out != NULL && obj_path != NULL)
        obj = open_output(obj_path, &obj_created, &err);
    rc = (out != NULL && (obj_path == NULL || obj != NULL)) ? 0 : -1;
    if (rc == 0 && (truncate_output(out, opts.out_name, &err) != 0 ||
                    truncate_output(obj, opts.objections_name, &err) != 0))
        rc = -1;
    if (rc == 0)
        rc = hd_synth_write(&opts, out, obj, &stats, &err);
    if (close_output(out, opts.out_name, rc == 0 ? &err : NULL) != 0)
        rc = -1;
    if (close_output(obj, opts.objections_name, rc == 0 ? &err : NULL) != 0)
        rc = -1;
    if (rc != 0) {
        /* A truncated audience must not pass for a complete one; what this
         * run did not create is left alone. */
        if (out_created)
            unlink(out_path);
        if (obj_created)
            unlink(obj_path);
        return hd_cli_fail(err.code ? err.code : HD_EX_SOFTWARE, "generate: %s", err.msg);
    }
    fprintf(stderr,
            "generate: %" PRIu64 " rows: %" PRIu64 " minors, %" PRIu64 " objected, %" PRIu64
            " malformed, %" PRIu64 " outside the region, %" PRIu64 " duplicate ids\n",
            stats.rows, stats.minors, stats.objected, stats.malformed, stats.outside_region,
            stats.duplicates);
    return HD_EX_OK;
}
