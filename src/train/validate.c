/*
 * Validation of a training run: the loss, Dice, IoU and pixel accuracy over the validation split
 * after each epoch, and the overlays that show ground truth beside prediction for its first images.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "picture/picture.h"
#include "train/train_impl.h"

/* Labels (0/1, or class index) from logits of image s of a batch of size S x S. */
static void labels_of(const float *logits, int classes, size_t s, int size, uint8_t *labels)
{
    size_t plane = (size_t)size * size;
    for (size_t p = 0; p < plane; p++) {
        if (classes == 1) {
            labels[p] = logits[s * plane + p] > 0.0f;
            continue;
        }
        int best = 0;
        for (int c = 1; c < classes; c++)
            if (logits[(s * classes + c) * plane + p] > logits[(s * classes + best) * plane + p])
                best = c;
        labels[p] = (uint8_t)best;
    }
}

/* Ground truth beside prediction for validation image s of the batch (its Dice, as validation
 * scored it, in the caption). */
static segcl_status write_overlay(run_state *r, long epoch, size_t s, double dice)
{
    const int S = r->meta.size, classes = r->meta.model.classes, k = classes == 1 ? 2 : classes;
    size_t plane = (size_t)S * S;
    char dir[1100];
    path_in(dir, sizeof dir, r->out_dir, "overlays");
    segcl_status st = segcl_run_file_check(r->ctx, dir);
    if (!st)
        st = segcl_make_dirs(segcl_context_diag(r->ctx), dir);
    if (st)
        return st;
    uint8_t *labels = segcl_malloc(plane), *truth = segcl_malloc(plane);
    segcl_image photo = {0}, out = {0};
    if (!labels || !truth) {
        st = segcl_fail(r->ctx, SEGCL_ERROR_OUT_OF_HOST_MEMORY, "out of host memory");
        goto done;
    }
    if ((st = segcl_image_alloc(segcl_context_diag(r->ctx), S, S, 3, &photo)))
        goto done;
    for (size_t p = 0; p < plane; p++)
        for (int c = 0; c < 3; c++) {
            float v = r->host_x[(s * 3 + c) * plane + p] * r->meta.std[c] + r->meta.mean[c];
            int b = (int)lrintf(v * 255.0f);
            photo.pixels[p * 3 + c] = (uint8_t)(b < 0 ? 0 : b > 255 ? 255 : b);
        }
    labels_of(r->host_logits, classes, s, S, labels);
    for (size_t p = 0; p < plane; p++) {
        const int target = (int)r->host_t[s * plane + p];
        truth[p] = (uint8_t)(target < k ? target : 0); /* ignored pixels: background */
    }
    if (!(st = segcl_training_overlay(segcl_context_diag(r->ctx), &photo, truth, labels, dice,
                                      &out))) {
        char path[1400];
        snprintf(path, sizeof path, "%s/epoch%03ld_%s.jpg", dir, epoch + 1,
                 r->ds->items[r->samples[s]].stem);
        if (!(st = segcl_run_file_check(r->ctx, path)))
            st = segcl_image_save_jpeg(segcl_context_diag(r->ctx), path, &out, 90);
    }
done:
    segcl_image_free(&out);
    segcl_image_free(&photo);
    segcl_free(labels);
    segcl_free(truth);
    return st;
}

/* Image s of the batch read back: its confusion counts added to image_counts (ignored pixels
 * left out), and each pixel's loss over the plane added to *loss_sum in pixel order. */
static void score_image(const run_state *r, size_t s, uint64_t *image_counts, double *loss_sum)
{
    const int classes = r->meta.model.classes, S = r->meta.size;
    const int k = classes == 1 ? 2 : classes;
    const size_t plane = (size_t)S * S;
    for (size_t p = 0; p < plane; p++) {
        int target = (int)r->host_t[s * plane + p];
        if (classes >= 2 && target == 255)
            continue;
        double l;
        int pred;
        if (classes == 1) {
            double z = r->host_logits[s * plane + p];
            l = fmax(z, 0) - z * target + log1p(exp(-fabs(z)));
            pred = z > 0;
        } else {
            double m = -INFINITY, se = 0;
            pred = 0;
            for (int c = 0; c < classes; c++) {
                double z = r->host_logits[(s * classes + c) * plane + p];
                if (z > m)
                    m = z, pred = c;
            }
            for (int c = 0; c < classes; c++)
                se += exp(r->host_logits[(s * classes + c) * plane + p] - m);
            l = m + log(se) - r->host_logits[(s * classes + target) * plane + p];
        }
        *loss_sum += l / (double)plane;
        if (target >= 0 && target < k)
            image_counts[target * k + pred]++;
    }
}

/* Per-image loss and confusion counts over the validation split; the padded copies of a short
 * last batch are left out by working on the logits read back. */
segcl_status segcl_training_validate(run_state *r, long epoch, val_result *v)
{
    memset(v, 0, sizeof *v);
    v->dice = v->iou = v->acc = v->loss = NAN;
    if (!r->val_loader)
        return SEGCL_OK;
    const int classes = r->meta.model.classes, S = r->meta.size;
    const int k = classes == 1 ? 2 : classes;
    const size_t plane = (size_t)S * S, per = 3 * plane;
    uint64_t counts[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES] = {0};
    /* Dice and IoU per image, averaged over the images that hold foreground (as segcl eval
     * scores a model); pixel accuracy over every pixel */
    uint64_t image_counts[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES];
    double dice_sum = 0, iou_sum = 0;
    size_t scored = 0;
    double loss_sum = 0;
    size_t images = 0, written = 0;
    segcl_status st = SEGCL_OK;
    for (size_t b = 0; b < segcl_loader_batches(r->val_loader) && !st; b++) {
        size_t n;
        segcl_tensor *logits;
        if ((st = segcl_loader_get(r->val_loader, 0, b, r->host_x, r->host_t, &n, r->samples)))
            break;
        for (size_t s = n; s < (size_t)r->batch; s++) {
            memcpy(r->host_x + s * per, r->host_x, per * sizeof(float));
            memcpy(r->host_t + s * plane, r->host_t, plane * sizeof(float));
        }
        if ((st = segcl_tensor_write(r->x, r->host_x, r->x->numel)) ||
            (st = segcl_tensor_write(r->t, r->host_t, r->t->numel)) ||
            (st = segcl_model_forward(r->model, r->x, false, &logits)) ||
            (st = segcl_tensor_read(logits, r->host_logits, logits->numel)))
            break;
        for (size_t s = 0; s < n; s++) {
            memset(image_counts, 0, sizeof image_counts);
            score_image(r, s, image_counts, &loss_sum);
            segcl_scores one;
            segcl_scores_from_confusion(image_counts, k, &one);
            if (one.defined_classes) {
                dice_sum += one.dice;
                iou_sum += one.iou;
                scored++;
            }
            for (int c = 0; c < k * k; c++)
                counts[c] += image_counts[c];
            if (!st && written + s < (size_t)r->o->overlays)
                st = write_overlay(r, epoch, s, one.defined_classes ? one.dice : NAN);
        }
        written += n;
        images += n;
    }
    if (st)
        return st;
    segcl_scores sc;
    segcl_scores_from_confusion(counts, k, &sc);
    v->loss = images ? loss_sum / (double)images : NAN;
    v->dice = scored ? dice_sum / (double)scored : NAN;
    v->iou = scored ? iou_sum / (double)scored : NAN;
    v->acc = sc.pixel_accuracy;
    v->foreground = scored > 0;
    return SEGCL_OK;
}
