/* Data-parallel `segcl train` over MPI (tools/cli_mpi.c): optional at build time. */
#ifndef SEGCL_CLI_MPI_H
#define SEGCL_CLI_MPI_H

#include <stdbool.h>

#include "segcl/segcl.h"

typedef struct cli_mpi {
    bool active;    /* started under an MPI launcher with more than one rank */
    int rank, size;
    segcl_collective collective;
} cli_mpi;

/* Joins the launcher's job when `mpirun` (or srun) started this process with several ranks;
 * alone, does nothing. Returns 0, or 1 after printing why it cannot (a build without MPI
 * started by mpirun). */
int cli_mpi_start(cli_mpi *m, bool sync_bn);
/* Leaves the job (MPI_Finalize), or with `abort`, ends every rank (MPI_Abort): for errors
 * that may leave ranks waiting in different collective calls. */
void cli_mpi_finish(cli_mpi *m, bool abort, int code);

/* The rank on this node the launcher reports (0 alone), and the ranks on it. */
int cli_local_rank(void);

#endif
