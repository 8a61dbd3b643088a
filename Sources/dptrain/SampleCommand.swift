import DPBase
import ArgumentParser
import DPComm
import DPData
import DPModel
import DPTrainer
import Foundation

/// `dptrain sample --checkpoint PATH`: generates text from a trained model, streaming it to
/// standard output token by token.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a checkpoint, streaming it to standard output.",
        discussion: """
            Prints the prompt, then each new token's text as soon as it is drawn (a character of a \
            byte or bpe tokenizer once all its bytes are there), then a newline. The model keeps the \
            keys and values of the positions so far (a KV cache), so a token within the context costs \
            one position's work. It sees at most --context tokens: a longer prompt is cut to its last \
            --context tokens, and once the context is full the window slides by one token per step, \
            re-encoding the window in one pass (learned positions move with the window, so the \
            cache cannot roll); from then on every token costs the same, however many came before. \
            An empty prompt starts from the newline token, or from token 0 when \
            the vocabulary has no newline. Temperature 0 is greedy (the most likely token); otherwise \
            tokens are drawn from softmax(logits/temperature), among the --top-k most likely if \
            given, by a generator seeded with --seed, so the same settings give the same text. Under \
            mpirun, rank 0 alone loads the checkpoint and prints.
            """)

    @Option(help: ArgumentHelp(
        "A checkpoint directory (OUT/checkpoints/step-NNNNNNNN), OUT/checkpoints, or a run's --out directory (then the checkpoint LATEST names).",
        valueName: "path"))
    var checkpoint: String

    @Option(help: "The text to continue. (default: none, start from a newline)")
    var prompt = ""

    @Option(name: .customLong("tokens"), parsing: .unconditional, help: ArgumentHelp("The number of tokens to generate.", valueName: "n"))
    var count = 200

    @Option(parsing: .unconditional, help: "Softmax temperature; 0 picks the most likely token every time (greedy).")
    var temperature: Double = 0.8

    @Option(parsing: .unconditional, help: ArgumentHelp("Draw only among the K most likely tokens. (default: all)", valueName: "k"))
    var topK: Int?

    @Option(parsing: .unconditional, help: "Seed of the sampling generator.")
    var seed: UInt64 = 1337

    @Flag(name: .customLong("no-kv-cache"), help: "Re-run the model over the whole window for every token instead of using the KV cache (slow; for comparison).")
    var noKVCache = false

    @Flag(help: "Print the tokens per second of the generation to standard error at the end.")
    var timing = false

    @OptionGroup var runtime: RuntimeOptions

    func validate() throws {
        guard count >= 1, count <= 100_000_000 else {
            throw ValidationError("--tokens must be between 1 and 100000000, not \(count).")
        }
        guard temperature.isFinite, temperature >= 0, temperature <= 1e6 else {
            throw ValidationError("--temperature must be a number from 0 (greedy) to 1000000, not \(temperature).")
        }
        if let topK, topK < 1 {
            throw ValidationError("--top-k must be at least 1 (leave it out to draw among all tokens), not \(topK).")
        }
    }

    func run() throws {
        Session.run(runtime) { session in
            // Rank 0 does the work; `collectively` makes its failure every rank's, reported once.
            try session.comm.collectively {
                guard session.isRoot else { return }
                try generate()
            }
        }
    }

    private func generate() throws {
        let (model, tokenizer) = try load()
        if model.config.architecture == .encoder {
            throw ConfigError("\(checkpoint) holds an encoder, and dptrain sample generates only from decoders; use dptrain fill-mask to predict its [MASK] tokens.")
        }
        let promptTokens = try encodePrompt(tokenizer, vocabSize: model.config.vocabSize)
        var sampler = TokenSampler(temperature: Float(temperature), topK: topK, seed: seed)
        let cache = noKVCache ? nil : try KVCache(config: model.config)
        var decoder = IncrementalDecoder(tokenizer: tokenizer, prompt: promptTokens)

        write(Data(prompt.utf8))
        let start = DispatchTime.now().uptimeNanoseconds
        model.generate(prompt: promptTokens, count: count, sampler: &sampler, cache: cache) { token in
            write(decoder.append(token))
        }
        write(decoder.finish() + Data("\n".utf8))
        if timing {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            printError(String(format: "dptrain sample: %d tokens in %.3f s, %.1f tokens/s (%@, context %d)",
                              count, seconds, Double(count) / seconds,
                              noKVCache ? "no KV cache" : "KV cache", model.config.context))
        }
    }

    /// The checkpoint's model (weights copied in, every tensor's name and shape checked) and tokenizer.
    private func load() throws -> (Model, any Tokenizer) {
        try Self.load(checkpoint: checkpoint, maxBatch: 1)
    }

    /// The model and tokenizer of the checkpoint at `checkpoint` (a directory, OUT/checkpoints or OUT).
    static func load(checkpoint: String, maxBatch: Int) throws -> (Model, any Tokenizer) {
        let restore: Restore
        do {
            restore = try Restore.read(path: URL(fileURLWithPath: checkpoint), out: URL(fileURLWithPath: checkpoint))
        } catch let error as CheckpointError {
            // CheckpointError reads "PATH does not exist": make it the sentence it is.
            throw ConfigError("\(error)" + (error.problem.hasSuffix(".") ? "" : "."))
        }
        return (try restore.makeModel(maxBatch: maxBatch), try Tokenizers.load(json: restore.tokenizerJSON))
    }

    /// The prompt's tokens; an empty prompt (or one with no tokens, such as only spaces for the
    /// word tokenizer) is the newline token if the vocabulary has one, else token 0.
    private func encodePrompt(_ tokenizer: any Tokenizer, vocabSize: Int) throws -> [Int32] {
        let tokens = try Self.encode(prompt: prompt, tokenizer)
        if !tokens.isEmpty { return tokens }
        if let newline = try? tokenizer.encode("\n"), newline.count == 1, tokenizer.decode(newline) == "\n",
           Int(newline[0]) < vocabSize {
            return newline
        }
        return [0]
    }

    /// The tokens of a user's --prompt; text the vocabulary cannot express is a `ConfigError`
    /// saying what to leave out.
    static func encode(prompt: String, _ tokenizer: any Tokenizer) throws -> [Int32] {
        do {
            return try tokenizer.encode(prompt)
        } catch DataError.unknownCharacter(let character, let offset) {
            throw ConfigError("The prompt's character \(quoted(character)) (at character \(offset)) is not in the checkpoint's \(tokenizer.kind.rawValue) tokenizer vocabulary; leave it out of --prompt.")
        } catch DataError.unknownWord(let word) {
            throw ConfigError("The prompt's word \(quoted(word)) is not in the checkpoint's word tokenizer vocabulary, which has no <unk>; leave it out of --prompt.")
        }
    }

    /// Writes bytes to standard output at once (unbuffered), so the text streams.
    private func write(_ data: Data) {
        if !data.isEmpty { FileHandle.standardOutput.write(data) }
    }
}

