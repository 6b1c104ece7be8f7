/* `segcl train`: options, a progress bar (or plain lines when not on a terminal), Ctrl-C. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli_mpi.h"
#include "progress.h"

void cli_train_help(FILE *out)
{
    fprintf(out,
            "usage: segcl [--device N] train --data DIR --out RUN_DIR [OPTIONS]\n"
            "       segcl [--device N] train --images DIR --masks DIR --out RUN_DIR [OPTIONS]\n"
            "       segcl [--device N] train --resume RUN_DIR\n"
            "\n"
            "Trains a segmentation network. RUN_DIR receives args.json (settings, data, split),\n"
            "checkpoint.safetensors (every epoch), best.safetensors (best validation Dice),\n"
            "metrics.csv, curves.svg and overlays/. A folder that already holds a run is\n"
            "refused; one whose run failed before its first checkpoint is started again.\n"
            "Ctrl-C writes a checkpoint and stops; --resume continues exactly, on the same\n"
            "data: pairs added, removed or modified since the run started are an error that\n"
            "says what changed (--allow-changed-data: go on anyway, with a warning).\n"
            "Every image/mask pair is checked before the first step and every problem listed.\n"
            "\n"
            "Data:\n"
            "  --data DIR            dataset folder (PH2, MADS, or images/ + masks/)\n"
            "  --images DIR --masks DIR   any two folders, matched by file stem\n"
            "  --format F            auto (default), ph2, mads, folder\n"
            "  --size S              resize to S x S (256)\n"
            "  --val-fraction F      held-out share for validation (0.1)\n"
            "  --seed N              split, shuffling, augmentation, initialisation (42)\n"
            "  --augment LIST        hflip,vflip,rot90,color,scale or none (default: PH2\n"
            "                        hflip,vflip,rot90,color; other data hflip,color,scale)\n"
            "  --no-augment          the same as --augment none\n"
            "  --no-shuffle          batches in sorted order\n"
            "  --skip-bad            leave out unusable pairs (listed) instead of stopping\n"
            "  --strict              damaged images (a truncated JPEG) are errors, not warnings\n"
            "  --max-pixels N        refuse larger images (67108864)\n"
            "  --allow-changed-data  with --resume: go on although the data changed (a warning)\n"
            "  --mean R,G,B --std R,G,B   normalisation of [0,1] pixels (0,0,0 / 1,1,1)\n"
            "Model:\n"
            "  --arch unet|segnet    (unet)\n"
            "  --classes N           1: binary masks (> 127 is foreground); >= 2: class indices\n"
            "  --width N --depth N   base channels (16), encoder stages (4)\n"
            "  --init FILE           start from weights (segcl or PyTorch safetensors)\n"
            "Optimisation:\n"
            "  --epochs N (30)  --batch N (32)  --steps N (stop after N steps)\n"
            "  --optimizer adam|adamw|sgd (adam)  --lr X (1e-3)  --weight-decay X (1e-6)\n"
            "  --momentum X (0)  --nesterov\n"
            "  --loss bce|ce|dice|bce+dice   (bce for 1 class, ce otherwise)\n"
            "  --lr-schedule none|cosine|step (none)\n"
            "  --overlays N          validation overlays per epoch (4)\n"
            "Several processes (data-parallel, built with MPI):\n"
            "  mpirun -n R segcl --device auto-local train ... [--sync-bn]\n"
            "                        each rank takes 1/R of every global batch (--batch, a\n"
            "                        multiple of R) on its own device (auto-local: the node's\n"
            "                        GPU for the local rank); gradients are summed in rank\n"
            "                        order; rank 0 writes the run. BatchNorm statistics are\n"
            "                        per rank (PyTorch DDP's default), or with --sync-bn over\n"
            "                        the global batch: then R ranks end where one process does\n");
}

static segcl_atomic_int cancel_flag;

/* Ctrl-C is taken by a thread of its own in sigwait(): SIGINT stays blocked in every other
 * thread (the OpenCL runtime's, the loader's, MPI's), so no library's own signal handler can
 * swallow or re-raise it. SIGTERM is the same request: mpirun sends it to every rank on
 * Ctrl-C, as batch schedulers do before they end a job. The first one asks for a checkpoint and a clean stop; another one at least
 * a second later stops at once. Signals within that second are one request (tools such as
 * timeout send SIGINT to the process and again to its group). SIGUSR1 ends the thread. */
