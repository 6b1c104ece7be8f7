/* The progress line of `segcl train` on terminals of any width: one line that never reaches
 * the last column (so it never wraps and "\r" rewrites it), with the epoch's and the run's
 * steps and time left while there is room. */
#include <string.h>

#include "progress.h"
#include "test_util.h"

static segcl_train_progress sample(void)
{
    return (segcl_train_progress){.event = 0, .epoch = 2, .epochs = 20, .step = 2 * 33 + 12,
                                  .steps_per_epoch = 33, .total_steps = 660, .loss = 0.43137,
                                  .images_per_s = 31.14, .eta_s = 582 * 0.5};
}

static void test_fits_every_width(void **state)
{
    (void)state;
    const segcl_train_progress p = sample();
    for (int cols = 1; cols <= 300; cols++) {
        char line[512];
        size_t n = cli_progress_line(line, sizeof line, cols, &p);
        assert_int_equal(n, strlen(line));
        assert_true(n <= (size_t)(cols > 1 ? cols - 1 : 0));
        assert_null(strchr(line, '\n'));
        assert_null(strchr(line, '\r'));
    }
}

static void test_content_at_80_columns(void **state)
{
    (void)state;
    const segcl_train_progress p = sample();
    char line[512];
    size_t n = cli_progress_line(line, sizeof line, 80, &p);
    assert_true(n <= 79 && n >= 60);
    assert_non_null(strstr(line, "epoch 3/20 ["));
    assert_non_null(strstr(line, "] 12/33 ")); /* the epoch's steps */
    /* time left: the epoch's (21 of the 582 remaining steps of 4:51) and the run's */
    assert_non_null(strstr(line, "0:10 left"));
    assert_non_null(strstr(line, "run "));
    assert_non_null(strstr(line, "4:51 left"));
    assert_non_null(strstr(line, "loss 0.4314"));
    /* wide: everything, and the bar is at most 40 wide */
    n = cli_progress_line(line, sizeof line, 200, &p);
    assert_non_null(strstr(line, "78/660"));
    assert_non_null(strstr(line, "31.1 img/s"));
    const char *open = strchr(line, '['), *close = strchr(line, ']');
    assert_true(close - open - 1 == 40);
    /* the bar is filled in proportion: 12 of 33 steps */
    int filled = 0;
    for (const char *c = open + 1; c < close; c++)
        filled += *c == '#';
    assert_int_equal(filled, 40 * 12 / 33);
    /* narrow: the times stay, the rest goes */
    n = cli_progress_line(line, sizeof line, 40, &p);
    assert_true(n <= 39);
    assert_non_null(strstr(line, "epoch 3/20"));
    assert_non_null(strstr(line, "0:10"));
    assert_non_null(strstr(line, "4:51"));
}

/* The epoch's line: everything when it fits, the same numbers in fewer words when not. */
static void test_epoch_line(void **state)
{
    (void)state;
    segcl_train_progress p = sample();
    p.event = 1;
    p.val_loss = 0.25, p.val_dice = 0.91234, p.val_iou = 0.8391, p.val_pixel_accuracy = 0.97;
    p.best = 1;
    char line[512];
    size_t n = cli_epoch_line(line, sizeof line, 10000, &p);
    assert_non_null(strstr(line, "train loss 0.4314"));
    assert_non_null(strstr(line, "(best)"));
    n = cli_epoch_line(line, sizeof line, 80, &p);
    assert_true(n <= 79);
    assert_non_null(strstr(line, "epoch 3/20"));
    assert_non_null(strstr(line, "Dice 0.9123"));
    assert_non_null(strstr(line, "IoU 0.8391"));
    assert_non_null(strstr(line, "best"));
    for (int cols = 1; cols <= 200; cols++) {
        n = cli_epoch_line(line, sizeof line, cols, &p);
        assert_true(n <= (size_t)(cols > 1 ? cols - 1 : 0));
        assert_int_equal(n, strlen(line));
    }
}

static void test_times(void **state)
{
    (void)state;
    char buf[32];
    cli_format_time(59.9, buf, sizeof buf);
    assert_string_equal(buf, "0:59");
    cli_format_time(3725, buf, sizeof buf);
    assert_string_equal(buf, "1:02:05");
    cli_format_time(-1, buf, sizeof buf);
    assert_string_equal(buf, "--:--");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fits_every_width),
        cmocka_unit_test(test_content_at_80_columns),
        cmocka_unit_test(test_epoch_line),
        cmocka_unit_test(test_times),
    };
    return cmocka_run_group_tests_name("progress line", tests, NULL, NULL);
}
