import Foundation

/// Reading a Hugging Face tokenizer: tokenizer.json (the `tokenizers` library's format) or the
/// older vocab.json + merges.txt pair (GPT-2's original files).
extension HuggingFaceTokenizer {
    /// The tokenizer a tokenizer.json describes; `path` names the file in errors, each one
    /// sentence (`DataError.huggingFaceTokenizer`).
    ///
    /// Read: model.type "BPE" with model.vocab, model.merges in either form (`"a b"` strings, as
    /// tokenizers < 0.20 wrote them, or `["a", "b"]` pairs), unk_token, fuse_unk, ignore_merges;
    /// the ByteLevel pre-tokenizer (add_prefix_space, use_regex) and decoder; added_tokens.
    /// Refused with a sentence saying which: another model, normalizer, pre-tokenizer or decoder,
    /// BPE dropout, a continuing-subword prefix or end-of-word suffix, byte fallback. The
    /// post-processor is not applied: `encode` is the library's `add_special_tokens=False`.
    public init(tokenizerJSON data: Data, path: String) throws {
        do {
            try self.init(parsing: data)
        } catch let problem as Problem {
            throw DataError.huggingFaceTokenizer(path: path, problem: problem.reason)
        }
    }

    /// The tokenizer of GPT-2's vocab.json + merges.txt: ByteLevel without a prefix space, GPT-2's
    /// pre-split, `<|endoftext|>` a special token when the vocabulary has it (as transformers'
    /// GPT2Tokenizer makes it). Errors name the file they are about.
    public init(vocabJSON: Data, merges: Data, vocabPath: String, mergesPath: String) throws {
        do {
            let vocab = try Self.parseVocab(try Self.jsonObject(vocabJSON, what: "vocab.json"), at: "")
            let mergeList = try Self.parseMergesText(merges)
            var added: [AddedToken] = []
            if let eos = vocab[Self.endOfText] {
                added.append(AddedToken(id: eos, content: Self.endOfText, special: true))
            }
            let json = try Self.tokenizerJSON(vocab: vocab, merges: mergeList, addedTokens: added, byteLevel: true)
            try self.init(vocab: vocab, merges: mergeList, addedTokens: added, addPrefixSpace: false, useRegex: true,
                          ignoreMerges: false, unknownToken: nil, fuseUnknown: false, json: json)
        } catch let problem as Problem {
            throw DataError.huggingFaceTokenizer(path: problem.part == .merges ? mergesPath : vocabPath, problem: problem.reason)
        }
    }

    /// GPT-2's end-of-text token.
    public static let endOfText = "<|endoftext|>"

    init(parsing data: Data) throws {
        let root = try Self.jsonObject(data, what: "tokenizer.json")
        guard let model = root["model"] as? [String: Any] else {
            throw Problem("it has no \"model\" object, so it is not a Hugging Face tokenizer.json")
        }
        let type = model["type"] as? String ?? (model["merges"] != nil ? "BPE" : "unknown")
        guard type == "BPE" else {
            throw Problem("its model.type is \(quotedToken(type)); dptrain reads only byte-level BPE (\"BPE\"), as GPT-2's")
        }
        let vocab = try Self.parseVocab(model["vocab"], at: "model.")
        let merges = try Self.parseMergesJSON(model["merges"])
        if let dropout = Self.number(model["dropout"]), dropout != 0 {
            throw Problem("its model.dropout is \(dropout); BPE dropout is random, and dptrain tokenizes deterministically, so set it to null")
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = model[key] as? String, !s.isEmpty {
                throw Problem("its model.\(key) is \(quotedToken(s)); dptrain reads only byte-level BPE without one, as GPT-2's")
            }
        }
        if Self.bool(model["byte_fallback"]) == true {
            throw Problem("its model.byte_fallback is true; dptrain reads only byte-level BPE, which needs no fallback")
        }

        if let normalizer = root["normalizer"], !(normalizer is NSNull) {
            let name = (normalizer as? [String: Any])?["type"] as? String ?? "?"
            throw Problem("it has a normalizer (\(name)); dptrain reads only byte-level BPE without one, as GPT-2's")
        }
        guard let pre = root["pre_tokenizer"] as? [String: Any], pre["type"] as? String == "ByteLevel" else {
            let name = ((root["pre_tokenizer"] as? [String: Any])?["type"] as? String).map { "is \($0)" } ?? "is missing"
            throw Problem("its pre_tokenizer \(name); dptrain reads only byte-level BPE with the ByteLevel pre-tokenizer, as GPT-2's")
        }
        guard let decoder = root["decoder"] as? [String: Any], decoder["type"] as? String == "ByteLevel" else {
            let name = ((root["decoder"] as? [String: Any])?["type"] as? String).map { "is \($0)" } ?? "is missing"
            throw Problem("its decoder \(name); dptrain reads only byte-level BPE with the ByteLevel decoder, as GPT-2's")
        }

        var added: [AddedToken] = []
        if let list = root["added_tokens"], !(list is NSNull) {
            guard let list = list as? [Any] else { throw Problem("its added_tokens is not an array") }
            for (i, entry) in list.enumerated() {
                guard let t = entry as? [String: Any], let id = Self.integer(t["id"]), let content = t["content"] as? String else {
                    throw Problem("its added_tokens[\(i)] is not an object with an integer \"id\" and a string \"content\"")
                }
                guard let id32 = Int32(exactly: id) else { throw Problem("its added_tokens[\(i)] has the id \(id), outside 32 bits") }
                added.append(AddedToken(
                    id: id32, content: content, special: Self.bool(t["special"]) ?? false,
                    singleWord: Self.bool(t["single_word"]) ?? false, lstrip: Self.bool(t["lstrip"]) ?? false,
                    rstrip: Self.bool(t["rstrip"]) ?? false, normalized: Self.bool(t["normalized"]) ?? !(Self.bool(t["special"]) ?? false)))
            }
        }
        try self.init(
            vocab: vocab, merges: merges, addedTokens: added,
            addPrefixSpace: Self.bool(pre["add_prefix_space"]) ?? true, useRegex: Self.bool(pre["use_regex"]) ?? true,
            ignoreMerges: Self.bool(model["ignore_merges"]) ?? false, unknownToken: model["unk_token"] as? String,
            fuseUnknown: Self.bool(model["fuse_unk"]) ?? false, json: data)
    }

