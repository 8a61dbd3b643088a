import Foundation
import Testing
import DPTestSupport
@testable import DPTrainer

/// A fresh temporary folder, removed by the caller.
private func scratchFolder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-tb-\(UUID().uuidString)")
}

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

/// The scalars the trainer logs each step, with values that exercise the float encoding.
private func trainScalars(_ step: Int) -> [(tag: String, value: Float)] {
    [("train/loss", 4.5 / Float(step + 1)), ("train/lr", 3e-4 * Float(step) / 10), ("train/grad_norm", .pi),
     ("train/tokens_per_s", 12345.678), ("train/mfu", 0.0123), ("val/loss", -0.0)]
}

@Suite struct CRC32CTests {
    /// Check values of CRC-32C: the catalogue's "123456789", and RFC 3720 (iSCSI) appendix B.4.
    static let vectors: [(bytes: [UInt8], crc: UInt32)] = [
        (Array("123456789".utf8), 0xE306_9283),
        ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
        ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
        (Array(0...31), 0x46DD_794E),
        (Array((0...31).reversed()), 0x113F_DB5C),
        ([], 0),
    ]

    @Test(arguments: vectors)
    func knownVectors(bytes: [UInt8], crc: UInt32) {
        #expect(CRC32C.checksum(bytes) == crc)
    }

    @Test func maskIsRotateRightBy15PlusDelta() {
        // mask(x) = rotr(x, 15) + 0xa282ead8; rotr(1, 15) = 1 << 17.
        #expect(CRC32C.masked(0) == 0xA282_EAD8)
        #expect(CRC32C.masked(1) == 0xA282_EAD8 + (1 << 17))
        #expect(CRC32C.masked(1 << 15) == 0xA282_EAD8 + 1)
        #expect(CRC32C.masked(0xFFFF_FFFF) == 0xA282_EAD8 &+ 0xFFFF_FFFF)
    }
}

@Suite struct TensorBoardTests {
    /// Records produced by TensorBoard 2.21.0's own protobuf classes and RecordWriter framing
    /// (tensorboard.compat.proto.event_pb2, masked_crc32c), generated once with:
    ///     Event(wall_time=1700000000.25, step=42, summary=Summary(value=[
    ///         Value(tag="train/loss", simple_value=2.5), Value(tag="train/lr", simple_value=3e-4)]))
    ///     Event(wall_time=1700000000.0, file_version="brain.Event:2")
    static let tensorBoardScalarRecord = hex(
        "31000000000000009d8383e90900001040fc54d941102a2a240a110a0a747261696e2f6c6f737315000020400a0f0a08"
            + "747261696e2f6c721552499d39b3e618b7")
    static let tensorBoardVersionRecord = hex("1800000000000000a37f4b220900000040fc54d9411a0d627261696e2e4576656e743a32eced8f9d")

    @Test func recordsAreByteForByteWhatTensorBoardWrites() {
        let scalar = TFRecord.frame(EventProto.scalarEvent([("train/loss", 2.5), ("train/lr", 3e-4)], step: 42, wallTime: 1_700_000_000.25))
        #expect(scalar == Self.tensorBoardScalarRecord)
        #expect(TFRecord.frame(EventProto.fileVersionEvent(wallTime: 1_700_000_000)) == Self.tensorBoardVersionRecord)
    }

    @Test func writtenStepsReadBackExactlyWithEveryChecksumValid() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let before = Int(Date().timeIntervalSince1970)
        let writer = try TensorBoardWriter(directory: folder.appendingPathComponent("tensorboard"), hostname: "node-7")
        let after = Int(Date().timeIntervalSince1970)
        let steps = [0, 1, 2, 10, 1_000_000_000_000]
        for step in steps {
            try writer.add(scalars: trainScalars(step), step: step, wallTime: 1_700_000_000.5 + Double(step))
        }
        try writer.flush()

        // The name TensorBoard globs for: events.out.tfevents.<unix seconds>.<host>.
        let name = writer.url.lastPathComponent
        #expect(writer.url.deletingLastPathComponent().lastPathComponent == "tensorboard")
        let parts = name.split(separator: ".")
        #expect(parts.count == 5 && parts[0...2] == ["events", "out", "tfevents"] && parts[4] == "node-7", "\(name)")
        #expect((before...after).contains(Int(parts[3]) ?? -1), "\(name)")

        // Walk the frames independently of the reader: each length and data checksum is valid.
        let bytes = Array(try Data(contentsOf: writer.url))
        var offset = 0, frames = 0
        while offset < bytes.count {
            let length = bytes[offset..<offset + 8].reversed().reduce(0) { $0 << 8 | Int($1) }
            func stored(at position: Int) -> UInt32 {
                bytes[position..<position + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }
            }
            #expect(stored(at: offset + 8) == CRC32C.masked(CRC32C.checksum(bytes[offset..<offset + 8])))
            #expect(stored(at: offset + 12 + length) == CRC32C.masked(CRC32C.checksum(bytes[offset + 12..<offset + 12 + length])))
            offset += 16 + length
            frames += 1
        }
        #expect(offset == bytes.count)
        #expect(frames == 1 + steps.count)

