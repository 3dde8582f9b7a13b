/* fuzz_proof_record - libFuzzer target for the proof record parser
 * (core/proofs/proof_parse.c) and the record checks around it (core/proofs/proof_check.c).
 *
 * The input is a records file: each line goes through hd_proof_parse, and the
 * whole file through hdp_rcheck_line (seq, the prev chain, one campaign,
 * the summary, the CSV row), as `herald proofs verify` reads records.jsonl.
 * For every record the parser takes, what it promises is checked (abort on
 * a broken promise): each string value decodes (hd_proof_unescape) and
 * re-encodes (hdp_json_str) to exactly its bytes (the canonical form), the
 * CSV row is one line, and the counting fields are names. The whole input
 * also goes through hd_checkpoint_verify as a checkpoint.
 *
 * Seeds: tests/fuzz/corpus/proof_record/. Build: tests/fuzz/README-proofs.md.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/proofs/proof_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A string field of a parsed record decodes and re-encodes to its bytes. */
static void check_roundtrip(const struct hd_proof_rec *r, int f)
{
    struct hd_proof_slice s = r->f[f];
    struct hd_buf dec = HD_BUF_INIT;
    if (s.p == NULL)
        return;
    if (hd_proof_unescape(s, &dec) != 0)
        abort();
    char *enc = malloc(6 * dec.len + 3);
    if (enc == NULL)
        abort();
    char *e = hdp_json_str(enc, dec.data ? dec.data : "", dec.len);
    /* hdp_json_str writes the quotes: the slice is between them */
    if ((size_t)(e - enc) != s.n + 2 || memcmp(enc + 1, s.p, s.n) != 0) {
        fprintf(stderr, "field %s: \"%.*s\" decodes and re-encodes to %.*s\n",
                hd_proof_field_names[f], (int)s.n, s.p, (int)(e - enc), enc);
        abort();
    }
    free(enc);
    hd_buf_release(&dec);
}

static void check_record(const char *line, size_t len)
{
    struct hd_proof_rec r;
    char why[256];
    if (hd_proof_parse(line, len, &r, why, sizeof why) != 0) {
        if (why[0] == '\0') /* a refusal always says why */
            abort();
        return;
    }
    static const int strs[] = {HD_PF_MESSAGE_ID, HD_PF_IDEMPOTENCY_KEY, HD_PF_RESPONSE_PROVIDER_ID,
                               HD_PF_RESPONSE_TEXT};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        check_roundtrip(&r, strs[i]);
    for (int f = 0; f < HD_PF_COUNT; f++) /* slices stay inside the line */
        if (r.f[f].p && (r.f[f].p < line || r.f[f].p + r.f[f].n > line + len))
            abort();
    struct hd_buf csv = HD_BUF_INIT;
    if (hd_proof_csv_line(&r, &csv) != 0 || csv.len < 2 ||
        memcmp(csv.data + csv.len - 2, "\r\n", 2) != 0)
        abort();
    hd_buf_release(&csv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    struct hd_err err = {0};
    struct hdp_rcheck c;
    uint64_t index = 0;

    hdp_rcheck_init(&c, "records.jsonl", &err);
    c.csv = true; /* build each row, as a bundle with records.csv does */
    bool chain = true;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        /* each line on the heap, exactly its size: ASan sees any overread */
        char *line = malloc(len ? len : 1);
        if (line == NULL)
            abort();
        memcpy(line, p, len);
        check_record(line, len);
        if (chain) {
            uint8_t leaf[32];
            struct hd_sha256 h;
            hd_sha256_init(&h);
            hd_sha256_update(&h, "", 1); /* RFC 9162 leaf: 0x00 || line */
            hd_sha256_update(&h, line, len);
            hd_sha256_final(&h, leaf);
            if (hdp_rcheck_line(&c, index++, line, len, leaf) != 0) {
                if (err.code != HD_EX_FAIL) /* only a verdict, never an internal error */
                    abort();
                chain = false;
            }
        }
        free(line);
        p = nl ? nl + 1 : end;
    }
    if (chain && hdp_rcheck_finish(&c) == 0) {
        char *summary = hdp_summary_text(&c.sum, c.count ? c.campaign : "c");
        if (summary == NULL)
            abort();
        free(summary);
    }
    hdp_rcheck_free(&c);

    /* the same bytes as a checkpoint (the all-zero key: parsing is what is
     * fuzzed here) */
    struct hd_proof_pubkey key;
    struct hd_checkpoint cp;
    memset(&key, 0, sizeof key);
    char *copy = malloc(size ? size : 1);
    if (copy == NULL)
        abort();
    memcpy(copy, data, size);
    memset(&err, 0, sizeof err);
    if (hd_checkpoint_verify(size ? copy : NULL, size, &key, &cp, &err) != 0 &&
        err.code != HD_EX_FAIL)
        abort(); /* a refusal is a verdict (exit 1), never an internal error */
    free(copy);
    return 0;
}
