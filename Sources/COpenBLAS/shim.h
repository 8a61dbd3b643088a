// OpenBLAS's cblas interface plus its own controls (openblas_set_num_threads,
// openblas_get_corename, openblas_get_config), all declared by cblas.h in Debian's
// libopenblas-dev (include path from pkg-config "openblas").
#ifndef DPTRAIN_COPENBLAS_SHIM_H
#define DPTRAIN_COPENBLAS_SHIM_H

#include <cblas.h>

#endif