        let events = try TensorBoardEvents.read(writer.url)
        try #require(events.count == 1 + steps.count)
        #expect(events[0].fileVersion == "brain.Event:2")
        #expect(events[0].scalars.isEmpty)
        #expect((Double(before)...Double(after + 1)).contains(events[0].wallTime))
        for (event, step) in zip(events.dropFirst(), steps) {
            #expect(event.step == step)
            #expect(event.wallTime == 1_700_000_000.5 + Double(step), "doubles round-trip exactly")
            #expect(event.fileVersion == nil)
            #expect(event.scalars.map(\.tag) == trainScalars(step).map(\.tag))
            #expect(event.scalars.map(\.value.bitPattern) == trainScalars(step).map(\.value.bitPattern), "bit for bit")
        }
    }

    @Test func stepMetricsAndEvaluationsUseTheDesignTags() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try TensorBoardWriter(directory: folder, hostname: "h")
        let metrics = StepMetrics(
            step: 200, loss: 2.25, lr: 6e-4, gradNorm: 0.75, tokens: 819_200, tokensPerSecond: 4096.5, mfu: 0.125,
            elapsedSeconds: 180, millisecondsPerStep: 900, phases: PhaseTimes())
        try writer.add(metrics, wallTime: 10)
        try writer.addEvaluation(step: 200, valLoss: 2.5, wallTime: 11)
        let events = try TensorBoardEvents.read(writer.url)
        try #require(events.count == 3)
        #expect(events[1].step == 200 && events[1].wallTime == 10)
        #expect(events[1].scalars.map(\.tag) == ["train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s", "train/mfu"])
        #expect(events[1].scalars.map(\.value) == [2.25, Float(6e-4), 0.75, 4096.5, 0.125], "each figure rounded to float")
        #expect(events[2].step == 200 && events[2].wallTime == 11)
        #expect(events[2].scalars.map(\.tag) == ["val/loss"] && events[2].scalars.map(\.value) == [2.5])
    }

    @Test func negativeAndNonFiniteValuesRoundTrip() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try TensorBoardWriter(directory: folder, hostname: "h")
        try writer.add(scalars: [("a", .nan), ("b", .infinity), ("c", -.greatestFiniteMagnitude)], step: -3, wallTime: 0)
        let event = try #require(try TensorBoardEvents.read(writer.url).last)
        #expect(event.step == -3, "int64 varints of negative steps take ten bytes")
        #expect(event.scalars[0].value.isNaN)
        #expect(event.scalars[1].value == .infinity)
        #expect(event.scalars[2].value == -.greatestFiniteMagnitude)
    }

    @Test func twoWritersInOneFolderGetTwoFiles() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let first = try TensorBoardWriter(directory: folder, hostname: "same")
        let second = try TensorBoardWriter(directory: folder, hostname: "same")
        try first.add(scalars: [("x", 1)], step: 1)
        try second.add(scalars: [("x", 2)], step: 1)
        #expect(first.url != second.url)
        #expect(try TensorBoardEvents.read(first.url).last?.scalars.first?.value == 1)
        #expect(try TensorBoardEvents.read(second.url).last?.scalars.first?.value == 2)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
        #expect(names.count == 2 && names.allSatisfy { $0.contains("tfevents") }, "TensorBoard reads every *tfevents* file")
    }

    /// Flips one byte of the second record (the first scalar event) at `position` relative to its start:
    /// in the length, the length checksum, the data, or the data checksum. The reader must name that record.
    @Test(arguments: [0, 3, 8, 11, 12, 20, -4, -1])
    func aFlippedByteIsDetectedAndItsRecordNamed(position: Int) throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try TensorBoardWriter(directory: folder, hostname: "h")
        try writer.add(scalars: trainScalars(1), step: 1, wallTime: 1)
        try writer.add(scalars: trainScalars(2), step: 2, wallTime: 2)
        var bytes = Array(try Data(contentsOf: writer.url))
        let versionRecord = TFRecord.frame(EventProto.fileVersionEvent(wallTime: 0)).count
        let second = TFRecord.frame(EventProto.scalarEvent(trainScalars(1), step: 1, wallTime: 1)).count
        let target = versionRecord + (position >= 0 ? position : second + position)
        bytes[target] ^= 0x10
        try Data(bytes).write(to: writer.url)

        let error = try #require(throws: TensorBoardError.self) { try TensorBoardEvents.read(writer.url) }
        #expect(error.offset == versionRecord, "\(error)")
        #expect(error.description.contains("byte \(versionRecord)"), "\(error)")
        #expect(error.description.contains(writer.url.path))
    }

    @Test func aTruncatedFileIsDetected() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try TensorBoardWriter(directory: folder, hostname: "h")
        try writer.add(scalars: trainScalars(1), step: 1, wallTime: 1)
        let bytes = try Data(contentsOf: writer.url)
        let versionRecord = TFRecord.frame(EventProto.fileVersionEvent(wallTime: 0)).count
        for cut in [versionRecord + 5, versionRecord + 14, bytes.count - 1] {
            try bytes.prefix(cut).write(to: writer.url)
            let error = try #require(throws: TensorBoardError.self) { try TensorBoardEvents.read(writer.url) }
            #expect(error.offset == versionRecord, "cut at \(cut): \(error)")
        }
    }

    @Test func validFramingAroundABadEventIsReported() throws {
        // Checksums fine, but the data is not an Event: field 1 claims 100 bytes of a 3-byte message.
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("events.out.tfevents.1.h")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(TFRecord.frame(EventProto.fileVersionEvent(wallTime: 0)) + TFRecord.frame([0x2A, 100, 1])).write(to: url)
        let error = try #require(throws: TensorBoardError.self) { try TensorBoardEvents.read(url) }
        #expect(error.offset == TFRecord.frame(EventProto.fileVersionEvent(wallTime: 0)).count)
        #expect(error.description.contains("not an Event"), "\(error)")
    }

    @Test func unknownFieldsAreSkipped() throws {
        // As TensorFlow writes: a graph_def (4) event, a session_log (6) message, a Value with
        // metadata (9) and a tensor (8) instead of simple_value, next to a plain scalar.
        var value = ProtobufWriter()
        value.append(9, bytes: [0x0A, 0x00])
        value.append(1, string: "loss")
        value.append(2, float: 1.25)
        var tensorValue = ProtobufWriter()
        tensorValue.append(1, string: "histogram")
        tensorValue.append(8, bytes: [0x08, 0x01])
        var summary = ProtobufWriter()
        summary.append(1, bytes: value.bytes)
        summary.append(1, bytes: tensorValue.bytes)
        var event = ProtobufWriter()
        event.append(1, double: 5)
        event.append(2, int64: 9)
        event.append(6, bytes: [0x08, 0x01])
        event.append(5, bytes: summary.bytes)
        var graph = ProtobufWriter()
        graph.append(1, double: 4)
        graph.append(4, bytes: [1, 2, 3])

        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let url = folder.appendingPathComponent("events.out.tfevents.1.tf")
        try Data(TFRecord.frame(graph.bytes) + TFRecord.frame(event.bytes)).write(to: url)
        let events = try TensorBoardEvents.read(url)
        #expect(events.count == 2)
        #expect(events[0].scalars.isEmpty && events[0].wallTime == 4)
        #expect(events[1].step == 9 && events[1].wallTime == 5)
        #expect(events[1].scalars.map(\.tag) == ["loss"] && events[1].scalars.map(\.value) == [1.25])
    }
}

