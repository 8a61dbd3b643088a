import ArgumentParser
import DPData
import DPTrainer
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `dptrain prepare INPUT --tokenizer KIND [--vocab-size N] [--val-fraction F] [--shard-tokens N] --out DIR`
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
            counts, characters per token and the time taken. Pass DIR to --data to train on it. \
            When the train or the val split holds more than --shard-tokens tokens (default 100 M, \
            as FineWeb's shards), both are written as llm.c shards instead, DIR/data_train_NNNNNN.bin \
            and DIR/data_val_NNNNNN.bin of at most that many tokens each, numbered from 0 so that \
            name order is token order (--data finds them).

            Under mpirun -n N the ranks tokenize N byte ranges of the input at once (cut where \
            no token can span the cut) and each writes its part as llm.c shards of at most \
            --shard-tokens tokens, DIR/data_train_NNNNNN.bin and DIR/data_val_NNNNNN.bin, numbered \
            on from the shards of the ranks before it, whose tokens in name order are \
            exactly those of train.bin then val.bin from one process; DIR must be one directory \
            that every rank sees. On a terminal (or with --progress, as under mpirun, where standard error \
            is a pipe), rank 0 shows its progress on standard error.
            """)

    @Argument(help: "The UTF-8 text file to tokenize.")
    var input: String

    @Option(help: "The tokenizer: char (one token per character), byte (256 byte values), word (words and punctuation), or bpe (byte-level BPE trained on the input).")
    var tokenizer: String

    @Option(help: "The vocabulary size for bpe (default 512) or word (default: every word); not allowed for char and byte.")
    var vocabSize: Int?

    @Option(help: "The fraction of the tokens, taken from the end, that goes to val.bin.")
    var valFraction: Double = 0.1

    @Option(help: "The directory to write train.bin, val.bin (or shards) and tokenizer.json to; it is created if needed.")
    var out: String

    @Option(help: "The most tokens in one train or val file; a split above it is written as shards data_train_NNNNNN.bin, data_val_NNNNNN.bin.")
    var shardTokens: Int = PreparedShards.defaultShardTokens

    @Flag(help: "Show progress on standard error even when it is not a terminal (under mpirun, where the ranks' standard error is a pipe to mpirun); without it, only on a terminal.")
    var progress = false

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
        guard shardTokens >= 1 && shardTokens <= Int(Int32.max) else {
            throw ValidationError("--shard-tokens must be between 1 and \(Int32.max) (the llm.c header's int32 token count); got \(shardTokens).")
        }
    }

    func run() throws {
        Session.run(threads: 1, singleProcess: false) { session in
            let progress = session.isRoot && (self.progress || isatty(STDERR_FILENO) == 1)
                ? ProgressLine(ranks: session.comm.size) : nil
            let input = URL(fileURLWithPath: input), out = URL(fileURLWithPath: out)
            let summary: PrepareSummary
            defer { progress?.clear() }
            if session.comm.size == 1 {
                summary = try prepareDataset(input: input, tokenizer: kind!, vocabSize: vocabSize, valFraction: valFraction,
                                             out: out, shardTokens: shardTokens, progress: progress.map { line in { line.show($0) } })
            } else {
                summary = try prepareCollectively(comm: session.comm, input: input, tokenizer: kind!, vocabSize: vocabSize,
                                                  valFraction: valFraction, out: out, shardTokens: shardTokens, progress: progress.map { line in { line.show($0) } })
            }
            progress?.clear()
            session.say(summary.description)
        }
    }
}

/// One line of progress on standard error, redrawn at most 5 times a second: the pass, MB done of
/// MB (rank 0's own range under mpirun), MB/s and the time left.
final class ProgressLine {
    let ranks: Int
    private let clock = ContinuousClock()
    private var phase = ""
    private var phaseStart: ContinuousClock.Instant
    private var lastDrawn: ContinuousClock.Instant
    private var drawn = false

    init(ranks: Int) {
        self.ranks = ranks
        phaseStart = clock.now
        lastDrawn = clock.now
    }

    func show(_ p: PrepareProgress) {
        let now = clock.now
        if p.phase != phase {
            phase = p.phase
            phaseStart = now
        } else if now - lastDrawn < .milliseconds(200) && p.done < p.total {
            return
        }
        lastDrawn = now
        let seconds = max(1e-3, Double((now - phaseStart).components.attoseconds) * 1e-18 + Double((now - phaseStart).components.seconds))
        let rate = Double(p.done) / seconds
        let mb = { (n: Int) in String(format: "%.1f", Double(n) / 1e6) }
        var line = "prepare: \(p.phase) \(mb(p.done))/\(mb(p.total)) MB\(ranks > 1 ? " (rank 0's part of \(ranks))" : "")"
        if p.done > 0 && seconds >= 0.5 {  // the first report comes a chunk after the pass began
            line += String(format: ", %.1f MB/s", rate / 1e6)
            if p.done < p.total { line += String(format: ", ETA %.0f s", Double(p.total - p.done) / rate) }
        }
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
        drawn = true
    }

    func clear() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}
