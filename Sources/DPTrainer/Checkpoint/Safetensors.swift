import Foundation

/// The safetensors file format (https://github.com/huggingface/safetensors): dptrain writes F32;
/// it reads F32, F16 and BF16 (Hugging Face checkpoints are often half precision), widening to F32.
///
/// Layout: 8 bytes little-endian header length N, N bytes of UTF-8 JSON header, then the data
/// section. The header maps each tensor name to `{"dtype":"F32","shape":[…],"data_offsets":[b,e]}`
/// (byte offsets relative to the start of the data section) and the optional key `__metadata__`
/// to an object of string values. The header is padded with spaces so that the data section
/// starts at a multiple of 8, as the reference writer does. Values are little-endian IEEE 754.
///
/// Python reads our files with `safetensors.numpy.load_file`, or by hand:
///
///     n = int.from_bytes(b[:8], "little"); h = json.loads(b[8:8+n])
///     np.frombuffer(b[8+n+s:8+n+e], "<f4").reshape(shape)      # (s, e) = data_offsets
public enum Safetensors {
    /// Headers longer than this are rejected as corrupt (the reference reader uses the same bound).
    public static let maxHeaderLength = 100_000_000

    /// Encodes F32 tensors plus string metadata (`__metadata__`) in the safetensors format.
    ///
    /// Tensors are laid out in the order given, back to back, with `data_offsets` relative to the
    /// data start; metadata keys are written sorted, so equal inputs give equal bytes.
    /// Names must be unique and must not be `__metadata__`. O(total bytes).
    public static func encode(_ tensors: [TensorView], metadata: [String: String]) -> Data {
        var members: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key < $1.key }
                .map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            members.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        var seen = Set<String>()
        for tensor in tensors {
            precondition(tensor.name != "__metadata__", "a tensor may not be named __metadata__")
            precondition(seen.insert(tensor.name).inserted, "duplicate tensor name \(tensor.name)")
            let end = offset + tensor.values.count * MemoryLayout<Float>.size
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            members.append("\(jsonString(tensor.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}")
            offset = end
        }
        var header = Array("{\(members.joined(separator: ","))}".utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

        var out = Data(capacity: 8 + header.count + offset)
        withUnsafeBytes(of: UInt64(header.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: header)
        for tensor in tensors {
            #if _endian(little)
            out.append(UnsafeRawBufferPointer(tensor.values).bindMemory(to: UInt8.self))
            #else
            for value in tensor.values {
                withUnsafeBytes(of: value.bitPattern.littleEndian) { out.append(contentsOf: $0) }
            }
            #endif
        }
        return out
    }

    /// Parses and validates a safetensors file: the header length lies within the file, the
    /// header is a JSON object, every tensor is F32 with a non-negative shape whose byte count
    /// matches its `data_offsets`, and the tensors tile the data section exactly (in bounds, no
    /// overlap, no gap, nothing after the last one). Throws `SafetensorsError` saying which rule
    /// broke and where. The tensor bytes are not copied; O(header size + tensors · log tensors).
    public static func decode(_ data: Data) throws -> SafetensorsFile {
        guard data.count >= 8 else {
            throw SafetensorsError("file is \(data.count) bytes, too short to hold the 8-byte header length (truncated, or not a safetensors file)")
        }
        let base = data.startIndex
        let headerLength = data[base..<base + 8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw SafetensorsError("header length \(headerLength) exceeds the \(data.count - 8) bytes that follow it (truncated, or not a safetensors file)")
        }
        guard headerLength <= UInt64(maxHeaderLength) else {
            throw SafetensorsError("header length \(headerLength) exceeds the limit of \(maxHeaderLength) bytes")
        }
        let headerStart = base + 8
        let dataStart = headerStart + Int(headerLength)
        let header = data[headerStart..<dataStart]
        guard header.first == UInt8(ascii: "{") else {
            throw SafetensorsError("header does not start with '{' (not a safetensors file)")
        }
        let parsed: Header
        do {
            parsed = try JSONDecoder().decode(Header.self, from: header)
        } catch let error as SafetensorsError {
            throw error
        } catch DecodingError.typeMismatch {
            throw SafetensorsError("header is not a JSON object")
        } catch {
            throw SafetensorsError("header is not valid JSON")
        }

        let dataSize = data.count - 8 - Int(headerLength)
        var tensors: [String: SafetensorsFile.Entry] = [:]
        for entry in parsed.entries {
            let name = entry.name
            guard let dtype = SafetensorsDType(rawValue: entry.dtype) else {
                throw SafetensorsError("tensor \"\(name)\" has dtype \(entry.dtype); only F32, F16 and BF16 are supported")
            }
            guard entry.shape.allSatisfy({ $0 >= 0 }) else {
                throw SafetensorsError("tensor \"\(name)\" has a negative dimension in shape \(entry.shape)")
            }
            var count = 1
            for dim in entry.shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dim)
                guard !overflow, product <= Int.max / dtype.size else {
                    throw SafetensorsError("tensor \"\(name)\" has shape \(entry.shape), too large to address")
                }
                count = product
            }
            guard entry.offsets.count == 2 else {
                throw SafetensorsError("tensor \"\(name)\" has data_offsets \(entry.offsets); expected [begin, end]")
            }
            let (begin, end) = (entry.offsets[0], entry.offsets[1])
            guard 0 <= begin, begin <= end else {
                throw SafetensorsError("tensor \"\(name)\" has data_offsets [\(begin), \(end)]; expected 0 <= begin <= end")
            }
            guard end <= dataSize else {
                throw SafetensorsError("tensor \"\(name)\" has data_offsets [\(begin), \(end)] beyond the \(dataSize)-byte data section (truncated?)")
            }
            guard end - begin == count * dtype.size else {
                throw SafetensorsError("tensor \"\(name)\" has shape \(entry.shape), \(count * dtype.size) bytes as \(dtype.rawValue), but data_offsets [\(begin), \(end)] span \(end - begin) bytes")
            }
            tensors[name] = SafetensorsFile.Entry(shape: entry.shape, dtype: dtype, byteRange: dataStart + begin..<dataStart + end)
        }

