/* Forwarder so that nifti1_io.h's `#include <znzlib.h>` resolves: SwiftPM puts this folder, not
   /usr/include/nifti, on the include path. */
#include "/usr/include/nifti/znzlib.h"
