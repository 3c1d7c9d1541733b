// swift-tools-version: 6.1
// SegViz: secure federated CT segmentation (liver + spleen) from partially annotated sites.
import PackageDescription

/// Release builds of the numeric code want the optimiser's unchecked arithmetic in hot loops only
/// where a module opts in; everything else keeps Swift's checks.
let package = Package(
    name: "segviz",
    platforms: [.macOS(.v14)],
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
        // Direct 3x3x3 convolution kernels: portable C plus an AVX2/FMA path chosen at run time
        // (function-level target attributes, no global flags).
        .target(name: "CKernels"),
        .target(name: "CNIfTI",
                linkerSettings: [.linkedLibrary("niftiio"), .linkedLibrary("znz"),
                                 .linkedLibrary("z"), .linkedLibrary("m")]),

        // MARK: Libraries, in the data's order
        // Tensor and NN are numeric: optimised (-O) even in debug builds so `swift test` is fast;
        // @testable import still works (SwiftPM passes -enable-testing in debug).
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CKernels"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "NN", dependencies: ["Tensor"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "Imaging", dependencies: ["NN", "Tensor", "CNIfTI"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "SecureAggregation", dependencies: ["CSodium"],
                swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .target(name: "SecureAggregationTesting", dependencies: ["SecureAggregation"]),
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
            "Federation", "SecureAggregation", "SecureAggregationTesting", "Imaging", "NN", "Tensor", "CPNG",
        ], swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),

        // MARK: Command-line tool
        .executableTarget(name: "segviz", dependencies: [
            "Federation", "Imaging", "NN", "Tensor", "SecureAggregation", "Experiment",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // MARK: Tests (Swift Testing)
        .testTarget(name: "TensorTests", dependencies: ["Tensor"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Tensor"],
                    resources: []),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "NN", "Tensor"],
                    swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]),
        .testTarget(name: "SecureAggregationTests", dependencies: [
            "SecureAggregation", "SecureAggregationTesting",
            .product(name: "PropertyBased", package: "swift-property-based"),
        ], resources: [.copy("Vectors")]),
        .testTarget(name: "FederationTests", dependencies: [
            "Federation", "SecureAggregation", "Imaging", "NN",
            .product(name: "PropertyBased", package: "swift-property-based"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "ExperimentTests", dependencies: ["Experiment", "Federation", "Imaging"]),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: Fuzzing (`make fuzz`): the libFuzzer targets of Fuzz/, added only when SEGVIZ_FUZZ is set, for
// `swift build --sanitize=fuzzer --sanitize=address` in `.build-fuzz` (libFuzzer supplies `main`).
if Context.environment["SEGVIZ_FUZZ"] != nil {
    package.products.append(.executable(name: "segviz-fuzz", targets: ["segviz-fuzz"]))
    package.targets.append(.executableTarget(name: "segviz-fuzz", dependencies: [
        "Federation", "Imaging", "NN", "Tensor", "SecureAggregation", "SecureAggregationTesting",
    ], path: "Fuzz"))
}
