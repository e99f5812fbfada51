/*
 * i18n.h — the language of what people read, through gettext.
 *
 * Every program calls ld_i18n_init() first. Then _("text") is the text in
 * the user's language (LC_ALL, LC_MESSAGES, LANG; LANGUAGE too), or as written
 * (English) when there is no catalogue for it; N_("text") marks a text to
 * translate where it is used later (tables of option help). One text domain,
 * "ledgerd", serves every program and the code they share.
 *
 * The catalogues are po/LANG.po in the source tree, compiled by make into
 * BUILD/locale/LANG/LC_MESSAGES/ledgerd.mo and installed under
 * PREFIX/share/locale. A program looks for them next to itself: DIR/locale
 * (the build tree), then DIR/../share/locale (an installed tree), where DIR
 * is the directory of its executable; $LEDGER_LOCALEDIR overrides both.
 *
 * Only human text is translated: usage, help, messages, table headings,
 * labels. What machines read stays as it is: JSON and CSV, error names
 * (ERR_...), the names of enums and event kinds accepted on a command line,
 * and everything on the wire.
 */
#ifndef LD_I18N_H
#define LD_I18N_H

#include <libintl.h>

#define LD_TEXTDOMAIN "ledgerd"

#define _(text) dgettext(LD_TEXTDOMAIN, text)
#define N_(text) text
/* The singular or plural text for n (languages differ in how many forms). */
#define P_(one, many, n) dngettext(LD_TEXTDOMAIN, one, many, (unsigned long)(n))

/* The user's locale for messages and character classes (numbers keep the
 * C locale's decimal point, so that JSON and CSV stay machine-readable),
 * and the catalogue directory; output in UTF-8. Call once, first. */
void ld_i18n_init(void);

/* The language of the messages now: "zh" with the Chinese catalogue in
 * effect, else "en". Static string. */
const char *ld_i18n_lang(void);

/* Whether messages are in Chinese (ld_i18n_lang() is "zh"). */
int ld_i18n_zh(void);

#endif
