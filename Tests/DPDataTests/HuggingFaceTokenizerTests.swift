import Foundation
import Testing
@testable import DPData

/// The committed Hugging Face fixtures (scripts/make_hf_fixtures.py): a 400-token byte-level BPE
/// trained by `tokenizers`, in every file form, and what the library gives for it.
enum HFFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/hf-gpt2")

    /// The tokenizer files the script wrote, by the name expected.json uses for them.
    static let variants = ["tokenizer.json", "tokenizer-merges-as-strings.json", "tokenizer-add-prefix-space.json",
                           "tokenizer-no-regex.json", "vocab.json+merges.txt"]

    struct Expected: Decodable {
        struct Tokens: Decodable {
            struct Whole: Decodable {
                let bytes: Int
                let token_count: Int
                let fnv1a64_of_ids_int32le: String
            }
            struct Prefix: Decodable { let ids: [Int32]; let decoded: String }
            /// Each row: "text" and, per variant, {"ids", "decoded"}.
            let texts: [[String: Row]]
            let tinyshakespeare: Whole
            let decode_each_id: [String]
            let decode_prefixes: [Prefix]
        }
        let tokenizer: Tokens
    }

    /// A row's cell: the text itself, or one variant's ids and decoding.
    enum Row: Decodable {
        case text(String)
        case result(ids: [Int32], decoded: String)
        struct Result: Decodable { let ids: [Int32]; let decoded: String }
        init(from decoder: any Decoder) throws {
            if let s = try? decoder.singleValueContainer().decode(String.self) {
                self = .text(s)
            } else {
                let r = try Result(from: decoder)
                self = .result(ids: r.ids, decoded: r.decoded)
            }
        }
    }

    static let expected: Expected = {
        let data = try! Data(contentsOf: directory.appendingPathComponent("expected.json"))
        return try! JSONDecoder().decode(Expected.self, from: data)
    }()

    /// (text, ids, decoded) for one variant, in the fixture's order.
    static func cases(_ variant: String) -> [(text: String, ids: [Int32], decoded: String)] {
        expected.tokenizer.texts.map { row in
            guard case .text(let text)? = row["text"], case .result(let ids, let decoded)? = row[variant] else {
                fatalError("expected.json lacks \(variant)")
            }
            return (text, ids, decoded)
        }
    }

    static func load(_ variant: String) throws -> HuggingFaceTokenizer {
        if variant == "vocab.json+merges.txt" {
            return try HuggingFaceTokenizer(
                vocabJSON: Data(contentsOf: directory.appendingPathComponent("vocab.json")),
                merges: Data(contentsOf: directory.appendingPathComponent("merges.txt")),
                vocabPath: "vocab.json", mergesPath: "merges.txt")
        }
        let url = directory.appendingPathComponent(variant)
        return try HuggingFaceTokenizer(tokenizerJSON: Data(contentsOf: url), path: url.path)
    }
}

@Suite struct HuggingFaceTokenizerTests {
    @Test(arguments: HFFixtures.variants)
    func idsAndDecodingEqualTheLibrary(variant: String) throws {
        let tokenizer = try HFFixtures.load(variant)
        #expect(tokenizer.vocabSize == 400)
        let cases = HFFixtures.cases(variant)
        #expect(cases.count >= 15)
        for c in cases {
            let ids = try tokenizer.encode(c.text)
            #expect(ids == c.ids, "encode \(c.text.debugDescription) with \(variant)")
            #expect(tokenizer.decode(c.ids) == c.decoded, "decode \(c.ids) with \(variant)")
        }
    }

    /// The two forms of model.merges are both in the fixtures; check they really are different
    /// files, so that the test above covers both.
    @Test func fixturesHoldBothMergesForms() throws {
        func merges(_ name: String) throws -> [Any] {
            let data = try Data(contentsOf: HFFixtures.directory.appendingPathComponent(name))
            let root = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
            return try #require((root["model"] as? [String: Any])?["merges"] as? [Any])
        }
        #expect(try merges("tokenizer.json").allSatisfy { ($0 as? [String])?.count == 2 })
        #expect(try merges("tokenizer-merges-as-strings.json").allSatisfy { $0 is String })
    }

