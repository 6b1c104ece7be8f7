/*
 * Data-parallel `segcl train` over MPI. The library knows nothing of MPI: it takes a
 * segcl_collective, and this file makes one from MPI_COMM_WORLD. The gradient sum is a
 * reduce-scatter and an all-gather, like a ring all-reduce in volume (2 (R - 1) / R of the
 * gradients per rank), but deterministic: rank k owns the k-th slice of the vector, receives
 * every rank's copy of it (MPI_Alltoallv) and adds them in rank order 0, 1, ..., R - 1, so the
 * sum never depends on which message arrives first; then every rank gathers every slice
 * (MPI_Allgatherv).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_mpi.h"

/* The launcher's rank count, from its environment (Open MPI, MPICH/PMI, PMIx, Slurm). */
static int launcher_size(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE",
                                       "SLURM_NTASKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return 1;
}

int cli_local_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                       "PMIX_LOCAL_RANK", "SLURM_LOCALID"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) >= 0)
            return atoi(v);
    }
    return 0;
}

#ifdef SEGCL_HAVE_MPI
#include <limits.h>
#include <mpi.h>

typedef struct mpi_state {
    float *recv;
    size_t recv_cap;
    int *counts, *displs, *rcounts, *rdispls;
} mpi_state;

static mpi_state state;

static int mpi_sum(float *data, size_t count, void *user)
{
    cli_mpi *m = user;
    const int R = m->size, me = m->rank;
    if (count > (size_t)INT_MAX)
        return 1;
    mpi_state *s = &state;
    if (!s->counts) {
        s->counts = calloc((size_t)R, sizeof *s->counts);
        s->displs = calloc((size_t)R, sizeof *s->displs);
        s->rcounts = calloc((size_t)R, sizeof *s->rcounts);
        s->rdispls = calloc((size_t)R, sizeof *s->rdispls);
        if (!s->counts || !s->displs || !s->rcounts || !s->rdispls)
            return 1;
    }
    for (int k = 0; k < R; k++) {
        const size_t lo = count * (size_t)k / (size_t)R, hi = count * (size_t)(k + 1) / (size_t)R;
        s->counts[k] = (int)(hi - lo);
        s->displs[k] = (int)lo;
    }
    const size_t mine = (size_t)s->counts[me];
    if (mine * (size_t)R > s->recv_cap) {
        float *g = realloc(s->recv, mine * (size_t)R * sizeof *g + 1);
        if (!g)
            return 1;
        s->recv = g;
        s->recv_cap = mine * (size_t)R;
    }
    for (int j = 0; j < R; j++) {
        s->rcounts[j] = (int)mine;
        s->rdispls[j] = (int)(mine * (size_t)j);
    }
    /* my slice from every rank, then the sum in rank order */
    if (MPI_Alltoallv(data, s->counts, s->displs, MPI_FLOAT, s->recv, s->rcounts, s->rdispls,
                      MPI_FLOAT, MPI_COMM_WORLD) != MPI_SUCCESS)
        return 1;
    float *slice = data + s->displs[me];
    for (size_t i = 0; i < mine; i++) {
        float acc = s->recv[i];
        for (int j = 1; j < R; j++)
            acc += s->recv[mine * (size_t)j + i];
        slice[i] = acc;
    }
    return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, data, s->counts, s->displs,
                          MPI_FLOAT, MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0
               : 1;
}

static int mpi_gather(int value, int *values, void *user)
{
    (void)user;
    return MPI_Allgather(&value, 1, MPI_INT, values, 1, MPI_INT, MPI_COMM_WORLD) == MPI_SUCCESS
               ? 0
               : 1;
}

int cli_mpi_start(cli_mpi *m, bool sync_bn)
{
    memset(m, 0, sizeof *m);
    m->size = 1;
    if (launcher_size() < 2)
        return 0;
    /* errors come back as codes, so every rank can say what went wrong */
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS) {
        cli_error("MPI_Init failed");
        return 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &m->size);
    m->active = m->size > 1;
    m->collective = (segcl_collective){.rank = m->rank, .size = m->size, .sum = mpi_sum,
                                       .gather = mpi_gather, .sync_bn = sync_bn, .user = m};
    return 0;
}

void cli_mpi_finish(cli_mpi *m, bool abort, int code)
{
    if (!m->active && launcher_size() < 2)
        return;
    if (abort)
        MPI_Abort(MPI_COMM_WORLD, code ? code : 1);
    MPI_Finalize();
    free(state.recv);
    free(state.counts);
    free(state.displs);
    free(state.rcounts);
    free(state.rdispls);
    memset(&state, 0, sizeof state);
}

#else

int cli_mpi_start(cli_mpi *m, bool sync_bn)
{
    (void)sync_bn;
    memset(m, 0, sizeof *m);
    m->size = 1;
    if (launcher_size() < 2)
        return 0;
    cli_error("this segcl was built without MPI, so %d processes started by mpirun would each "
              "train alone: install Open MPI (libopenmpi-dev) and rebuild (meson configure "
              "-Dmpi=enabled)",
              launcher_size());
    return 1;
}

void cli_mpi_finish(cli_mpi *m, bool abort, int code)
{
    (void)m, (void)abort, (void)code;
}

#endif
