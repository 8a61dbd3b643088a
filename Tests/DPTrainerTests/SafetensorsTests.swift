import Foundation
import Testing
@testable import DPTrainer

/// Encodes tensors given as (name, shape, values) arrays, keeping the buffers alive meanwhile.
func encodeSafetensors(_ tensors: [(String, [Int], [Float])], metadata: [String: String] = [:]) -> Data {
    func encode(_ index: Int, _ views: [TensorView]) -> Data {
        guard index < tensors.count else { return Safetensors.encode(views, metadata: metadata) }
        let (name, shape, values) = tensors[index]
        return values.withUnsafeBufferPointer { encode(index + 1, views + [TensorView(name: name, shape: shape, values: $0)]) }
    }
    return encode(0, [])
}

/// A safetensors file with the given header text (not padded) and `dataBytes` zero bytes of data.
private func rawFile(header: String, dataBytes: Int, headerLength: UInt64? = nil) -> Data {
    var data = Data()
    withUnsafeBytes(of: (headerLength ?? UInt64(header.utf8.count)).littleEndian) { data.append(contentsOf: $0) }
    data.append(contentsOf: Array(header.utf8))
    data.append(contentsOf: [UInt8](repeating: 0, count: dataBytes))
    return data
}

@Suite struct SafetensorsTests {
    @Test func roundTripKeepsNamesShapesValuesAndMetadata() throws {
        let tensors: [(String, [Int], [Float])] = [
            ("blocks.0.attn.wq", [2, 3], [1, -2, 3.5, .pi, -0.0, .leastNonzeroMagnitude]),
            ("bias", [4], [.greatestFiniteMagnitude, -1e-30, 0, 42]),
            ("scalar", [], [7]),
            ("empty", [0, 5], []),
        ]
        let metadata = ["config": #"{"n_layer":2,"name":"gpt \"tiny\" é"}"#, "format": "pt"]
        let data = encodeSafetensors(tensors, metadata: metadata)
        let file = try Safetensors.decode(data)

        #expect(file.names == tensors.map(\.0), "names come back in file order")
        #expect(file.metadata == metadata)
        for (name, shape, values) in tensors {
            #expect(file.shape(name) == shape)
            let back = try file.values(name)
            #expect(back.map(\.bitPattern) == values.map(\.bitPattern), "\(name) must round-trip bit for bit")
        }
        #expect(file.shape("absent") == nil)
        let headerLength = data.prefix(8).reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(headerLength % 8 == 0, "the data section starts 8-byte aligned")
        #expect(data.count == 8 + headerLength + 4 * (6 + 4 + 1))
    }

    @Test func tinyTensorIsByteExact() throws {
        let data = encodeSafetensors([("w", [2], [1.0, -2.0])])
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#    // 54 bytes
        var expected: [UInt8] = [56, 0, 0, 0, 0, 0, 0, 0]                           // padded to 56
        expected += Array(header.utf8) + [0x20, 0x20]
        expected += [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]                // 1.0f, -2.0f LE
        #expect(Array(data) == expected)
    }

    @Test func metadataIsEscapedJSON() throws {
        let data = encodeSafetensors([("w", [2], [1.0, -2.0])], metadata: ["config": #"{"C":4}"#])
        let header = #"{"__metadata__":{"config":"{\"C\":4}"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#  // 92
        #expect(Array(data.prefix(8)) == [96, 0, 0, 0, 0, 0, 0, 0])
        #expect(Array(data[8..<8 + 96]) == Array(header.utf8) + [UInt8](repeating: 0x20, count: 4))
        #expect(try Safetensors.decode(data).metadata == ["config": #"{"C":4}"#])
    }

    /// Hugging Face's half-precision checkpoints: F16 and BF16 widen exactly to F32.
    @Test func readsF16AndBF16Exactly() throws {
        let header = #"{"b":{"dtype":"BF16","shape":[3],"data_offsets":[12,18]},"h":{"dtype":"F16","shape":[6],"data_offsets":[0,12]}}"#
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        // F16: 1, -2, 65504 (largest), 2^-24 (smallest subnormal), +inf, 0x3555 = 0.333251953125
        // BF16: 1, -2, 0x4049 = 3.140625
        for bits: UInt16 in [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x3555, 0x3F80, 0xC000, 0x4049] {
            withUnsafeBytes(of: bits.littleEndian) { data.append(contentsOf: $0) }
        }
        let file = try Safetensors.decode(data)
        #expect(file.dtype("h") == .f16 && file.dtype("b") == .bf16)
        #expect(try file.values("h") == [1, -2, 65504, 0x1p-24, .infinity, 0.333251953125])
        #expect(try file.values("b") == [1, -2, 3.140625])
        #if !(os(macOS) && arch(x86_64))
        // Every F16 bit pattern against Swift's own Float16 (NaNs compared as NaN).
        for bits in 0...UInt16.max {
            let want = Float(Float16(bitPattern: bits)), got = SafetensorsDType.float(half: bits)
            #expect(want.isNaN ? got.isNaN : got.bitPattern == want.bitPattern, "F16 0x\(String(bits, radix: 16))")
        }
        #endif
    }

    @Test func decodesASliceOfLargerData() throws {
        let file = encodeSafetensors([("w", [3], [1, 2, 3])])
        let padded = Data([9, 9, 9]) + file
        let slice = padded[3...]
        #expect(try Safetensors.decode(slice).values("w") == [1, 2, 3])
    }

    static let badFiles: [(String, Data, String)] = [
        ("short file", Data([1, 0, 0]), "too short"),
        ("header length too big", rawFile(header: "{}", dataBytes: 8, headerLength: 4096), "header length 4096 exceeds the 10 bytes"),
        ("header length beyond the limit", rawFile(header: "{}", dataBytes: 0, headerLength: UInt64.max), "exceeds"),
        ("not JSON", rawFile(header: #"{"w": {"dtype": "F32", "#, dataBytes: 0), "not valid JSON"),
        ("not an object", rawFile(header: "[1, 2]", dataBytes: 0), "does not start with '{'"),
        ("wrong dtype", rawFile(header: #"{"w":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}}"#, dataBytes: 16), "dtype F64; only F32, F16 and BF16"),
        ("F16 size mismatch", rawFile(header: #"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 8), "4 bytes as F16, but data_offsets [0, 8] span 8"),
        ("offsets out of range", rawFile(header: #"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, dataBytes: 8), "beyond the 8-byte data section"),
        ("reversed offsets", rawFile(header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#, dataBytes: 8), "begin <= end"),
        ("size mismatch", rawFile(header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8), "12 bytes as F32, but data_offsets [0, 8] span 8"),
        ("negative dimension", rawFile(header: #"{"w":{"dtype":"F32","shape":[-1,2],"data_offsets":[0,8]}}"#, dataBytes: 8), "negative dimension"),
        ("overlap", rawFile(header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, dataBytes: 12), "overlaps"),
        ("gap", rawFile(header: #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#, dataBytes: 12), "4 unused bytes"),
        ("trailing bytes", rawFile(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 12), "4 trailing bytes"),
        ("missing field", rawFile(header: #"{"w":{"dtype":"F32","shape":[2]}}"#, dataBytes: 8), "header entry that is not"),
        ("three offsets", rawFile(header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}"#, dataBytes: 8), "expected [begin, end]"),
        ("bad metadata", rawFile(header: #"{"__metadata__":{"step":3}}"#, dataBytes: 0), "__metadata__ is not an object of string values"),
    ]

    @Test(arguments: badFiles)
    func badInputIsRejectedWithAReason(_ label: String, _ data: Data, _ reason: String) {
        do {
            let file = try Safetensors.decode(data)
            Issue.record("\(label): accepted, with tensors \(file.names)")
        } catch {
            #expect(error is SafetensorsError)
            #expect(String(describing: error).contains(reason), "\(label): got \"\(error)\"")
        }
    }

    @Test func everyTruncationOfAValidFileIsRejected() {
        let data = encodeSafetensors([("a", [2, 2], [1, 2, 3, 4]), ("b", [3], [5, 6, 7])], metadata: ["k": "v"])
        for length in 0..<data.count {
            #expect(throws: SafetensorsError.self, "truncated to \(length) bytes") { try Safetensors.decode(data.prefix(length)) }
        }
    }

    @Test func copyChecksNameAndSize() throws {
        let file = try Safetensors.decode(encodeSafetensors([("w", [2, 2], [1, 2, 3, 4])]))
        var three = [Float](repeating: 0, count: 3)
        #expect(throws: SafetensorsError("tensor \"w\" has shape [2, 2], 4 values, but the destination holds 3")) {
            try three.withUnsafeMutableBufferPointer { try file.copy("w", into: $0) }
        }
        #expect(throws: SafetensorsError("no tensor named \"v\" in the file")) {
            try three.withUnsafeMutableBufferPointer { try file.copy("v", into: $0) }
        }
        var four = [Float](repeating: 0, count: 4)
        try four.withUnsafeMutableBufferPointer { try file.copy("w", into: $0) }
        #expect(four == [1, 2, 3, 4])
    }
}

/// Interoperability with numpy, reading and writing safetensors by hand (json header + frombuffer).
@Suite(.enabled(if: Python.hasNumpy, "python3 with numpy is not available; skipping the numpy interoperability checks"))
struct SafetensorsNumpyTests {
    @Test func numpyReadsOurFile() throws {
        let values: [Float] = (0..<12).map { Float($0) * 0.37 - 2 }
        let data = encodeSafetensors([("a", [3, 4], values), ("b", [2], [-1.5, 1e-20])], metadata: ["config": #"{"C":4}"#])
        let output = try Python.run("""
            import json, sys, numpy as np
            b = open(sys.argv[1], "rb").read()
            n = int.from_bytes(b[:8], "little"); h = json.loads(b[8:8 + n]); base = 8 + n
            meta = h.pop("__metadata__")
            out = {"meta": meta}
            for name, t in h.items():
                s, e = t["data_offsets"]
                assert t["dtype"] == "F32"
                out[name] = np.frombuffer(b[base + s:base + e], "<f4").reshape(t["shape"]).ravel().astype(float).tolist()
            print(json.dumps(out))
            """, input: data)
        let parsed = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
        #expect(parsed["meta"] as? [String: String] == ["config": #"{"C":4}"#])
        // Float → Python float (double) is exact, so the comparison is exact.
        #expect((parsed["a"] as? [Double])?.map { Float($0) } == values)
        #expect((parsed["b"] as? [Double])?.map { Float($0) } == [-1.5, 1e-20])
    }

    @Test func weReadNumpysFile() throws {
        // numpy's writer differs from ours: spaces after separators, other key order, no padding.
        let output = try Python.run("""
            import json, sys, numpy as np
            a = (np.arange(6, dtype="<f4") / 3).reshape(2, 3); c = np.array([7.25], dtype="<f4")
            h = {"c": {"shape": [1], "dtype": "F32", "data_offsets": [24, 28]},
                 "a": {"data_offsets": [0, 24], "dtype": "F32", "shape": [2, 3]},
                 "__metadata__": {"who": "numpy"}}
            hb = json.dumps(h).encode()
            sys.stdout.buffer.write(len(hb).to_bytes(8, "little") + hb + a.tobytes() + c.tobytes())
            """, input: Data())
        let file = try Safetensors.decode(output)
        #expect(file.names == ["a", "c"])
        #expect(file.metadata == ["who": "numpy"])
        #expect(file.shape("a") == [2, 3])
        #expect(try file.values("a") == (0..<6).map { Float($0) / 3 })
        #expect(try file.values("c") == [7.25])
    }
}

/// Runs python3 scripts for the interoperability tests.
enum Python {
    static let hasNumpy: Bool = (try? run("import numpy", input: Data())) != nil

    /// Runs `script` with a temporary file holding `input` as argv[1]; returns its stdout.
    /// Throws if python3 cannot start or exits non-zero.
    static func run(_ script: String, input: Data) throws -> Data {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-py-\(UUID().uuidString)")
        try input.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, file.path]
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PythonFailed(status: process.terminationStatus) }
        return output
    }

    struct PythonFailed: Error { let status: Int32 }
}
