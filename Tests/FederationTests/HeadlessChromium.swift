import Foundation

/// Debian's chromium in headless mode: loads a page like a browser and returns what it rendered.
struct HeadlessChromium {
    let executable: String

    /// Finds chromium on PATH-like locations; nil when it is not installed (scripts/install-deps.sh installs it).
    static func find() -> HeadlessChromium? {
        for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        where FileManager.default.isExecutableFile(atPath: p) {
            return HeadlessChromium(executable: p)
        }
        return nil
    }

    private func arguments(_ extra: [String], url: String, profile: String) -> [String] {
        [executable, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile)"] + extra + [url]
    }

    /// The DOM after Chromium loaded and rendered `url`.
    func renderedDOM(url: String) throws -> String {
        let profile = try temporaryDirectory()
        let out = try runCapturingStdout(arguments(["--dump-dom"], url: url, profile: profile))
        return out
    }

    /// The text a reader sees: the rendered DOM without tags, scripts and styles, entities decoded.
    func renderedText(url: String) throws -> String {
        var s = try renderedDOM(url: url)
        for tag in ["style", "script"] {
            s = s.replacingOccurrences(of: "<\(tag)[^>]*>[\\s\\S]*?</\(tag)>", with: " ", options: .regularExpression)
        }
        s = s.replacingOccurrences(of: "<[^>]+>", with: " ", options: .regularExpression)
        for (e, c) in [("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&amp;", "&")] { s = s.replacingOccurrences(of: e, with: c) }
        return s.replacingOccurrences(of: "\\s+", with: " ", options: .regularExpression)
    }

    /// Saves a PNG screenshot of `url` at `width`x`height` to `path`.
    func screenshot(url: String, to path: String, width: Int = 1280, height: Int = 1000) throws {
        let profile = try temporaryDirectory()
        _ = try runCapturingStdout(arguments(["--screenshot=\(path)", "--window-size=\(width),\(height)",
                                              "--hide-scrollbars"], url: url, profile: profile))
    }

    private func runCapturingStdout(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: args[0])
        p.arguments = Array(args.dropFirst())
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Where tests leave files for people to look at (screenshots): `<repo>/test-artifacts`, or $SEGVIZ_TEST_ARTIFACTS.
func testArtifactsDirectory() throws -> String {
    let dir = ProcessInfo.processInfo.environment["SEGVIZ_TEST_ARTIFACTS"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("test-artifacts").path
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}