    // MARK: - Pieces of the files

    static func jsonObject(_ data: Data, what: String) throws -> [String: Any] {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw Problem(what == "vocab.json" ? .vocab : .any, "it is not valid JSON")
        }
        guard let dictionary = object as? [String: Any] else {
            throw Problem(what == "vocab.json" ? .vocab : .any, "it is not a JSON object")
        }
        return dictionary
    }

    static func parseVocab(_ value: Any?, at prefix: String) throws -> [String: Int32] {
        let name = prefix.isEmpty ? "the vocabulary" : "its \(prefix)vocab"
        guard let object = value as? [String: Any] else {
            throw Problem(.vocab, prefix.isEmpty ? "it is not a JSON object of token -> id" : "it has no \(prefix)vocab object of token -> id")
        }
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(object.count)
        for (token, id) in object {
            guard let n = integer(id), let id32 = Int32(exactly: n) else {
                throw Problem(.vocab, "\(name) gives \(quotedToken(token)) an id that is not a 32-bit integer")
            }
            vocab[token] = id32
        }
        return vocab
    }

    /// model.merges: `"a b"` strings (split at the first space) or `["a", "b"]` pairs.
    static func parseMergesJSON(_ value: Any?) throws -> [(String, String)] {
        guard let list = value as? [Any] else { throw Problem(.merges, "it has no model.merges array") }
        var merges: [(String, String)] = []
        merges.reserveCapacity(list.count)
        for (i, entry) in list.enumerated() {
            if let s = entry as? String, let space = s.firstIndex(of: " ") {
                merges.append((String(s[..<space]), String(s[s.index(after: space)...])))
            } else if let pair = entry as? [Any], pair.count == 2, let a = pair[0] as? String, let b = pair[1] as? String {
                merges.append((a, b))
            } else {
                throw Problem(.merges, "its model.merges[\(i)] is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        return merges
    }

    /// merges.txt: an optional "#version" line, then "a b" per line.
    static func parseMergesText(_ data: Data) throws -> [(String, String)] {
        guard let text = String(data: data, encoding: .utf8) else { throw Problem(.merges, "it is not UTF-8 text") }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        var merges: [(String, String)] = []
        merges.reserveCapacity(lines.count)
        for (n, raw) in lines.enumerated() {
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.hasPrefix("#version") { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw Problem(.merges, "line \(n + 1) (\(quotedToken(String(line)))) is not two tokens separated by one space")
            }
            merges.append((String(parts[0]), String(parts[1])))
        }
        return merges
    }

    /// An integral JSON number (Foundation bridges exactly: 1.5 is not an Int).
    static func integer(_ value: Any?) -> Int? { value as? Int }

    static func number(_ value: Any?) -> Double? { (value as? NSNumber)?.doubleValue }

    static func bool(_ value: Any?) -> Bool? { value as? Bool }

    // MARK: - Writing

    /// A tokenizer.json for BPE over this vocabulary and merges (pairs form), with `addedTokens`.
    /// `byteLevel`: GPT-2's settings (ByteLevel pre-tokenizer without prefix space, with the
    /// regex; ByteLevel decoder and post-processor); else no pre-tokenizer (the text is one
    /// word, split into characters) and the Fuse decoder (the tokens joined as they are).
    static func tokenizerJSON(vocab: [String: Int32], merges: [(String, String)], addedTokens: [AddedToken],
                              byteLevel: Bool) throws -> Data {
        let byteLevelSettings: [String: Any] = ["add_prefix_space": false, "trim_offsets": true, "use_regex": true]
        var root: [String: Any] = [
            "version": "1.0",
            "truncation": NSNull(),
            "padding": NSNull(),
            "normalizer": NSNull(),
            "added_tokens": addedTokens.sorted { $0.id < $1.id }.map { t -> [String: Any] in
                ["id": Int(t.id), "content": t.content, "single_word": t.singleWord, "lstrip": t.lstrip,
                 "rstrip": t.rstrip, "normalized": t.normalized, "special": t.special]
            },
            "model": [
                "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "continuing_subword_prefix": NSNull(),
                "end_of_word_suffix": NSNull(), "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab.mapValues { Int($0) },
                "merges": merges.map { [$0.0, $0.1] },
            ] as [String: Any],
        ]
        if byteLevel {
            root["pre_tokenizer"] = byteLevelSettings.merging(["type": "ByteLevel"]) { $1 }
            root["post_processor"] = byteLevelSettings.merging(["type": "ByteLevel", "trim_offsets": false]) { $1 }
            root["decoder"] = byteLevelSettings.merging(["type": "ByteLevel"]) { $1 }
        } else {
            root["pre_tokenizer"] = NSNull()
            root["post_processor"] = NSNull()
            root["decoder"] = ["type": "Fuse"]
        }
        return try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys, .withoutEscapingSlashes])
    }
}
