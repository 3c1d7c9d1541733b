#ifndef SEGVIZ_CNIFTI_H
#define SEGVIZ_CNIFTI_H
/* NIfTI-1 API only (nifti1_io and nifti2_io export the same symbols: one API per binary).
   Absolute paths: SwiftPM does not put /usr/include/nifti on the include path, and nifti1_io.h
   includes <znzlib.h> with angle brackets, which the forwarding znzlib.h beside this file answers. */
#include "/usr/include/nifti/nifti1.h"
#include "/usr/include/nifti/nifti1_io.h"

/* znzclose is a macro Swift cannot import. */
int segviz_znzclose(znzFile *file);

#endif
