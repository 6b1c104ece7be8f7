/*
 * Hostile and broken inputs, and error paths: checkpoints with corrupt headers, overflowing
 * shapes and tampered metadata; run settings out of range from the options, from a resumed
 * checkpoint and for the predictor; and allocation failures swept one by one through dataset
 * opening, the loader, checkpoint saving and loading, and the predictor. Each case must end in
 * a one-line error (or success), never in a crash, a leak or a damaged checkpoint; the suite
 * runs under AddressSanitizer and UBSan in CI, which turns any memory error here into a failure.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/data.h"
#include "safetensors_edit.h"
#include "test_checkpoint.h"
#include "test_util.h"

static test_fixture fx; /* the group's temporary folder and context (test_util.h) */
static segcl_context *ctx;
static const char *const tmp_dir = fx.temp, *const fixtures = fx.fixtures;
static char synth_dir[300], run_dir[300];

static void fixture(char *buf, size_t len, const char *rel)
{
    snprintf(buf, len, "%s/%s", fixtures, rel);
}

/* A one-line message that names `what`. */
static void assert_message_names(const char *what)
{
    const char *msg = segcl_context_error(ctx);
    if (!strstr(msg, what))
        fail_msg("message does not name '%s': %s", what, msg);
    assert_null(strchr(msg, '\n'));
}

static segcl_model *small_model(void)
{
    segcl_model_config cfg = {SEGCL_ARCH_UNET, 1, 4, 2, 3};
    segcl_model *m;
    assert_ok(ctx, segcl_model_create(ctx, &cfg, &m));
    assert_ok(ctx, segcl_model_init(m, 1));
    return m;
}

static void small_meta(segcl_run_config *meta)
{
    segcl_run_config_defaults(meta);
    meta->model = (segcl_model_config){SEGCL_ARCH_UNET, 1, 4, 2, 3};
    meta->size = 32;
    meta->epochs = 2;
    meta->batch = 4;
    meta->step = 3;
    meta->val_fraction = 0.25f;
    meta->base_lr = 1e-3f;
    snprintf(meta->data_dir, sizeof meta->data_dir, "%s", synth_dir);
}

/* ---- images ---- */

static uint32_t png_crc(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xffffffffu;
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* A PNG signature and an IHDR chunk of an 8-bit grey image of width x height at png (33 bytes);
 * returns where the next chunk goes. */
static unsigned char *png_start(unsigned char *png, uint32_t width, uint32_t height)
{
    static const unsigned char signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    memcpy(png, signature, 8);
    unsigned char *ihdr = png + 8;
    put32(ihdr, 13);
    memcpy(ihdr + 4, "IHDR", 4);
    put32(ihdr + 8, width);
    put32(ihdr + 12, height);
    ihdr[16] = 8, ihdr[17] = 0; /* 8-bit grey, deflate, no filter method, no interlace */
    ihdr[18] = ihdr[19] = ihdr[20] = 0;
    put32(ihdr + 21, png_crc(ihdr + 4, 17));
    return ihdr + 25;
}

/* A well-formed PNG header wider than segcl decodes is refused as over the limit, with its
 * size and the limit, not as a corrupt file. */
static void test_png_over_side_limit(void **state)
{
    (void)state;
    unsigned char png[8 + 25 + 12] = {0};
    unsigned char *iend = png_start(png, 70000, 1);
    memcpy(iend + 4, "IEND", 4);
    put32(iend + 8, png_crc(iend + 4, 4));
    char path[600];
    snprintf(path, sizeof path, "%s/wide.png", tmp_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(png, 1, sizeof png, f), sizeof png);
    assert_int_equal(fclose(f), 0);
    segcl_image img = {0};
    assert_int_equal(segcl_image_load(segcl_context_diag(ctx), path, 3, &img), SEGCL_ERROR_FORMAT);
    assert_message_names("wide.png: PNG of 70000x1 pixels is over segcl's limit of 65535 pixels");
    assert_null(strstr(segcl_context_error(ctx), "corrupt"));
    unlink(path);
}

/* An ancillary chunk that claims more bytes than the file holds is refused before libpng sees
 * it: libpng 1.6.39 allocates an eXIf chunk's declared length (up to 2 GiB) before reading it,
 * which made a 57-byte file cost 2 GiB of address space and the image fuzzer crawl. */
static void test_png_chunk_longer_than_file(void **state)
{
    (void)state;
    unsigned char png[8 + 25 + 12 + 4] = {0};
    unsigned char *exif = png_start(png, 1, 1);
    put32(exif, 0x7fffffffu);
    memcpy(exif + 4, "eXIfMM\0*", 8);
    char path[600];
    snprintf(path, sizeof path, "%s/exif.png", tmp_dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(png, 1, sizeof png, f), sizeof png);
    assert_int_equal(fclose(f), 0);
    segcl_image img = {0};
    assert_int_equal(segcl_image_load(segcl_context_diag(ctx), path, 3, &img), SEGCL_ERROR_FORMAT);
    assert_message_names("exif.png: corrupt PNG: its eXIf chunk claims 2147483647 bytes, more "
                         "than the 8 left in the file");
    assert_null(img.pixels);
    /* cut inside the chunk's last 12 bytes: the length and name are all libpng reads before it
     * allocates */
    for (size_t cut = 8; cut <= 11; cut += 3) {
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(png, 1, 8 + 25 + cut, f), 8 + 25 + cut);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(segcl_image_load(segcl_context_diag(ctx), path, 3, &img),
                         SEGCL_ERROR_FORMAT);
        assert_message_names("its eXIf chunk claims 2147483647 bytes");
    }
    unlink(path);
}