    @Test func decodingEveryIdAndEveryPrefixEqualsTheLibrary() throws {
        let tokenizer = try HFFixtures.load("tokenizer.json")
        let each = HFFixtures.expected.tokenizer.decode_each_id
        #expect(each.count == tokenizer.vocabSize)
        for (id, text) in each.enumerated() {
            #expect(tokenizer.decode([Int32(id)]) == text, "id \(id)")
        }
        for prefix in HFFixtures.expected.tokenizer.decode_prefixes {
            #expect(tokenizer.decode(prefix.ids) == prefix.decoded, "\(prefix.ids)")
        }
    }

    @Test(arguments: ["tokenizer.json", "tokenizer-no-regex.json", "vocab.json+merges.txt"])
    func decodeOfEncodeIsTheText(variant: String) throws {
        let tokenizer = try HFFixtures.load(variant)
        for text in HFFixtures.cases(variant).map(\.text) + [mixedText, String(repeating: "ab ", count: 300)] {
            let ids = try tokenizer.encode(text)
            #expect(Array(tokenizer.decode(ids).utf8) == Array(text.utf8), "\(text.debugDescription)")
            #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabSize })
        }
    }

    @Test func specialTokenIsOneIdWhereverItAppears() throws {
        let tokenizer = try HFFixtures.load("tokenizer.json")
        let eos = try #require(tokenizer.id(of: HuggingFaceTokenizer.endOfText))
        #expect(tokenizer.addedTokens.map(\.content) == [HuggingFaceTokenizer.endOfText])
        #expect(tokenizer.addedTokens.first?.special == true)
        #expect(try tokenizer.encode(HuggingFaceTokenizer.endOfText) == [eos])
        let ids = try tokenizer.encode("a<|endoftext|>b<|endoftext|><|endoftext|>")
        #expect(ids.filter { $0 == eos }.count == 3)
        #expect(tokenizer.decode(ids) == "a<|endoftext|>b<|endoftext|><|endoftext|>")
        // Only the whole token is special: a part of it is ordinary text.
        #expect(try !tokenizer.encode("<|endoftext|").contains(eos))
        #expect(tokenizer.token(of: eos) == HuggingFaceTokenizer.endOfText)
        #expect(tokenizer.id(of: "Ġ") != nil && tokenizer.token(of: 400) == nil)
    }

    /// lstrip, rstrip and single_word, against what the library gives for such added tokens
    /// (tokenizers 0.23: `AddedToken("<s>", lstrip=True, rstrip=True)` takes the spaces around
    /// it; a single_word token does not match inside a word).
    @Test func addedTokenOptions() throws {
        let base = try HFFixtures.load("tokenizer.json")
        let json = try #require(JSONSerialization.jsonObject(with: base.jsonData()) as? [String: Any])
        var edited = json
        var added = try #require(json["added_tokens"] as? [[String: Any]])
        added.append(["id": 400, "content": "<s>", "special": true, "lstrip": true, "rstrip": true, "single_word": false, "normalized": false])
        added.append(["id": 401, "content": "cat", "special": false, "lstrip": false, "rstrip": false, "single_word": true, "normalized": true])
        edited["added_tokens"] = added
        let tokenizer = try HuggingFaceTokenizer(tokenizerJSON: JSONSerialization.data(withJSONObject: edited), path: "edited")
        #expect(tokenizer.vocabSize == 402)
        let x = try base.encode("x"), y = try base.encode("y")
        #expect(try tokenizer.encode("x  <s>  y") == x + [400] + y)
        #expect(try tokenizer.encode("cat") == [401])
        #expect(try tokenizer.encode("a cat.").contains(401))
        #expect(try !tokenizer.encode("concatenate").contains(401))
        #expect(try tokenizer.encode("concatenate") == base.encode("concatenate"))
    }

