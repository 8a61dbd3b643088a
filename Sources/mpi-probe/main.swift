print("mpi-probe")