static void *interrupt_thread(void *arg)
{
    const sigset_t *set = arg;
    struct timespec first = {0, 0};
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0 || (sig != SIGINT && sig != SIGTERM))
            return NULL;
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (!atomic_load(&cancel_flag)) {
            first = now;
            atomic_store(&cancel_flag, 1);
            continue;
        }
        double since = (double)(now.tv_sec - first.tv_sec) +
                       (double)(now.tv_nsec - first.tv_nsec) * 1e-9;
        if (since >= 1.0)
            _exit(130);
    }
}

typedef struct progress_state {
    bool tty;
    double last_print;
    long stop_after; /* $SEGCL_TEST_STOP_AFTER: stop as Ctrl-C does after this step (the
                      * segcl-testing CLI only) */
} progress_state;

static void on_progress(const segcl_train_progress *p, void *user)
{
    progress_state *ps = user;
    /* tests stop a run at an exact step as Ctrl-C would (rank 0 asks; every rank stops) */
    if (p->event == 0 && ps->stop_after > 0 && p->step >= ps->stop_after)
        atomic_store(&cancel_flag, 1);
    if (p->event == 2) {
        if (ps->tty)
            fprintf(stdout, "\r\033[K");
        printf("%s%s\n", p->notice, cli_setting_note(p->notice_setting));
        fflush(stdout);
        return;
    }
    if (p->event == 1) {
        char line[512];
        cli_epoch_line(line, sizeof line, ps->tty ? cli_terminal_columns(STDOUT_FILENO) : 10000,
                       p);
        printf("%s%s\n", ps->tty ? "\r\033[K" : "", line);
        fflush(stdout);
        return;
    }
    double t = cli_now();
    if (!ps->tty && t - ps->last_print < 10.0 && p->step % 50 != 0)
        return;
    ps->last_print = t;
    if (ps->tty) {
        char line[512];
        cli_progress_line(line, sizeof line, cli_terminal_columns(STDOUT_FILENO), p);
        printf("\r\033[K%s", line);
    } else {
        char eta[32];
        cli_format_time(p->eta_s, eta, sizeof eta);
        printf("epoch %d/%d step %ld/%ld loss %.4f %.1f img/s ETA %s\n", p->epoch + 1,
               p->epochs, p->step, p->total_steps, p->loss, p->images_per_s, eta);
    }
    fflush(stdout);
}

/* Ctrl-C, SIGTERM (and SIGUSR1, which ends the watcher) blocked in every thread, and one
 * thread that waits for them and sets the cancel flag. */
typedef struct interrupts {
    sigset_t set, old_mask;
    bool masked, waiting;
    pthread_t waiter;
} interrupts;

static void interrupts_block(interrupts *it)
{
    sigemptyset(&it->set);
    sigaddset(&it->set, SIGINT);
    sigaddset(&it->set, SIGTERM);
    sigaddset(&it->set, SIGUSR1);
    it->masked = pthread_sigmask(SIG_BLOCK, &it->set, &it->old_mask) == 0;
    it->waiting = false;
}

static void interrupts_watch(interrupts *it)
{
    it->waiting = it->masked && pthread_create(&it->waiter, NULL, interrupt_thread, &it->set) == 0;
}

/* Stops the watcher and restores the signal mask of before. */
static void interrupts_end(interrupts *it)
{
    if (it->waiting) {
        pthread_kill(it->waiter, SIGUSR1);
        pthread_join(it->waiter, NULL);
        it->waiting = false;
    }
    if (it->masked)
        pthread_sigmask(SIG_SETMASK, &it->old_mask, NULL);
}

