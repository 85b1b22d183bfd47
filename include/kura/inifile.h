/* Strict INI reading for kura.conf and dataset.ini, on top of inih.
 *
 * inih on its own is lenient in ways a security tool cannot be: long lines
 * are split into several "lines", section and key names are silently cut
 * at 49 characters, indented lines continue the previous value, " ;"
 * starts a comment inside a value, text after "[section]" is ignored. This
 * layer feeds inih one line at a time and accepts only this grammar:
 *
 *   blank line | [ \t]*[#;] comment | [section] | key = value
 *
 * - keys and section headers start in column 1; keys are [A-Za-z0-9_.-]
 *   (at most 40), followed by optional blanks and '=' (':' is not a separator);
 * - a section header is '[' NAME ']' and nothing else (NAME has no ']' and
 *   no blank at either end); every key belongs to a section;
 * - ';' and '#' inside a value are data, not comments;
 * - lines end with LF (no CR), hold no control character except TAB, are
 *   valid UTF-8 (no byte-order mark) and at most KURA_INI_LINE_MAX bytes.
 * Values reach the callback with blanks at both ends removed (inih).
 *
 * inih's run-time options are process-wide; the first parse sets them once
 * (inline comments and multi-line values off, longer lines, stop at the
 * first error). Other code in kura must use this layer, not ini_parse. */
#ifndef KURA_INIFILE_H
#define KURA_INIFILE_H
#include <stddef.h>

#include "kura/error.h"

#define KURA_INI_LINE_MAX 4096
#define KURA_INI_KEY_MAX 40

/* Called at each "[section]" line, before its keys. */
typedef int (*kura_ini_section_fn)(void *user, const char *section, int line, struct kura_err *err);
/* Called for each key; section is the full name of the enclosing section. */
typedef int (*kura_ini_key_fn)(void *user, const char *section, const char *key, const char *value, int line,
                               struct kura_err *err);

/* Parses data[0..len). Callbacks return 0, or -1 with err set to what is
 * wrong; this function then prefixes "NAME:LINE: " and stops. Grammar
 * errors come back the same way ("NAME:LINE: ..."), code EINVAL. */
int kura_ini_parse(const char *name, const char *data, size_t len, kura_ini_section_fn on_section,
                   kura_ini_key_fn on_key, void *user, struct kura_err *err);

#endif