    @Test func checkpointStoresTheTokenizerJSONItself() throws {
        for variant in ["tokenizer.json", "tokenizer-add-prefix-space.json", "vocab.json+merges.txt"] {
            let tokenizer = try HFFixtures.load(variant)
            // As a checkpoint's state.json holds it: re-serialized with sorted keys.
            let stored = try JSONSerialization.data(
                withJSONObject: JSONSerialization.jsonObject(with: tokenizer.jsonData()), options: [.sortedKeys])
            let loaded = try Tokenizers.load(json: stored)
            #expect(loaded.kind == .huggingface && loaded.vocabSize == tokenizer.vocabSize)
            for c in HFFixtures.cases(variant) {
                #expect(try loaded.encode(c.text) == c.ids, "\(variant): \(c.text.debugDescription)")
            }
        }
        let directory = try Tokenizers.loadHuggingFace(directory: HFFixtures.directory)
        #expect(try directory.jsonData() == Data(contentsOf: HFFixtures.directory.appendingPathComponent("tokenizer.json")))
    }

    @Test func directoryWithOnlyThePairIsRead() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: HFFixtures.directory.appendingPathComponent(name), to: dir.file(name))
        }
        let tokenizer = try Tokenizers.loadHuggingFace(directory: dir.url)
        for c in HFFixtures.cases("vocab.json+merges.txt") { #expect(try tokenizer.encode(c.text) == c.ids) }
    }

    /// The whole of tinyshakespeare, where the data folder is (it is not part of the repository):
    /// the library's token count and checksum, and the time it takes.
    @Test(.enabled(if: FileManager.default.fileExists(atPath: tinyShakespeare),
                   "\(tinyShakespeare) is not on this machine; skipping the whole-corpus check"))
    func wholeTinyShakespeareEqualsTheLibrary() throws {
        let text = try String(contentsOfFile: tinyShakespeare, encoding: .utf8)
        let expected = HFFixtures.expected.tokenizer.tinyshakespeare
        try #require(text.utf8.count == expected.bytes)
        let tokenizer = try HFFixtures.load("tokenizer.json")
        let clock = ContinuousClock()
        var ids: [Int32] = []
        let elapsed = try clock.measure { ids = try tokenizer.encode(text) }
        #expect(ids.count == expected.token_count)
        var hash = FNV1a64()
        ids.withUnsafeBytes { hash.add($0) }  // little-endian int32, as the script packs them
        #expect(hash.hex == expected.fnv1a64_of_ids_int32le)
        #expect(tokenizer.decode(ids) == text)
        // Speed: 1 MB in a few seconds at most (measured: well under one).
        #expect(elapsed < .seconds(5), "encoding 1 MB took \(elapsed)")
    }

    // MARK: - Bad input: one sentence naming the file

    static func message(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch { return "\(error)" }
    }

    static func isOneSentence(_ message: String) -> Bool {
        message.hasSuffix(".") && !message.dropLast().contains(". ") && !message.contains("\n")
    }

    static func tokenizerJSON(editing edit: (inout [String: Any]) -> Void) throws -> Data {
        let data = try Data(contentsOf: HFFixtures.directory.appendingPathComponent("tokenizer.json"))
        var root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        edit(&root)
        return try JSONSerialization.data(withJSONObject: root)
    }

    @Test func missingFilesAreNamed() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let none = try #require(Self.message { try Tokenizers.loadHuggingFace(directory: dir.url) })
        #expect(none.hasPrefix(dir.url.path) && none.contains("tokenizer.json") && Self.isOneSentence(none))
        try FileManager.default.copyItem(at: HFFixtures.directory.appendingPathComponent("vocab.json"), to: dir.file("vocab.json"))
        let half = try #require(Self.message { try Tokenizers.loadHuggingFace(directory: dir.url) })
        #expect(half.hasPrefix(dir.file("merges.txt").path) && half.contains("missing") && Self.isOneSentence(half))
    }

    @Test func malformedFilesAreNamed() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        func load(_ json: String) -> String? {
            try? Data(json.utf8).write(to: dir.file("tokenizer.json"))
            return Self.message { try Tokenizers.loadHuggingFace(directory: dir.url) }
        }
        let path = dir.file("tokenizer.json").path
        for (json, phrase) in [("{\"model\": ", "not valid JSON"), ("[1, 2]", "not a JSON object"),
                               ("{\"version\": \"1.0\"}", "no \"model\""),
                               ("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", "WordPiece")] {
            let message = try #require(load(json))
            #expect(message.hasPrefix(path + ":") && message.contains(phrase) && Self.isOneSentence(message), "\(message)")
        }
    }

    @Test func mergeNamingAnUnknownTokenIsNamed() throws {
        let unknown = try Self.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            var merges = model["merges"] as! [[String]]
            merges[3] = ["Ġt", "zzz"]
            model["merges"] = merges
            root["model"] = model
        }
        let message = try #require(Self.message { try HuggingFaceTokenizer(tokenizerJSON: unknown, path: "/x/tokenizer.json") })
        #expect(message == "/x/tokenizer.json: merge 4 (\"Ġt zzz\") names \"zzz\", which is not in the vocabulary.")

        // vocab.json and merges.txt that do not belong together: the merge's result is missing.
        let vocab = try Data(contentsOf: HFFixtures.directory.appendingPathComponent("vocab.json"))
        var object = try JSONSerialization.jsonObject(with: vocab) as! [String: Int]
        let firstMerge = try String(contentsOf: HFFixtures.directory.appendingPathComponent("merges.txt"), encoding: .utf8)
            .split(separator: "\n")[1].split(separator: " ").joined()
        object.removeValue(forKey: firstMerge)
        let mismatch = try #require(Self.message {
            try HuggingFaceTokenizer(vocabJSON: JSONSerialization.data(withJSONObject: object),
                                     merges: Data(contentsOf: HFFixtures.directory.appendingPathComponent("merges.txt")),
                                     vocabPath: "/x/vocab.json", mergesPath: "/x/merges.txt")
        })
        #expect(mismatch.hasPrefix("/x/merges.txt: merge 1 ") && mismatch.contains("makes") && Self.isOneSentence(mismatch), "\(mismatch)")

        let badLine = try #require(Self.message {
            try HuggingFaceTokenizer(vocabJSON: vocab, merges: Data("#version: 0.2\nĠ t\nabc\n".utf8),
                                     vocabPath: "/x/vocab.json", mergesPath: "/x/merges.txt")
        })
        #expect(badLine == "/x/merges.txt: line 3 (\"abc\") is not two tokens separated by one space.")

        let badVocab = try #require(Self.message {
            try HuggingFaceTokenizer(vocabJSON: Data("{\"a\": \"one\"}".utf8), merges: Data(),
                                     vocabPath: "/x/vocab.json", mergesPath: "/x/merges.txt")
        })
        #expect(badVocab.hasPrefix("/x/vocab.json: ") && Self.isOneSentence(badVocab), "\(badVocab)")
    }

    @Test func unsupportedSettingsAreRefusedWithTheirName() throws {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("normalizer", { $0["normalizer"] = ["type": "NFC"] }),
            ("pre_tokenizer", { $0["pre_tokenizer"] = ["type": "Whitespace"] }),
            ("decoder", { $0["decoder"] = NSNull() }),
            ("dropout", { root in var m = root["model"] as! [String: Any]; m["dropout"] = 0.1; root["model"] = m }),
            ("continuing_subword_prefix", { root in var m = root["model"] as! [String: Any]; m["continuing_subword_prefix"] = "##"; root["model"] = m }),
        ]
        for (word, edit) in cases {
            let json = try Self.tokenizerJSON(editing: edit)
            let message = try #require(Self.message { try HuggingFaceTokenizer(tokenizerJSON: json, path: "/x/tokenizer.json") })
            #expect(message.hasPrefix("/x/tokenizer.json: ") && message.contains(word) && Self.isOneSentence(message), "\(message)")
        }
    }

    /// GPT-2's tokenizer.json on the Hugging Face hub writes "" (not null) for the subword
    /// prefix and suffix, and a ByteLevel post-processor; those read as the fixture's nulls do.
    @Test func gpt2HubSettingsAreAccepted() throws {
        let json = try Self.tokenizerJSON { root in
            var model = root["model"] as! [String: Any]
            model["continuing_subword_prefix"] = ""
            model["end_of_word_suffix"] = ""
            model.removeValue(forKey: "ignore_merges")
            root["model"] = model
            root["post_processor"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true]
        }
        let tokenizer = try HuggingFaceTokenizer(tokenizerJSON: json, path: "gpt2-like")
        for c in HFFixtures.cases("tokenizer.json") { #expect(try tokenizer.encode(c.text) == c.ids) }
    }

    @Test func huggingFaceKindCannotBeTrained() throws {
        let message = try #require(Self.message { try Tokenizers.train(.huggingface, on: "text", vocabSize: nil) })
        #expect(message.contains("hf-bpe") && Self.isOneSentence(message))
        #expect(!TokenizerKind.trainable.contains(.huggingface))
    }
}

