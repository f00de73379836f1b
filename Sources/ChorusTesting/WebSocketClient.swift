import Foundation

/// The client side of RFC 6455, as much as the browser tests need to speak the DevTools protocol:
/// the opening handshake, masked text frames out, text frames in (fragments joined), pings
/// answered, close noticed. Not a general-purpose client.
public final class WebSocketClient {
    public enum Failure: Error, CustomStringConvertible {
        case handshake(String), closed, protocolError(String)
        public var description: String {
            switch self {
            case .handshake(let head): return "WebSocket handshake refused: \(head.prefix(200))"
            case .closed: return "the WebSocket closed"
            case .protocolError(let what): return "WebSocket protocol error: \(what)"
            }
        }
    }

    /// Largest message accepted (a full-page screenshot in base64 fits well within it).
    public static let messageBytesMax = 64 << 20

    private let client: RawClient

    /// Connects to `ws://127.0.0.1:port/path`.
    public init(port: UInt16, path: String) throws {
        client = try RawClient(port: port)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        client.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n")
        guard let head = client.readHead() else { throw Failure.closed }
        guard head.hasPrefix("HTTP/1.1 101") else { throw Failure.handshake(head) }
    }

    /// Sends one text message.
    public func send(_ text: String) {
        sendFrame(opcode: 0x1, payload: Array(text.utf8))
    }

    private func sendFrame(opcode: UInt8, payload: [UInt8]) {
        var frame: [UInt8] = [0x80 | opcode]
        let count = payload.count
        if count < 126 { frame.append(0x80 | UInt8(count)) }
        else if count <= 0xFFFF { frame.append(0x80 | 126); frame += [UInt8(count >> 8), UInt8(count & 0xFF)] }
        else { frame.append(0x80 | 127); frame += (0..<8).reversed().map { UInt8((UInt64(count) >> (UInt64($0) * 8)) & 0xFF) } }
        let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        client.send(frame)
    }

    /// Receives the next text message.
    public func receive() throws -> String {
        var message: [UInt8] = []
        while true {
            guard let head = client.readExactly(2) else { throw Failure.closed }
            let fin = head[0] & 0x80 != 0, opcode = head[0] & 0x0F
            var length = Int(head[1] & 0x7F)
            if length == 126 {
                guard let bytes = client.readExactly(2) else { throw Failure.closed }
                length = Int(bytes[0]) << 8 | Int(bytes[1])
            } else if length == 127 {
                guard let bytes = client.readExactly(8) else { throw Failure.closed }
                length = bytes.reduce(0) { $0 << 8 | Int($1) }
            }
            guard length >= 0, message.count + length <= WebSocketClient.messageBytesMax else { throw Failure.protocolError("message over \(WebSocketClient.messageBytesMax) bytes") }
            let mask = head[1] & 0x80 != 0 ? client.readExactly(4) : nil
            guard var payload = client.readExactly(length) else { throw Failure.closed }
            if let mask { payload = payload.enumerated().map { $0.element ^ mask[$0.offset % 4] } }
            switch opcode {
            case 0x0, 0x1, 0x2:
                message += payload
                if fin { return String(decoding: message, as: UTF8.self) }
            case 0x8: throw Failure.closed
            case 0x9: sendFrame(opcode: 0xA, payload: payload)
            case 0xA: continue
            default: throw Failure.protocolError("opcode \(opcode)")
            }
        }
    }
}
