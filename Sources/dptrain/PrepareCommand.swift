import ArgumentParser
import DPData
import Foundation

/// `dptrain prepare INPUT --tokenizer KIND [--vocab-size N] [--val-fraction F] --out DIR`
struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize a text file into llm.c token files for --data.",
        discussion: """
            Trains the tokenizer on the file (bpe: on at most 16 MB of it, evenly spaced), encodes it \
            in chunks as it reads it, so that memory stays bounded whatever its size, and writes \
            DIR/train.bin (the first 1 - VAL_FRACTION of the tokens), DIR/val.bin (the rest) and \
            DIR/tokenizer.json. Token files use \
            llm.c's format: a 256-int32 header (magic 20240520, version 1 for uint16 tokens or 2 \
            for uint32, token count), then the tokens. Prints the vocabulary size, the token \
            counts, characters per token and the time taken. Pass DIR to --data to train on it.
            """)

    @Argument(help: "The UTF-8 text file to tokenize.")
    var input: String

    @Option(help: "The tokenizer: char (one token per character), byte (256 byte values), word (words and punctuation), or bpe (byte-level BPE trained on the input).")
    var tokenizer: String

    @Option(help: "The vocabulary size for bpe (default 512) or word (default: every word); not allowed for char and byte.")
    var vocabSize: Int?

    @Option(help: "The fraction of the tokens, taken from the end, that goes to val.bin.")
    var valFraction: Double = 0.1

    @Option(help: "The directory to write train.bin, val.bin and tokenizer.json to; it is created if needed.")
    var out: String

    var kind: TokenizerKind? { TokenizerKind(rawValue: tokenizer).flatMap { TokenizerKind.trainable.contains($0) ? $0 : nil } }

    func validate() throws {
        guard let kind else {
            throw ValidationError("Unknown tokenizer '\(tokenizer)'; choose one of \(TokenizerKind.trainable.map(\.rawValue).joined(separator: ", ")).")
        }
        if let vocabSize {
            switch kind {
            case .char, .byte:
                throw ValidationError("--vocab-size applies to the bpe and word tokenizers only; the \(kind.rawValue) tokenizer's vocabulary is fixed by the text.")
            case .bpe where vocabSize < 256:
                throw ValidationError("--vocab-size for bpe must be at least 256 (the byte tokens it starts from).")
            case .word where vocabSize < 2:
                throw ValidationError("--vocab-size for word must be at least 2 (one word and <unk>).")
            default: break
            }
        }
        guard valFraction >= 0 && valFraction < 1 else {
            throw ValidationError("--val-fraction must be at least 0 and below 1.")
        }
    }

    func run() throws {
        let summary = try prepareDataset(
            input: URL(fileURLWithPath: input), tokenizer: kind!, vocabSize: vocabSize,
            valFraction: valFraction, out: URL(fileURLWithPath: out))
        print(summary)
    }
}
