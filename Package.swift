// swift-tools-version: 6.1
// SegViz: secure federated CT segmentation (liver + spleen) from partially annotated sites.
import PackageDescription

// Linux only (Debian 12): the code uses Glibc, /proc and the Debian C libraries, so no Apple platform is declared.
//
// The library targets carry no unsafe flags, so that another package can depend on the SegVizKit product by
// version (SwiftPM refuses unsafe flags in a versioned dependency; `make consumer-check` proves it builds).
// `make test` (and anyone who exports SEGVIZ_OPTIMIZE=1) builds the numeric modules with -O even in debug,
// so the test suite is fast while @testable import still works (SwiftPM passes -enable-testing in debug).
let optimizeInDebug: [SwiftSetting] = Context.environment["SEGVIZ_OPTIMIZE"] == "1"
    ? [.unsafeFlags(["-O"], .when(configuration: .debug))] : []

let package = Package(
    name: "segviz",
    products: [
        .executable(name: "segviz", targets: ["segviz"]),
        .library(name: "SegVizKit", targets: ["Tensor", "NN", "Imaging", "SecureAggregation", "Federation"]),
    ],
    dependencies: [
        // CLI parsing: one file per subcommand in Sources/segviz.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Property-based tests of quantisation, Shamir, message codecs and mask cancellation.
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // Aggregator HTTP server (nodes connect out to it and long-poll for work).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // TLS for the aggregator's API (server certificate pinned in the federation file).
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // Node-side HTTP client.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // The aggregator's round ledger (SQLite, hash-chained records).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // MARK: C shims (imported by exactly one wrapper file each)
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium",
                       providers: [.apt(["libsodium-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"])]),
        // DICOM through GDCM (C++; Debian libgdcm-dev): a C interface in one shim file. The shim includes GDCM's
        // headers by absolute path (GDCM ships no pkg-config file), so no unsafe -I flag is needed.
        .target(name: "CGDCM",
                linkerSettings: [.linkedLibrary("gdcmMSFF"), .linkedLibrary("gdcmDSED"), .linkedLibrary("gdcmDICT"),
                                 .linkedLibrary("gdcmIOD"), .linkedLibrary("gdcmCommon"), .linkedLibrary("stdc++")]),
        // Direct 3x3x3 convolution kernels: portable C plus an AVX2/FMA path chosen at run time
        // (function-level target attributes, no global flags).
        .target(name: "CKernels"),
        .target(name: "CNIfTI",
                linkerSettings: [.linkedLibrary("niftiio"), .linkedLibrary("znz"),
                                 .linkedLibrary("z"), .linkedLibrary("m")]),

        // MARK: Libraries, in the data's order
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CKernels"],
                swiftSettings: optimizeInDebug),
        .target(name: "NN", dependencies: ["Tensor"],
                swiftSettings: optimizeInDebug),
        .target(name: "Imaging", dependencies: ["NN", "Tensor", "CNIfTI", "CGDCM"],
                swiftSettings: optimizeInDebug),
        .target(name: "SecureAggregation", dependencies: ["CSodium"],
                swiftSettings: optimizeInDebug),
        .target(name: "SecureAggregationTesting", dependencies: ["SecureAggregation"]),
        // Test support shared by every test target and the fuzz targets: shared data, temporary folders, subprocesses.
        .target(name: "SegVizTesting"),
        .target(name: "Federation", dependencies: [
            "SecureAggregation", "Imaging", "NN", "Tensor",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "GRDB", package: "GRDB.swift"),
        ]),

        // The SegViz experiment (baselines vs federated vs secure) and its HTML report; PNG via libpng.
        .target(name: "Experiment", dependencies: [
            "Federation", "SecureAggregation", "Imaging", "NN", "Tensor", "CPNG",
        ], swiftSettings: optimizeInDebug),

        // Tools around a federation: the load simulator (`segviz bench load`) and the TCP relay of the fault tests.
        .target(name: "FederationTools", dependencies: ["Federation", "SecureAggregation", "NN"]),

        // MARK: Command-line tool (thin subcommands over the libraries)
        .executableTarget(name: "segviz", dependencies: [
            "Federation", "FederationTools", "Imaging", "NN", "Tensor", "SecureAggregation", "Experiment",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Tests (Swift Testing)
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor", "SegVizTesting"],
                    resources: []),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "NN", "Tensor", "SegVizTesting"],
                    swiftSettings: optimizeInDebug),
        .testTarget(name: "SecureAggregationTests", dependencies: [
            "SecureAggregation", "SecureAggregationTesting",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ], resources: [.copy("Vectors")]),
        .testTarget(name: "FederationTests", dependencies: [
            "Federation", "SecureAggregation", "Imaging", "NN", "SegVizTesting",
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "Hummingbird", package: "hummingbird"),
        ]),
        .testTarget(name: "ExperimentTests", dependencies: ["Experiment", "Federation", "Imaging", "NN", "SegVizTesting"]),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: Fuzzing (`make fuzz`): the libFuzzer targets of Fuzz/, added only when SEGVIZ_FUZZ is set, for
// `swift build --sanitize=fuzzer --sanitize=address` in `.build-fuzz` (libFuzzer supplies `main`).
if Context.environment["SEGVIZ_FUZZ"] != nil {
    package.products.append(.executable(name: "segviz-fuzz", targets: ["segviz-fuzz"]))
    package.targets.append(.executableTarget(name: "segviz-fuzz", dependencies: [
        "Federation", "Imaging", "NN", "Tensor", "SecureAggregation", "SecureAggregationTesting", "SegVizTesting",
    ], path: "Fuzz"))
}
