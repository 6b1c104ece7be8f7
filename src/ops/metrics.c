/* Confusion counts on device (kernels/metrics.cl), from which Dice, IoU and pixel accuracy
 * follow on the host. */
#include <math.h>
#include <string.h>

#include "ops/ops.h"

#define METRIC_GROUPS 64

segcl_status segcl_confusion(segcl_context *ctx, segcl_workspace *ws, const segcl_tensor *logits,
                             const segcl_tensor *targets, int ignore_index, uint64_t *counts)
{
    const char *op = "confusion";
    if (!logits || !targets || !counts || logits->ndim != 4)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: logits must be NCHW", op);
    int64_t ts[4] = {logits->shape[0], 1, logits->shape[2], logits->shape[3]};
    cl_uint u;
    segcl_status st;
    if ((st = segcl_expect_shape(ctx, op, "targets", targets, 4, ts)) ||
        (st = segcl_u32(ctx, op, logits->numel, &u)))
        return st;
    cl_uint classes = (cl_uint)logits->shape[1];
    if (classes > SEGCL_MAX_CLASSES)
        return segcl_fail(ctx, SEGCL_ERROR_INVALID_ARGUMENT, "%s: at most %d classes", op,
                          SEGCL_MAX_CLASSES);
    cl_uint k = classes == 1 ? 2 : classes, cells = k * k, groups = METRIC_GROUPS;
    cl_uint n = (cl_uint)logits->shape[0], plane = (cl_uint)(logits->shape[2] * logits->shape[3]);
    cl_int ignore = ignore_index;
    cl_mem scratch;
    size_t wg;
    const char *options;
    if ((st = segcl_reduction_group(ctx, &wg, &options)) ||
        (st = segcl_small_scratch(ctx, ws, (size_t)(METRIC_GROUPS + 1) * cells, &scratch)))
        return st;
    size_t global = (size_t)METRIC_GROUPS * wg, local = wg;
    cl_uint out_offset = METRIC_GROUPS * cells;
    if ((st = segcl_run(ctx, "metrics", options, "confusion_partials", 1, &global, &local,
                        SEGCL_ARGS(SEGCL_ARG(logits->buffer), SEGCL_ARG(targets->buffer),
                                   SEGCL_ARG(n), SEGCL_ARG(classes), SEGCL_ARG(plane),
                                   SEGCL_ARG(ignore), SEGCL_ARG(scratch)))))
        return st;
    size_t cglobal = cells;
    if ((st = segcl_run(ctx, "metrics", options, "confusion_reduce", 1, &cglobal, NULL,
                        SEGCL_ARGS(SEGCL_ARG(scratch), SEGCL_ARG(groups), SEGCL_ARG(cells),
                                   SEGCL_ARG(out_offset)))))
        return st;
    cl_uint host[SEGCL_MAX_CLASSES * SEGCL_MAX_CLASSES];
    if ((st = segcl_mem_read_bytes(ctx, scratch, out_offset * sizeof(cl_uint),
                                   cells * sizeof(cl_uint), host)))
        return st;
    for (cl_uint i = 0; i < cells; i++)
        counts[i] += host[i];
    return SEGCL_OK;
}

void segcl_scores_from_confusion(const uint64_t *counts, int k, segcl_scores *out)
{
    uint64_t total = 0, correct = 0;
    for (int t = 0; t < k; t++)
        for (int p = 0; p < k; p++) {
            total += counts[t * k + p];
            if (t == p)
                correct += counts[t * k + p];
        }
    double dice = 0, iou = 0;
    int defined = 0;
    for (int c = 1; c < k; c++) {
        uint64_t tp = counts[c * k + c], fp = 0, fn = 0;
        for (int o = 0; o < k; o++) {
            if (o == c)
                continue;
            fp += counts[o * k + c];
            fn += counts[c * k + o];
        }
        if (tp + fn == 0) /* the class is absent from the targets: nothing to overlap with */
            continue;
        dice += 2.0 * (double)tp / (double)(2 * tp + fp + fn);
        iou += (double)tp / (double)(tp + fp + fn);
        defined++;
    }
    out->dice = defined ? dice / defined : NAN;
    out->iou = defined ? iou / defined : NAN;
    out->defined_classes = defined;
    out->pixel_accuracy = total ? (double)correct / (double)total : NAN;
}