/* Reads train's options into o; -1 to go on, else the exit status (0 after --help). */
static int parse_train(int argc, char **argv, segcl_train_options *o, cli_reading *reading,
                       bool *sync_bn)
{
    const char *other = NULL; /* an option besides --resume: not allowed with it */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--resume", 8) != 0 && strcmp(a, "--allow-changed-data") != 0 && !other)
            other = a;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            cli_train_help(stdout);
            return 0;
        }
        int rc = 0;
        if (!strcmp(a, "--no-augment"))
            o->augment = "none";
        else if (!strcmp(a, "--skip-bad"))
            o->skip_bad = true;
        else if (!strcmp(a, "--strict"))
            reading->strict = true;
        else if (!strcmp(a, "--allow-changed-data"))
            reading->allow_changed_data = true;
        else if (!strcmp(a, "--no-shuffle"))
            o->shuffle = false;
        else if (!strcmp(a, "--nesterov"))
            o->nesterov = true;
        else if (!strcmp(a, "--sync-bn"))
            *sync_bn = true;
        else if (cli_opt_str(argc, argv, &i, "--data", &o->data_dir, &rc) ||
                 cli_opt_str(argc, argv, &i, "--images", &o->images_dir, &rc) ||
                 cli_opt_str(argc, argv, &i, "--masks", &o->masks_dir, &rc) ||
                 cli_opt_str(argc, argv, &i, "--augment", &o->augment, &rc) ||
                 cli_opt_u64(argc, argv, &i, "--max-pixels", &reading->max_pixels, &rc) ||
                 cli_opt_str(argc, argv, &i, "--out", &o->out_dir, &rc) ||
                 cli_opt_str(argc, argv, &i, "--resume", &o->resume_dir, &rc) ||
                 cli_opt_str(argc, argv, &i, "--init", &o->init_path, &rc) ||
                 cli_opt_str(argc, argv, &i, "--arch", &o->arch, &rc) ||
                 cli_opt_str(argc, argv, &i, "--optimizer", &o->optimizer, &rc) ||
                 cli_opt_str(argc, argv, &i, "--loss", &o->loss, &rc) ||
                 cli_opt_str(argc, argv, &i, "--lr-schedule", &o->lr_schedule, &rc) ||
                 cli_opt_format(argc, argv, &i, &o->format, &rc) ||
                 cli_opt_int(argc, argv, &i, "--classes", &o->classes, &rc) ||
                 cli_opt_int(argc, argv, &i, "--width", &o->width, &rc) ||
                 cli_opt_int(argc, argv, &i, "--depth", &o->depth, &rc) ||
                 cli_opt_int(argc, argv, &i, "--size", &o->size, &rc) ||
                 cli_opt_int(argc, argv, &i, "--epochs", &o->epochs, &rc) ||
                 cli_opt_int(argc, argv, &i, "--batch", &o->batch, &rc) ||
                 cli_opt_int(argc, argv, &i, "--overlays", &o->overlays, &rc) ||
                 cli_opt_long(argc, argv, &i, "--steps", &o->max_steps, &rc) ||
                 cli_opt_u64(argc, argv, &i, "--seed", &o->seed, &rc) ||
                 cli_opt_float(argc, argv, &i, "--lr", &o->lr, &rc) ||
                 cli_opt_float(argc, argv, &i, "--weight-decay", &o->weight_decay, &rc) ||
                 cli_opt_float(argc, argv, &i, "--momentum", &o->momentum, &rc) ||
                 cli_opt_float(argc, argv, &i, "--val-fraction", &o->val_fraction, &rc) ||
                 cli_opt_triple(argc, argv, &i, "--mean", o->mean, &rc) ||
                 cli_opt_triple(argc, argv, &i, "--std", o->std, &rc)) {
            if (rc)
                return rc;
        } else {
            cli_error("train: unknown option '%s' (see 'segcl train --help')", a);
            return 2;
        }
    }
    if (o->resume_dir && other && strcmp(other, "--sync-bn") != 0) {
        cli_error("train: --resume continues a run with its own settings; '%s' cannot be "
                  "combined with it",
                  other);
        return 2;
    }
    if (!o->resume_dir && ((!o->data_dir && !o->images_dir && !o->masks_dir) || !o->out_dir)) {
        cli_error("train: --data DIR (or --images DIR --masks DIR) and --out RUN_DIR are "
                  "required (or --resume RUN_DIR)");
        return 2;
    }
    return -1;
}