/// Turns tokens into text as they come, for any tokenizer, at a cost per token that does not grow
/// with what came before: it decodes only the last few tokens of the line (`lookback` of them)
/// and returns the bytes not yet returned, holding back a trailing U+FFFD (the start of a
/// character whose other bytes a byte or bpe tokenizer has not produced yet) until the next token
/// or `finish`.
///
/// Why the tail is enough: decoders only append to the text of earlier tokens, and what a token
/// adds depends only on a little of what came before it. A newline token resets every decoder
/// (a complete character; the word tokenizer's spacing and quotes restart with the line). Within
/// a line, byte and bpe text resynchronizes on a character boundary within 4 bytes, char tokens
/// stand alone, and a word's spacing depends on the word before it and on whether a quote is
/// open. So the tail keeps the last 8 tokens, and when an odd number of quote tokens was cut off
/// it starts with one quote token, which keeps the open quote open. What that changes at the
/// front of the decoded tail has been returned already: the position of the returned text is
/// tracked from the tail's end.
struct IncrementalDecoder {
    let tokenizer: any Tokenizer
    /// The most tokens of the line kept before the new one.
    let lookback = 8
    /// The last tokens since the last newline token, at most `lookback` after `append` returns.
    private var tail: [Int32] = []
    /// The tokenizer's token for a double quote, if it has one.
    private let quote: Int32?
    /// Whether an odd number of quote tokens of this line was cut off the tail.
    private var quoteCutOff = false
    /// UTF-8 bytes at the end of the decoded tail not yet returned: 3 (a held-back U+FFFD) or 0.
    private var heldBack = 0
    /// The decoded tail's UTF-8 byte count.
    private var tailBytes = 0
    /// Tokens passed to `tokenizer.decode` so far: the work this decoder has done, at most
    /// 2·lookback + 4 per `append`.
    private(set) var decodedTokens = 0

    /// A decoder whose text so far is `prompt`'s (not returned: the caller prints the prompt).
    init(tokenizer: any Tokenizer, prompt: [Int32]) {
        self.tokenizer = tokenizer
        let quoteTokens = (try? tokenizer.encode("\"")) ?? []
        quote = quoteTokens.count == 1 && tokenizer.decode(quoteTokens) == "\"" ? quoteTokens[0] : nil
        for token in prompt { _ = append(token) }
    }

    /// The bytes `token` adds to the text.
    mutating func append(_ token: Int32) -> Data {
        tail.append(token)
        let bytes = decodeTail()
        // The decoded tail extends the old one but for the held-back end, so the text not yet
        // returned starts heldBack bytes before the old end.
        let start = tailBytes - heldBack
        // An incomplete character at the end decodes to one U+FFFD; earlier ones are final.
        var end = bytes.count
        if end - 3 >= start, bytes[end - 3] == 0xEF, bytes[end - 2] == 0xBF, bytes[end - 1] == 0xBD { end -= 3 }
        let out = end > start ? Data(bytes[start..<end]) : Data()
        heldBack = bytes.count - end
        if heldBack == 0, decode([token]) == [0x0A] {
            tail.removeAll(keepingCapacity: true)
            quoteCutOff = false
            tailBytes = 0
        } else if tail.count > lookback {
            for t in tail.prefix(tail.count - lookback) where t == quote { quoteCutOff.toggle() }
            tail.removeFirst(tail.count - lookback)
            tailBytes = decodeTail().count
        } else {
            tailBytes = bytes.count
        }
        return out
    }

    /// The rest, incomplete characters as U+FFFD.
    mutating func finish() -> Data {
        let bytes = decodeTail()
        defer { heldBack = 0 }
        return Data(bytes[(bytes.count - heldBack)...])
    }

    /// The UTF-8 of the tail's text, after a quote token when an odd number of them was cut off.
    private mutating func decodeTail() -> [UInt8] {
        decode(quoteCutOff ? [quote!] + tail : tail)
    }

    private mutating func decode(_ tokens: [Int32]) -> [UInt8] {
        decodedTokens += tokens.count
        return Array(tokenizer.decode(tokens).utf8)
    }
}
