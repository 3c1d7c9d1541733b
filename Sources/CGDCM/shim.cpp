// GDCM behind a C interface (see include/CGDCM.h). Exceptions never cross into Swift: every entry point
// catches and reports through `error`.
#include "CGDCM.h"

#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "/usr/include/gdcm-3.0/gdcmDataSet.h"
#include "/usr/include/gdcm-3.0/gdcmImage.h"
#include "/usr/include/gdcm-3.0/gdcmImageReader.h"
#include "/usr/include/gdcm-3.0/gdcmPixelFormat.h"
#include "/usr/include/gdcm-3.0/gdcmReader.h"
#include "/usr/include/gdcm-3.0/gdcmStringFilter.h"
#include "/usr/include/gdcm-3.0/gdcmTag.h"
#include "/usr/include/gdcm-3.0/gdcmTransferSyntax.h"

namespace {

void fail(char *error, size_t size, const std::string &message) {
    if (error && size > 0) std::snprintf(error, size, "%s", message.c_str());
}

void copyTag(gdcm::StringFilter &filter, const gdcm::DataSet &ds, const gdcm::Tag &tag, char *out, size_t size) {
    out[0] = 0;
    if (!ds.FindDataElement(tag) || ds.GetDataElement(tag).IsEmpty()) return;
    std::string value = filter.ToString(tag);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\0')) value.pop_back();
    std::snprintf(out, size, "%s", value.c_str());
}

int intTag(gdcm::StringFilter &filter, const gdcm::DataSet &ds, const gdcm::Tag &tag) {
    if (!ds.FindDataElement(tag) || ds.GetDataElement(tag).IsEmpty()) return -1;
    try { return std::stoi(filter.ToString(tag)); } catch (...) { return -1; }
}

template <typename T> void widen(const std::vector<char> &buffer, float *values, size_t count) {
    const T *p = reinterpret_cast<const T *>(buffer.data());
    for (size_t n = 0; n < count; n++) values[n] = static_cast<float>(p[n]);
}

// Runs `body`, turning any exception into -1 and a message.
template <typename F> int guarded(char *error, size_t size, F body) {
    try {
        return body();
    } catch (const std::exception &e) {
        fail(error, size, std::string("GDCM: ") + e.what());
    } catch (...) {
        fail(error, size, "GDCM failed");
    }
    return -1;
}

}  // namespace

extern "C" int cgdcm_read_header(const char *path, cgdcm_header *h, char *error, size_t error_size) {
    return guarded(error, error_size, [&]() -> int {
        std::memset(h, 0, sizeof *h);
        gdcm::Reader reader;
        reader.SetFileName(path);
        if (!reader.Read()) {
            fail(error, error_size, "GDCM cannot read it as DICOM");
            return -1;
        }
        const gdcm::File &file = reader.GetFile();
        const gdcm::DataSet &ds = file.GetDataSet();
        gdcm::StringFilter filter;
        filter.SetFile(file);
        copyTag(filter, ds, gdcm::Tag(0x0020, 0x000e), h->seriesInstanceUID, sizeof h->seriesInstanceUID);
        copyTag(filter, ds, gdcm::Tag(0x0008, 0x0016), h->sopClassUID, sizeof h->sopClassUID);
        copyTag(filter, ds, gdcm::Tag(0x0020, 0x0032), h->imagePositionPatient, sizeof h->imagePositionPatient);
        copyTag(filter, ds, gdcm::Tag(0x0020, 0x0037), h->imageOrientationPatient, sizeof h->imageOrientationPatient);
        copyTag(filter, ds, gdcm::Tag(0x0028, 0x0030), h->pixelSpacing, sizeof h->pixelSpacing);
        copyTag(filter, ds, gdcm::Tag(0x0028, 0x1053), h->rescaleSlope, sizeof h->rescaleSlope);
        copyTag(filter, ds, gdcm::Tag(0x0028, 0x1052), h->rescaleIntercept, sizeof h->rescaleIntercept);
        copyTag(filter, ds, gdcm::Tag(0x0028, 0x0008), h->numberOfFrames, sizeof h->numberOfFrames);
        const char *ts = gdcm::TransferSyntax::GetTSString(file.GetHeader().GetDataSetTransferSyntax());
        std::snprintf(h->transferSyntaxUID, sizeof h->transferSyntaxUID, "%s", ts ? ts : "");
        h->rows = intTag(filter, ds, gdcm::Tag(0x0028, 0x0010));
        h->columns = intTag(filter, ds, gdcm::Tag(0x0028, 0x0011));
        h->samplesPerPixel = intTag(filter, ds, gdcm::Tag(0x0028, 0x0002));
        h->hasPixelData = ds.FindDataElement(gdcm::Tag(0x7fe0, 0x0010)) ? 1 : 0;
        return 0;
    });
}

extern "C" int cgdcm_decode_pixels(const char *path, float *values, size_t count, char *error, size_t error_size) {
    return guarded(error, error_size, [&]() -> int {
        gdcm::ImageReader reader;
        reader.SetFileName(path);
        if (!reader.Read()) {
            fail(error, error_size, "GDCM cannot read the image");
            return -1;
        }
        const gdcm::Image &image = reader.GetImage();
        const gdcm::PixelFormat pf = image.GetPixelFormat();
        if (pf.GetSamplesPerPixel() != 1) {
            fail(error, error_size, "not a greyscale image (" + std::to_string(pf.GetSamplesPerPixel()) + " samples per pixel)");
            return -1;
        }
        const size_t length = image.GetBufferLength();
        std::vector<char> buffer(length);
        if (!image.GetBuffer(buffer.data())) {
            fail(error, error_size, "GDCM cannot decode the pixel data (transfer syntax " +
                 std::string(gdcm::TransferSyntax::GetTSString(image.GetTransferSyntax())) + ")");
            return -1;
        }
        const size_t width = pf.GetPixelSize();
        if (width == 0 || length / width != count) {
            fail(error, error_size, "pixel data holds " + std::to_string(width ? length / width : 0) +
                 " values, expected " + std::to_string(count));
            return -1;
        }
        switch (pf.GetScalarType()) {
        case gdcm::PixelFormat::UINT8: widen<uint8_t>(buffer, values, count); break;
        case gdcm::PixelFormat::INT8: widen<int8_t>(buffer, values, count); break;
        case gdcm::PixelFormat::UINT16: widen<uint16_t>(buffer, values, count); break;
        case gdcm::PixelFormat::INT16: widen<int16_t>(buffer, values, count); break;
        case gdcm::PixelFormat::UINT32: widen<uint32_t>(buffer, values, count); break;
        case gdcm::PixelFormat::INT32: widen<int32_t>(buffer, values, count); break;
        case gdcm::PixelFormat::FLOAT32: widen<float>(buffer, values, count); break;
        default:
            fail(error, error_size, std::string("unsupported pixel format ") + pf.GetScalarTypeAsString());
            return -1;
        }
        return 0;
    });
}
