import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Dataset {
    /// Bump when the tokenizers or the file layout change, so that old caches are not reused.
    static let cacheFormat = 1

    /// Tokenizes `bytes` (UTF-8 text, or any bytes for the byte tokenizer; `path` names them in
    /// errors) into a cache folder under `cacheDirectory` (unless it is there already), checks
    /// it (every token), and returns its files, named `name`. The folder's name holds a hash of
    /// the bytes and of every setting that changes the tokens.
    /// With `fixed`, the text is tokenized with that tokenizer (of `kind`) rather than a trained one.
    static func cached(bytes: Data, path: String, name: String, stem: String, kind: TokenizerKind, vocabSize: Int?,
                       valFraction: Double, cacheDirectory: URL, fixed: (any Tokenizer)? = nil) throws -> DataFiles {
        try checkValFraction(valFraction)
        let trainedVocab: Int? = switch kind {
        case .char, .byte, .huggingface: nil
        case .word: vocabSize
        case .bpe: vocabSize ?? Tokenizers.defaultBPEVocabSize
        }
        let effectiveVocab = fixed == nil ? trainedVocab : nil
        var hash = FNV1a64()
        hash.add(Array("dptrain-cache \(cacheFormat) \(kind.rawValue) \(effectiveVocab ?? -1) \(valFraction.bitPattern)\n".utf8))
        if let fixed { hash.add(Array("fixed tokenizer\n".utf8)); hash.add(try fixed.jsonData()) }
        hash.add(bytes)
        let folder = "\(sanitized(stem))-\(kind.rawValue)\(effectiveVocab.map { "\($0)" } ?? "")-\(hash.hex)"
        let final = cacheDirectory.appendingPathComponent(folder)

        if !FileManager.default.fileExists(atPath: final.appendingPathComponent("tokenizer.json").path) {
            let temporary = cacheDirectory.appendingPathComponent(".\(folder).tmp-\(getpid())-\(UUID().uuidString)")
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: cacheDirectory.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw DataError.io(path: cacheDirectory.path, reason: "is a file, but dptrain keeps its token cache there; delete it (or move it away) and run again")
            }
            do {
                try FileManager.default.createDirectory(at: temporary, withIntermediateDirectories: true)
            } catch {
                throw DataError.io(path: temporary.path, reason: "cannot create the cache folder (\(error.localizedDescription))")
            }
            defer { try? FileManager.default.removeItem(at: temporary) }
            let prepared = try PreparedText(bytes: bytes, path: path, kind: kind, vocabSize: effectiveVocab, valFraction: valFraction,
                                            using: fixed)
            try prepared.write(to: temporary)
            if rename(temporary.path, final.path) != 0 {
                let reason = String(cString: strerror(errno))
                // Another rank on this host finished first: its files are the same; use them.
                guard FileManager.default.fileExists(atPath: final.appendingPathComponent("tokenizer.json").path) else {
                    throw DataError.io(path: final.path, reason: "cannot move the tokenized cache into place (\(reason))")
                }
            }
        }
        let files = DataFiles(train: [final.appendingPathComponent("train.bin")], val: [final.appendingPathComponent("val.bin")],
                              tokenizer: final.appendingPathComponent("tokenizer.json"), name: name, isCache: true)
        do {
            let mapped = try MappedData(files, expecting: kind, vocabSize: nil)
            for file in mapped.tokenFiles { try file.checkTokens(below: mapped.tokenizer.vocabSize) }
        } catch let error as DataError {
            // The cache is dptrain's own: damage there is no fault of the data, and rebuilding cures it.
            throw DataError.io(path: final.path, reason: "is a token cache that cannot be read (\(error.description.trimmingCharacters(in: ["."]))); delete \(cacheDirectory.path) and run again to rebuild it")
        }
        return files
    }

    static func checkValFraction(_ f: Double) throws {
        guard f >= 0 && f < 1 else {
            throw DataError.invalidArgument("The validation fraction must be at least 0 and below 1; got \(f).")
        }
    }

    /// A file-name-safe version of `s`.
    private static func sanitized(_ s: String) -> String {
        let kept = s.unicodeScalars.map { c -> Character in
            c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "-" || c == "_" || c == ".") ? Character(c) : "_"
        }
        let name = String(kept.prefix(40))
        return name.isEmpty || name.hasPrefix(".") ? "text" + name : name
    }
}

/// Reads the bytes of the regular file `url`, with errors that name the file: missing, a directory,
/// a FIFO, device or socket (`--data /dev/zero` would never end), unreadable, or empty.
func readInput(_ url: URL) throws -> Data {
    _ = try checkInput(url)
    let data: Data
    do {
        data = try Data(contentsOf: url)
    } catch {
        throw DataError.io(path: url.path, reason: "cannot be read (\(access(url.path, R_OK) == 0 ? error.localizedDescription : String(cString: strerror(errno))))")
    }
    guard !data.isEmpty else { throw DataError.io(path: url.path, reason: "is empty; there is no text to train on") }
    return data
}

/// The size of the regular file `url`, with `readInput`'s errors, without reading it.
func checkInput(_ url: URL) throws -> Int {
    var info = stat()
    guard stat(url.path, &info) == 0 else {
        if errno == ENOENT { throw DataError.io(path: url.path, reason: "no such file") }
        throw DataError.io(path: url.path, reason: "cannot be read (\(String(cString: strerror(errno))))")
    }
    switch info.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw DataError.io(path: url.path, reason: "is a directory, not a text file")
    case S_IFIFO: throw DataError.io(path: url.path, reason: "is a FIFO (a named pipe), not a regular file; every rank reads --data itself, so write the text to a file first")
    case S_IFCHR, S_IFBLK: throw DataError.io(path: url.path, reason: "is a device, not a regular file (a device such as /dev/zero may never end); write the text to a file first")
    default: throw DataError.io(path: url.path, reason: "is not a regular file; write the text to a file first")
    }
    guard access(url.path, R_OK) == 0 else {
        throw DataError.io(path: url.path, reason: "cannot be read (\(String(cString: strerror(errno))))")
    }
    guard info.st_size > 0 else { throw DataError.io(path: url.path, reason: "is empty; there is no text to train on") }
    return Int(info.st_size)
}

/// `bytes` as UTF-8 text; `DataError.notUTF8(path)` if they are not.
func utf8Text(_ bytes: Data, path: String) throws -> String {
    guard let text = String(data: bytes, encoding: .utf8) else { throw DataError.notUTF8(path: path) }
    return text
}

/// FNV-1a, 64-bit: a cache key, not a security hash (the cache is the user's own).
struct FNV1a64 {
    private(set) var value: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var v = value
        for b in bytes { v = (v ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        value = v
    }

    mutating func add(_ bytes: [UInt8]) { bytes.withUnsafeBytes { add($0) } }

    mutating func add(_ bytes: Data) { bytes.withUnsafeBytes { add($0) } }

    var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
