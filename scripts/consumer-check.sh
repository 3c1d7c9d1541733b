#!/usr/bin/env bash
# `make consumer-check`: proves that another package can depend on the SegVizKit library product BY VERSION.
# A clean clone of the committed HEAD is tagged 1.0.0 (in the clone only: no tag is added to this repository),
# a throwaway package depends on it with `.package(url: "file://...", from: "1.0.0")`, imports every module of
# SegVizKit, calls one function of each, builds and runs. SwiftPM refuses unsafe build flags in a versioned
# dependency, so this fails if a library target carries one. The environment is cleared (no SEGVIZ_OPTIMIZE), as
# a user's would be. CONSUMER_WORK=DIR keeps the work (and its build cache) in DIR; the default is a fresh
# temporary folder, removed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
swift=${SWIFT:-swift}
work=${CONSUMER_WORK:-}
if [ -z "$work" ]; then
    work=$(mktemp -d /tmp/segviz-consumer.XXXXXX)
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
rm -rf "$work/segviz" "$work/consumer/Package.swift" "$work/consumer/Sources"
git clone -q "$PWD" "$work/segviz"
git -C "$work/segviz" -c user.name=consumer-check -c user.email=consumer-check@localhost tag -a 1.0.0 -m "consumer check"

mkdir -p "$work/consumer/Sources/consumer"
cat > "$work/consumer/Package.swift" <<PKG
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "consumer",
    dependencies: [.package(url: "file://$work/segviz", from: "1.0.0")],
    targets: [.executableTarget(name: "consumer", dependencies: [.product(name: "SegVizKit", package: "segviz")])]
)
PKG
cat > "$work/consumer/Sources/consumer/main.swift" <<'SWIFT'
import Federation
import Imaging
import NN
import SecureAggregation
import Tensor

// One call into each module of SegVizKit.
let t = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
var rng = SplitMix64(seed: 1)
let organs = Organ.allCases.map(\.description)
let digest = try BLAKE2b.hash(Array("segviz".utf8), outputLength: 32)
print("consumer ok: tensor \(t.shape) draw \(rng.next() % 10) organs \(organs) hash \(Hex.encode(digest).prefix(8)) \(RoundStatus.completed)")
SWIFT

env -i PATH="$PATH" HOME="$HOME" "$swift" build --package-path "$work/consumer" 2>&1 | grep -v 'warning:' | tail -5
env -i PATH="$PATH" HOME="$HOME" "$work/consumer/.build/debug/consumer"
echo "consumer-check: a package depending on SegVizKit from: 1.0.0 builds and runs"
