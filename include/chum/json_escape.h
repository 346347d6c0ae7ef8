/* chum: JSON.stringify's string escaping, shared by every module that writes JSON by hand
 * (the CLI, node files, chum lists, object JSON, the session messages). */
#ifndef CHUM_JSON_ESCAPE_H
#define CHUM_JSON_ESCAPE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The escape JSON.stringify writes for the UTF-8 (or WTF-8) text at s[i] (i < n): '"', '\\',
 *  the short forms \b \f \n \r \t, \u00XX for other control bytes, and \udXXX for a WTF-8
 *  lone surrogate (3 bytes). Writes the escape, NUL-terminated, into |rep| and returns its
 *  length, with the number of input bytes it replaces in |*adv|; returns 0 (and *adv = 1)
 *  when the byte is copied as it is. */
size_t chum_json_escape_at(const char *s, size_t i, size_t n, char rep[7], size_t *adv);

/** Escape s[0..n) as above, without quotes, into |out| (NUL-terminated). Returns the length,
 *  or CHUM_ERR_NOBUF when it does not fit in |cap| bytes. */
int chum_json_escape(const char *s, size_t n, char *out, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