/// TensorBoard itself reads our file: its EventAccumulator (the loader behind `tensorboard --logdir`).
@Suite(.enabled(if: TensorBoardPython.isInstalled,
                "python3 with the tensorboard package is not installed (pip install tensorboard); skipping the TensorBoard interoperability check"))
struct TensorBoardInteropTests {
    @Test func eventAccumulatorReadsOurScalars() throws {
        let folder = scratchFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try TensorBoardWriter(directory: folder, hostname: "interop")
        let steps = [1, 2, 3, 50, 100]
        for step in steps {
            try writer.add(scalars: trainScalars(step), step: step, wallTime: 1_700_000_000.5 + Double(step))
        }
        try writer.flush()
        let output = try Python.run("""
            import json
            from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
            acc = EventAccumulator("\(folder.path)")
            acc.Reload()
            out = {tag: [[e.step, e.wall_time, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
            print(json.dumps(out))
            """, input: Data())
        let parsed = try #require(try JSONSerialization.jsonObject(with: output) as? [String: [[Double]]])
        #expect(Set(parsed.keys) == Set(trainScalars(0).map(\.tag)))
        for (index, tag) in trainScalars(0).map(\.tag).enumerated() {
            let series = try #require(parsed[tag])
            #expect(series.map { Int($0[0]) } == steps, "\(tag)")
            #expect(series.map { $0[1] } == steps.map { 1_700_000_000.5 + Double($0) }, "\(tag) wall times")
            // Python widens the float32 to a double exactly, so the comparison is exact.
            #expect(series.map { Float($0[2]) } == steps.map { trainScalars($0)[index].value }, "\(tag) values")
        }
    }
}

enum TensorBoardPython {
    static let isInstalled: Bool = (try? Python.run("import tensorboard", input: Data())) != nil
}
