/* Internal to the settings (src/app): the table and the helpers that the
 * parser (config.c), the INI reader and text output (config-text.c) and
 * the table itself (config-table.c) share. */
#pragma once

#include "facerec/config.h"

#define FR__KIB ((size_t)1 << 10)
#define FR__MIB ((size_t)1 << 20)
#define FR__GIB ((size_t)1 << 30)
#define FR__TIB ((size_t)1 << 40)

/* Longest setting name plus room; names longer than this are unknown. */
#define FR__CONFIG_NAME_MAX 64

/* The table (config-table.c) and its length. */
extern const struct fr_setting fr__settings[];
extern const size_t fr__n_settings;
/* Sections in the order --help and the dump list them; NULL-terminated. */
extern const char *const fr__config_sections[];
/* FACEREC_* variables that are not settings; NULL-terminated. */
extern const char *const fr__config_env_not_settings[];

static inline size_t fr__setting_index(const struct fr_setting *s) { return (size_t)(s - fr__settings); }

/* How a name is spelled where the user wrote it. */
enum fr__spelling { FR__AS_KEY, FR__AS_ENV, FR__AS_FLAG };

/* "max_batch_size" as FACEREC_MAX_BATCH_SIZE or --max-batch-size. */
void fr__config_spell(const char *name, enum fr__spelling how, char *buf, size_t len);
/* A hint for an unknown name (already lower-cased or normalised): the
 * setting it is the old system's name of, else the closest setting within
 * two edits, else nothing (buf empty). */
void fr__config_suggest(const char *name, enum fr__spelling how, char *buf, size_t len);
/* Copies a flag or key name with dashes turned into underscores; false
 * when it is too long to be any setting's name. out has room for
 * FR__CONFIG_NAME_MAX bytes. */
bool fr__config_normalise(const char *s, size_t n, char *out);
/* A number setting's bounds as text ("1", "4096"; "1KiB"; "0.01"), for
 * messages and --help; false for other types. */
bool fr__config_bounds(const struct fr_setting *s, char *lo, char *hi, size_t len);
/* "4GiB", "64MiB", "1536": the largest unit that divides the value. */
void fr__config_format_size(size_t v, char *buf, size_t len);
