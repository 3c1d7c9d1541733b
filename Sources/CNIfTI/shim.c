#include "CNIfTI.h"

int segviz_znzclose(znzFile *file) { return Xznzclose(file); }
