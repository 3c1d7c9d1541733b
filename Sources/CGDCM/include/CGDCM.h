// C interface to GDCM (Grassroots DICOM, Debian libgdcm-dev 3.0): the only code that touches the library.
// Swift reads it through Sources/Imaging/IO/DICOMSeries.swift alone.
#ifndef CGDCM_H
#define CGDCM_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The attributes of one DICOM file that a CT series needs, as the file stores them (strings untouched,
/// empty when absent): PS3.3 C.7.6.2 (Image Plane), C.7.6.3 (Image Pixel), C.11.1 (Modality LUT).
typedef struct {
    char seriesInstanceUID[80];      // (0020,000E)
    char sopClassUID[80];            // (0008,0016)
    char transferSyntaxUID[80];      // (0002,0010)
    char imagePositionPatient[128];  // (0020,0032) "x\y\z" mm, LPS
    char imageOrientationPatient[256]; // (0020,0037) row then column direction cosines, LPS
    char pixelSpacing[96];           // (0028,0030) "row spacing\column spacing" mm
    char rescaleSlope[40];           // (0028,1053)
    char rescaleIntercept[40];       // (0028,1052)
    char numberOfFrames[24];         // (0028,0008)
    int rows;                        // (0028,0010), -1 when absent
    int columns;                     // (0028,0011), -1 when absent
    int samplesPerPixel;             // (0028,0002), -1 when absent
    int hasPixelData;                // (7FE0,0010) present
} cgdcm_header;

/// Reads `path`'s attributes (the pixel data is read but not decoded). Returns 0, or -1 with a message in `error`.
int cgdcm_read_header(const char *path, cgdcm_header *header, char *error, size_t error_size);

/// Decodes `path`'s single frame of grey values (any transfer syntax GDCM supports: uncompressed, RLE, JPEG,
/// JPEG-LS, JPEG 2000) into `count` floats, row by row (column index fastest), as stored values (before the
/// modality LUT). Returns 0, or -1 with a message in `error` (unsupported pixel format, count mismatch, decode failure).
int cgdcm_decode_pixels(const char *path, float *values, size_t count, char *error, size_t error_size);

#ifdef __cplusplus
}
#endif
#endif