/* A file that cannot be written is named as the user gave it, never by the hidden temporary
 * segcl writes first (.x.png.tmp-<random>): that name means nothing to them. */
static void test_write_error_names_the_file(void **state)
{
    (void)state;
    char blocker[600], path[700];
    snprintf(blocker, sizeof blocker, "%s/not-a-folder", tmp_dir);
    test_write_text(blocker, "a file where a folder should be\n");
    snprintf(path, sizeof path, "%s/out.png", blocker);
    segcl_image img = {0};
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), 2, 2, 1, &img));
    memset(img.pixels, 7, 4);
    assert_int_equal(segcl_image_save_png(segcl_context_diag(ctx), path, &img), SEGCL_ERROR_IO);
    char want[800];
    snprintf(want, sizeof want, "cannot write %s: ", path);
    assert_message_names(want);
    assert_null(strstr(segcl_context_error(ctx), ".tmp-"));
    segcl_image_free(&img);
    unlink(blocker);

    /* and a write that fails half-way (a file size limit: EFBIG, as a full disk's ENOSPC) */
    assert_ok(ctx, segcl_image_alloc(segcl_context_diag(ctx), 64, 64, 3, &img));
    uint64_t x = 88172645463325252u; /* xorshift noise: JPEG keeps it large */
    for (size_t i = 0; i < 64 * 64 * 3; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        img.pixels[i] = (uint8_t)x;
    }
    snprintf(path, sizeof path, "%s/big.jpg", tmp_dir);
    struct rlimit was, small = {1000, 0};
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &was), 0);
    small.rlim_max = was.rlim_max;
    void (*handler)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    segcl_status st = segcl_image_save_jpeg(segcl_context_diag(ctx), path, &img, 95);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &was), 0);
    signal(SIGXFSZ, handler);
    assert_int_equal(st, SEGCL_ERROR_IO);
    snprintf(want, sizeof want, "cannot write %s: ", path);
    assert_message_names(want);
    assert_null(strstr(segcl_context_error(ctx), ".tmp-"));
    assert_false(access(path, F_OK) == 0); /* nothing half-written in its place */
    segcl_image_free(&img);
}

/* ---- checkpoint headers ---- */

