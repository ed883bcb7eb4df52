/* mpi_hello.c - the MPI program test_slurm.sh builds with mpicc and runs
 * under srun on the test Slurm cluster.  Every rank prints its rank, the
 * world size and its host name; then every other rank sends its host name
 * to rank 0, which prints what it got, so a run with OMPI_MCA_btl=self,tcp
 * shows messages crossing between the nodes' network namespaces.  With the
 * argument "wait" the ranks stay in MPI after a barrier (rank 0 prints
 * "ready") until they are signalled: a job to cancel. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HOST_MAX 64

static void hello_gather(int rank, int size, const char *host)
{
    char got[HOST_MAX];

    if (rank != 0) {
        MPI_Send(host, HOST_MAX, MPI_CHAR, 0, 0, MPI_COMM_WORLD);
        return;
    }
    for (int r = 1; r < size; r++) {
        MPI_Recv(got, HOST_MAX, MPI_CHAR, r, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        got[HOST_MAX - 1] = '\0';
        printf("rank 0 got %s from rank %d\n", got, r);
    }
}

static void hello_wait(int rank)
{
    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 0) {
        printf("ready\n");
        fflush(stdout);
    }
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    char host[HOST_MAX] = "";
    int rank, size;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    gethostname(host, sizeof(host) - 1);
    if (argc > 1 && strcmp(argv[1], "wait") == 0)
        hello_wait(rank);
    printf("rank %d size %d host %s\n", rank, size, host);
    fflush(stdout);
    hello_gather(rank, size, host);
    MPI_Finalize();
    return 0;
}
