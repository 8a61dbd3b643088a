import Foundation
import Testing
@testable import DPData

@Suite struct TokenFileTests {
    /// An llm.c header: magic, version, count, then zeros, as little-endian int32.
    func header(magic: Int32 = TokenFile.magic, version: Int32 = 1, count: Int32) -> Data {
        var words = [Int32](repeating: 0, count: 256)
        (words[0], words[1], words[2]) = (magic, version, count)
        return words.withUnsafeBytes { Data($0) }
    }

    func expectProblem(_ url: URL, vocabSize: Int? = nil, _ problem: TokenFileProblem) {
        #expect(throws: DataError.tokenFile(path: url.path, problem: problem)) { try TokenFile.read(url, vocabSize: vocabSize) }
        do {
            _ = try TokenFile.read(url, vocabSize: vocabSize)
        } catch {
            #expect("\(error)".contains(url.path))  // the message names the file
        }
    }

    @Test(arguments: [(65, Int32(1)), (512, 1), (65_535, 1), (65_536, 2), (100_000, 2)])
    func writeThenReadGivesTheTokens(vocabSize: Int, version: Int32) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let url = dir.file("tokens.bin")
        let tokens: [Int32] = (0..<1000).map { Int32(($0 * 7919) % vocabSize) } + [Int32(vocabSize - 1), 0]
        try TokenFile.write(tokens, vocabSize: vocabSize, to: url)
        let data = try Data(contentsOf: url)
        let width = version == 2 ? 4 : 2
        #expect(data.count == 1024 + tokens.count * width)
        let words = data.prefix(12).withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }.map { Int32(littleEndian: $0) }
        #expect(words == [20240520, version, Int32(tokens.count)])
        let read = try TokenFile.read(url, vocabSize: vocabSize)
        #expect(read.count == tokens.count)
        #expect(read.toArray() == tokens)
        #expect(read[tokens.count - 2] == Int32(vocabSize - 1))
        #expect(read.slice(10..<20).toArray() == Array(tokens[10..<20]))
    }

    @Test func readsAnEmptyFile() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        try TokenFile.write([], vocabSize: 10, to: dir.file("empty.bin"))
        #expect(try TokenFile.read(dir.file("empty.bin"), vocabSize: 10).count == 0)
    }

    @Test func badFilesAreRejectedWithTheirProblem() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let tokens = Data([1, 0, 2, 0, 3, 0])  // three uint16 tokens

        let missing = dir.file("missing.bin")
        #expect(throws: DataError.self) { try TokenFile.read(missing, vocabSize: nil) }

        let short = dir.file("short.bin")
        try Data(repeating: 0, count: 100).write(to: short)
        expectProblem(short, .tooSmallForHeader(bytes: 100))

        let magic = dir.file("magic.bin")
        try (header(magic: 20240521, count: 3) + tokens).write(to: magic)
        expectProblem(magic, .badMagic(20240521))

        let version = dir.file("version.bin")
        try (header(version: 3, count: 3) + tokens).write(to: version)
        expectProblem(version, .badVersion(3))

        let negative = dir.file("negative.bin")
        try header(count: -1).write(to: negative)
        expectProblem(negative, .negativeCount(-1))

        let truncated = dir.file("truncated.bin")
        try (header(count: 4) + tokens).write(to: truncated)
        expectProblem(truncated, .sizeMismatch(expectedBytes: 1032, actualBytes: 1030))

        let extra = dir.file("extra.bin")
        try (header(count: 2) + tokens).write(to: extra)
        expectProblem(extra, .sizeMismatch(expectedBytes: 1028, actualBytes: 1030))

        let wideButShort = dir.file("wide.bin")
        try (header(version: 2, count: 3) + tokens).write(to: wideButShort)
        expectProblem(wideButShort, .sizeMismatch(expectedBytes: 1036, actualBytes: 1030))

        let good = dir.file("good.bin")
        try (header(count: 3) + tokens).write(to: good)
        #expect(try TokenFile.read(good, vocabSize: 4).toArray() == [1, 2, 3])
        expectProblem(good, vocabSize: 3, .tokenOutOfRange(index: 2, token: 3, vocabSize: 3))

        let wide = dir.file("huge-token.bin")
        try (header(version: 2, count: 1) + Data([0xFF, 0xFF, 0xFF, 0xFF])).write(to: wide)
        expectProblem(wide, vocabSize: 100_000, .tokenOutOfRange(index: 0, token: 4_294_967_295, vocabSize: 100_000))

        expectProblem(dir.url, .cannotOpen("it is a directory"))
    }

    /// The check reads in blocks of 16 K tokens: the first bad token is found in any block, at
    /// a block's edges, and in a slice that starts mid-block.
    @Test(arguments: [0, 16_383, 16_384, 40_123, 49_999])
    func firstBadTokenIsFoundInAnyBlock(at bad: Int) throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let url = dir.file("big.bin")
        var tokens = (0..<50_000).map { Int32($0 % 200) }
        tokens[bad] = 250
        if bad + 7 < tokens.count { tokens[bad + 7] = 251 }
        try TokenFile.write(tokens, vocabSize: 256, to: url)
        let file = try TokenFile.map(url)
        #expect(throws: DataError.tokenFile(path: url.path, problem: .tokenOutOfRange(index: bad, token: 250, vocabSize: 200))) {
            try file.checkTokens(below: 200)
        }
        #expect(file.tokens.firstIndex(outside: 252) == nil)
        if bad >= 5 { #expect(file.tokens.slice(5..<50_000).firstIndex(outside: 200) == bad - 5) }
    }

    @Test func writeRejectsTokensOutsideTheVocabulary() throws {
        let dir = try TestDirectory(); defer { dir.remove() }
        let url = dir.file("bad.bin")
        #expect(throws: DataError.tokenFile(path: url.path, problem: .tokenOutOfRange(index: 1, token: 5, vocabSize: 5))) {
            try TokenFile.write([0, 5], vocabSize: 5, to: url)
        }
        #expect(throws: DataError.self) { try TokenFile.write([0, -1], vocabSize: 5, to: url) }
        #expect(!FileManager.default.fileExists(atPath: url.path))
    }
}
