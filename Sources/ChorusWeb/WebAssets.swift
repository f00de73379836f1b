import ChorusCore
import Foundation
import HTTP1

/// The web page every node serves at `/`: plain HTML, CSS and JavaScript modules from `Page/`,
/// shipped beside the binary as the module's resources, with no build step and nothing fetched
/// from elsewhere at run time (an office may be offline; see Docs/guides/tour.md).
///
/// Files are read once and kept in memory with a strong ETag, so a browser revalidates with one
/// 304 and the page loads as fast offline as on.
public final class WebAssets: @unchecked Sendable {
    struct Asset {
        let bytes: [UInt8]
        let contentType: String
        let etag: String
    }

    /// The URL prefix of everything but the page itself.
    public static let prefix = "/ui/"

    /// Policy for the page: only our own scripts, styles and API; no framing; no inline script.
    static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    ]

    static let contentTypes = ["html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
                               "svg": "image/svg+xml", "json": "application/json"]

    private let assets: [String: Asset]

    /// The page shipped with this build.
    public static let shipped = WebAssets(directory: Bundle.module.resourceURL?.appendingPathComponent("Page"))

    /// Loads every file of `directory` (nil or missing: a page that says the install is incomplete).
    public init(directory: URL?) {
        var assets: [String: Asset] = [:]
        if let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) {
            for name in names.sorted() {
                let ext = String(name.split(separator: ".").last ?? "")
                guard let type = WebAssets.contentTypes[ext],
                      let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else { continue }
                let bytes = [UInt8](data)
                assets[name] = Asset(bytes: bytes, contentType: type, etag: "\"\(SHA256.hash(bytes).hexString.prefix(32))\"")
            }
        }
        self.assets = assets
    }

    /// Whether `path` is the page's.
    public static func serves(_ path: String) -> Bool { path == "/" || path == "/index.html" || path.hasPrefix(prefix) }

    /// The response for a GET or HEAD of one of the page's paths.
    public func response(method: String, path: String, ifNoneMatch: String?) -> HTTPResponse {
        guard method == "GET" || method == "HEAD" else {
            return HTTPResponse(status: 405, headers: [("Allow", "GET, HEAD"), ("Content-Type", "text/plain; charset=utf-8")], body: Array("use GET\n".utf8))
        }
        let name = path == "/" || path == "/index.html" ? "index.html" : String(path.dropFirst(WebAssets.prefix.count))
        guard !name.contains("/"), let asset = assets[name] else {
            if assets.isEmpty {
                return HTTPResponse(status: 503, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                    body: Array("The web page's files are missing beside the chorus binary (Chorus_ChorusWeb.resources); reinstall Chorus.\n".utf8))
            }
            return HTTPResponse(status: 404, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array("not found\n".utf8))
        }
        var headers: [(name: String, value: String)] = [("Content-Type", asset.contentType), ("ETag", asset.etag), ("Cache-Control", "no-cache")]
        headers += WebAssets.securityHeaders
        if ifNoneMatch == asset.etag { return HTTPResponse(status: 304, headers: headers) }
        // A HEAD's body is left out by the server, which sends this one's length.
        return HTTPResponse(status: 200, headers: headers, body: asset.bytes)
    }
}