static void test_header_errors_name_the_tensor(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/hdr.safetensors", tmp_dir);
    segcl_run_config meta;
    struct {
        const char *header;
        size_t data;
        const char *named;
    } cases[] = {
        /* bad dtype */
        {"{\"enc_conv0.weight\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "enc_conv0.weight"},
        /* offsets past the end of the data */
        {"{\"bn0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "bn0.bias"},
        /* a byte length that does not match the shape */
        {"{\"dec_conv1.weight\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
         "dec_conv1.weight"},
        /* a negative extent */
        {"{\"bn1.weight\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
         "bn1.weight"},
        /* extents whose product wraps around 2^64 to zero elements */
        {"{\"wrap.weight\":{\"dtype\":\"F32\",\"shape\":[549755813888,549755813888],"
         "\"data_offsets\":[0,0]}}",
         0, "wrap.weight"},
        /* and whose product passes 2^40 only after the last multiplication */
        {"{\"big.weight\":{\"dtype\":\"F32\",\"shape\":[1099511627775,2],"
         "\"data_offsets\":[0,0]}}",
         0, "big.weight"},
        /* metadata that is not an object */
        {"{\"__metadata__\":[1,2]}", 0, "__metadata__"},
        /* an entry that is not an object */
        {"{\"x\":5}", 0, "'x'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_safetensors(path, cases[i].header, cases[i].data);
        segcl_status st = segcl_run_config_read(ctx, path, &meta);
        if (st != SEGCL_ERROR_FORMAT)
            fail_msg("case %zu: status %d (%s)", i, st, segcl_context_error(ctx));
        assert_message_names(cases[i].named);
        assert_message_names("hdr.safetensors");
    }
}

/* Metadata values must parse completely and lie in range, whether the file is used to resume
 * or to predict. */
static void test_tampered_metadata(void **state)
{
    (void)state;
    char good[512], bad[512];
    snprintf(good, sizeof good, "%s/meta_good.safetensors", tmp_dir);
    snprintf(bad, sizeof bad, "%s/meta_bad.safetensors", tmp_dir);
    segcl_model *m = small_model();
    segcl_run_config meta;
    small_meta(&meta);
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, good, m, &meta));
    segcl_run_config got;
    assert_ok(ctx, segcl_run_config_read(ctx, good, &got));
    const char *cases[][2] = {
        {"batch_in_epoch", "-2"}, {"depth", "40"},      {"depth", "0"},
        {"width", "-5"},          {"classes", "300"},   {"size", "33"},
        {"size", "12abc"},        {"batch", "0"},       {"epochs", "99999999999"},
        {"epoch", "-1"},          {"step", "-7"},       {"lr", "nan"},
        {"lr", "-1"},             {"std", "1,0,1"},     {"mean", "1,2"},
        {"loss", "9"},            {"lr_schedule", "5"}, {"data_format", "17"},
        {"val_fraction", "1.5"},  {"in_channels", "0"}, {"optimizer", "lbfgs"},
        {"arch", "resnet"},       {"max_steps", "-1"},  {"seed", "-3"},
        {"momentum", "inf"},      {"weight_decay", "-0.1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rewrite_metadata(good, bad, cases[i][0], cases[i][1]);
        segcl_status st = segcl_run_config_read(ctx, bad, &got);
        if (st != SEGCL_ERROR_FORMAT)
            fail_msg("%s=%s: status %d (%s)", cases[i][0], cases[i][1], st,
                     segcl_context_error(ctx));
        assert_message_names(cases[i][0]);
        /* the predictor refuses it too, with the same message */
        segcl_predictor *p = NULL;
        assert_int_equal(segcl_predictor_open(ctx, bad, NULL, &p), SEGCL_ERROR_FORMAT);
        assert_null(p);
        assert_message_names(cases[i][0]);
    }
    /* what checkpoints before 0.2 wrote still reads: numbers for names, augmentation on/off */
    rewrite_metadata(good, bad, "arch", "1");
    assert_ok(ctx, segcl_run_config_read(ctx, bad, &got));
    assert_int_equal(got.model.arch, SEGCL_ARCH_SEGNET);
    rewrite_metadata(good, bad, "optimizer", "2");
    assert_ok(ctx, segcl_run_config_read(ctx, bad, &got));
    assert_int_equal(got.optimizer.kind, SEGCL_OPTIMIZER_SGD);
    rewrite_metadata(good, bad, "augment", "1");
    assert_ok(ctx, segcl_run_config_read(ctx, bad, &got));
    assert_int_equal(got.augment, SEGCL_AUGMENT_DERMOSCOPY);
    rewrite_metadata(good, bad, "augment", "0");
    assert_ok(ctx, segcl_run_config_read(ctx, bad, &got));
    assert_int_equal(got.augment, 0);
    segcl_model_destroy(m);
}

/* The predictor's own settings: the message is formatted while what it names still exists. */
static void test_predictor_bad_settings(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/pred.safetensors", tmp_dir);
    segcl_model *m = small_model();
    segcl_run_config meta;
    small_meta(&meta);
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, path, m, &meta));
    segcl_model_destroy(m);
    segcl_predictor_options po;
    segcl_predictor *p = NULL;
    segcl_predictor_default_options(&po);
    po.arch = "unte";
    assert_int_equal(segcl_predictor_open(ctx, path, &po, &p), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_message_names("'unte'");
    assert_message_names("unet");
    assert_null(segcl_context_error_setting(ctx)); /* an unknown name concerns no one setting */
    segcl_predictor_default_options(&po);
    po.size = 34;
    assert_int_equal(segcl_predictor_open(ctx, path, &po, &p), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_message_names("34");
    assert_string_equal(segcl_context_error_setting(ctx), "size");
    segcl_predictor_default_options(&po);
    po.depth = 40;
    assert_int_equal(segcl_predictor_open(ctx, path, &po, &p), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_message_names("depth");
    segcl_predictor_default_options(&po);
    po.threshold = 1.5f;
    assert_int_equal(segcl_predictor_open(ctx, path, &po, &p), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_message_names("threshold");
    assert_null(p);
    /* the library names the setting; a flag is the CLI's to add */
    assert_string_equal(segcl_context_error_setting(ctx), "threshold");
    assert_null(strstr(segcl_context_error(ctx), "--"));
    /* the defaults open it, and a later error forgets the setting */
    assert_ok(ctx, segcl_predictor_open(ctx, path, NULL, &p));
    segcl_predictor *none = NULL;
    assert_int_not_equal(segcl_predictor_open(ctx, "/nonexistent/m.safetensors", NULL, &none),
                         SEGCL_OK);
    assert_null(segcl_context_error_setting(ctx));
    segcl_predictor_destroy(p);
}

/* Run settings from the options: checked before anything uses them. */
static void test_train_option_ranges(void **state)
{
    (void)state;
    char out[512];
    snprintf(out, sizeof out, "%s/opt-run", tmp_dir);
    segcl_train_options o;
    segcl_train_summary s;
#define CASE(field, value, named)                                                                  \
    do {                                                                                           \
        segcl_train_default_options(&o);                                                           \
        o.data_dir = synth_dir;                                                                    \
        o.out_dir = out;                                                                           \
        o.field = value;                                                                           \
        segcl_status st_ = segcl_train(ctx, &o, &s);                                               \
        if (st_ != SEGCL_ERROR_INVALID_ARGUMENT)                                                   \
            fail_msg(#field " = " #value ": status %d (%s)", st_, segcl_context_error(ctx));       \
        assert_message_names(named);                                                               \
    } while (0)
    CASE(depth, 40, "depth");
    CASE(depth, -1, "depth");
    CASE(width, 0, "width");
    CASE(size, 100, "size");
    CASE(batch, 0, "batch");
    CASE(epochs, 0, "epochs");
    CASE(lr, NAN, "lr");
    CASE(momentum, 2.0f, "momentum");
    CASE(val_fraction, 1.0f, "val");
    CASE(classes, 0, "classes");
    CASE(std[1], 0.0f, "std");
    CASE(mean[2], INFINITY, "mean");
    CASE(arch, "resnet", "resnet");
    CASE(optimizer, "lbfgs", "lbfgs");
    CASE(loss, "focal", "focal");
    CASE(lr_schedule, "linear", "linear");
#undef CASE
    /* nothing was created for a refused run */
    assert_int_not_equal(access(out, F_OK), 0);
}

/* One epoch of a width-4, depth-2 U-Net on the synthetic set at 32 x 32 into out (a run whose
 * checkpoint the resume tests then tamper with). */
static void train_small_run(const char *out)
{
    segcl_train_options o;
    segcl_train_summary s;
    segcl_train_default_options(&o);
    o.data_dir = synth_dir;
    o.out_dir = out;
    o.width = 4;
    o.depth = 2;
    o.size = 32;
    o.batch = 4;
    o.epochs = 1;
    o.val_fraction = 0.25f;
    o.overlays = 0;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
}

/* A resumed run trusts nothing in its checkpoint either. */
static void test_resume_refuses_tampered_metadata(void **state)
{
    (void)state;
    char ckpt[600], saved[600];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", run_dir);
    snprintf(saved, sizeof saved, "%s/saved.safetensors", tmp_dir);
    segcl_train_options o;
    segcl_train_summary s;
    train_small_run(run_dir);
    rename(ckpt, saved);
    const char *cases[][2] = {{"batch_in_epoch", "-2"}, {"batch_in_epoch", "1000"},
                              {"depth", "40"},          {"epoch", "7"},
                              {"batch", "-4"},          {"size", "0"},
                              /* in range, but the step then lies past the whole run's */
                              {"batch", "65536"},       {"step", "9223372036854775807"},
                              {"optimizer_step", "9223372036854775807"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rewrite_metadata(saved, ckpt, cases[i][0], cases[i][1]);
        segcl_train_default_options(&o);
        o.resume_dir = run_dir;
        segcl_status st = segcl_train(ctx, &o, &s);
        if (st != SEGCL_ERROR_FORMAT)
            fail_msg("%s=%s: status %d (%s)", cases[i][0], cases[i][1], st,
                     segcl_context_error(ctx));
        assert_message_names(cases[i][0]);
    }
}

/* A resumed run continues exactly or not at all: a checkpoint that lacks the optimizer state
 * its settings need (Adam's m and v) is refused, naming the file; prediction from it works. */
static void test_resume_needs_optimizer_state(void **state)
{
    (void)state;
    char out[600], ckpt[700], saved[700];
    snprintf(out, sizeof out, "%s/moments", tmp_dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.safetensors", out);
    snprintf(saved, sizeof saved, "%s/moments.safetensors", tmp_dir);
    segcl_train_options o;
    segcl_train_summary s;
    train_small_run(out);
    /* one more epoch to go, so that resuming takes steps */
    rewrite_metadata(ckpt, saved, "epochs", "2");
    char dropped_path[700];
    snprintf(dropped_path, sizeof dropped_path, "%s/dropped.safetensors", tmp_dir);
    /* the last: its optimizer_step also set to 0, as if the optimizer had taken no step (the
     * run's own step still says it did) */
    const char *dropped[] = {"optimizer.m.", "optimizer.v.", "optimizer.", "optimizer."};
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++) {
        if (i == 3) {
            drop_tensors(saved, dropped_path, dropped[i]);
            rewrite_metadata(dropped_path, ckpt, "optimizer_step", "0");
            unlink(dropped_path);
        } else {
            drop_tensors(saved, ckpt, dropped[i]);
        }
        segcl_train_default_options(&o);
        o.resume_dir = out;
        segcl_status st = segcl_train(ctx, &o, &s);
        if (st != SEGCL_ERROR_FORMAT)
            fail_msg("without %s*: status %d (%s)", dropped[i], st, segcl_context_error(ctx));
        assert_message_names(ckpt);
        assert_message_names("optimizer");
        /* prediction, evaluation and export need no optimizer state */
        segcl_predictor *p;
        assert_ok(ctx, segcl_predictor_open(ctx, ckpt, NULL, &p));
        segcl_predictor_destroy(p);
    }
    /* with its state, the same checkpoint resumes */
    rename(saved, ckpt);
    segcl_train_default_options(&o);
    o.resume_dir = out;
    assert_ok(ctx, segcl_train(ctx, &o, &s));
    assert_int_equal(s.epochs_done, 2);
}

/* Metadata has bounds: an args.json over 4 MiB and a checkpoint header over 8 MiB are refused
 * at once, by their size, before anything is parsed. */
static void test_metadata_size_limits(void **state)
{
    (void)state;
    char run[600], path[700];
    snprintf(run, sizeof run, "%s/big-args", tmp_dir);
    assert_int_equal(mkdir(run, 0755), 0);
    snprintf(path, sizeof path, "%s/args.json", run);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"data\": {\"format\": \"folder\", \"path\": \"%s\"}, \"padding\": \"", synth_dir);
    for (int i = 0; i < (5 << 20); i++)
        fputc('x', f);
    fputs("\", \"split\": {\"validation\": [], \"training\": []}}\n", f);
    fclose(f);
    segcl_dataset *ds = NULL;
    segcl_status st = segcl_dataset_open_run(ctx, run, "all", &ds);
    segcl_dataset_destroy(ds);
    if (st != SEGCL_ERROR_FORMAT && st != SEGCL_ERROR_IO)
        fail_msg("a 5 MiB args.json: status %d (%s)", st, segcl_context_error(ctx));
    assert_message_names(path);
    assert_message_names("MiB");

    /* a valid safetensors header, 9 MiB of it metadata */
    size_t pad = 9u << 20;
    char *header = malloc(pad + 64);
    assert_non_null(header);
    int n = snprintf(header, 64, "{\"__metadata__\": {\"pad\": \"");
    memset(header + n, 'y', pad);
    strcpy(header + n + pad, "\"}}");
    snprintf(path, sizeof path, "%s/big-header.safetensors", tmp_dir);
    write_safetensors(path, header, 0);
    free(header);
    segcl_metadata md = {0};
    st = segcl_checkpoint_read_metadata(ctx, path, &md, NULL);
    segcl_metadata_clear(&md);
    if (st != SEGCL_ERROR_FORMAT)
        fail_msg("a 9 MiB header: status %d (%s)", st, segcl_context_error(ctx));
    assert_message_names(path);
}

/* ---- the loader refuses batches it does not have ---- */

static void test_loader_index_checked(void **state)
{
    (void)state;
    char path[600];
    fixture(path, sizeof path, "folder");
    segcl_dataset *ds;
    assert_ok(ctx, segcl_dataset_open(ctx, path, SEGCL_DATASET_AUTO, &ds));
    size_t idx[3] = {0, 1, 2};
    segcl_loader_config cfg = {.size = 16, .batch = 2, .classes = 1, .std = {1, 1, 1}};
    segcl_loader *l;
    assert_ok(ctx, segcl_loader_create(segcl_context_diag(ctx), ds, idx, 3, &cfg, &l));
    float x[2 * 3 * 256], t[2 * 256];
    size_t n;
    assert_int_equal(segcl_loader_get(l, 0, 2, x, t, &n, NULL), SEGCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(segcl_loader_get(l, 0, (size_t)-2, x, t, &n, NULL),
                     SEGCL_ERROR_INVALID_ARGUMENT);
    assert_int_equal(segcl_loader_get(l, -1, 0, x, t, &n, NULL), SEGCL_ERROR_INVALID_ARGUMENT);
    /* still usable afterwards */
    assert_ok(ctx, segcl_loader_get(l, 0, 1, x, t, &n, NULL));
    assert_int_equal(n, 1);
    segcl_loader_destroy(l);
    segcl_dataset_destroy(ds);
}

/* ---- allocation failures, one at a time ---- */

/* Runs `body` with the n-th allocation failing, for n = 0, 1, ... until it succeeds; every
 * failure must be "out of host memory" with a message. Returns how many failed. */
#define SWEEP(limit, body, cleanup)                                                                \
    do {                                                                                           \
        int failures_ = 0;                                                                         \
        bool done_ = false;                                                                        \
        for (long n_ = 0; n_ < (limit) && !done_; n_++) {                                          \
            segcl_test_fail_alloc_after(n_);                                                       \
            segcl_status st_ = (body);                                                             \
            segcl_test_fail_alloc_after(-1);                                                       \
            if (st_ == SEGCL_OK) {                                                                 \
                done_ = true;                                                                      \
            } else {                                                                               \
                failures_++;                                                                       \
                if (st_ != SEGCL_ERROR_OUT_OF_HOST_MEMORY)                                         \
                    fail_msg("allocation %ld failed: status %d, not out of host memory: %s", n_,   \
                             st_, segcl_context_error(ctx));                                       \
                assert_true(strlen(segcl_context_error(ctx)) > 0);                                 \
            }                                                                                      \
            cleanup;                                                                               \
        }                                                                                          \
        assert_true(done_);                                                                        \
        assert_true(failures_ > 0);                                                                \
    } while (0)

static void test_sweep_dataset_open(void **state)
{
    (void)state;
    const char *layouts[] = {"ph2/PH2Dataset", "mads", "folder"};
    for (int i = 0; i < 3; i++) {
        char path[600];
        fixture(path, sizeof path, layouts[i]);
        segcl_dataset *ds = NULL;
        SWEEP(2000, segcl_dataset_open(ctx, path, SEGCL_DATASET_AUTO, &ds),
              (segcl_dataset_destroy(ds), ds = NULL));
    }
}

static segcl_status load_two_batches(const char *dir, segcl_loader **l, segcl_dataset **ds)
{
    segcl_status st = segcl_dataset_open(ctx, dir, SEGCL_DATASET_AUTO, ds);
    size_t idx[3] = {0, 1, 2};
    segcl_loader_config cfg = {.size = 16, .batch = 2, .augment = SEGCL_AUGMENT_DERMOSCOPY, .shuffle = true,
                               .seed = 3, .classes = 1, .std = {1, 1, 1}};
    float x[2 * 3 * 256], t[2 * 256];
    size_t n;
    if (!st)
        st = segcl_loader_create(segcl_context_diag(ctx), *ds, idx, 3, &cfg, l);
    for (size_t b = 0; b < 2 && !st; b++)
        st = segcl_loader_get(*l, 0, b, x, t, &n, NULL);
    return st;
}

static void test_sweep_loader(void **state)
{
    (void)state;
    char path[600];
    fixture(path, sizeof path, "folder");
    segcl_loader *l = NULL;
    segcl_dataset *ds = NULL;
    SWEEP(4000, load_two_batches(path, &l, &ds),
          (segcl_loader_destroy(l), segcl_dataset_destroy(ds), l = NULL, ds = NULL));
}

/* The up-front check decodes on several threads at once, all allocating. */
static segcl_status check_pairs(const char *images, const char *masks, segcl_dataset **ds)
{
    segcl_check_result res;
    segcl_status st = segcl_dataset_open_pair(ctx, images, masks, ds);
    if (!st)
        st = segcl_dataset_check(segcl_context_diag(ctx), *ds, 16, 1, true, NULL, NULL, &res);
    return st;
}

static void test_sweep_dataset_check(void **state)
{
    (void)state;
    char images[600], masks[600];
    fixture(images, sizeof images, "sizes_bad/photos");
    fixture(masks, sizeof masks, "sizes_bad/truth");
    segcl_dataset *ds = NULL;
    SWEEP(20000, check_pairs(images, masks, &ds), (segcl_dataset_destroy(ds), ds = NULL));
}

static void test_sweep_checkpoint_save_and_load(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/sweep.safetensors", tmp_dir);
    segcl_model *m = small_model(), *b = small_model();
    segcl_run_config meta, got;
    small_meta(&meta);
    meta.step = 11;
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, path, m, &meta));
    /* every failed save leaves the previous file whole; every successful one is whole */
    for (long n = 0;; n++) {
        assert_true(n < 20000);
        meta.step = 1000 + n;
        segcl_test_fail_alloc_after(n);
        segcl_status st = segcl_run_checkpoint_save(ctx, path, m, &meta);
        segcl_test_fail_alloc_after(-1);
        assert_ok(ctx, test_checkpoint_load(ctx, path, b, true, &got));
        if (st == SEGCL_OK) {
            assert_int_equal(got.step, 1000 + n);
            assert_int_equal(got.model.width, 4);
            assert_int_equal(got.size, 32);
            assert_int_equal(got.epochs, 2);
            break;
        }
        assert_int_equal(st, SEGCL_ERROR_OUT_OF_HOST_MEMORY);
        assert_int_equal(got.step, 11);
    }
    SWEEP(20000, test_checkpoint_load(ctx, path, b, true, &got), (void)0);
    SWEEP(20000, segcl_run_config_read(ctx, path, &got), (void)0);
    segcl_model_destroy(m);
    segcl_model_destroy(b);
}

static void test_sweep_predictor(void **state)
{
    (void)state;
    char path[512], out[512], img[600];
    snprintf(path, sizeof path, "%s/sweep_pred.safetensors", tmp_dir);
    snprintf(out, sizeof out, "%s/sweep_pred", tmp_dir);
    snprintf(img, sizeof img, "%s/images/synth0001.png", synth_dir);
    segcl_model *m = small_model();
    segcl_run_config meta;
    small_meta(&meta);
    assert_ok(ctx, segcl_run_checkpoint_save(ctx, path, m, &meta));
    segcl_model_destroy(m);
    segcl_predictor *p = NULL;
    SWEEP(20000, segcl_predictor_open(ctx, path, NULL, &p),
          (segcl_predictor_destroy(p), p = NULL));
    assert_ok(ctx, segcl_predictor_open(ctx, path, NULL, &p));
    const char *inputs[] = {img};
    SWEEP(20000, segcl_predict_files(p, inputs, 1, out, true, NULL, NULL), (void)0);
    segcl_dataset *ds;
    assert_ok(ctx, segcl_dataset_open(ctx, synth_dir, SEGCL_DATASET_AUTO, &ds));
    segcl_eval_result r = {0};
    SWEEP(20000, segcl_evaluate(p, ds, &r), segcl_eval_result_free(&r));
    segcl_dataset_destroy(ds);
    segcl_predictor_destroy(p);
    /* the lab's outputs: cut-out, composite over the photo's blurred background, instances */
    segcl_predictor_options po;
    segcl_predictor_default_options(&po);
    po.cutout = true;
    po.background = "blur:3";
    po.instances = true;
    po.overlay = SEGCL_OVERLAY_CONTOUR;
    assert_ok(ctx, segcl_predictor_open(ctx, path, &po, &p));
    SWEEP(20000, segcl_predict_files(p, inputs, 1, out, false, NULL, NULL), (void)0);
    segcl_predictor_destroy(p);
    /* exports: weights only, and ONNX; a failed export leaves no file */
    char weights[600], onnx[600];
    snprintf(weights, sizeof weights, "%s/sweep_weights.safetensors", tmp_dir);
    snprintf(onnx, sizeof onnx, "%s/sweep.onnx", tmp_dir);
    SWEEP(20000, segcl_export_weights(ctx, path, weights),
          assert_true(st_ == SEGCL_OK || access(weights, F_OK) != 0));
    SWEEP(20000, segcl_export_onnx(ctx, path, onnx),
          assert_true(st_ == SEGCL_OK || access(onnx, F_OK) != 0));
}

static char notes[4][512];
static int note_count;

static void keep_notes(const segcl_train_progress *p, void *user)
{
    (void)user;
    if (p->event == 2 && note_count < 4)
        snprintf(notes[note_count++], sizeof notes[0], "%s", p->notice);
}

/* A batch that cannot fit in device memory (as POCL_MEMORY_LIMIT makes it on PoCL; here the
 * context's own limit, on any device) is lowered with a note, and where nothing fits the
 * error names the tensor and what to change. Never a crash. */
static void test_device_out_of_memory(void **state)
{
    (void)state;
    char out[512];
    segcl_context *small;
    segcl_settings s;
    segcl_default_settings(&s);
    s.memory_limit = 48ull << 20;
    assert_int_equal(segcl_context_create(&small), SEGCL_OK);
    assert_ok(small, segcl_context_open(small, &s));
    segcl_train_options o;
    segcl_train_summary sum;
    segcl_train_default_options(&o);
    o.data_dir = synth_dir;
    o.size = 32;
    o.batch = 512;
    o.epochs = 1;
    o.max_steps = 1;
    o.overlays = 0;
    o.progress = keep_notes;
    snprintf(out, sizeof out, "%s/oom-lowered", tmp_dir);
    o.out_dir = out;
    note_count = 0;
    assert_ok(small, segcl_train(small, &o, &sum));
    assert_true(sum.batch < 512 && sum.batch >= 1);
    bool said = false;
    for (int i = 0; i < note_count; i++)
        said = said || strstr(notes[i], "batch 512 does not fit");
    assert_true(said);
    segcl_context_destroy(small);
    /* nothing fits: one line naming the tensor and what to change */
    s.memory_limit = 3ull << 20;
    assert_int_equal(segcl_context_create(&small), SEGCL_OK);
    assert_ok(small, segcl_context_open(small, &s));
    snprintf(out, sizeof out, "%s/oom-none", tmp_dir);
    o.out_dir = out;
    o.width = 64;
    o.size = 64;
    assert_int_equal(segcl_train(small, &o, &sum), SEGCL_ERROR_OUT_OF_DEVICE_MEMORY);
    const char *msg = segcl_context_error(small);
    if (!strstr(msg, "tensor '") || !strstr(msg, "size"))
        fail_msg("unhelpful message: %s", msg);
    assert_non_null(segcl_context_error_setting(small)); /* the CLI names its flag */
    assert_null(strchr(msg, '\n'));
    segcl_context_destroy(small);
}

static int setup(void **state)
{
    (void)state;
    if (test_fixture_setup(&fx, "robust", TEST_FIXTURE_TEMP | TEST_FIXTURE_DEVICE) ||
        test_fixture_synth(&fx, "synth", 8, 32, 5, synth_dir, sizeof synth_dir))
        return -1;
    ctx = fx.ctx;
    snprintf(run_dir, sizeof run_dir, "%s/run", tmp_dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return test_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_over_side_limit),
        cmocka_unit_test(test_png_chunk_longer_than_file),
        cmocka_unit_test(test_write_error_names_the_file),
        cmocka_unit_test(test_header_errors_name_the_tensor),
        cmocka_unit_test(test_tampered_metadata),
        cmocka_unit_test(test_predictor_bad_settings),
        cmocka_unit_test(test_train_option_ranges),
        cmocka_unit_test(test_resume_refuses_tampered_metadata),
        cmocka_unit_test(test_resume_needs_optimizer_state),
        cmocka_unit_test(test_metadata_size_limits),
        cmocka_unit_test(test_loader_index_checked),
        cmocka_unit_test(test_sweep_dataset_open),
        cmocka_unit_test(test_sweep_loader),
        cmocka_unit_test(test_sweep_dataset_check),
        cmocka_unit_test(test_sweep_checkpoint_save_and_load),
        cmocka_unit_test(test_sweep_predictor),
        cmocka_unit_test(test_device_out_of_memory),
    };
    return cmocka_run_group_tests_name("robust", tests, setup, teardown);
}
