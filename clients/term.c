/* term.c — the full-screen terminal on ncursesw. See term.h. */
#include "term.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "progress_view.h" /* pv_fit: clipping by columns */

struct term {
	SCREEN *scr;
	int colours;
};

/* Colour pairs by style (0: none). */
static const struct {
	short fg;
	attr_t attr;
} styles[] = {
    [TERM_PLAIN] = {-1, A_NORMAL},
    [TERM_BOLD] = {-1, A_BOLD},
    [TERM_DIM] = {-1, A_DIM},
    [TERM_REVERSE] = {-1, A_REVERSE},
    [TERM_GREEN] = {COLOR_GREEN, A_NORMAL},
    [TERM_CYAN] = {COLOR_CYAN, A_NORMAL},
    [TERM_YELLOW] = {COLOR_YELLOW, A_NORMAL},
    [TERM_RED] = {COLOR_RED, A_BOLD},
};
#define NSTYLES ((int)(sizeof(styles) / sizeof(styles[0])))

int term_open(term **out, ld_errinfo *e)
{
	*out = NULL;
	/* Only the character type: numbers keep their C format (a decimal
	 * point, whatever LC_NUMERIC says). */
	setlocale(LC_CTYPE, "");
	if (strcmp(nl_langinfo(CODESET), "UTF-8") != 0)
		setlocale(LC_CTYPE, "C.UTF-8");
	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
		                      "stdin and stdout are not both a terminal");
	const char *name = getenv("TERM");
	if (!name || !*name)
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL, "TERM is not set");
	term *t = calloc(1, sizeof(*t));
	if (!t)
		return ld_errinfo_set(e, LD_E(INTERNAL), NULL, "out of memory");
	/* newterm, not initscr: an unknown TERM is an error to report, where
	 * initscr would end the program. */
	t->scr = newterm(NULL, stdout, stdin);
	if (!t->scr) {
		free(t);
		return ld_errinfo_set(e, LD_E(INVALID_STATE), NULL,
		                      "the terminal type '%s' is unknown to curses", name);
	}
	set_term(t->scr);
	cbreak(); /* keys at once; Ctrl-C still interrupts */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	set_escdelay(25); /* Esc alone is a key, not the start of a sequence for a second */
	curs_set(0);
	/* NO_COLOR: statuses in bold (style_attr), as on a terminal without
	 * colours. */
	if (!ldc_cli_no_colour() && has_colors() && start_color() == OK) {
		use_default_colors();
		for (short i = 1; i < NSTYLES; i++)
			if (styles[i].fg >= 0)
				init_pair(i, styles[i].fg, -1);
		t->colours = 1;
	}
	*out = t;
	return 0;
}

void term_close(term *t)
{
	if (!t)
		return;
	endwin();
	delscreen(t->scr);
	free(t);
}

void term_size(const term *t, int *rows, int *cols)
{
	(void)t;
	getmaxyx(stdscr, *rows, *cols);
}

void term_erase(term *t)
{
	(void)t;
	werase(stdscr);
}

static attr_t style_attr(const term *t, int style)
{
	if (style < 0 || style >= NSTYLES)
		return A_NORMAL;
	attr_t a = styles[style].attr;
	if (styles[style].fg >= 0)
		a |= t->colours ? COLOR_PAIR(style) : A_BOLD;
	return a;
}

int term_put(term *t, int row, int col, int style, int width, const char *s)
{
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	if (row < 0 || row >= rows || col < 0 || col >= cols)
		return 0;
	int room = cols - col;
	if (width >= 0 && width < room)
		room = width;
	size_t n = pv_fit(s, room);
	attr_t a = style_attr(t, style);
	wattron(stdscr, a);
	/* The bottom-right cell answers ERR (the cursor cannot move past
	 * it), yet it is written. */
	mvwaddnstr(stdscr, row, col, s, (int)n);
	wattroff(stdscr, a);
	char part[1024];
	if (n >= sizeof(part))
		return room;
	memcpy(part, s, n);
	part[n] = 0;
	return pv_width(part);
}

void term_fill(term *t, int row, int col, int style, int width)
{
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	if (row < 0 || row >= rows || col < 0 || col >= cols)
		return;
	if (width > cols - col)
		width = cols - col;
	attr_t a = style_attr(t, style);
	wattron(stdscr, a);
	for (int i = 0; i < width; i++)
		mvwaddch(stdscr, row, col + i, ' ');
	wattroff(stdscr, a);
}

void term_show(term *t)
{
	(void)t;
	wnoutrefresh(stdscr);
	doupdate();
}

int term_key(term *t, int timeout_ms)
{
	(void)t;
	wtimeout(stdscr, timeout_ms);
	wint_t ch;
	int r = wget_wch(stdscr, &ch);
	if (r == ERR)
		return TERM_KEY_NONE;
	if (r == OK) {
		switch (ch) {
		case '\r':
		case '\n':
			return TERM_KEY_ENTER;
		case 27:
			return TERM_KEY_ESC;
		default:
			return (int)ch;
		}
	}
	switch (ch) { /* KEY_CODE_YES: a function key */
	case KEY_UP:
		return TERM_KEY_UP;
	case KEY_DOWN:
		return TERM_KEY_DOWN;
	case KEY_LEFT:
		return TERM_KEY_LEFT;
	case KEY_RIGHT:
		return TERM_KEY_RIGHT;
	case KEY_PPAGE:
		return TERM_KEY_PGUP;
	case KEY_NPAGE:
		return TERM_KEY_PGDN;
	case KEY_HOME:
		return TERM_KEY_HOME;
	case KEY_END:
		return TERM_KEY_END;
	case KEY_ENTER:
		return TERM_KEY_ENTER;
	case KEY_RESIZE:
		return TERM_KEY_RESIZE;
	default:
		return TERM_KEY_NONE;
	}
}
