import Foundation
import Testing
@testable import DPData

/// dptrain's tokenizers written as Hugging Face tokenizer.json (`Tokenizers.huggingFaceJSON`):
/// what can be read back here without Python, and, where python3 has `tokenizers`, that the
/// library itself gives the same ids and text.
@Suite struct HuggingFaceExportTests {
    /// Text for training and checking: the mixed text, the fixture's texts (Unicode, white space
    /// runs, digits, contractions) and a slice of the built-in corpus.
    static let texts: [String] = {
        let corpus = String(BuiltinCorpus.text().prefix(20_000))
        return [mixedText, corpus] + HFFixtures.cases("tokenizer.json").map(\.text).filter { !$0.contains("<|endoftext|>") }
    }()

    static let bpe = try! BPETokenizer(training: texts.joined(separator: "\n"), vocabSize: 400)
    static let char = CharTokenizer(training: texts.joined(separator: "\n"))

    /// The exported form of dptrain's byte-level tokenizers is one this module reads: the same ids.
    @Test func bpeAndByteExportReadBackWithTheSameIds() throws {
        for tokenizer in [Self.bpe, ByteTokenizer()] as [any Tokenizer] {
            let json = try Tokenizers.huggingFaceJSON(for: tokenizer)
            let back = try HuggingFaceTokenizer(tokenizerJSON: json, path: "exported")
            #expect(back.vocabSize == tokenizer.vocabSize)
            #expect(back.addedTokens.isEmpty)
            for text in Self.texts {
                let ids = try tokenizer.encode(text)
                #expect(try back.encode(text) == ids, "\(tokenizer.kind.rawValue): \(text.prefix(40).debugDescription)")
                #expect(back.decode(ids) == tokenizer.decode(ids))
            }
        }
    }

    @Test func importedTokenizerExportsItselfAndRoundTrips() throws {
        let imported = try Tokenizers.loadHuggingFace(directory: HFFixtures.directory)
        let json = try Tokenizers.huggingFaceJSON(for: imported)
        #expect(json == (try Data(contentsOf: HFFixtures.directory.appendingPathComponent("tokenizer.json"))))
        let again = try HuggingFaceTokenizer(tokenizerJSON: json, path: "exported")
        for c in HFFixtures.cases("tokenizer.json") { #expect(try again.encode(c.text) == c.ids) }
    }

    @Test func wordTokenizerIsRefusedInOneSentence() throws {
        let word = try WordTokenizer(training: mixedText, vocabSize: nil)
        let message = try #require(HuggingFaceTokenizerTests.message { try Tokenizers.huggingFaceJSON(for: word) })
        #expect(message.contains("word tokenizer") && HuggingFaceTokenizerTests.isOneSentence(message), "\(message)")
    }

    @Test func tokenizerConfigNamesTheEndOfTextToken() throws {
        let imported = try Tokenizers.loadHuggingFace(directory: HFFixtures.directory)
        let config = try #require(JSONSerialization.jsonObject(with: Tokenizers.huggingFaceTokenizerConfig(for: imported, context: 64)) as? [String: Any])
        #expect(config["eos_token"] as? String == "<|endoftext|>" && config["model_max_length"] as? Int == 64)
        let plain = try #require(JSONSerialization.jsonObject(with: Tokenizers.huggingFaceTokenizerConfig(for: Self.bpe, context: 8)) as? [String: Any])
        #expect(plain["eos_token"] == nil)
    }

    /// The library's own view: `Tokenizer.from_file` on each exported file gives dptrain's ids
    /// and decoding, and transformers' `AutoTokenizer` (where installed) loads the directory
    /// with tokenizer_config.json and gives the same ids.
    @Test(.enabled(if: PythonTokenizers.available, "python3 with the tokenizers package is not installed (pip install tokenizers); skipping the Hugging Face cross-check"))
    func pythonLibraryGivesTheSameIds() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let imported = try Tokenizers.loadHuggingFace(directory: HFFixtures.directory)
        let tokenizers: [(String, any Tokenizer)] = [("bpe", Self.bpe), ("byte", ByteTokenizer()), ("char", Self.char), ("hf", imported)]
        var files: [String: String] = [:]
        var texts: [String: [String]] = [:]
        for (name, tokenizer) in tokenizers {
            let folder = dir.file(name)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Tokenizers.huggingFaceJSON(for: tokenizer).write(to: folder.appendingPathComponent("tokenizer.json"))
            try Tokenizers.huggingFaceTokenizerConfig(for: tokenizer, context: 64).write(to: folder.appendingPathComponent("tokenizer_config.json"))
            files[name] = folder.path
            texts[name] = Self.texts + (name == "hf" ? ["x<|endoftext|>y"] : [])
        }
        let request = try JSONSerialization.data(withJSONObject: ["dirs": files, "texts": texts])
        let output = try PythonTokenizers.run(request)
        let answer = try #require(JSONSerialization.jsonObject(with: output) as? [String: [String: Any]])
        for (name, tokenizer) in tokenizers {
            let rows = try #require(answer[name]?["rows"] as? [[String: Any]])
            #expect(rows.count == texts[name]!.count)
            for (text, row) in zip(texts[name]!, rows) {
                let ids = try tokenizer.encode(text)
                let theirs = (row["ids"] as? [Int])?.map { Int32($0) }
                #expect(theirs == ids, "\(name): \(text.prefix(40).debugDescription)")
                #expect(row["decoded"] as? String == tokenizer.decode(ids), "\(name) decode: \(text.prefix(40).debugDescription)")
                if let auto = row["auto"] as? [Int] {
                    #expect(auto.map { Int32($0) } == ids, "\(name) AutoTokenizer: \(text.prefix(40).debugDescription)")
                }
            }
        }
    }
}

/// python3 with Hugging Face's `tokenizers` (and, if there, transformers) for the cross-check.
enum PythonTokenizers {
    static let available: Bool = (try? probe()) == true

    private static func probe() throws -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import tokenizers"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    /// For each named directory, its tokenizer.json's ids and decoding of each text, and
    /// AutoTokenizer's ids when transformers is installed.
    static let script = """
        import json, sys
        from tokenizers import Tokenizer
        try:
            from transformers import AutoTokenizer
        except Exception:
            AutoTokenizer = None
        req = json.load(open(sys.argv[1], encoding="utf-8"))
        out = {}
        for name, folder in req["dirs"].items():
            tok = Tokenizer.from_file(folder + "/tokenizer.json")
            auto = AutoTokenizer.from_pretrained(folder) if AutoTokenizer else None
            rows = []
            for text in req["texts"][name]:
                ids = tok.encode(text, add_special_tokens=False).ids
                row = {"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)}
                if auto is not None:
                    row["auto"] = auto.encode(text, add_special_tokens=False)
                rows.append(row)
            out[name] = {"rows": rows}
        sys.stdout.write(json.dumps(out))
        """

    static func run(_ request: Data) throws -> Data {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("dptrain-hf-\(UUID().uuidString).json")
        try request.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, file.path]
        let errorFile = file.appendingPathExtension("stderr")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: errorFile)
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let errors = (try? Data(contentsOf: errorFile)) ?? Data()
            throw PythonFailed(message: String(decoding: errors.suffix(2000), as: UTF8.self))
        }
        return output
    }

    struct PythonFailed: Error, CustomStringConvertible {
        let message: String
        var description: String { "python3 failed: \(message)" }
    }
}
