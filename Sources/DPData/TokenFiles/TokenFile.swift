import Foundation

/// llm.c's token file: a header of 256 little-endian int32 — magic 20240520, version (1: uint16
/// tokens, 2: uint32 tokens), token count, then zeros — followed by the tokens, little-endian.
public enum TokenFile {
    public static let magic: Int32 = 20240520
    public static let headerBytes = 256 * 4
    /// Vocabularies up to this size fit version 1 (uint16 tokens).
    public static let maxVersion1VocabSize = 65_535

    /// Writes `tokens` as version 1 when `vocabSize` <= 65,535, else version 2. Every token must be
    /// in 0..<vocabSize. The file is written to a temporary name and renamed into place.
    public static func write(_ tokens: [Int32], vocabSize: Int, to url: URL) throws {
        guard vocabSize > 0 else { throw DataError.invalidArgument("A token file needs a vocabulary size above 0.") }
        guard tokens.count <= Int(Int32.max) else {
            throw DataError.invalidArgument("\(tokens.count) tokens do not fit one llm.c token file (at most \(Int32.max)).")
        }
        for (i, t) in tokens.enumerated() where t < 0 || Int(t) >= vocabSize {
            throw DataError.tokenFile(path: url.path, problem: .tokenOutOfRange(index: i, token: Int64(t), vocabSize: vocabSize))
        }
        let wide = vocabSize > maxVersion1VocabSize
        var data = Data(capacity: headerBytes + tokens.count * (wide ? 4 : 2))
        var header = [Int32](repeating: 0, count: 256)
        header[0] = magic
        header[1] = wide ? 2 : 1
        header[2] = Int32(tokens.count)
        header.withUnsafeBytes { raw in
            for v in raw.bindMemory(to: Int32.self) { withUnsafeBytes(of: v.littleEndian) { data.append(contentsOf: $0) } }
        }
        if wide {
            tokens.map { UInt32(bitPattern: $0).littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
        } else {
            tokens.map { UInt16(truncatingIfNeeded: $0).littleEndian }.withUnsafeBytes { data.append(contentsOf: $0) }
        }
        do {
            try data.write(to: url, options: .atomic)
        } catch {
            throw DataError.io(path: url.path, reason: "cannot write the token file (\(error.localizedDescription))")
        }
    }

    /// Memory-maps a token file and validates it: magic, version, file size against the header's
    /// count, and, when `vocabSize` is given, every token below it (O(count)). Errors name the
    /// file and what is wrong with it.
    public static func read(_ url: URL, vocabSize: Int?) throws -> TokenSequence {
        let file = try map(url)
        if let vocabSize { try file.checkTokens(below: vocabSize) }
        return file.tokens
    }

    /// Memory-maps a token file and checks its header — magic, version, and the file's size
    /// against the header's count — without reading the tokens: O(1), and the tokens stay in the
    /// page cache, not in this process's memory, until a sampler reads them.
    public static func map(_ url: URL) throws -> MappedTokenFile {
        let path = url.path
        func fail(_ problem: TokenFileProblem) -> DataError { .tokenFile(path: path, problem: problem) }
        let file = try MappedFile(path: path)
        guard file.size >= headerBytes else { throw fail(.tooSmallForHeader(bytes: file.size)) }
        func header(_ i: Int) -> Int32 { Int32(littleEndian: file.base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
        guard header(0) == magic else { throw fail(.badMagic(header(0))) }
        let version = header(1)
        guard version == 1 || version == 2 else { throw fail(.badVersion(version)) }
        let count = header(2)
        guard count >= 0 else { throw fail(.negativeCount(count)) }
        let expected = headerBytes + Int(count) * (version == 2 ? 4 : 2)
        guard file.size == expected else { throw fail(.sizeMismatch(expectedBytes: expected, actualBytes: file.size)) }
        #if _endian(big)
        #error("token files are little-endian; big-endian hosts would need a byte swap here")
        #endif
        return MappedTokenFile(url: url, file: file, version: version,
                               tokens: TokenSequence(mapping: file, tokensAt: headerBytes, count: Int(count), wide: version == 2))
    }
}

/// A token file mapped by `TokenFile.map`: its header checked, its tokens read on demand.
public struct MappedTokenFile: Sendable {
    public let url: URL
    fileprivate let file: MappedFile
    public let tokens: TokenSequence
    /// 1 (uint16 tokens) or 2 (uint32 tokens).
    public let version: Int32

    fileprivate init(url: URL, file: MappedFile, version: Int32, tokens: TokenSequence) {
        self.url = url
        self.file = file
        self.version = version
        self.tokens = tokens
    }

    /// The file's size in bytes.
    public var bytes: Int { file.size }

    /// A cheap checksum that tells two copies of a shard apart: FNV-1a (64-bit) of the size, the
    /// header and the first and last 64 KiB, so O(1) whatever the size. Not a proof of equality
    /// (bytes in the middle are not read), but two hosts' copies made by different runs of a
    /// tokenizer, or one truncated and re-padded, differ here.
    public var checksum: UInt64 {
        var hash = FNV1a64()
        withUnsafeBytes(of: UInt64(bytes).littleEndian) { hash.add($0) }
        let edge = 64 * 1024
        hash.add(UnsafeRawBufferPointer(start: file.base, count: min(bytes, TokenFile.headerBytes + edge)))
        if bytes > TokenFile.headerBytes + edge {
            let tail = max(TokenFile.headerBytes + edge, bytes - edge)
            hash.add(UnsafeRawBufferPointer(start: file.base + tail, count: bytes - tail))
        }
        return hash.value
    }

    /// Throws `DataError.tokenFile(.tokenOutOfRange)` naming the first token not below
    /// `vocabSize`: one pass over the tokens, O(count), after which the pages are released
    /// from this process's resident set (`MappedFile.release`).
    public func checkTokens(below vocabSize: Int) throws {
        defer { file.release() }  // the pass touched every page; the sampler reads only its windows
        guard let i = tokens.firstIndex(outside: vocabSize) else { return }
        let t = tokens[i]
        let value = version == 2 ? Int64(UInt32(bitPattern: t)) : Int64(t)
        throw DataError.tokenFile(path: url.path, problem: .tokenOutOfRange(index: i, token: value, vocabSize: vocabSize))
    }
}
