// libFuzzer target for the HTTP/1.1 request parser. Built by Tests/Fuzz/run-fuzzer.sh together with
// the sources of Sources/HTTP1 (one module, so no `import`), with -sanitize=fuzzer,address.
//
// Properties checked on every input, beyond "no crash, no leak, no overflow":
// - feeding the input whole or split at any one offset gives the same requests or the same error;
// - a parsed request never has a body larger than the configured limit.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var configuration = HTTPParser.Configuration()
    configuration.requestLineBytesMax = 256
    configuration.headerLineBytesMax = 256
    configuration.headerBytesMax = 1024
    configuration.headerCountMax = 16
    configuration.bodyBytesMax = { head in head.path == "/big" ? 4096 : 512 }

    func run(_ pieces: [[UInt8]]) -> String {
        var parser = HTTPParser(configuration: configuration)
        var out: [String] = []
        for piece in pieces {
            for event in parser.feed(piece) {
                switch event {
                case .request(let request):
                    precondition(request.body.count <= 4096, "body over the limit")
                    out.append("\(request.head.method) \(request.head.target) \(request.head.headers.count) \(request.body)")
                case .failure(let error):
                    out.append("error \(error.status)")
                    return out.joined(separator: "|")
                case .head:
                    break
                }
            }
        }
        return out.joined(separator: "|")
    }

    let whole = run([bytes])
    if !bytes.isEmpty {
        let split = Int(bytes[0]) % (bytes.count + 1)
        let pieces = run([Array(bytes[..<split]), Array(bytes[split...])])
        precondition(pieces == whole, "split at \(split) changed the result: \(whole) vs \(pieces)")
    }
    return 0
}