/* The closing lines of a run that ended well (rank 0). */
static void print_summary(const segcl_train_options *o, const segcl_train_summary *s,
                          const cli_mpi *mpi, bool sync_bn)
{
    const char *dir = o->resume_dir ? o->resume_dir : o->out_dir;
    if (s->interrupted)
        printf("interrupted at step %ld: checkpoint written to %s/checkpoint.safetensors; "
               "continue with 'segcl train --resume %s'\n",
               s->steps, dir, dir);
    else
        printf("done: %d epochs, %ld steps in %.0f s (%.1f images/s, batch %d)\n"
               "best validation Dice %.4f; final Dice %.4f IoU %.4f pixel accuracy %.4f\n"
               "model: %s/best.safetensors (latest: %s/checkpoint.safetensors)\n",
               s->epochs_done, s->steps, s->seconds, s->images_per_s, s->batch, s->best_val_dice,
               s->final_val_dice, s->final_val_iou, s->final_val_pixel_accuracy, dir, dir);
    if (mpi->active)
        printf("data-parallel over %d ranks (global batch %d, %s BatchNorm)\n", mpi->size, s->batch,
               sync_bn ? "synchronised" : "per-rank");
}

int cli_cmd_train(const global_options *g, int argc, char **argv)
{
    segcl_train_options o;
    segcl_train_default_options(&o);
    cli_reading reading = {0};
    bool sync_bn = false;
    int rc = parse_train(argc, argv, &o, &reading, &sync_bn);
    if (rc >= 0)
        return rc;
    /* catch Ctrl-C (and SIGTERM) from here on: the run then stops at its first step with a
     * checkpoint. Blocked before MPI starts, so its threads never take them either. */
    interrupts it;
    interrupts_block(&it);
    /* under mpirun: one rank of a data-parallel run */
    cli_mpi mpi;
    if (cli_mpi_start(&mpi, sync_bn)) {
        interrupts_end(&it);
        return 1;
    }
    if (mpi.active)
        o.collective = &mpi.collective;
    interrupts_watch(&it);
    segcl_context *ctx;
    if (cli_open_context(g, &ctx)) {
        interrupts_end(&it);
        /* the other ranks wait for this one in their first collective call */
        cli_mpi_finish(&mpi, mpi.active, 1);
        return 1;
    }
    cli_apply_reading(ctx, &reading);
    segcl_device_info info;
    if (!segcl_context_device_info(ctx, &info)) {
        if (mpi.active)
            fprintf(stderr, "segcl: rank %d of %d: device %d: %s (%s)\n", mpi.rank, mpi.size,
                    info.index, info.name, segcl_device_type_string(info.type));
        else
            printf("device %d: %s (%s)\n", info.index, info.name,
                   segcl_device_type_string(info.type));
    }
    progress_state ps = {.tty = isatty(STDOUT_FILENO) != 0 && mpi.rank == 0, .last_print = 0};
#ifdef SEGCL_TESTING
    const char *stop_after = getenv("SEGCL_TEST_STOP_AFTER");
    ps.stop_after = stop_after ? atol(stop_after) : 0;
#endif
    o.progress = on_progress;
    o.user = &ps;
    o.cancel = &cancel_flag;
    segcl_train_summary s;
    segcl_status st = segcl_train(ctx, &o, &s);
    interrupts_end(&it);
    if (ps.tty)
        printf("\r\033[K");
    if (st) {
        fflush(stdout);
        /* under MPI: the failing rank says why, rank 0 says that every rank stopped */
        if (!mpi.active)
            cli_fail(ctx, st);
        else if (s.failed_rank == mpi.rank || mpi.rank == 0 || s.collective_broken)
            cli_error("rank %d: %s%s", mpi.rank, segcl_context_error(ctx), cli_flag_note(ctx));
        segcl_context_destroy(ctx);
        cli_mpi_finish(&mpi, s.collective_broken, 1);
        return 1;
    }
    if (mpi.rank != 0) {
        segcl_context_destroy(ctx);
        cli_mpi_finish(&mpi, false, 0);
        return s.interrupted ? 130 : 0;
    }
    print_summary(&o, &s, &mpi, sync_bn);
    segcl_context_destroy(ctx);
    cli_mpi_finish(&mpi, false, 0);
    return s.interrupted ? 130 : 0;
}
