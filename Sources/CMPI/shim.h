// Swift imports OpenMPI's functions from mpi.h but not its predefined handles: in OpenMPI
// they are macros that take the address of a global object (`((MPI_Comm) &ompi_mpi_comm_world)`),
// which Swift's importer skips. Each function below returns one such handle; the `cmpi_`
// prefix keeps them apart from MPI's own names.
#ifndef DPTRAIN_CMPI_SHIM_H
#define DPTRAIN_CMPI_SHIM_H

#include <mpi.h>

// The communicator of every process the launcher started.
static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }
// The "no communicator" value, returned by MPI_Comm_split_type for excluded ranks.
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }

// 32-bit float, the element type of weights and gradients.
static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
// 64-bit float, for reductions that want more precision (losses, norms).
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
// 64-bit signed integer, for counters (tokens, steps) and hashes.
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
// 32-bit signed integer, the element type of token ids.
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
// Raw bytes, for broadcasting serialized state.
static inline MPI_Datatype cmpi_byte(void) { return MPI_BYTE; }
// 16-bit unsigned integer: the bit patterns of bfloat16 gradients on the wire.
static inline MPI_Datatype cmpi_uint16(void) { return MPI_UINT16_T; }

// Reduction operators.
static inline MPI_Op cmpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_op_min(void) { return MPI_MIN; }

// The "send buffer is the receive buffer" marker for in-place collectives.
static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
// Split type that groups the ranks sharing one host's memory (ranks per node).
static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
// The empty info object, for calls that take hints.
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
// The value of a completed or never-started request.
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
// Tells MPI_Wait/MPI_Test not to fill in a status.
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Status *cmpi_statuses_ignore(void) { return MPI_STATUSES_IGNORE; }
// The error handler that returns error codes instead of aborting the job.
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }
// MPI_SUCCESS is a plain enum constant, but kept here so every MPI constant comes from one place.
static inline int cmpi_success(void) { return MPI_SUCCESS; }
// Thread support levels for MPI_Init_thread.
static inline int cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }
static inline int cmpi_thread_serialized(void) { return MPI_THREAD_SERIALIZED; }
static inline int cmpi_thread_multiple(void) { return MPI_THREAD_MULTIPLE; }
// Buffer sizes for MPI_Get_processor_name, MPI_Error_string and MPI_Get_library_version.
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_max_library_version_string(void) { return MPI_MAX_LIBRARY_VERSION_STRING; }

#endif