/// Where the shared machine keeps tinyshakespeare (DPTRAIN_TINYSHAKESPEARE overrides it).
let tinyShakespeare = ProcessInfo.processInfo.environment["DPTRAIN_TINYSHAKESPEARE"] ?? "/work/shared/data/tinyshakespeare.txt"

@Suite struct HuggingFaceDatasetTests {
    /// A text file with a Hugging Face tokenizer given (a checkpoint's): tokenized with it, not
    /// trained, cached under a key of its own, and the cache's tokenizer.json is the HF file.
    @Test func textIsTokenizedWithTheGivenTokenizer() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let tokenizer = try HFFixtures.load("tokenizer.json")
        let text = HFFixtures.cases("tokenizer.json").map(\.text).joined(separator: "\n") + "\n" + mixedText
        let input = dir.file("input.txt")
        try Data(text.utf8).write(to: input)
        let cache = dir.file("cache")
        let dataset = try Dataset.load(path: input.path, tokenizer: nil, vocabSize: nil, valFraction: 0.25,
                                       cacheDirectory: cache, using: tokenizer)
        #expect(dataset.tokenizer.kind == .huggingface && dataset.tokenizer.vocabSize == 400)
        let ids = try tokenizer.encode(text)
        let stored = (0..<dataset.train.count).map { dataset.train[$0] } + (0..<dataset.val.count).map { dataset.val[$0] }
        #expect(stored == ids)
        // A second load maps the cache; a trained kind on the same text gets another folder.
        let again = try Dataset.load(path: input.path, tokenizer: nil, vocabSize: nil, valFraction: 0.25,
                                     cacheDirectory: cache, using: tokenizer)
        #expect(again.train.count == dataset.train.count)
        _ = try Dataset.load(path: input.path, tokenizer: .bpe, vocabSize: 300, valFraction: 0.25, cacheDirectory: cache)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).filter { !$0.hasPrefix(".") }.count == 2)
        // Without it, hf-bpe cannot tokenize a text: one sentence.
        let message = try #require(HuggingFaceTokenizerTests.message {
            try Dataset.load(path: input.path, tokenizer: .huggingface, vocabSize: nil, valFraction: 0.25, cacheDirectory: cache)
        })
        #expect(message.contains("hf-bpe") && HuggingFaceTokenizerTests.isOneSentence(message), "\(message)")
    }
}

