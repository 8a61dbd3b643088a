import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Dataset {
    /// Bump when the tokenizers or the file layout change, so that old caches are not reused.
    /// 2: built by the streaming prepare (bpe trains on at most 16 MB of the text).
    /// 3: a text of more than 100 M tokens in a split is cached as shards, as `prepare` writes it.
    static let cacheFormat = 3

    /// What a token cache is made from: a text file, read in chunks, or bytes in memory (the
    /// built-in corpus).
    enum CacheSource {
        case file(URL)
        case bytes(Data, name: String)
    }

    /// Tokenizes `source` (UTF-8 text, or any bytes for the byte tokenizer) into a cache folder
    /// under `cacheDirectory` (unless it is there already), checks it (every token), and returns
    /// its files, named `name`: train.bin and val.bin, or shards of 100 M tokens when a split is
    /// larger (every rank then maps them as it maps `--data DIR`). The folder's name holds a hash of the bytes and of every setting
    /// that changes the tokens. Made as `dptrain prepare` makes a directory (`streamPrepare`): the
    /// text is read in chunks, hashed and tokenized, never held whole, so memory stays bounded
    /// whatever its size.
    /// With `fixed`, the text is tokenized with that tokenizer (of `kind`) rather than a trained one.
    static func cached(_ source: CacheSource, name: String, stem: String, kind: TokenizerKind, vocabSize: Int?,
                       valFraction: Double, cacheDirectory: URL, fixed: (any Tokenizer)? = nil,
                       shardTokens: Int = PreparedShards.defaultShardTokens) throws -> DataFiles {
        try checkValFraction(valFraction)
        let trainedVocab: Int? = switch kind {
        case .char, .byte, .huggingface: nil
        case .word: vocabSize
        case .bpe: vocabSize ?? Tokenizers.defaultBPEVocabSize
        }
        let effectiveVocab = fixed == nil ? trainedVocab : nil
        var hash = FNV1a64()
        hash.add(Array("dptrain-cache \(cacheFormat) \(kind.rawValue) \(effectiveVocab ?? -1) \(valFraction.bitPattern)\n".utf8))
        if shardTokens != PreparedShards.defaultShardTokens { hash.add(Array("shards of \(shardTokens)\n".utf8)) }
        if let fixed { hash.add(Array("fixed tokenizer\n".utf8)); hash.add(try fixed.jsonData()) }
        switch source {
        case .bytes(let bytes, _): hash.add(bytes)
        case .file(let url): try hash.add(contentsOf: url)
        }
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
            let input: URL
            switch source {
            case .file(let url):
                input = url
            case .bytes(let bytes, let name):
                input = temporary.appendingPathComponent(".\(sanitized(name))")
                do { try bytes.write(to: input) } catch {
                    throw DataError.io(path: input.path, reason: "cannot be written (\(error.localizedDescription))")
                }
            }
            do {
                _ = try streamPrepare(input: input, kind: kind, vocabSize: effectiveVocab, valFraction: valFraction, out: temporary,
                                      shardTokens: shardTokens, using: fixed)
            } catch DataError.notUTF8 {
                throw DataError.notUTF8(path: { if case .bytes(_, let name) = source { return name } else { return input.path } }())
            }
            if case .bytes = source { try? FileManager.default.removeItem(at: input) }
            if rename(temporary.path, final.path) != 0 {
                let reason = String(cString: strerror(errno))
                // Another rank on this host finished first: its files are the same; use them.
                guard FileManager.default.fileExists(atPath: final.appendingPathComponent("tokenizer.json").path) else {
                    throw DataError.io(path: final.path, reason: "cannot move the tokenized cache into place (\(reason))")
                }
            }
        }
        // train.bin and val.bin, or (above 100 M tokens in a split) shards, as prepare writes them.
        let found: DataFiles
        do {
            guard let files = try DataFiles.find(final.path) else { throw DataError.io(path: final.path, reason: "is missing") }
            found = files
        } catch let error as DataError {
            throw DataError.io(path: final.path, reason: "is a token cache that cannot be read (\(error.description.trimmingCharacters(in: ["."]))); delete \(cacheDirectory.path) and run again to rebuild it")
        }
        let files = DataFiles(train: found.train, val: found.val, tokenizer: found.tokenizer, name: name, isCache: true)
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
    static func sanitized(_ s: String) -> String {
        let kept = s.unicodeScalars.map { c -> Character in
            c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "-" || c == "_" || c == ".") ? Character(c) : "_"
        }
        let name = String(kept.prefix(40))
        return name.isEmpty || name.hasPrefix(".") ? "text" + name : name
    }
}

/// The size of the regular file `url`, without reading it; errors name the file: missing, a
/// directory, a FIFO, device or socket (`--data /dev/zero` would never end), unreadable, or empty.
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

    /// Adds the bytes of the file `url`, read in pieces of 4 MB.
    mutating func add(contentsOf url: URL) throws {
        guard let handle = FileHandle(forReadingAtPath: url.path) else {
            throw DataError.io(path: url.path, reason: "cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { try? handle.close() }
        while true {
            let piece: Data
            do { piece = try handle.read(upToCount: 4 << 20) ?? Data() } catch {
                throw DataError.io(path: url.path, reason: "cannot be read (\(error.localizedDescription))")
            }
            if piece.isEmpty { return }
            add(piece)
        }
    }

    var hex: String {
        let s = String(value, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
