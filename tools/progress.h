/* The training progress line of `segcl train` on a terminal. */
#ifndef SEGCL_PROGRESS_H
#define SEGCL_PROGRESS_H

#include <stddef.h>

#include "segcl/segcl.h"

/* "h:mm:ss", "m:ss", or "--:--" when unknown. */
void cli_format_time(double seconds, char *buf, size_t len);

/* The line for a step event, fitted to a terminal `columns` wide: at most columns - 1
 * characters (the cursor never reaches the last column, so the terminal never wraps it and
 * "\r" rewrites it in place). It holds the epoch, a bar, the epoch's steps and time left, the
 * run's steps and time left, the loss and the speed; on narrow terminals the bar shrinks and
 * the least needed fields go first. Returns its length. */
size_t cli_progress_line(char *out, size_t cap, int columns, const segcl_train_progress *p);

/* The line of an epoch's end (event 1): every figure when the terminal is wide enough, the
 * same figures in fewer words when not, never more than columns - 1 characters. */
size_t cli_epoch_line(char *out, size_t cap, int columns, const segcl_train_progress *p);

/* The terminal's width: the tty's, else $COLUMNS, else 80. */
int cli_terminal_columns(int fd);

#endif