/// A check of any Hugging Face tokenizer one has (GPT-2's own, say): set
/// DPTRAIN_HF_TOKENIZER_CHECK to a directory holding its tokenizer.json, a text.txt and the
/// library's ids for it in ids.json (`json.dump(tok.encode(text, add_special_tokens=False).ids, …)`).
let externalTokenizerCheck = ProcessInfo.processInfo.environment["DPTRAIN_HF_TOKENIZER_CHECK"]

@Suite struct ExternalHuggingFaceTokenizerTests {
    @Test(.enabled(if: externalTokenizerCheck != nil, "DPTRAIN_HF_TOKENIZER_CHECK is not set; skipping the check of an outside tokenizer"))
    func outsideTokenizerEqualsTheLibrary() throws {
        let dir = URL(fileURLWithPath: externalTokenizerCheck!)
        let clock = ContinuousClock()
        var tokenizer: HuggingFaceTokenizer?
        let loading = try clock.measure { tokenizer = try Tokenizers.loadHuggingFace(directory: dir) }
        let text = try String(contentsOf: dir.appendingPathComponent("text.txt"), encoding: .utf8)
        let expected = try JSONDecoder().decode([Int32].self, from: Data(contentsOf: dir.appendingPathComponent("ids.json")))
        var ids: [Int32] = []
        let encoding = try clock.measure { ids = try tokenizer!.encode(text) }
        #expect(ids == expected)
        #expect(tokenizer!.decode(ids) == text)
        print("loaded \(tokenizer!.vocabSize) tokens, \(tokenizer!.mergeCount) merges in \(loading); encoded \(text.utf8.count) bytes to \(ids.count) ids in \(encoding)")
    }
}
