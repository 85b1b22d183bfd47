/* Checks of text that comes from users and files (UTF-8, hex, dataset and
 * sample ids, user names, free text, dataset-relative paths), the decimal
 * parser and the comma joiner: one module, so that every reader of a name,
 * a path or a number refuses the same things. No state, no files. */
#ifndef KURA_TEXT_H
#define KURA_TEXT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kura/error.h"

#define KURA_PATH_MAX 1024       /* a dataset-relative path, in bytes */
#define KURA_PATH_DEPTH_MAX 32   /* components in such a path */
#define KURA_NAME_MAX 255        /* bytes in one component */

/* ---- UTF-8 and hex ---------------------------------------------------- */

/* Length (1..4) of the well-formed UTF-8 sequence s[0..len) starts with,
 * or 0 (an invalid or cut sequence). len must be at least 1. */
size_t kura_utf8_seq_len(const char *s, size_t len);

/* True if s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). NUL bytes count as valid here. */
bool kura_utf8_valid(const char *s, size_t len);

/* The code point if s[0..len) starts with a character that changes how text
 * around it shows without showing itself: a control (C1 U+0080..U+009F;
 * bidirectional U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069; line
 * and paragraph separators U+2028, U+2029), which kura_text_check refuses, or
 * an invisible character (zero-width space U+200B and joiners, word joiner
 * U+2060, U+FEFF, soft hyphen U+00AD, tags U+E0000.., the other
 * default-ignorable code points but variation selectors); else -1. Printers
 * escape these as they escape C0 controls. */
long kura_utf8_hidden(const char *s, size_t len);

/* Writes s[0..len) to out with every C0 control, DEL, byte that is not
 * UTF-8 (\xNN) and kura_utf8_hidden character (\uXXXX, or
 * \UXXXXXXXX above U+FFFF) escaped,
 * so that text a user chose (a path, a program's name) cannot move the
 * cursor, recolour or hide what is around it wherever it is shown, in a
 * terminal or a signed report. Returns the bytes written. */
size_t kura_text_put_escaped(FILE *out, const char *s, size_t len);

/* The value (0..15) of hex digit c, either case; -1 if c is not one. */
int kura_hex_digit(char c);

/* True if s[0..len) are all lowercase hex digits (0-9, a-f), the form
 * sodium_bin2hex writes; stops reading at the first byte that is not. */
bool kura_hex_lower(const char *s, size_t len);

/* ---- names and free text ---------------------------------------------- */

/* Dataset and sample ids: [A-Za-z0-9][A-Za-z0-9._-]{0,63}. what names the
 * value in the message ("dataset id", "sample id"). */
int kura_id_check(const char *id, const char *what, struct kura_err *err);
/* Unix user names, POSIX portable: [A-Za-z0-9._-], not starting with '-',
 * 1..KURA_USER_MAX bytes. */
int kura_user_name_check(const char *name, struct kura_err *err);
/* Free text (title, reason, reference, approval): valid UTF-8, no control
 * characters, shorter than KURA_TEXT_MAX bytes; may be empty. */
int kura_text_check(const char *text, const char *what, struct kura_err *err);

/* A plausible e-mail address (a grant's contact): LOCAL@DOMAIN in ASCII,
 * at most 254 bytes; LOCAL 1..64 bytes of letters, digits and
 * !#$%&'*+-/=?^_`{|}~ and dots (not first, last or doubled); DOMAIN two or
 * more dot-separated labels of letters, digits and hyphens (not first or
 * last), 1..63 bytes each. Not proof that mail arrives. */
int kura_email_check(const char *addr, struct kura_err *err);

/* ---- numbers ---------------------------------------------------------- */

/* s[0..len) as an unsigned decimal into *out: one or more digits and nothing
 * else (no sign, no blank), at most max. -1, *out untouched, if not.
 * Leading zeros are read ("007" is 7); where a file's form has none, the
 * caller refuses them. */
int kura_parse_decimal(const char *s, size_t len, uint64_t max, uint64_t *out);

/* ---- lists ------------------------------------------------------------ */

/* items[0..n) joined with ',' ("a,b,c"; "" for none) into a new malloc'd
 * string; NULL when out of memory. Items are not checked for commas. */
char *kura_comma_join(const char *const *items, size_t n);

/* ---- paths -------------------------------------------------------------- */

/* Validates a dataset-relative path that came from a user or a file:
 * not empty, no leading or trailing '/', no empty, "." or ".." component,
 * no control characters, valid UTF-8, at most KURA_PATH_MAX bytes,
 * KURA_NAME_MAX bytes per component and KURA_PATH_DEPTH_MAX components.
 * len is the byte length (a NUL inside is refused). Errors say what is
 * wrong without echoing the path. */
int kura_path_check(const char *path, size_t len, struct kura_err *err);

#endif
