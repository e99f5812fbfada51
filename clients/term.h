/*
 * term.h — a full-screen terminal view: ncursesw behind this one file.
 *
 * The screen is drawn into a buffer (term_erase, term_put) and sent with
 * term_show, which writes only the cells that changed: an update redraws in
 * place and adds nothing to the terminal's scrollback (the view uses the
 * terminal's alternate screen, and the shell's screen comes back on
 * term_close). Text is UTF-8 and clipped by columns (wcwidth), never cut
 * inside a character. A resize of the terminal (SIGWINCH, handled by
 * ncurses) comes back from term_key as TERM_KEY_RESIZE, after which
 * term_size has the new size.
 *
 * One term per process (curses has one screen); not thread-safe.
 */
#ifndef LD_TERM_H
#define LD_TERM_H

#include "codec.h" /* ld_errinfo */

typedef struct term term;

enum term_style {
	TERM_PLAIN,
	TERM_BOLD,
	TERM_DIM,
	TERM_REVERSE, /* the key line, the chosen entry of a menu */
	TERM_GREEN,
	TERM_CYAN,
	TERM_YELLOW,
	TERM_RED,
};

/* What term_key returns besides plain characters (< 0x110000, Unicode). */
enum term_key {
	TERM_KEY_NONE = -1, /* nothing within the timeout */
	TERM_KEY_UP = 0x110000,
	TERM_KEY_DOWN,
	TERM_KEY_LEFT,
	TERM_KEY_RIGHT,
	TERM_KEY_PGUP,
	TERM_KEY_PGDN,
	TERM_KEY_HOME,
	TERM_KEY_END,
	TERM_KEY_ENTER,
	TERM_KEY_ESC,
	TERM_KEY_RESIZE, /* the terminal changed size: draw again */
};

/* Takes over the terminal on stdin/stdout. Sets LC_CTYPE from the
 * environment (C.UTF-8 when that is not UTF-8: the text is UTF-8); the
 * other categories stay "C", so numbers keep their decimal point.
 * LD_E(INVALID_STATE) when stdout is not a terminal curses can drive
 * (TERM unset or unknown), with the reason in e. */
int term_open(term **out, ld_errinfo *e);
/* Gives the terminal back as it was (NULL: nothing). */
void term_close(term *t);
/* The size in rows and columns. */
void term_size(const term *t, int *rows, int *cols);
/* Clears the buffer (not yet the terminal). */
void term_erase(term *t);
/* Writes s at (row, col) in style, clipped at the right edge (and at
 * `width` columns when width >= 0); returns the columns written. Outside
 * the screen: nothing. */
int term_put(term *t, int row, int col, int style, int width, const char *s);
/* Fills `width` columns of row from col with spaces in style (a bar). */
void term_fill(term *t, int row, int col, int style, int width);
/* Sends what changed since the last term_show. */
void term_show(term *t);
/* The next key, waiting at most timeout_ms (0: only what is there already);
 * TERM_KEY_NONE when none came. */
int term_key(term *t, int timeout_ms);

#endif
