/* proof_util.c - the small helpers every part of the proofs uses: hex
 * and base64 text (public: the commands use them too), reading a whole
 * file, creating one, handing big files to writeback, and the clock. None
 * of them knows what a record is; they live apart so that the files that
 * do can share them without depending on each other.
 */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "herald/files.h"
#include "proof_internal.h"

/* Lowercase hex only: the canonical form. */
static const int8_t hexv[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16}; /* value + 1; 0: not hex */

int hdp_hexval(char c)
{
    return hexv[(unsigned char)c] - 1;
}

int hd_proof_unhex(const char *s, size_t n, uint8_t *out)
{
    if (n % 2)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        int a = hdp_hexval(s[2 * i]), b = hdp_hexval(s[2 * i + 1]);
        if (a < 0 || b < 0)
            return -1;
        out[i] = (uint8_t)(a << 4 | b);
    }
    return 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t hd_proof_base64(const uint8_t *b, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)b[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)b[i + 1] << 8;
        if (i + 2 < n)
            v |= b[i + 2];
        out[o++] = b64chars[v >> 18 & 63];
        out[o++] = b64chars[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
    }
    out[o] = '\0';
    return o;
}

/* Strict: padded, no whitespace, the unused bits zero (one text per value). */
int hd_proof_unbase64(const char *s, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int j = 0; j < 4; j++) {
            const char *p = s[i + j] ? strchr(b64chars, s[i + j]) : NULL;
            if (s[i + j] == '=' && i + 4 == n && j >= 2) {
                v[j] = 0;
                pad++;
                continue;
            }
            if (p == NULL || pad)
                return -1;
            v[j] = (int)(p - b64chars);
        }
        uint32_t w = (uint32_t)(v[0] << 18 | v[1] << 12 | v[2] << 6 | v[3]);
        size_t k = (size_t)(3 - pad);
        if ((pad == 1 && (w & 0xFF)) || (pad == 2 && (w & 0xFFFF)) || o + k > cap)
            return -1;
        for (size_t j = 0; j < k; j++)
            out[o++] = (uint8_t)(w >> (16 - 8 * j));
    }
    *outlen = o;
    return 0;
}

int hdp_write_new(const char *path, const void *data, size_t len, mode_t mode, bool force,
                  struct hd_err *err)
{
    /* Through a new temporary file renamed (or, without force, linked)
     * into place: a link planted at path is never written through. */
    if (hd_out_write(path, data, len, mode, force, err) != 0) {
        if (!force && errno == EEXIST)
            hd_err_set(err, HD_EX_CANTCREAT, "cannot create %s: %s (pass --force to replace it)",
                       path, strerror(EEXIST));
        return -1;
    }
    return 0;
}

/* Gigabytes of records would fill the page cache with dirty pages and push
 * out the store's pages that are still to be read: start the writeback of
 * each 32 MiB written, wait for the chunk before, and drop that from the
 * cache (a bundle is read again only to be verified, usually elsewhere). */
void hdp_writeback(int fd, uint64_t written, uint64_t *flushed)
{
    while (written - *flushed >= HDP_WRITEBACK_CHUNK) {
        off_t at = (off_t)*flushed;
        sync_file_range(fd, at, HDP_WRITEBACK_CHUNK, SYNC_FILE_RANGE_WRITE);
        if (at >= (off_t)HDP_WRITEBACK_CHUNK) {
            sync_file_range(fd, at - HDP_WRITEBACK_CHUNK, HDP_WRITEBACK_CHUNK,
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                SYNC_FILE_RANGE_WAIT_AFTER);
            posix_fadvise(fd, at - HDP_WRITEBACK_CHUNK, HDP_WRITEBACK_CHUNK, POSIX_FADV_DONTNEED);
        }
        *flushed += HDP_WRITEBACK_CHUNK;
    }
}
