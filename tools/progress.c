/* The training progress line of `segcl train` on a terminal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "progress.h"

void cli_format_time(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 1e7)
        snprintf(buf, len, "--:--");
    else if (s >= 3600)
        snprintf(buf, len, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else
        snprintf(buf, len, "%d:%02d", (int)s / 60, (int)s % 60);
}

int cli_terminal_columns(int fd)
{
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *env = getenv("COLUMNS");
    int c = env ? atoi(env) : 0;
    return c > 0 ? c : 80;
}

enum { SHOW_SPEED = 1, SHOW_RUN_STEPS = 2, SHOW_LOSS = 4, SHOW_BAR = 8, COMPACT = 16 };

/* The line with the fields in `show` and a bar `bar` characters wide. */
static size_t compose(char *out, size_t cap, const segcl_train_progress *p, int show, int bar)
{
    const long in_epoch = p->step - (long)p->epoch * p->steps_per_epoch;
    const long left_total = p->total_steps - p->step;
    const long left_epoch = p->steps_per_epoch - in_epoch;
    const double epoch_eta = left_total > 0 ? p->eta_s * (double)left_epoch / (double)left_total
                                            : 0;
    char eta_epoch[32], eta_run[32], bar_text[128] = "";
    cli_format_time(epoch_eta, eta_epoch, sizeof eta_epoch);
    cli_format_time(p->eta_s, eta_run, sizeof eta_run);
    if (show & SHOW_BAR) {
        const int filled =
            p->steps_per_epoch > 0 ? (int)((long)bar * in_epoch / p->steps_per_epoch) : 0;
        bar_text[0] = '[';
        for (int i = 0; i < bar; i++)
            bar_text[1 + i] = i < filled ? '#' : '.';
        bar_text[1 + bar] = ']';
        bar_text[2 + bar] = ' ';
        bar_text[3 + bar] = '\0';
    }
    char run_steps[64] = "", loss[32] = "", speed[32] = "";
    if (show & SHOW_RUN_STEPS)
        snprintf(run_steps, sizeof run_steps, "%ld/%ld ", p->step, p->total_steps);
    if (show & SHOW_LOSS)
        snprintf(loss, sizeof loss, " | loss %.4f", p->loss);
    if (show & SHOW_SPEED)
        snprintf(speed, sizeof speed, " | %.1f img/s", p->images_per_s);
    int n = show & COMPACT
                ? snprintf(out, cap, "epoch %d/%d %ld/%ld %s | run %s", p->epoch + 1, p->epochs,
                           in_epoch, p->steps_per_epoch, eta_epoch, eta_run)
                : snprintf(out, cap, "epoch %d/%d %s%ld/%ld %s left | run %s%s left%s%s",
                           p->epoch + 1, p->epochs, bar_text, in_epoch, p->steps_per_epoch,
                           eta_epoch, run_steps, eta_run, loss, speed);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

size_t cli_progress_line(char *out, size_t cap, int columns, const segcl_train_progress *p)
{
    if (!cap)
        return 0;
    const size_t room = columns > 1 ? (size_t)columns - 1 : 0;
    /* fields from the most complete to the least; the bar takes what is left (10..40) */
    static const int tries[] = {SHOW_SPEED | SHOW_RUN_STEPS | SHOW_LOSS, SHOW_RUN_STEPS | SHOW_LOSS,
                                SHOW_LOSS, 0};
    for (size_t k = 0; k < sizeof tries / sizeof tries[0]; k++) {
        const size_t base = compose(out, cap, p, tries[k], 0);
        if (base + 3 + 10 <= room) {
            size_t bar = room - base - 3;
            return compose(out, cap, p, tries[k] | SHOW_BAR, (int)(bar > 40 ? 40 : bar));
        }
    }
    for (size_t k = 0; k < sizeof tries / sizeof tries[0]; k++) {
        const size_t n = compose(out, cap, p, tries[k], 0);
        if (n <= room)
            return n;
    }
    const size_t n = compose(out, cap, p, COMPACT, 0);
    if (n > room) {
        out[room < cap ? room : cap - 1] = '\0';
        return room < cap ? room : cap - 1;
    }
    return n;
}

size_t cli_epoch_line(char *out, size_t cap, int columns, const segcl_train_progress *p)
{
    if (!cap)
        return 0;
    const size_t room = columns > 1 ? (size_t)columns - 1 : 0;
    const char *best = p->best ? "  (best)" : "";
    int n = snprintf(out, cap,
                     "epoch %d/%d  step %ld  train loss %.4f  val loss %.4f  Dice %.4f  IoU %.4f  "
                     "pixel acc %.4f  %.1f img/s%s",
                     p->epoch + 1, p->epochs, p->step, p->loss, p->val_loss, p->val_dice,
                     p->val_iou, p->val_pixel_accuracy, p->images_per_s, best);
    if (n >= 0 && (size_t)n <= room)
        return (size_t)n;
    /* narrower: the same numbers, fewer words */
    n = snprintf(out, cap, "epoch %d/%d loss %.4f val %.4f Dice %.4f IoU %.4f acc %.4f%s",
                 p->epoch + 1, p->epochs, p->loss, p->val_loss, p->val_dice, p->val_iou,
                 p->val_pixel_accuracy, p->best ? " (best)" : "");
    if (n >= 0 && (size_t)n <= room)
        return (size_t)n;
    n = snprintf(out, cap, "epoch %d/%d loss %.3f val %.3f Dice %.3f%s", p->epoch + 1, p->epochs,
                 p->loss, p->val_loss, p->val_dice, p->best ? " best" : "");
    size_t len = n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
    if (len > room) {
        len = room < cap ? room : cap - 1;
        out[len] = '\0';
    }
    return len;
}