        // The tensors must tile the data section: sorted by offset, each begins where the last ended.
        let order = parsed.entries.sorted { ($0.offsets[0], $0.offsets[1], $0.name) < ($1.offsets[0], $1.offsets[1], $1.name) }
        var covered = 0
        for entry in order {
            let begin = entry.offsets[0]
            if begin < covered {
                throw SafetensorsError("tensor \"\(entry.name)\" at data_offsets [\(begin), \(entry.offsets[1])] overlaps the tensor before it, which ends at \(covered)")
            }
            if begin > covered {
                throw SafetensorsError("tensor \"\(entry.name)\" at data_offsets [\(begin), \(entry.offsets[1])] leaves \(begin - covered) unused bytes before it")
            }
            covered = entry.offsets[1]
        }
        guard covered == dataSize else {
            throw SafetensorsError("data section has \(dataSize) bytes but the tensors cover \(covered); \(dataSize - covered) trailing bytes")
        }
        return SafetensorsFile(metadata: parsed.metadata, names: order.map(\.name), entries: tensors, data: data)
    }

    /// A JSON string literal for `s`, as JSONEncoder writes one (quotes, backslashes and control
    /// characters escaped; slashes left as they are).
    static func jsonString(_ s: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Encoding a String cannot fail.
        return String(decoding: try! encoder.encode(s), as: UTF8.self)
    }
}

/// The element types dptrain reads. Values are little-endian; F16 and BF16 widen exactly to F32.
public enum SafetensorsDType: String, Sendable {
    /// IEEE 754 binary32.
    case f32 = "F32"
    /// IEEE 754 binary16: 1 sign, 5 exponent, 10 fraction bits.
    case f16 = "F16"
    /// bfloat16: the top 16 bits of a binary32.
    case bf16 = "BF16"

    /// Bytes per element.
    public var size: Int { self == .f32 ? 4 : 2 }

    /// The binary32 value of one F16 bit pattern, exactly (subnormals, infinities and NaN too).
    static func float(half h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let fraction = UInt32(h & 0x3FF)
        switch exponent {
        case 0:
            // ±0 or a subnormal: fraction · 2^-24.
            let magnitude = Float(fraction) * 0x1p-24
            return sign == 0 ? magnitude : -magnitude
        case 31:
            return Float(bitPattern: sign | 0x7F80_0000 | (fraction << 13))
        default:
            return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (fraction << 13))
        }
    }
}

extension Safetensors {
    /// The parsed JSON header, before validation. Entries keep the file's names; `__metadata__`
    /// must be an object of strings.
    struct Header: Decodable {
        struct Entry {
            let name: String
            let dtype: String
            let shape: [Int]
            let offsets: [Int]
        }

        private struct Fields: Decodable {
            let dtype: String
            let shape: [Int]
            let data_offsets: [Int]
        }

        private struct Key: CodingKey {
            let stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        var metadata: [String: String] = [:]
        var entries: [Entry] = []

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            for key in container.allKeys {
                if key.stringValue == "__metadata__" {
                    guard let metadata = try? container.decode([String: String].self, forKey: key) else {
                        throw SafetensorsError("header's __metadata__ is not an object of string values")
                    }
                    self.metadata = metadata
                } else {
                    guard let fields = try? container.decode(Fields.self, forKey: key) else {
                        throw SafetensorsError("tensor \"\(key.stringValue)\" has a header entry that is not {\"dtype\": string, \"shape\": [int], \"data_offsets\": [int, int]}")
                    }
                    entries.append(Entry(name: key.stringValue, dtype: fields.dtype, shape: fields.shape, offsets: fields.data_offsets))
                }
            }
        }
    }
}
