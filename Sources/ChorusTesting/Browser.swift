import ChorusCore
import Foundation

/// Headless Chromium driven over the DevTools protocol: the browser tests' own small runner.
/// It starts a private browser (throwaway profile), attaches to its page, and offers what the
/// tests need: evaluate JavaScript, navigate, wait for a condition, type, take screenshots.
public final class Browser {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }

    /// The Chromium to run: `$CHORUS_CHROMIUM`, else the first of the usual names on the PATH.
    public static func executable(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let given = environment["CHORUS_CHROMIUM"], FileManager.default.isExecutableFile(atPath: given) { return given }
        for directory in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
                let path = "\(directory)/\(name)"
                if FileManager.default.isExecutableFile(atPath: path) { return path }
            }
        }
        return nil
    }

    private let process = Process()
    private let profile: TemporaryDirectory
    private let socket: WebSocketClient
    private var nextID: Int64 = 0
    /// What the page printed to its console and any uncaught errors (for failure messages).
    public private(set) var console: [String] = []

    public init(width: Int = 1280, height: Int = 900) throws {
        guard let executable = Browser.executable() else {
            throw Failure("no Chromium found: install it (apt-get install chromium) or set CHORUS_CHROMIUM")
        }
        profile = try TemporaryDirectory(prefix: "chorus-browser")
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking", "--hide-scrollbars",
                             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--user-data-dir=\(profile.path)",
                             "--window-size=\(width),\(height)", "about:blank"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID" when ready.
        var text = ""
        let deadline = Date().addingTimeInterval(30)
        var port: UInt16?
        while port == nil, Date() < deadline {
            let data = errors.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let range = text.range(of: "DevTools listening on ws://127.0.0.1:") {
                let rest = text[range.upperBound...]
                port = UInt16(rest.prefix { $0.isNumber })
            }
        }
        guard let port else {
            process.terminate()
            throw Failure("Chromium did not start its DevTools endpoint: \(text.suffix(500))")
        }
        // Keep draining stderr so Chromium never blocks on a full pipe.
        errors.fileHandleForReading.readabilityHandler = { handle in _ = handle.availableData }
        let listing = try RawClient(port: port)
        listing.send("GET /json/list HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        guard let response = listing.readResponse(),
              let targets = try? JSONParser(bytesMax: 1 << 20).parse(Array(response.body.utf8)).arrayValue,
              let page = targets.first(where: { $0["type"]?.stringValue == "page" }),
              let url = page["webSocketDebuggerUrl"]?.stringValue, let pathStart = url.range(of: "/devtools/") else {
            process.terminate()
            throw Failure("Chromium offered no page to attach to")
        }
        socket = try WebSocketClient(port: port, path: String(url[pathStart.lowerBound...]))
        _ = try call("Page.enable")
        _ = try call("Runtime.enable")
    }

    deinit { close() }

    public func close() {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
        profile.remove()
    }

    /// Calls a DevTools method and returns its result (events that arrive meanwhile are noted).
    @discardableResult
    public func call(_ method: String, _ parameters: [String: JSONValue] = [:]) throws -> JSONValue {
        nextID += 1
        let id = nextID
        socket.send(JSONValue.object(["id": .integer(id), "method": .string(method), "params": .object(parameters)]).canonicalText)
        while true {
            let text = try socket.receive()
            guard let message = try? JSONParser(depthMax: 200, bytesMax: WebSocketClient.messageBytesMax).parse(Array(text.utf8)) else { continue }
            if message["id"]?.integerValue == id {
                if let error = message["error"] { throw Failure("\(method): \(error["message"]?.stringValue ?? "\(error)")") }
                return message["result"] ?? .null
            }
            note(message)
        }
    }

    private func note(_ event: JSONValue) {
        switch event["method"]?.stringValue {
        case "Runtime.consoleAPICalled":
            let args = event["params"]?["args"]?.arrayValue?.map { $0["value"]?.stringValue ?? $0["description"]?.stringValue ?? "" } ?? []
            console.append("console.\(event["params"]?["type"]?.stringValue ?? "log"): \(args.joined(separator: " "))")
        case "Runtime.exceptionThrown":
            console.append("exception: \(event["params"]?["exceptionDetails"]?["exception"]?["description"]?.stringValue ?? "\(event)")")
        default: break
        }
    }

    /// Evaluates JavaScript in the page (awaiting a promise) and returns its value as JSON.
    @discardableResult
    public func evaluate(_ expression: String) throws -> JSONValue {
        let result = try call("Runtime.evaluate", ["expression": .string(expression), "returnByValue": true, "awaitPromise": true])
        if let details = result["exceptionDetails"] {
            throw Failure("page script failed: \(details["exception"]?["description"]?.stringValue ?? details["text"]?.stringValue ?? "\(details)")")
        }
        return result["result"]?["value"] ?? .null
    }

    public func navigate(_ url: String) throws {
        try call("Page.navigate", ["url": .string(url)])
    }

    /// Polls `condition` (a JavaScript expression) until it is true.
    public func waitUntil(_ condition: String, timeoutSeconds: Double = 15, what: String) throws {
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while Date() < deadline {
            if (try? evaluate("Boolean(\(condition))")) == .bool(true) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw Failure("timed out waiting for \(what); page console: \(console.suffix(5))")
    }

    /// Types text into the focused element, as a keyboard would.
    public func type(_ text: String) throws {
        try call("Input.insertText", ["text": .string(text)])
    }

    /// Presses one key (Tab, Enter, Escape...) on the focused element.
    public func press(_ key: String, code: Int64) throws {
        for type in ["rawKeyDown", "keyUp"] {
            var parameters: [String: JSONValue] = ["type": .string(type), "key": .string(key), "code": .string(key), "windowsVirtualKeyCode": .integer(code)]
            if key == "Enter", type == "rawKeyDown" { parameters["text"] = "\r" }
            try call("Input.dispatchKeyEvent", parameters)
            if key == "Enter", type == "rawKeyDown" { try call("Input.dispatchKeyEvent", ["type": "char", "key": "Enter", "text": "\r"]) }
        }
    }

    /// The viewport: a laptop by default, a phone with `mobile`.
    public func setViewport(width: Int, height: Int, mobile: Bool = false) throws {
        try call("Emulation.setDeviceMetricsOverride", ["width": .integer(Int64(width)), "height": .integer(Int64(height)),
                                                        "deviceScaleFactor": 1, "mobile": .bool(mobile)])
    }

    /// Writes a PNG of the viewport to `path`.
    public func screenshot(to path: String) throws {
        let result = try call("Page.captureScreenshot", ["format": "png"])
        guard let base64 = result["data"]?.stringValue, let data = Data(base64Encoded: base64) else { throw Failure("no screenshot data") }
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
    }
}
